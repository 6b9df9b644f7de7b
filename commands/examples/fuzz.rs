//! Fuzzes the command parser: `cargo run --release -p preview-commands --example fuzz -- [COUNT] [SEED]`
//! (default 1,000,000 inputs, seed 1). Every input goes through `parse`, `parse_with` (with a
//! `max_ttl` of 7d), `parse_line`, `commands_in_comment` and `help`; whatever parses must read
//! back from its canonical text. Exits 1 on a panic and 2 on a broken check, printing the input.

use std::process::ExitCode;
use std::time::Instant;

use preview_commands::fuzzgen::{Rng, check, input};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let count: u64 = match args.next().map(|a| a.replace('_', "").parse()) {
        None => 1_000_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("COUNT must be a number: {e}");
            return ExitCode::from(64);
        }
    };
    let seed: u64 = match args.next().map(|a| a.parse()) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("SEED must be a number: {e}");
            return ExitCode::from(64);
        }
    };
    let mut rng = Rng::new(seed);
    let (mut parsed, mut chars) = (std::collections::BTreeMap::<&str, u64>::new(), 0u64);
    let start = Instant::now();
    for n in 0..count {
        let text = input(&mut rng);
        chars += text.chars().count() as u64;
        match std::panic::catch_unwind(|| check(&text)) {
            Ok(Ok(names)) => {
                for name in names {
                    *parsed.entry(name).or_default() += 1;
                }
            }
            Ok(Err(failure)) => {
                eprintln!("check failed on input {n} (seed {seed}): {text:?}\n{failure}");
                return ExitCode::from(2);
            }
            Err(_) => {
                eprintln!("panic on input {n} (seed {seed}): {text:?}");
                return ExitCode::FAILURE;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("inputs: {count} (seed {seed}), no panic, all checks passed");
    let total: u64 = parsed.values().sum();
    let per_command: Vec<String> = parsed.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "commands parsed and round-tripped: {total} ({})",
        per_command.join(", ")
    );
    println!(
        "input characters: {chars} (mean {:.1})",
        chars as f64 / count.max(1) as f64
    );
    println!("elapsed: {elapsed:.2} s");
    println!("rate: {:.0} inputs/s", count as f64 / elapsed.max(1e-9));
    ExitCode::SUCCESS
}

//! Bounded fuzzing with the generator of `examples/fuzz.rs`: 20,000 inputs from a fixed seed
//! (the example runs a million). Fails with the input on a panic or a broken check.

use preview_commands::fuzzgen::{Rng, check, input};

#[test]
fn bounded_fuzz() {
    let mut rng = Rng::new(0x5EED);
    let mut parsed = std::collections::BTreeMap::<&str, usize>::new();
    for n in 0..20_000 {
        let text = input(&mut rng);
        match std::panic::catch_unwind(|| check(&text)) {
            Ok(Ok(names)) => {
                for name in names {
                    *parsed.entry(name).or_default() += 1;
                }
            }
            Ok(Err(failure)) => panic!("input {n} {text:?}: {failure}"),
            Err(_) => panic!("input {n} {text:?} panicked"),
        }
    }
    // The grammar-aware inputs get every command through the parser.
    for name in [
        "up",
        "down",
        "redeploy",
        "status",
        "list",
        "point",
        "seed",
        "logs",
        "extend",
        "pin",
        "unpin",
        "kill-switch",
        "help",
    ] {
        assert!(
            parsed.get(name).is_some_and(|n| *n >= 5),
            "{name}: {parsed:?}"
        );
    }
}

//! Command parsing (issue 9, part 5): `cargo bench -p preview-commands --bench parse`.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use preview_commands::{ParseOptions, commands_in_comment, parse, parse_with};
use std::hint::black_box;
use std::time::Duration;

/// Typical lines, valid and not, as typed in Slack.
const LINES: &[&str] = &[
    "up web#42",
    "up acme/collect#1234 --ttl 4h",
    "status https://github.com/acme/collect/pull/77",
    "point collect#42 payments=pr-17 search=staging auth=default",
    "list --mine --app collect",
    "kill-switch on \"INC-123 database failover\" --scale-to-zero",
    "logs collect pr-42 worker --tail 200",
    "extend collect#42 1h30m",
    "uo web#42",
    "point collect#42 payments=pr-x",
];

fn bench(c: &mut Criterion) {
    let options = ParseOptions {
        max_ttl: Some(Duration::from_secs(7 * 24 * 3600)),
    };
    c.bench_function("parse 10 lines (8 valid, 2 errors)", |b| {
        b.iter(|| {
            for line in LINES {
                let _ = black_box(parse(black_box(line)));
            }
        })
    });
    c.bench_function("parse_with max_ttl, `up --ttl`", |b| {
        b.iter(|| parse_with(black_box("up acme/collect#1234 --ttl 4h"), &options))
    });
    let comment = format!(
        "Looks good!\n\n/preview up\n```\n/preview down\n```\n> /preview seed\n{}\n/preview point payments=pr-17\n",
        "Some review text that goes on for a while. ".repeat(40)
    );
    c.bench_function("commands_in_comment, 2 KB PR comment", |b| {
        b.iter(|| commands_in_comment(black_box(&comment), "/preview"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

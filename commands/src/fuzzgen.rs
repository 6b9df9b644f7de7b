//! Fuzzing support shared by `examples/fuzz.rs` (a million inputs) and the bounded fuzz test:
//! a seeded generator of inputs and the checks run on each. Not part of the API.
//!
//! Inputs are (a) arbitrary UTF-8: control characters, bidi marks, zero-width characters,
//! emoji, combining marks, case-changing letters, very long words; (b) grammar-aware: random
//! sequences of real command words, subcommands, flags (also mistyped), targets of every form,
//! `SVC=DEST`, durations, numbers, quotes and the separators `=`, `#`, `@`, `/`, then sometimes
//! mutated; (c) comments mixing command lines, fences and quotes.

use std::time::Duration;

use crate::{
    Command, ErrorKind, ParseOptions, commands_in_comment, commands_in_comment_with, help, parse,
    parse_duration, parse_line, parse_line_with, parse_with,
};

/// The prefix the checks use.
pub const PREFIX: &str = "/preview";

/// xorshift64*: small, fast, deterministic for a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Any seed works (zero included).
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so close seeds give unrelated streams; never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items
            .get(self.below(items.len()))
            .copied()
            .unwrap_or_default()
    }

    fn pick_char(&mut self, items: &[char]) -> char {
        items.get(self.below(items.len())).copied().unwrap_or('x')
    }
}

/// One input of any kind.
pub fn input(rng: &mut Rng) -> String {
    match rng.below(20) {
        0..=4 => arbitrary(rng),
        5..=16 => {
            let text = if rng.chance(50) {
                grammar(rng)
            } else {
                structured(rng)
            };
            if rng.chance(25) {
                mutate(rng, text)
            } else {
                text
            }
        }
        _ => comment(rng),
    }
}

const SPECIAL_CHARS: &[char] = &[
    '\u{200F}',
    '\u{200E}',
    '\u{202E}',
    '\u{202D}',
    '\u{2066}',
    '\u{2069}',
    '\u{200B}',
    '\u{200D}',
    '\u{FEFF}',
    '\u{A0}',
    '\u{3000}',
    '\u{2028}',
    '\u{2029}',
    '\u{85}',
    '\u{1F}',
    '\u{0}',
    '\u{7F}',
    '\r',
    '\n',
    '\t',
    '“',
    '”',
    '—',
    '–',
    '`',
    '"',
    '\\',
    '#',
    '@',
    '=',
    '/',
    '<',
    '>',
    '|',
    ':',
    '-',
    '.',
    '_',
    'é',
    'İ',
    'ẞ',
    'ß',
    'ﬃ',
    'Ω',
    'K',
    '\u{0301}',
    '🚀',
    '👩',
    '🏽',
    'Ⅻ',
    'ǅ',
    '٣',
    '１',
    '\u{E000}',
    '\u{10FFFF}',
];

/// Arbitrary UTF-8, mostly short, sometimes over the length limit.
pub fn arbitrary(rng: &mut Rng) -> String {
    let len = match rng.below(10) {
        0..=6 => rng.below(40),
        7..=8 => rng.below(400),
        _ => rng.below(5000),
    };
    let mut out = String::with_capacity(len);
    let mut count = 0;
    while count < len {
        count += 1;
        match rng.below(20) {
            0..=7 => out.push(char::from(32 + rng.below(95) as u8)),
            8..=9 => out.push(char::from_u32(rng.below(0xA0) as u32).unwrap_or('x')),
            10..=13 => out.push(rng.pick_char(SPECIAL_CHARS)),
            14..=15 => out.push(char::from_u32(0x1F300 + rng.below(0x800) as u32).unwrap_or('x')),
            16 => {
                // A very long word.
                let c = rng.pick_char(SPECIAL_CHARS);
                let n = rng.below(300);
                out.extend(std::iter::repeat_n(c, n));
                count += n;
            }
            _ => out.push(char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{FFFD}')),
        }
    }
    out
}

const COMMAND_WORDS: &[&str] = &[
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
    "on",
    "off",
    "status",
    "UP",
    "Kill-Switch",
    "upp",
    "kil-switch",
    "killswitch",
    "lgos",
    "deploy",
];
const FLAG_WORDS: &[&str] = &[
    "--ttl",
    "--mine",
    "--app",
    "--tail",
    "--scale-to-zero",
    "--teardown",
    "--restore",
    "—ttl",
    "–tail",
    "-ttl",
    "--ttl=",
    "--tail=",
    "--app=",
    "--mine=yes",
    "--",
    "-",
    "--TTL",
    "--force",
    "--scale-to-zero=1",
    "—teardown",
    "--restore=",
];
const APPS: &[&str] = &[
    "collect", "web", "api", "a", "shop-2", "Web", "my_app", "x-", "",
];
const DATASETS: &[&str] = &["demo", "large_orders", "1k", "Demo", "a.b", "_x"];
const UNITS: &[&str] = &["m", "h", "d", "s", "M", "x", "é", ""];
const PUNCT: &[&str] = &[
    "=", "#", "@", "/", "\"", "\\", "<", ">", "|", "`", "“", "”", "\\\"", "''", "..", "//",
];
const SEPARATORS: &[&str] = &[" ", " ", " ", "  ", "\t", "\u{a0}", "\u{3000}", "\n", ""];

fn number(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => "0".to_string(),
        1 => rng.next_u64().to_string(),
        2 => format!("{}", 1_000_000_000 + rng.below(3)),
        3 => format!("{}", 4999 + rng.below(3)),
        4 => format!("00{}", rng.below(100)),
        _ => (1 + rng.below(200)).to_string(),
    }
}

fn app(rng: &mut Rng) -> String {
    if rng.chance(80) {
        rng.pick(APPS).to_string()
    } else {
        let n = 1 + rng.below(45);
        (0..n)
            .map(|i| match rng.below(10) {
                0 if i > 0 => '-',
                1 => char::from(b'0' + rng.below(10) as u8),
                _ => char::from(b'a' + rng.below(26) as u8),
            })
            .collect()
    }
}

fn branch(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => "main".to_string(),
        1 => "feature/login".to_string(),
        2 => "Fix_2.0".to_string(),
        3 => "x".repeat(195 + rng.below(10)),
        4 => rng
            .pick(&["a..b", "a.lock", "/a", "a/", "-a", "a//b", ".a", "a b"])
            .to_string(),
        _ => {
            let n = 1 + rng.below(20);
            (0..n)
                .map(|_| rng.pick_char(&['a', 'B', '3', '.', '_', '/', '-', 'z', 'Q', '9']))
                .collect()
        }
    }
}

fn duration(rng: &mut Rng) -> String {
    let parts = 1 + rng.below(3);
    (0..parts)
        .map(|_| format!("{}{}", number(rng), rng.pick(UNITS)))
        .collect()
}

fn target(rng: &mut Rng) -> String {
    match rng.below(9) {
        0 => format!("{}#{}", app(rng), number(rng)),
        1 => format!("{} pr-{}", app(rng), number(rng)),
        2 => format!("{} #{}", app(rng), number(rng)),
        3 => format!(
            "{}/{}#{}",
            rng.pick(&["acme", "3m", "Acme-Inc", "-x"]),
            app(rng),
            number(rng)
        ),
        4 => format!(
            "{}github.com/acme/{}/{}/{}{}",
            rng.pick(&["https://", "http://www.", "", "<https://", "ftp://"]),
            app(rng),
            rng.pick(&["pull", "issues", "pull"]),
            number(rng),
            rng.pick(&["", "/files", "?w=1", "#x", ">", "|label>"])
        ),
        5 => format!("{}@{}", app(rng), branch(rng)),
        6 => format!("pr-{}", number(rng)),
        7 => app(rng),
        _ => format!("#{}", number(rng)),
    }
}

fn route(rng: &mut Rng) -> String {
    let svc = if rng.chance(85) {
        rng.pick(&["api", "payments", "search", "db", "cache", "s3", "x", "0db"])
    } else {
        rng.pick(&["Api", "", "a_b", "-x", "é"])
    };
    let dest = match rng.below(7) {
        0 => format!("pr-{}", number(rng)),
        1 => format!("{}#{}", app(rng), number(rng)),
        2 => "staging".to_string(),
        3 => "default".to_string(),
        4 => format!("#{}", number(rng)),
        5 => rng
            .pick(&["stagin", "Staging", "", "=", "42", "a=b"])
            .to_string(),
        _ => app(rng),
    };
    format!("{svc}={dest}")
}

fn quoted(rng: &mut Rng) -> String {
    let n = rng.below(4);
    let inner: Vec<String> = (0..n).map(|_| word(rng, 1)).collect();
    let (open, close) = match rng.below(4) {
        0 => ("“", "”"),
        1 => ("\"", ""),
        _ => ("\"", "\""),
    };
    format!("{open}{}{close}", inner.join(" ").replace('"', "\\\""))
}

fn word(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 0 { 12 } else { 14 }) {
        0..=1 => rng.pick(COMMAND_WORDS).to_string(),
        2..=3 => rng.pick(FLAG_WORDS).to_string(),
        4..=5 => target(rng),
        6 => route(rng),
        7 => duration(rng),
        8 => number(rng),
        9 => rng.pick(DATASETS).to_string(),
        10 => rng.pick(PUNCT).to_string(),
        11 => {
            let c = rng.pick_char(&['a', '-', '"', '#', 'é', '=', '\\']);
            std::iter::repeat_n(c, rng.below(120)).collect()
        }
        12 => quoted(rng),
        _ => arbitrary(rng).chars().take(12).collect(),
    }
}

/// A sequence of words of the grammar, sometimes starting with the prefix.
pub fn grammar(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.chance(30) {
        out.push_str(rng.pick(&["/preview ", " /preview\t", "/previewer ", "/pv "]));
    }
    // Usually start with a command so the parser gets past the first word.
    if rng.chance(85) {
        out.push_str(rng.pick(COMMAND_WORDS));
        out.push(' ');
        if rng.chance(20) {
            out.push_str(rng.pick(&["on ", "off ", "status ", "onn "]));
        }
    }
    let n = rng.below(9);
    for _ in 0..n {
        out.push_str(&word(rng, 0));
        out.push_str(rng.pick(SEPARATORS));
    }
    out
}

/// One command shaped like its usage line, with random (mostly valid) parts and flags in random
/// places, so that every command often gets through the whole parser.
pub fn structured(rng: &mut Rng) -> String {
    let mut words: Vec<String> = Vec::new();
    let target = |rng: &mut Rng| {
        if rng.chance(60) {
            Some(target(rng))
        } else {
            None
        }
    };
    match rng.below(10) {
        0 | 1 => {
            words.push("point".into());
            words.extend(target(rng));
            for _ in 0..1 + rng.below(4) {
                words.push(route(rng));
            }
        }
        2 => {
            words.push("seed".into());
            words.extend(target(rng));
            if rng.chance(60) {
                words.push(rng.pick(DATASETS).into());
            }
        }
        3 => {
            words.push("logs".into());
            words.extend(target(rng));
            if rng.chance(60) {
                words.push(rng.pick(&["worker", "web", "api-2", "Worker", "50"]).into());
            }
            if rng.chance(50) {
                words.push(format!("--tail {}", number(rng)));
            }
        }
        4 => {
            words.push("extend".into());
            words.extend(target(rng));
            if rng.chance(60) {
                words.push(duration(rng));
            }
        }
        5 | 6 => {
            words.push("kill-switch".into());
            match rng.below(4) {
                0 | 1 => {
                    words.push("on".into());
                    if rng.chance(60) {
                        words.push(if rng.chance(50) {
                            quoted(rng)
                        } else {
                            word(rng, 1)
                        });
                    }
                    if rng.chance(40) {
                        words.push(rng.pick(&["--scale-to-zero", "--teardown"]).into());
                    }
                    if rng.chance(10) {
                        words.push(rng.pick(&["--scale-to-zero", "--teardown"]).into());
                    }
                }
                2 => {
                    words.push("off".into());
                    if rng.chance(50) {
                        words.push("--restore".into());
                    }
                }
                _ => words.push("status".into()),
            }
        }
        7 => {
            words.push("up".into());
            words.extend(target(rng));
            if rng.chance(50) {
                words.push(format!("--ttl {}", duration(rng)));
            }
        }
        8 => {
            words.push("list".into());
            if rng.chance(50) {
                words.push("--mine".into());
            }
            if rng.chance(50) {
                words.push(format!("--app {}", app(rng)));
            }
        }
        _ => {
            words.push(
                rng.pick(&["down", "redeploy", "status", "pin", "unpin", "help"])
                    .into(),
            );
            words.extend(target(rng));
        }
    }
    // Flags may go anywhere after the command word.
    if words.len() > 2 && rng.chance(20) {
        let last = words.len() - 1;
        words.swap(1, last);
    }
    words.join(rng.pick(&[" ", " ", "  ", "\t", "\u{a0}"]))
}

/// Inserts, deletes or duplicates a few characters.
pub fn mutate(rng: &mut Rng, text: String) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 => chars.insert(at, rng.pick_char(SPECIAL_CHARS)),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ => {
                let end = (at + rng.below(8)).min(chars.len());
                let copy: Vec<char> = chars.get(at..end).unwrap_or_default().to_vec();
                chars.splice(at..at, copy);
            }
        }
    }
    chars.into_iter().collect()
}

/// A comment body: command lines, fences, quotes, prose; `\n` or `\r\n`.
pub fn comment(rng: &mut Rng) -> String {
    let n = rng.below(16);
    let eol = if rng.chance(30) { "\r\n" } else { "\n" };
    let lines: Vec<String> = (0..n)
        .map(|_| match rng.below(8) {
            0..=3 => format!("/preview {}", grammar(rng)),
            4 => rng
                .pick(&["```", "~~~~", "```sh", "~~~", "````"])
                .to_string(),
            5 => format!("> /preview {}", grammar(rng)),
            6 => format!("  /preview {}", word(rng, 0)),
            _ => arbitrary(rng).chars().take(60).collect(),
        })
        .collect();
    lines.join(eol)
}

/// The `max_ttl` the checks use for `parse_with`.
pub fn small_limits() -> ParseOptions {
    ParseOptions {
        max_ttl: Some(Duration::from_secs(7 * 24 * 3600)),
    }
}

/// Runs `input` through every entry point and checks: what parses has a canonical text that
/// parses back to it (also as a prefixed line); the `max_ttl` cap only turns results into
/// `OverLimit` errors; every error renders to a message that ends with the help pointer and
/// echoes no `<`. Returns the names of the commands parsed (one per entry point that parsed
/// one). A panic is the caller's to catch.
pub fn check(input: &str) -> Result<Vec<&'static str>, String> {
    let limits = small_limits();
    let plain = parse(input);
    let capped = parse_with(input, &limits);
    let over = |r: &Result<Command, crate::UserError>| matches!(r, Err(e) if matches!(e.kind(), ErrorKind::OverLimit { .. }));
    if plain != capped && !over(&capped) {
        return Err(format!(
            "parse and parse_with differ on {input:?}: {plain:?} vs {capped:?}"
        ));
    }
    let mut results = vec![plain, capped];
    results.extend(parse_line(input, PREFIX));
    results.extend(parse_line_with(input, PREFIX, &limits));
    results.extend(commands_in_comment(input, PREFIX));
    results.extend(commands_in_comment_with(input, PREFIX, &limits));
    let mut parsed = Vec::new();
    for result in results {
        match result {
            Ok(command) => {
                parsed.push(command.action.name());
                round_trip(&command)?;
            }
            Err(e) => {
                let message = e.render(PREFIX);
                if !message.ends_with("Run `/preview help` for all commands.")
                    || message.contains('<')
                {
                    return Err(format!("bad message for {input:?}: {message}"));
                }
            }
        }
    }
    if help(Some(input), PREFIX).contains('<') {
        return Err(format!("help echoes `<` for {input:?}"));
    }
    let _ = parse_duration(input);
    Ok(parsed)
}

fn round_trip(command: &Command) -> Result<(), String> {
    let text = command.to_string();
    let back = parse(&text);
    if back.as_ref() != Ok(command) {
        return Err(format!(
            "round trip failed: {command:?} -> {text:?} -> {back:?}"
        ));
    }
    let line = parse_line(&format!("{PREFIX} {text}"), PREFIX);
    if line.as_ref() != Some(&Ok(command.clone())) {
        return Err(format!("line round trip failed: {text:?} -> {line:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..100 {
            assert_eq!(input(&mut a), input(&mut b));
        }
        assert_ne!(Rng::new(0).next_u64(), 0);
    }
}

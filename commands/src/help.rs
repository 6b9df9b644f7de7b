//! `help`: rendered from the same table the parser uses.

use crate::error::{nearest, sanitize};
use crate::spec::{self, COMMANDS, CommandSpec};

/// The overview of all commands (`topic` `None`), or one command's usage, description and
/// examples. An unknown topic gives the overview preceded by "Unknown command `x`." and a
/// did-you-mean.
pub fn help(topic: Option<&str>, prefix: &str) -> String {
    let Some(topic) = topic.map(str::trim).filter(|t| !t.is_empty()) else {
        return overview(prefix);
    };
    let name = topic.strip_prefix(prefix).map_or(topic, str::trim_start);
    let name = name.to_lowercase();
    if let Some(spec) = spec::find(&name).and_then(|s| spec::top_level(s.name)) {
        return command_help(spec, prefix);
    }
    let mut out = format!("Unknown command `{}`.", sanitize(topic));
    if let Some(s) = nearest(&name, COMMANDS.iter().map(|c| c.name)) {
        out.push_str(&format!(" Did you mean `{s}`?"));
    }
    out.push_str("\n\n");
    out.push_str(&overview(prefix));
    out
}

const TARGET_LINE: &str = "TARGET is `APP#N`, `APP pr-N`, `OWNER/REPO#N`, a PR URL, or `APP@BRANCH` for a \
                           branch without a PR. On a pull request it defaults to that PR, and a bare \
                           `APP` picks one app of a monorepo.";

fn overview(prefix: &str) -> String {
    let mut lines = vec!["Commands:".to_string()];
    for c in COMMANDS {
        if c.subcommands.is_empty() {
            lines.push(format!("- `{}`: {}", c.usage(prefix), c.summary));
        }
        for sub in c.subcommands {
            lines.push(format!("- `{}`: {}", sub.usage(prefix), sub.summary));
        }
    }
    // A blank line ends the list in GitHub markdown (else the next line joins the last item).
    lines.push(String::new());
    lines.push(TARGET_LINE.to_string());
    lines.push("DUR is like `30m`, `4h`, `2d` or `1h30m`.".to_string());
    lines.push(format!(
        "Run `{prefix} help COMMAND` for details and examples."
    ));
    lines.join("\n")
}

fn command_help(spec: &CommandSpec, prefix: &str) -> String {
    let mut lines: Vec<String> = spec
        .usages(prefix)
        .into_iter()
        .map(|u| format!("`{u}`"))
        .collect();
    lines.push(format!("{}. {}", capitalize(spec.summary), spec.details));
    if spec.args.iter().any(|a| a.kind == spec::ArgKind::Target) {
        lines.push(TARGET_LINE.to_string());
    }
    // Blank lines around the lists keep GitHub markdown from joining the next line to the last item.
    let rows: Vec<&CommandSpec> = if spec.subcommands.is_empty() {
        vec![spec]
    } else {
        spec.subcommands.iter().collect()
    };
    let mut flags = Vec::new();
    for row in &rows {
        for f in row.flags {
            let form = if row.name == spec.name {
                f.form()
            } else {
                format!("{} {}", row.last_word(), f.form())
            };
            let hint = f.kind.hint();
            let sep = if hint.is_empty() { "" } else { ". " };
            let exclusive = row
                .excluded_by(f.name)
                .map(|other| format!(" Not with `--{other}`."))
                .unwrap_or_default();
            let end = if hint.is_empty() && exclusive.is_empty() {
                ""
            } else if hint.is_empty() {
                "."
            } else {
                ""
            };
            flags.push(format!("- `{form}`: {}{sep}{hint}{end}{exclusive}", f.help));
        }
    }
    if !flags.is_empty() {
        lines.push(String::new());
        lines.push("Flags:".to_string());
        lines.extend(flags);
    }
    lines.push(String::new());
    lines.push("Examples:".to_string());
    for e in spec.examples {
        lines.push(format!("- `{prefix} {e}`"));
    }
    lines.push(String::new());
    lines.push(format!("Run `{prefix} help` for all commands."));
    lines.join("\n")
}

/// `Abc` from `abc`.
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

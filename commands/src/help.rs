//! `help`: rendered from the same table the parser uses.

use crate::error::{nearest, sanitize};
use crate::spec::{self, COMMANDS, CommandSpec, ValueKind};

/// The overview of all commands (`topic` `None`), or one command's usage, description and
/// examples. An unknown topic gives the overview preceded by "Unknown command `x`." and a
/// did-you-mean.
pub fn help(topic: Option<&str>, prefix: &str) -> String {
    let Some(topic) = topic.map(str::trim).filter(|t| !t.is_empty()) else {
        return overview(prefix);
    };
    let name = topic.strip_prefix(prefix).map_or(topic, str::trim_start);
    let name = name.to_lowercase();
    if let Some(spec) = spec::find(&name) {
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

fn overview(prefix: &str) -> String {
    let mut lines = vec!["Commands:".to_string()];
    for c in COMMANDS {
        lines.push(format!("- `{}`: {}", c.usage(prefix), c.summary));
    }
    // A blank line ends the list in GitHub markdown (else the next line joins the last item).
    lines.push(String::new());
    lines.push(
        "TARGET is `APP#N`, `APP pr-N`, `OWNER/REPO#N` or a PR URL; on a pull request it defaults to that PR."
            .to_string(),
    );
    lines.push("DUR is like `30m`, `4h`, `2d` or `1h30m`.".to_string());
    lines.push(format!(
        "Run `{prefix} help COMMAND` for details and examples."
    ));
    lines.join("\n")
}

fn command_help(spec: &CommandSpec, prefix: &str) -> String {
    let mut lines = vec![format!("`{}`", spec.usage(prefix))];
    let mut summary = spec.summary.to_string();
    if let Some(first) = summary.get(..1) {
        summary = format!(
            "{}{}",
            first.to_uppercase(),
            summary.get(1..).unwrap_or_default()
        );
    }
    lines.push(format!("{summary}. {}", spec.details));
    if spec.args.iter().any(|a| a.kind == spec::ArgKind::Target) {
        lines.push(
            "TARGET is `APP#N`, `APP pr-N`, `OWNER/REPO#N` or a PR URL; on a pull request it defaults to that PR."
                .to_string(),
        );
    }
    // Blank lines around the lists keep GitHub markdown from joining the next line to the last item.
    if !spec.flags.is_empty() {
        lines.push(String::new());
        lines.push("Flags:".to_string());
        for f in spec.flags {
            let form = match f.kind {
                ValueKind::Switch => format!("--{}", f.name),
                _ => format!("--{} {}", f.name, f.meta),
            };
            let hint = f.kind.hint();
            let sep = if hint.is_empty() { "" } else { ". " };
            lines.push(format!("- `{form}`: {}{sep}{hint}", f.help));
        }
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

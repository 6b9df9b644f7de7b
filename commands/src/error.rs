//! [`UserError`]: everything that can be wrong with a command, rendered in one place.
//!
//! Every message quotes what was wrong, says what was expected, suggests the nearest valid word
//! when there is one, shows the usage line (or the command list) and ends with where to get help.
//! Plain text with backticks, so it reads well in Slack and in GitHub markdown.

use std::fmt;
use std::time::Duration;

use crate::duration::format_duration;
use crate::spec::{self, COMMANDS};
use crate::{DEFAULT_PREFIX, MAX_COMMANDS_PER_COMMENT, MAX_INPUT_CHARS};

/// A command the bot cannot run, with everything needed to tell the user why.
/// Show [`UserError::render`] verbatim; nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserError {
    kind: ErrorKind,
}

/// What exactly was wrong. Words are as the user typed them (quotes removed).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is longer than [`MAX_INPUT_CHARS`].
    TooLong,
    /// A comment holds more than [`MAX_COMMANDS_PER_COMMENT`] commands; the rest were ignored.
    TooManyCommands,
    /// A `"` was opened and never closed.
    UnterminatedQuote { word: String },
    /// A word that is only `""`.
    EmptyQuotes,
    /// The first word is not a command.
    UnknownCommand {
        word: String,
        suggestion: Option<&'static str>,
    },
    /// The first word is a target or a flag: the command is missing.
    MissingCommand {
        word: String,
        looks_like_target: bool,
    },
    /// A flag no command has.
    UnknownFlag {
        command: &'static str,
        flag: String,
        suggestion: Option<String>,
    },
    /// A flag of another command.
    FlagNotAccepted { command: &'static str, flag: String },
    /// The same flag twice.
    RepeatedFlag {
        command: &'static str,
        flag: &'static str,
    },
    /// A flag that needs a value came without one.
    MissingFlagValue {
        command: &'static str,
        flag: &'static str,
    },
    /// A switch came with `=value`.
    UnexpectedFlagValue {
        command: &'static str,
        flag: &'static str,
    },
    /// A flag's value is malformed.
    BadFlagValue {
        command: &'static str,
        flag: &'static str,
        value: String,
        reason: String,
    },
    /// A malformed TARGET.
    BadTarget {
        command: &'static str,
        word: String,
        reason: String,
        suggestion: Option<String>,
    },
    /// A positional word the command has no place for.
    UnexpectedWord {
        command: &'static str,
        word: String,
        suggestion: Option<String>,
    },
    /// A required argument is missing (`point` without `SVC=DEST`).
    MissingArgument {
        command: &'static str,
        arg: &'static str,
    },
    /// A malformed positional argument: `arg` is its placeholder (`DATASET`, `COMPONENT`, `DUR`,
    /// `REASON`, `SVC=DEST`).
    BadArgument {
        command: &'static str,
        arg: &'static str,
        word: String,
        reason: String,
        suggestion: Option<String>,
    },
    /// Two flags that exclude each other, in the order given.
    ConflictingFlags {
        command: &'static str,
        first: &'static str,
        second: &'static str,
    },
    /// The same service twice in one `point`.
    DuplicateService {
        command: &'static str,
        service: String,
    },
    /// A `--ttl` or `extend` duration longer than the config's `max_ttl`; `word` is what the
    /// user wrote (`--ttl 10d`, or `10d` for `extend`).
    OverLimit {
        command: &'static str,
        word: String,
        limit: Duration,
    },
    /// A command with subcommands (`kill-switch`) came without one.
    MissingSubcommand { command: &'static str },
    /// A command with subcommands came with an unknown word where the subcommand goes.
    UnknownSubcommand {
        command: &'static str,
        word: String,
        suggestion: Option<&'static str>,
    },
}

impl UserError {
    pub(crate) fn new(kind: ErrorKind) -> UserError {
        UserError { kind }
    }

    /// What was wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The command the error is about, when the command word was understood.
    pub fn command(&self) -> Option<&'static str> {
        match &self.kind {
            ErrorKind::UnknownFlag { command, .. }
            | ErrorKind::FlagNotAccepted { command, .. }
            | ErrorKind::RepeatedFlag { command, .. }
            | ErrorKind::MissingFlagValue { command, .. }
            | ErrorKind::UnexpectedFlagValue { command, .. }
            | ErrorKind::BadFlagValue { command, .. }
            | ErrorKind::BadTarget { command, .. }
            | ErrorKind::UnexpectedWord { command, .. }
            | ErrorKind::MissingArgument { command, .. }
            | ErrorKind::BadArgument { command, .. }
            | ErrorKind::ConflictingFlags { command, .. }
            | ErrorKind::DuplicateService { command, .. }
            | ErrorKind::OverLimit { command, .. }
            | ErrorKind::MissingSubcommand { command }
            | ErrorKind::UnknownSubcommand { command, .. } => Some(command),
            _ => None,
        }
    }

    /// The full user-facing message, with `prefix` (e.g. `/preview`) in the usage lines.
    pub fn render(&self, prefix: &str) -> String {
        let mut lines = vec![self.headline(prefix)];
        match &self.kind {
            ErrorKind::UnknownCommand { .. } | ErrorKind::MissingCommand { .. } => {
                lines.push(format!("Commands: {}.", command_list()));
            }
            ErrorKind::BadTarget { .. } => lines.push(TARGET_FORMS.to_string()),
            ErrorKind::BadFlagValue { command, flag, .. } => {
                if let Some(f) = spec::find(command).and_then(|c| c.flag(flag)) {
                    lines.push(f.kind.hint().to_string());
                }
            }
            ErrorKind::BadArgument { command, arg, .. } => {
                if let Some(a) = spec::find(command).and_then(|c| c.arg(arg)) {
                    lines.push(a.kind.hint().to_string());
                }
            }
            _ => {}
        }
        if let Some(spec) = self.command().and_then(spec::find) {
            let usages: Vec<String> = spec
                .usages(prefix)
                .into_iter()
                .map(|u| format!("`{u}`"))
                .collect();
            lines.push(format!("Usage: {}", or_list(&usages)));
        }
        lines.push(format!("Run `{prefix} help` for all commands."));
        lines.join("\n")
    }

    fn headline(&self, prefix: &str) -> String {
        match &self.kind {
            ErrorKind::TooLong => {
                format!("That command is too long (more than {MAX_INPUT_CHARS} characters).")
            }
            ErrorKind::TooManyCommands => format!(
                "Too many commands in one comment: I ran the first {MAX_COMMANDS_PER_COMMENT} and ignored the rest."
            ),
            ErrorKind::UnterminatedQuote { word } => {
                format!(
                    "Unterminated quote in `{}`: close it with `\"`.",
                    sanitize(word)
                )
            }
            ErrorKind::EmptyQuotes => {
                "Empty quotes `\"\"`: write something between them.".to_string()
            }
            ErrorKind::UnknownCommand { word, suggestion } => {
                format!(
                    "Unknown command `{}`.{}",
                    sanitize(word),
                    did_you_mean(*suggestion)
                )
            }
            ErrorKind::MissingCommand {
                word,
                looks_like_target: true,
            } => format!(
                "`{w}` is not a command; the command comes first, for example `{prefix} up {w}`.",
                w = sanitize(word)
            ),
            ErrorKind::MissingCommand {
                word,
                looks_like_target: false,
            } => {
                format!(
                    "`{}` is not a command; the command comes first.",
                    sanitize(word)
                )
            }
            ErrorKind::UnknownFlag {
                command,
                flag,
                suggestion,
            } => format!(
                "Unknown flag `{}` for `{command}`.{}",
                sanitize(flag),
                did_you_mean(suggestion.as_deref())
            ),
            ErrorKind::FlagNotAccepted { command, flag } => {
                format!("`{command}` does not take `{}`.", sanitize(flag))
            }
            ErrorKind::RepeatedFlag { flag, .. } => format!("`--{flag}` is given more than once."),
            ErrorKind::MissingFlagValue { command, flag } => {
                let meta = spec::find(command)
                    .and_then(|c| c.flag(flag))
                    .map_or("", |f| f.meta);
                format!("`--{flag}` needs a value: `--{flag} {meta}`.")
            }
            ErrorKind::UnexpectedFlagValue { flag, .. } => {
                format!("`--{flag}` takes no value; write just `--{flag}`.")
            }
            ErrorKind::BadFlagValue {
                flag,
                value,
                reason,
                ..
            } => {
                format!("Bad value `{}` for `--{flag}`: {reason}.", sanitize(value))
            }
            ErrorKind::BadTarget {
                word,
                reason,
                suggestion,
                ..
            } => format!(
                "Bad target `{}`: {reason}.{}",
                sanitize(word),
                did_you_mean(suggestion.as_deref())
            ),
            ErrorKind::UnexpectedWord {
                word, suggestion, ..
            } => format!(
                "Unexpected word `{}`.{}",
                sanitize(word),
                did_you_mean(suggestion.as_deref())
            ),
            ErrorKind::MissingArgument { arg, .. } => format!("`{arg}` is missing."),
            ErrorKind::BadArgument {
                arg,
                word,
                reason,
                suggestion,
                ..
            } => format!(
                "Bad {arg} `{}`: {reason}.{}",
                sanitize(word),
                did_you_mean(suggestion.as_deref())
            ),
            ErrorKind::ConflictingFlags { first, second, .. } => {
                format!("`--{first}` and `--{second}` cannot be used together; pick one.")
            }
            ErrorKind::DuplicateService { service, .. } => format!(
                "Service `{}` is pointed more than once; give each service one destination.",
                sanitize(service)
            ),
            ErrorKind::OverLimit { word, limit, .. } => format!(
                "`{}` is longer than the limit of {}.",
                sanitize(word),
                format_duration(*limit)
            ),
            ErrorKind::MissingSubcommand { command } => {
                format!("`{command}` needs one of {}.", subcommand_list(command))
            }
            ErrorKind::UnknownSubcommand {
                command,
                word,
                suggestion,
            } => format!(
                "`{command}` takes {}, not `{}`.{}",
                subcommand_list(command),
                sanitize(word),
                did_you_mean(*suggestion)
            ),
        }
    }
}

const TARGET_FORMS: &str = "TARGET is `APP#N`, `APP pr-N`, `OWNER/REPO#N`, a PR URL like \
                            `https://github.com/OWNER/REPO/pull/N`, or `APP@BRANCH` for a branch.";

/// `` `on`, `off` or `status` ``
fn subcommand_list(command: &str) -> String {
    let words: Vec<String> = spec::find(command)
        .map(|c| c.subcommands)
        .unwrap_or_default()
        .iter()
        .map(|s| format!("`{}`", s.last_word()))
        .collect();
    or_list(&words)
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" Did you mean `{}`?", sanitize(s)))
        .unwrap_or_default()
}

/// `` `up`, `down`, ... `` (top-level commands)
pub(crate) fn command_list() -> String {
    COMMANDS
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Makes user text safe to echo inside backticks: at most 60 characters, no backticks, no line
/// breaks or control characters, and no `<`/`>` (so Slack never sees `<!channel>` or a link).
pub(crate) fn sanitize(s: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| match c {
            '`' => '\'',
            '<' => '‹',
            '>' => '›',
            c if c.is_whitespace() || c.is_control() => ' ',
            c => c,
        })
        .collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(DEFAULT_PREFIX))
    }
}

impl std::error::Error for UserError {}

/// Nearest candidate to `word`: within edit distance 1 for short words and 2 for longer ones, or
/// a candidate `word` is the start of. Ties go to the earlier candidate.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    if word.is_empty() {
        return None;
    }
    let len = word.chars().count();
    let limit = if len <= 3 { 1 } else { 2 };
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = if len >= 2 && c.starts_with(&word) {
            1
        } else if len.abs_diff(c.chars().count()) > limit {
            // The length difference bounds the distance from below: skip the quadratic part
            // (user words can be thousands of characters long).
            continue;
        } else {
            strsim::damerau_levenshtein(&word, c)
        };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_words() {
        let cmds = ["up", "down", "redeploy", "status", "list", "help"];
        assert_eq!(nearest("upp", cmds), Some("up"));
        assert_eq!(nearest("UP", cmds), Some("up"));
        assert_eq!(nearest("dwon", cmds), Some("down"));
        assert_eq!(nearest("stauts", cmds), Some("status"));
        assert_eq!(nearest("stat", cmds), Some("status"));
        assert_eq!(nearest("redeply", cmds), Some("redeploy"));
        assert_eq!(nearest("re", cmds), Some("redeploy"));
        assert_eq!(nearest("collect", cmds), None);
        assert_eq!(nearest("deploy", cmds), Some("redeploy"));
        assert_eq!(nearest("", cmds), None);
        assert_eq!(nearest("x", cmds), None);
    }

    #[test]
    fn sanitizes() {
        assert_eq!(sanitize("a`b\nc<!channel>"), "a'b c‹!channel›");
        assert_eq!(sanitize(&"é".repeat(61)), format!("{}…", "é".repeat(60)));
    }
}

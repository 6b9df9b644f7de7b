//! Commands in a GitHub comment: every line starting with the prefix.

use crate::error::{ErrorKind, UserError};
use crate::parser::parse_line_with;
use crate::{Command, MAX_COMMANDS_PER_COMMENT, ParseOptions};

/// Every line of `body` that starts with `prefix` (after optional leading whitespace), parsed, in
/// order. Lines inside fenced code blocks (```` ``` ```` or `~~~`, closed by a fence of the same
/// character at least as long; an unclosed fence runs to the end) and quoted lines (starting
/// with `>`) are skipped, so quoting or documenting a command never runs it. Trailing `\r` is
/// ignored. After [`MAX_COMMANDS_PER_COMMENT`] commands, one `TooManyCommands` error ends the list.
pub fn commands_in_comment(body: &str, prefix: &str) -> Vec<Result<Command, UserError>> {
    commands_in_comment_with(body, prefix, &ParseOptions::default())
}

/// [`commands_in_comment`] with the config's limits (see [`crate::parse_with`]).
pub fn commands_in_comment_with(
    body: &str,
    prefix: &str,
    options: &ParseOptions,
) -> Vec<Result<Command, UserError>> {
    let mut out = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if let Some((c, n)) = fence_of(trimmed) {
            match fence {
                None => fence = Some((c, n)),
                Some((open_c, open_n)) => {
                    let after = trimmed.trim_start_matches(c);
                    if c == open_c && n >= open_n && after.trim().is_empty() {
                        fence = None;
                    }
                }
            }
            continue;
        }
        if fence.is_some() || trimmed.starts_with('>') {
            continue;
        }
        if let Some(parsed) = parse_line_with(trimmed, prefix, options) {
            if out.len() == MAX_COMMANDS_PER_COMMENT {
                out.push(Err(UserError::new(ErrorKind::TooManyCommands)));
                break;
            }
            out.push(parsed);
        }
    }
    out
}

/// A fence line: at least three backticks or tildes.
fn fence_of(line: &str) -> Option<(char, usize)> {
    let c = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = line.chars().take_while(|x| *x == c).count();
    (n >= 3).then_some((c, n))
}

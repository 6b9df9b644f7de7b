//! From text to [`Command`], driven by the table in [`crate::spec`].

use crate::duration::parse_duration;
use crate::error::{ErrorKind, UserError, nearest};
use crate::lexer::{LexError, Token, normalize_dashes, tokenize};
use crate::names::AppName;
use crate::spec::{self, ArgKind, COMMANDS, CommandSpec, FlagValue, ValueKind, Values};
use crate::target::{parse_app_pr, parse_target, pr_word};
use crate::{Action, Command, MAX_INPUT_CHARS};

/// Parses the words after the prefix, e.g. Slack's `text` field: `up collect#42 --ttl 4h`.
/// Empty text asks for help.
pub fn parse(text: &str) -> Result<Command, UserError> {
    if text.chars().nth(MAX_INPUT_CHARS).is_some() {
        return Err(UserError::new(ErrorKind::TooLong));
    }
    let tokens = tokenize(text).map_err(|e| {
        UserError::new(match e {
            LexError::Unterminated(word) => ErrorKind::UnterminatedQuote { word },
            LexError::EmptyQuotes => ErrorKind::EmptyQuotes,
        })
    })?;
    let mut tokens = tokens.into_iter();
    let Some(first) = tokens.next() else {
        return Ok(Command {
            action: Action::Help { topic: None },
            target: None,
        });
    };
    let spec = command_spec(&first)?;
    parse_args(spec, tokens.collect())
}

/// Parses a full line such as `/preview up collect#42`. `None` when the line does not start with
/// `prefix` followed by whitespace or the end (so `/previewer` is not a command). Leading
/// whitespace and a trailing `\r` are ignored.
pub fn parse_line(line: &str, prefix: &str) -> Option<Result<Command, UserError>> {
    if prefix.is_empty() {
        return None;
    }
    let line = line.strip_suffix('\r').unwrap_or(line).trim_start();
    let rest = line.strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    Some(parse(rest))
}

fn command_spec(first: &Token) -> Result<&'static CommandSpec, UserError> {
    let word = &first.text;
    if first.bare
        && let Some(spec) = spec::find(&word.to_lowercase())
    {
        return Ok(spec);
    }
    let looks_like_target =
        parse_target(word).is_ok_and(|t| !matches!(t, crate::Target::App { .. }));
    if first.is_flag() || looks_like_target {
        return Err(UserError::new(ErrorKind::MissingCommand {
            word: word.clone(),
            looks_like_target,
        }));
    }
    Err(UserError::new(ErrorKind::UnknownCommand {
        word: word.clone(),
        suggestion: nearest(word, COMMANDS.iter().map(|c| c.name)),
    }))
}

fn parse_args(spec: &'static CommandSpec, tokens: Vec<Token>) -> Result<Command, UserError> {
    let command = spec.name;
    let err = UserError::new;
    let mut values = Values::default();
    let mut positionals = Vec::new();
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        if !token.is_flag() {
            positionals.push(token);
            continue;
        }
        let normalized = normalize_dashes(&token.text);
        let Some(body) = normalized.strip_prefix("--") else {
            // `-ttl` or `-m`: suggest the double-dash flag it resembles.
            let name = normalized.trim_start_matches('-');
            let suggestion =
                nearest(name, spec.flags.iter().map(|f| f.name)).map(|n| format!("--{n}"));
            return Err(err(ErrorKind::UnknownFlag {
                command,
                flag: token.text,
                suggestion,
            }));
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (body, None),
        };
        let name = name.to_lowercase();
        let Some(flag) = spec.flag(&name) else {
            let shown = match &inline {
                Some(_) => format!("--{name}"),
                None => token.text.clone(),
            };
            if COMMANDS.iter().any(|c| c.flag(&name).is_some()) {
                return Err(err(ErrorKind::FlagNotAccepted {
                    command,
                    flag: shown,
                }));
            }
            let suggestion =
                nearest(&name, spec.flags.iter().map(|f| f.name)).map(|n| format!("--{n}"));
            return Err(err(ErrorKind::UnknownFlag {
                command,
                flag: shown,
                suggestion,
            }));
        };
        if values.flags.iter().any(|(n, _)| *n == flag.name) {
            return Err(err(ErrorKind::RepeatedFlag {
                command,
                flag: flag.name,
            }));
        }
        let value = match (flag.kind, inline) {
            (ValueKind::Switch, None) => FlagValue::Switch,
            (ValueKind::Switch, Some(_)) => {
                return Err(err(ErrorKind::UnexpectedFlagValue {
                    command,
                    flag: flag.name,
                }));
            }
            (kind, inline) => {
                let raw = match inline {
                    Some(v) => v,
                    None => match tokens.next_if(|t| !t.is_flag()) {
                        Some(t) => t.text,
                        None => String::new(),
                    },
                };
                if raw.is_empty() {
                    return Err(err(ErrorKind::MissingFlagValue {
                        command,
                        flag: flag.name,
                    }));
                }
                let bad = |reason: String| {
                    err(ErrorKind::BadFlagValue {
                        command,
                        flag: flag.name,
                        value: raw.clone(),
                        reason,
                    })
                };
                match kind {
                    ValueKind::Duration => FlagValue::Duration(parse_duration(&raw).map_err(bad)?),
                    _ => FlagValue::App(AppName::new(&raw).map_err(|e| bad(e.to_string()))?),
                }
            }
        };
        values.flags.push((flag.name, value));
    }

    let mut positionals = positionals.into_iter().peekable();
    for arg in spec.args {
        let Some(token) = positionals.next() else {
            if arg.required {
                return Err(err(ErrorKind::MissingArgument {
                    command,
                    arg: arg.meta,
                }));
            }
            continue;
        };
        match arg.kind {
            ArgKind::Target => {
                let two_words = positionals
                    .peek()
                    .filter(|t| t.bare)
                    .and_then(|t| pr_word(&t.text));
                let (word, parsed) = match two_words {
                    Some(digits) => {
                        let parsed = parse_app_pr(&token.text, digits);
                        let second = positionals.next().map(|t| t.text).unwrap_or_default();
                        (format!("{} {second}", token.text), parsed)
                    }
                    None => (token.text.clone(), parse_target(&token.text)),
                };
                let target = parsed.map_err(|e| {
                    err(ErrorKind::BadTarget {
                        command,
                        word,
                        reason: e.reason,
                        suggestion: e.suggestion,
                    })
                })?;
                values.target = Some(target);
            }
            ArgKind::Word => values.words.push((arg.meta, token.text)),
        }
    }
    if let Some(extra) = positionals.next() {
        let suggestion = extra_word_suggestion(spec, &values, &extra.text);
        return Err(err(ErrorKind::UnexpectedWord {
            command,
            word: extra.text,
            suggestion,
        }));
    }
    let action = (spec.build)(&values);
    Ok(Command {
        action,
        target: values.target,
    })
}

/// What an extra word probably meant: a flag's value without the flag (`up x#1 4h` ->
/// `--ttl 4h`), a switch without dashes (`list mine`), or the PR of a bare app (`up x 42`).
fn extra_word_suggestion(spec: &CommandSpec, values: &Values, word: &str) -> Option<String> {
    if let Some(crate::Target::App { app }) = &values.target
        && !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(format!("{app}#{word}"));
    }
    spec.flags.iter().find_map(|f| {
        let fits = match f.kind {
            ValueKind::Switch => word.eq_ignore_ascii_case(f.name),
            ValueKind::Duration => parse_duration(word).is_ok(),
            ValueKind::App => AppName::new(word).is_ok(),
        };
        let taken = values.flags.iter().any(|(n, _)| *n == f.name);
        match f.kind {
            _ if !fits || taken => None,
            ValueKind::Switch => Some(format!("--{}", f.name)),
            _ => Some(format!("--{} {word}", f.name)),
        }
    })
}

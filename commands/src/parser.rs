//! From text to [`Command`], driven by the table in [`crate::spec`].
//!
//! Flags may come anywhere after the command word. The positional words left are assigned to the
//! row's arguments in order; an optional TARGET gives way to the argument after it when the word
//! has that argument's shape (see `ArgKind::claims`).

use std::time::Duration;

use crate::MAX_TARGETS;
use crate::duration::parse_duration;
use crate::error::{ErrorKind, UserError, nearest};
use crate::lexer::{LexError, Token, normalize_dashes, quote, tokenize};
use crate::names::{AppName, check_component, check_dataset, check_reason};
use crate::route::{MAX_ROUTES, parse_route};
use crate::spec::{
    self, ArgKind, ArgSpec, ArgValue, COMMANDS, CommandSpec, FlagValue, ValueKind, Values,
};
use crate::target::{parse_app_pr, parse_target, pr_word};
use crate::{Action, Command, MAX_INPUT_CHARS, MAX_TOPIC_CHARS, ParseOptions, Target};

/// Parses the words after the prefix, e.g. Slack's `text` field: `up collect#42 --ttl 4h`.
/// Empty text asks for help. Same as [`parse_with`] with default options (no `max_ttl`).
pub fn parse(text: &str) -> Result<Command, UserError> {
    parse_with(text, &ParseOptions::default())
}

/// [`parse`] with the config's limits: a `--ttl` or `extend` duration over `options.max_ttl` is
/// an error that names the limit.
pub fn parse_with(text: &str, options: &ParseOptions) -> Result<Command, UserError> {
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
    let mut spec = command_spec(&first)?;
    if !spec.subcommands.is_empty() {
        spec = subcommand_spec(spec, tokens.next())?;
    }
    Parser { spec, options }.parse_args(tokens.collect())
}

/// Parses a full line such as `/preview up collect#42`. `None` when the line does not start with
/// `prefix` followed by whitespace or the end (so `/previewer` is not a command). Leading
/// whitespace and a trailing `\r` are ignored.
pub fn parse_line(line: &str, prefix: &str) -> Option<Result<Command, UserError>> {
    parse_line_with(line, prefix, &ParseOptions::default())
}

/// [`parse_line`] with the config's limits (see [`parse_with`]).
pub fn parse_line_with(
    line: &str,
    prefix: &str,
    options: &ParseOptions,
) -> Option<Result<Command, UserError>> {
    if prefix.is_empty() {
        return None;
    }
    let line = line.strip_suffix('\r').unwrap_or(line).trim_start();
    let rest = line.strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    Some(parse_with(rest, options))
}

fn command_spec(first: &Token) -> Result<&'static CommandSpec, UserError> {
    let word = &first.text;
    let lower = word.to_lowercase();
    if first.bare
        && let Some(spec) = COMMANDS.iter().find(|c| c.name == lower)
    {
        return Ok(spec);
    }
    let looks_like_target = parse_target(word).is_ok_and(|t| !matches!(t, Target::App { .. }));
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

/// `on` in `kill-switch on`: the word right after the command.
fn subcommand_spec(
    spec: &'static CommandSpec,
    word: Option<Token>,
) -> Result<&'static CommandSpec, UserError> {
    let command = spec.name;
    let Some(word) = word.filter(|w| !w.is_flag()) else {
        return Err(UserError::new(ErrorKind::MissingSubcommand { command }));
    };
    let lower = word.text.to_lowercase();
    if word.bare
        && let Some(sub) = spec.subcommands.iter().find(|s| s.last_word() == lower)
    {
        return Ok(sub);
    }
    Err(UserError::new(ErrorKind::UnknownSubcommand {
        command,
        suggestion: nearest(&word.text, spec.subcommands.iter().map(|s| s.last_word())),
        word: word.text,
    }))
}

struct Parser<'o> {
    spec: &'static CommandSpec,
    options: &'o ParseOptions,
}

impl Parser<'_> {
    fn err(&self, kind: ErrorKind) -> UserError {
        UserError::new(kind)
    }

    fn parse_args(&self, tokens: Vec<Token>) -> Result<Command, UserError> {
        let spec = self.spec;
        let command = spec.name;
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
                return Err(self.err(ErrorKind::UnknownFlag {
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
                if spec::leaves().any(|c| c.flag(&name).is_some()) {
                    return Err(self.err(ErrorKind::FlagNotAccepted {
                        command,
                        flag: shown,
                    }));
                }
                let suggestion =
                    nearest(&name, spec.flags.iter().map(|f| f.name)).map(|n| format!("--{n}"));
                return Err(self.err(ErrorKind::UnknownFlag {
                    command,
                    flag: shown,
                    suggestion,
                }));
            };
            if values.flags.iter().any(|(n, _)| *n == flag.name) {
                return Err(self.err(ErrorKind::RepeatedFlag {
                    command,
                    flag: flag.name,
                }));
            }
            if let Some(other) = spec.excluded_by(flag.name)
                && values.flags.iter().any(|(n, _)| *n == other)
            {
                return Err(self.err(ErrorKind::ConflictingFlags {
                    command,
                    first: other,
                    second: flag.name,
                }));
            }
            let value = match (flag.kind, inline) {
                (ValueKind::Switch, None) => FlagValue::Switch,
                (ValueKind::Switch, Some(_)) => {
                    return Err(self.err(ErrorKind::UnexpectedFlagValue {
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
                        return Err(self.err(ErrorKind::MissingFlagValue {
                            command,
                            flag: flag.name,
                        }));
                    }
                    let bad = |reason: String| {
                        self.err(ErrorKind::BadFlagValue {
                            command,
                            flag: flag.name,
                            value: raw.clone(),
                            reason,
                        })
                    };
                    match kind {
                        ValueKind::Duration => {
                            let d = parse_duration(&raw).map_err(bad)?;
                            self.within_limit(d, || format!("--{} {raw}", flag.name))?;
                            FlagValue::Duration(d)
                        }
                        ValueKind::Lines => FlagValue::Lines(parse_lines(&raw).map_err(bad)?),
                        ValueKind::App | ValueKind::Switch => {
                            FlagValue::App(AppName::new(&raw).map_err(|e| bad(e.to_string()))?)
                        }
                    }
                }
            };
            values.flags.push((flag.name, value));
        }

        let mut i = 0;
        for (k, arg) in spec.args.iter().enumerate() {
            let Some(token) = positionals.get(i) else {
                if arg.required {
                    return Err(self.err(ErrorKind::MissingArgument {
                        command,
                        arg: arg.meta,
                    }));
                }
                continue;
            };
            let remaining = positionals.len() - i;
            match arg.kind {
                ArgKind::Target => {
                    if spec
                        .args
                        .get(k + 1)
                        .is_some_and(|next| next.kind.claims(&token.text, remaining))
                    {
                        continue;
                    }
                    let (target, used) = self.target(token, positionals.get(i + 1))?;
                    i += used;
                    if !arg.many || i == positionals.len() {
                        values.target = Some(target);
                        continue;
                    }
                    let mut targets = vec![target];
                    while let Some(token) = positionals.get(i) {
                        // A word that is no target is left for the extra-word check and its
                        // suggestion (`up web 4h` -> `--ttl 4h`).
                        let Ok((target, used)) = self.target(token, positionals.get(i + 1)) else {
                            break;
                        };
                        if targets.contains(&target) {
                            return Err(self.err(ErrorKind::BadTarget {
                                command,
                                word: target.to_string(),
                                reason: "named twice".into(),
                                suggestion: None,
                            }));
                        }
                        if targets.len() == MAX_TARGETS {
                            return Err(self.err(ErrorKind::BadTarget {
                                command,
                                word: token.text.clone(),
                                reason: format!("at most {MAX_TARGETS} targets fit in one command"),
                                suggestion: None,
                            }));
                        }
                        targets.push(target);
                        i += used;
                    }
                    values.target = Some(if targets.len() == 1 {
                        targets.remove(0)
                    } else {
                        Target::Many(targets)
                    });
                }
                ArgKind::Routes => {
                    let routes = self.routes(arg, &positionals[i..], &values)?;
                    values.args.push((arg.meta, ArgValue::Routes(routes)));
                    i = positionals.len();
                }
                _ => {
                    let value = self.single(arg, token, &values)?;
                    values.args.push((arg.meta, value));
                    i += 1;
                }
            }
        }
        if let Some(extra) = positionals.get(i) {
            let suggestion = extra_word_suggestion(spec, &values, &positionals[i..]);
            return Err(self.err(ErrorKind::UnexpectedWord {
                command,
                word: extra.text.clone(),
                suggestion,
            }));
        }
        let Some(build) = spec.build else {
            return Err(self.err(ErrorKind::MissingSubcommand { command }));
        };
        Ok(Command {
            action: build(&values),
            target: values.target,
        })
    }

    /// A TARGET at `token`, or the two words `APP pr-N`; how many words it used.
    fn target(&self, token: &Token, next: Option<&Token>) -> Result<(Target, usize), UserError> {
        let two_words = next.filter(|t| t.bare).and_then(|t| pr_word(&t.text));
        let (word, parsed, used) = match (two_words, next) {
            (Some(digits), Some(second)) => (
                format!("{} {}", token.text, second.text),
                parse_app_pr(&token.text, digits),
                2,
            ),
            _ => (token.text.clone(), parse_target(&token.text), 1),
        };
        let target = parsed.map_err(|e| {
            self.err(ErrorKind::BadTarget {
                command: self.spec.name,
                word,
                reason: e.reason,
                suggestion: e.suggestion,
            })
        })?;
        Ok((target, used))
    }

    /// Every remaining word as a `SVC=DEST`: at least one, at most [`MAX_ROUTES`], each service
    /// once.
    fn routes(
        &self,
        arg: &ArgSpec,
        words: &[Token],
        values: &Values,
    ) -> Result<Vec<crate::Route>, UserError> {
        let command = self.spec.name;
        let mut routes: Vec<crate::Route> = Vec::new();
        for token in words {
            let bad = |reason: String, suggestion: Option<String>| {
                self.err(ErrorKind::BadArgument {
                    command,
                    arg: arg.meta,
                    word: token.text.clone(),
                    reason,
                    suggestion,
                })
            };
            if !token.text.contains('=') {
                let reason = if values.target.is_none()
                    && !routes.is_empty()
                    && parse_target(&token.text).is_ok()
                {
                    "the TARGET goes before the first `SVC=DEST`"
                } else {
                    "expected `SVC=DEST`, like `payments=pr-42`"
                };
                return Err(bad(reason.to_string(), None));
            }
            if routes.len() == MAX_ROUTES {
                return Err(bad(
                    format!("at most {MAX_ROUTES} `SVC=DEST` fit in one command"),
                    None,
                ));
            }
            let route = parse_route(&token.text).map_err(|e| bad(e.reason, e.suggestion))?;
            if routes.iter().any(|r| r.service == route.service) {
                return Err(self.err(ErrorKind::DuplicateService {
                    command,
                    service: route.service.to_string(),
                }));
            }
            routes.push(route);
        }
        Ok(routes)
    }

    /// One positional word: DATASET, COMPONENT, DUR, REASON or any word.
    fn single(&self, arg: &ArgSpec, token: &Token, values: &Values) -> Result<ArgValue, UserError> {
        let command = self.spec.name;
        let word = &token.text;
        let bad = |reason: String, suggestion: Option<String>| {
            self.err(ErrorKind::BadArgument {
                command,
                arg: arg.meta,
                word: word.clone(),
                reason,
                suggestion,
            })
        };
        // `logs worker web#42`: the target came second.
        let misplaced_target = || {
            let app = match &values.target {
                Some(Target::App { app }) => app.to_string(),
                _ => return None,
            };
            parse_target(word)
                .ok()
                .filter(|t| !matches!(t, Target::App { .. }))
                .map(|t| format!("{t} {app}"))
        };
        let named = |r: Result<(), crate::LabelError>| -> Result<ArgValue, UserError> {
            match r {
                Ok(()) => Ok(ArgValue::Word(word.clone())),
                Err(e) => match misplaced_target() {
                    Some(s) => Err(bad(
                        format!("the TARGET goes before the {}", arg.meta),
                        Some(s),
                    )),
                    None => {
                        let lower = word.to_lowercase();
                        let fixed =
                            (lower != *word && check_same(arg.kind, &lower)).then_some(lower);
                        Err(bad(e.to_string(), fixed))
                    }
                },
            }
        };
        // `pr-N` (quoted, or else it would have joined the app before it) names a pull request;
        // as a name it could not be written back without being read as `APP pr-N`.
        if matches!(arg.kind, ArgKind::Dataset | ArgKind::Component)
            && let Some(digits) = pr_word(word)
        {
            let suggestion = match &values.target {
                Some(Target::App { app }) => Some(format!("{app}#{digits}")),
                _ => None,
            };
            return Err(bad(
                format!("`pr-N` is a pull request, not a {}", arg.meta),
                suggestion,
            ));
        }
        match arg.kind {
            ArgKind::Dataset => named(check_dataset(word)),
            ArgKind::Component => {
                if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad(
                        "component names have a letter".to_string(),
                        Some(format!("--tail {word}")),
                    ));
                }
                named(check_component(word))
            }
            ArgKind::Duration => {
                let d = parse_duration(word).map_err(|r| bad(r, None))?;
                self.within_limit(d, || word.clone())?;
                Ok(ArgValue::Duration(d))
            }
            ArgKind::Reason => {
                check_reason(word).map_err(|e| bad(e.to_string(), None))?;
                Ok(ArgValue::Word(word.clone()))
            }
            ArgKind::Word => {
                // A help topic longer than any command: say so now rather than echo it later.
                if word.chars().nth(MAX_TOPIC_CHARS).is_some() {
                    return Err(self.err(ErrorKind::UnknownCommand {
                        word: word.clone(),
                        suggestion: None,
                    }));
                }
                Ok(ArgValue::Word(word.clone()))
            }
            ArgKind::Target | ArgKind::Routes => Ok(ArgValue::Word(word.clone())),
        }
    }

    /// `d` is at most `options.max_ttl`; `shown` is what to quote otherwise.
    fn within_limit(&self, d: Duration, shown: impl FnOnce() -> String) -> Result<(), UserError> {
        match self.options.max_ttl {
            Some(limit) if d > limit => Err(self.err(ErrorKind::OverLimit {
                command: self.spec.name,
                word: shown(),
                limit,
            })),
            _ => Ok(()),
        }
    }
}

/// Does the lowercased word pass the check of its kind? (For the did-you-mean.)
fn check_same(kind: ArgKind, word: &str) -> bool {
    match kind {
        ArgKind::Dataset => check_dataset(word).is_ok(),
        ArgKind::Component => check_component(word).is_ok(),
        _ => false,
    }
}

/// `--tail N`: `1..=MAX_TAIL`.
fn parse_lines(raw: &str) -> Result<u32, String> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err("that is not a whole number".to_string());
    }
    match raw.parse::<u32>() {
        Ok(0) => Err("the least is 1".to_string()),
        Ok(n) if n <= spec::MAX_TAIL => Ok(n),
        _ => Err(format!("the most is {}", spec::MAX_TAIL)),
    }
}

/// What extra words probably meant: a flag's value without the flag (`up x#1 4h` ->
/// `--ttl 4h`), a switch without dashes (`list mine`), the PR of a bare app (`up x 42`), or a
/// REASON that needed quotes (`kill-switch on db down` -> `"db down"`).
fn extra_word_suggestion(spec: &CommandSpec, values: &Values, extra: &[Token]) -> Option<String> {
    let word = extra.first().map(|t| t.text.as_str()).unwrap_or_default();
    if let Some(Target::App { app }) = &values.target
        && !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(format!("{app}#{word}"));
    }
    if let Some(reason) = spec
        .args
        .iter()
        .find(|a| a.kind == ArgKind::Reason)
        .and_then(|a| values.args.iter().find(|(m, _)| *m == a.meta))
        .and_then(|(_, v)| match v {
            ArgValue::Word(w) => Some(w),
            _ => None,
        })
    {
        let words: Vec<&str> = std::iter::once(reason.as_str())
            .chain(extra.iter().map(|t| t.text.as_str()))
            .collect();
        return Some(quote(&words.join(" ")).into_owned());
    }
    spec.flags.iter().find_map(|f| {
        let fits = match f.kind {
            ValueKind::Switch => word.eq_ignore_ascii_case(f.name),
            ValueKind::Duration => parse_duration(word).is_ok(),
            ValueKind::App => AppName::new(word).is_ok(),
            ValueKind::Lines => parse_lines(word).is_ok(),
        };
        let taken = values.flags.iter().any(|(n, _)| *n == f.name);
        match f.kind {
            _ if !fits || taken => None,
            ValueKind::Switch => Some(format!("--{}", f.name)),
            _ => Some(format!("--{} {word}", f.name)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::format_duration;

    #[test]
    fn lines() {
        assert_eq!(parse_lines("1"), Ok(1));
        assert_eq!(parse_lines("0200"), Ok(200));
        assert_eq!(parse_lines("5000"), Ok(5000));
        for bad in ["0", "5001", "+5", "-1", "1e3", "", "99999999999999999999"] {
            assert!(parse_lines(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        let options = ParseOptions {
            max_ttl: Some(Duration::from_secs(7 * 86400)),
        };
        assert!(parse_with("up --ttl 7d", &options).is_ok());
        assert!(parse_with("extend 7d", &options).is_ok());
        assert!(matches!(
            parse_with("up --ttl 10d", &options).map_err(|e| e.kind().clone()),
            Err(ErrorKind::OverLimit { .. })
        ));
        assert_eq!(format_duration(Duration::from_secs(7 * 86400)), "7d");
    }
}

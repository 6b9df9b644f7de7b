//! The command language of preview-bot: grammar, targets, durations, help text and error
//! rendering. Pure: no I/O, no async.
//!
//! One grammar serves Slack (`/preview up collect#42`, where [`parse`] gets the text after the
//! slash command) and GitHub (lines starting with `/preview` in a PR comment, found by
//! [`commands_in_comment`]). The commands are rows of one table (`spec.rs`) that drives both
//! the parser and [`help`], so usage lines, help and parsing cannot disagree.
//!
//! # Grammar
//!
//! `COMMAND [SUBCOMMAND] WORD... FLAG...`: words are split on whitespace, `"..."` (or `“...”`)
//! keeps spaces, flags (`--ttl 4h`, `--ttl=4h`) may come anywhere after the command word, and
//! the remaining positional words fill the command's arguments in order. Where an optional
//! TARGET comes before another argument, the word goes to that other argument when it has its
//! shape, else it is the TARGET:
//!
//! - `point [TARGET] SVC=DEST...`: a word with `=` is a `SVC=DEST`; the TARGET comes first.
//! - `extend [TARGET] [DUR]`: a word starting with a digit is the DUR (`extend 4h`, `extend web
//!   4h`), unless it is target-shaped (`extend 3m/shop#1`).
//! - `seed [TARGET] [DATASET]`, `logs [TARGET] [COMPONENT]`: a single bare word is the
//!   DATASET / COMPONENT (`logs worker`); two words are `APP COMPONENT` (`logs web worker`); a
//!   target-shaped word (with `#`, `/`, `@`, `<`, `:`, or `pr-N`) is always the TARGET
//!   (`logs web#42 worker`).
//! - `kill-switch on|off|status` takes no TARGET; `on`'s REASON is one word or a quoted text.
//!
//! A `--ttl` or `extend` duration is capped by [`ParseOptions::max_ttl`] ([`parse_with`]).

mod comment;
mod duration;
mod error;
#[doc(hidden)]
pub mod fuzzgen;
mod help;
mod lexer;
mod names;
mod parser;
mod route;
mod spec;
mod target;

use std::fmt;
use std::time::Duration;

pub use comment::{commands_in_comment, commands_in_comment_with};
pub use duration::{MAX_DURATION, format_duration, parse_duration};
pub use error::{ErrorKind, UserError};
pub use help::help;
pub use names::{
    AppName, LabelError, MAX_APP_NAME_LEN, MAX_BRANCH_LEN, MAX_LABEL_LEN, MAX_PR_NUMBER,
    MAX_REASON_LEN, NameError, PrNumber, ServiceName,
};
pub use parser::{parse, parse_line, parse_line_with, parse_with};
pub use route::{Destination, MAX_ROUTES, Route};

/// The most TARGETs one command may name.
pub const MAX_TARGETS: usize = 10;
pub use spec::MAX_TAIL;

/// The prefix of commands unless the config says otherwise.
pub const DEFAULT_PREFIX: &str = "/preview";
/// Longer command text is rejected without being parsed.
pub const MAX_INPUT_CHARS: usize = 4000;
/// At most this many commands run from one comment.
pub const MAX_COMMANDS_PER_COMMENT: usize = 10;
/// A `help` topic longer than this is no command (and is rejected as one).
pub const MAX_TOPIC_CHARS: usize = 64;

/// Limits from the config that the parser enforces. `Default` is no limit beyond the grammar's
/// own ([`MAX_DURATION`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The longest `--ttl` or `extend` duration (the config's `max_ttl`).
    pub max_ttl: Option<Duration>,
}

/// A parsed command: what to do and, when given, to which preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub action: Action,
    /// `None` when the command named no target (on a PR comment: the PR's previews).
    pub target: Option<Target>,
}

/// What a command asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `up [TARGET] [--ttl DUR]`
    Up { ttl: Option<Duration> },
    /// `down [TARGET]`
    Down,
    /// `redeploy [TARGET]`
    Redeploy,
    /// `status [TARGET]`
    Status,
    /// `list [--mine] [--app APP]`
    List { mine: bool, app: Option<AppName> },
    /// `point [TARGET] SVC=DEST...`: at least one route, each service once.
    Point { routes: Vec<Route> },
    /// `seed [TARGET] [DATASET]`
    Seed { dataset: Option<String> },
    /// `logs [TARGET] [COMPONENT] [--tail N]`
    Logs {
        component: Option<String>,
        tail: Option<u32>,
    },
    /// `extend [TARGET] [DUR]`
    Extend { by: Option<Duration> },
    /// `pin [TARGET]`
    Pin,
    /// `unpin [TARGET]`
    Unpin,
    /// `kill-switch on|off|status`; never has a target.
    KillSwitch(KillSwitch),
    /// `help [COMMAND]`; the topic as typed (may be unknown: [`help`] deals with it).
    Help { topic: Option<String> },
}

/// The subcommands of `kill-switch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillSwitch {
    /// `kill-switch on [REASON] [--scale-to-zero | --teardown]`
    On {
        reason: Option<String>,
        mode: FreezeMode,
    },
    /// `kill-switch off [--restore]`
    Off { restore: bool },
    /// `kill-switch status`
    Status,
}

/// What `kill-switch on` does besides refusing deploys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezeMode {
    /// Nothing more: running previews keep running.
    Freeze,
    /// `--scale-to-zero`: scale every preview workload to zero replicas.
    ScaleToZero,
    /// `--teardown`: delete every preview.
    Teardown,
}

impl Action {
    /// The command word: `up`, `down`, ..., `kill-switch`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Up { .. } => "up",
            Action::Down => "down",
            Action::Redeploy => "redeploy",
            Action::Status => "status",
            Action::List { .. } => "list",
            Action::Point { .. } => "point",
            Action::Seed { .. } => "seed",
            Action::Logs { .. } => "logs",
            Action::Extend { .. } => "extend",
            Action::Pin => "pin",
            Action::Unpin => "unpin",
            Action::KillSwitch(_) => "kill-switch",
            Action::Help { .. } => "help",
        }
    }
}

/// The command word of an action: `up`, ..., `kill-switch` (same as [`Action::name`]).
pub fn action_name(action: &Action) -> &'static str {
    action.name()
}

/// Does the action act on previews, and so take a TARGET (or, on a PR comment, the implied PR)?
/// False for `help`, `list` and `kill-switch`. Read from the command table.
pub fn needs_target(action: &Action) -> bool {
    spec::takes_target(action.name())
}

/// Which preview a command is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `collect#42`, `collect pr-42`
    AppPr { app: AppName, pr: PrNumber },
    /// `acme/collect#42`, `https://github.com/acme/collect/pull/42`
    RepoPr {
        owner: String,
        repo: String,
        pr: PrNumber,
    },
    /// A bare `collect`: on a PR comment in a monorepo, one app of the implied PR.
    App { app: AppName },
    /// `collect@feature/login`: a preview of a branch, without a pull request.
    Branch { app: AppName, branch: String },
    /// Several of the above at once (`up web api`, `down web#1 api#2`), each named once; never
    /// nested, never fewer than two.
    Many(Vec<Target>),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::AppPr { app, pr } => write!(f, "{app}#{pr}"),
            Target::RepoPr { owner, repo, pr } => write!(f, "{owner}/{repo}#{pr}"),
            Target::App { app } => write!(f, "{app}"),
            Target::Branch { app, branch } => write!(f, "{app}@{branch}"),
            Target::Many(targets) => {
                let words: Vec<String> = targets.iter().map(Target::to_string).collect();
                f.write_str(&words.join(" "))
            }
        }
    }
}

/// The canonical text without prefix, e.g. `up collect#42 --ttl 4h`; [`parse`] reads it back
/// to the same command for every command [`parse`] can produce. (Some values have no text form
/// and [`parse`] never produces them: a target on `list`, `help` or `kill-switch`, a bare-app
/// target on `seed` or `logs` without a DATASET or COMPONENT, a duration that is not whole
/// minutes.)
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action.name())?;
        if let Action::KillSwitch(k) = &self.action {
            f.write_str(match k {
                KillSwitch::On { .. } => " on",
                KillSwitch::Off { .. } => " off",
                KillSwitch::Status => " status",
            })?;
        }
        if let Some(target) = &self.target {
            write!(f, " {target}")?;
        }
        match &self.action {
            Action::Up { ttl: Some(ttl) } => write!(f, " --ttl {}", format_duration(*ttl)),
            Action::List { mine, app } => {
                if *mine {
                    f.write_str(" --mine")?;
                }
                match app {
                    Some(app) => write!(f, " --app {app}"),
                    None => Ok(()),
                }
            }
            Action::Point { routes } => routes.iter().try_for_each(|r| write!(f, " {r}")),
            Action::Seed { dataset } => match dataset {
                Some(d) => write!(f, " {}", lexer::quote(d)),
                None => Ok(()),
            },
            Action::Logs { component, tail } => {
                if let Some(c) = component {
                    write!(f, " {}", lexer::quote(c))?;
                }
                match tail {
                    Some(n) => write!(f, " --tail {n}"),
                    None => Ok(()),
                }
            }
            Action::Extend { by: Some(by) } => write!(f, " {}", format_duration(*by)),
            Action::KillSwitch(KillSwitch::On { reason, mode }) => {
                if let Some(reason) = reason {
                    write!(f, " {}", lexer::quote(reason))?;
                }
                match mode {
                    FreezeMode::Freeze => Ok(()),
                    FreezeMode::ScaleToZero => f.write_str(" --scale-to-zero"),
                    FreezeMode::Teardown => f.write_str(" --teardown"),
                }
            }
            Action::KillSwitch(KillSwitch::Off { restore: true }) => f.write_str(" --restore"),
            Action::Help { topic: Some(topic) } => write!(f, " {}", lexer::quote(topic)),
            Action::Up { ttl: None }
            | Action::Down
            | Action::Redeploy
            | Action::Status
            | Action::Extend { by: None }
            | Action::Pin
            | Action::Unpin
            | Action::KillSwitch(KillSwitch::Off { restore: false } | KillSwitch::Status)
            | Action::Help { topic: None } => Ok(()),
        }
    }
}

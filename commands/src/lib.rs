//! The command language of preview-bot: grammar, targets, durations, help text and error
//! rendering. Pure: no I/O, no async.
//!
//! One grammar serves Slack (`/preview up collect#42`, where [`parse`] gets the text after the
//! slash command) and GitHub (lines starting with `/preview` in a PR comment, found by
//! [`commands_in_comment`]). The commands are rows of one table (`spec.rs`) that drives both
//! the parser and [`help`], so usage lines, help and parsing cannot disagree.

mod comment;
mod duration;
mod error;
mod help;
mod lexer;
mod names;
mod parser;
mod spec;
mod target;

use std::fmt;
use std::time::Duration;

pub use comment::commands_in_comment;
pub use duration::{MAX_DURATION, format_duration, parse_duration};
pub use error::{ErrorKind, UserError};
pub use help::help;
pub use names::{AppName, MAX_APP_NAME_LEN, MAX_PR_NUMBER, NameError, PrNumber};
pub use parser::{parse, parse_line};

/// The prefix of commands unless the config says otherwise.
pub const DEFAULT_PREFIX: &str = "/preview";
/// Longer command text is rejected without being parsed.
pub const MAX_INPUT_CHARS: usize = 4000;
/// At most this many commands run from one comment.
pub const MAX_COMMANDS_PER_COMMENT: usize = 10;

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
    /// `help [COMMAND]`; the topic as typed (may be unknown: [`help`] deals with it).
    Help { topic: Option<String> },
}

impl Action {
    /// The command word: `up`, `down`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Action::Up { .. } => "up",
            Action::Down => "down",
            Action::Redeploy => "redeploy",
            Action::Status => "status",
            Action::List { .. } => "list",
            Action::Help { .. } => "help",
        }
    }
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
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::AppPr { app, pr } => write!(f, "{app}#{pr}"),
            Target::RepoPr { owner, repo, pr } => write!(f, "{owner}/{repo}#{pr}"),
            Target::App { app } => write!(f, "{app}"),
        }
    }
}

/// The canonical text without prefix, e.g. `up collect#42 --ttl 4h`; [`parse`] reads it back
/// to the same command for every command [`parse`] can produce (a target on `list` or `help`,
/// or a TTL that is not whole minutes, has no text form).
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action.name())?;
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
            Action::Help { topic: Some(topic) } => write!(f, " {}", lexer::quote(topic)),
            Action::Up { ttl: None }
            | Action::Down
            | Action::Redeploy
            | Action::Status
            | Action::Help { topic: None } => Ok(()),
        }
    }
}

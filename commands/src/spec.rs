//! The command table. One row per command drives both the parser and `help`, so the two cannot
//! disagree: the usage line is derived from the row's arguments and flags, and a test parses
//! every example of every row.
//!
//! Adding a command (point, seed, logs, extend, pin/unpin, kill-switch) is adding a row, an
//! [`Action`] variant, a `build` function and its arm in `Display for Command`.

use std::time::Duration;

use crate::names::AppName;
use crate::{Action, Target};

/// What a flag's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// No value: `--mine`.
    Switch,
    /// A `DUR`: `--ttl 4h`.
    Duration,
    /// An app name: `--app collect`.
    App,
}

impl ValueKind {
    /// One line telling what a good value looks like, shown under a bad value.
    pub fn hint(self) -> &'static str {
        match self {
            ValueKind::Switch => "",
            ValueKind::Duration => "DUR looks like `30m`, `4h`, `2d` or `1h30m`.",
            ValueKind::App => "APP is an app name like `collect`.",
        }
    }
}

#[derive(Debug)]
pub(crate) struct FlagSpec {
    /// Without the dashes.
    pub name: &'static str,
    pub kind: ValueKind,
    /// The placeholder of the value in the usage line (empty for switches).
    pub meta: &'static str,
    pub help: &'static str,
}

/// What a positional argument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgKind {
    /// TARGET: one word, or the two words `APP pr-N`.
    Target,
    /// Any one word.
    Word,
}

#[derive(Debug)]
pub(crate) struct ArgSpec {
    pub meta: &'static str,
    pub kind: ArgKind,
    pub required: bool,
}

/// The values a command line carried, handed to the row's `build`.
#[derive(Debug, Default)]
pub(crate) struct Values {
    pub target: Option<Target>,
    pub words: Vec<(&'static str, String)>,
    pub flags: Vec<(&'static str, FlagValue)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FlagValue {
    Switch,
    Duration(Duration),
    App(AppName),
}

impl Values {
    fn flag(&self, name: &str) -> Option<&FlagValue> {
        self.flags.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    fn switch(&self, name: &str) -> bool {
        self.flag(name).is_some()
    }
    fn duration(&self, name: &str) -> Option<Duration> {
        match self.flag(name) {
            Some(FlagValue::Duration(d)) => Some(*d),
            _ => None,
        }
    }
    fn app(&self, name: &str) -> Option<AppName> {
        match self.flag(name) {
            Some(FlagValue::App(a)) => Some(a.clone()),
            _ => None,
        }
    }
    fn word(&self, meta: &str) -> Option<String> {
        self.words
            .iter()
            .find(|(m, _)| *m == meta)
            .map(|(_, w)| w.clone())
    }
}

#[derive(Debug)]
pub(crate) struct CommandSpec {
    pub name: &'static str,
    pub args: &'static [ArgSpec],
    pub flags: &'static [FlagSpec],
    /// One line for the overview, lowercase, no final period.
    pub summary: &'static str,
    /// A few sentences for `help COMMAND`.
    pub details: &'static str,
    /// Command lines without the prefix; each must parse.
    pub examples: &'static [&'static str],
    pub build: fn(&Values) -> Action,
}

impl CommandSpec {
    /// `/preview up [TARGET] [--ttl DUR]`.
    pub fn usage(&self, prefix: &str) -> String {
        let mut out = format!("{prefix} {}", self.name);
        for arg in self.args {
            if arg.required {
                out.push_str(&format!(" {}", arg.meta));
            } else {
                out.push_str(&format!(" [{}]", arg.meta));
            }
        }
        for flag in self.flags {
            match flag.kind {
                ValueKind::Switch => out.push_str(&format!(" [--{}]", flag.name)),
                _ => out.push_str(&format!(" [--{} {}]", flag.name, flag.meta)),
            }
        }
        out
    }

    pub fn flag(&self, name: &str) -> Option<&'static FlagSpec> {
        self.flags.iter().find(|f| f.name == name)
    }
}

const TARGET: ArgSpec = ArgSpec {
    meta: "TARGET",
    kind: ArgKind::Target,
    required: false,
};

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "up",
        args: &[TARGET],
        flags: &[FlagSpec {
            name: "ttl",
            kind: ValueKind::Duration,
            meta: "DUR",
            help: "tear the preview down DUR from now (capped by the config)",
        }],
        summary: "create or update the preview at the PR's head commit",
        details: "Deploys the pull request's head commit and answers with the preview's URL. \
                  Running it again updates the preview to the newest commit.",
        examples: &[
            "up collect#42",
            "up collect pr-42 --ttl 4h",
            "up acme/collect#42",
            "up https://github.com/acme/collect/pull/42",
        ],
        build: |v| Action::Up {
            ttl: v.duration("ttl"),
        },
    },
    CommandSpec {
        name: "down",
        args: &[TARGET],
        flags: &[],
        summary: "tear the preview down now",
        details: "Deletes the preview and everything it runs. `up` brings it back.",
        examples: &["down collect#42"],
        build: |_| Action::Down,
    },
    CommandSpec {
        name: "redeploy",
        args: &[TARGET],
        flags: &[],
        summary: "re-render and re-apply at the current head, restart workloads",
        details: "Deploys the head commit again even if nothing changed and restarts the \
                  preview's workloads.",
        examples: &["redeploy collect#42"],
        build: |_| Action::Redeploy,
    },
    CommandSpec {
        name: "status",
        args: &[TARGET],
        flags: &[],
        summary: "phase, URL, commit, age, idle time, expiry and log link of a preview",
        details: "Shows where the preview stands: phase, URL, commit, age, idle time, expiry, \
                  pointers, dependencies and a link to its logs.",
        examples: &["status collect#42", "status acme/collect#42"],
        build: |_| Action::Status,
    },
    CommandSpec {
        name: "list",
        args: &[],
        flags: &[
            FlagSpec {
                name: "mine",
                kind: ValueKind::Switch,
                meta: "",
                help: "only previews you started",
            },
            FlagSpec {
                name: "app",
                kind: ValueKind::App,
                meta: "APP",
                help: "only previews of this app",
            },
        ],
        summary: "running previews, one line each",
        details: "Lists the running previews with their owner, age, idle time and URL.",
        examples: &["list", "list --mine", "list --app collect"],
        build: |v| Action::List {
            mine: v.switch("mine"),
            app: v.app("app"),
        },
    },
    CommandSpec {
        name: "help",
        args: &[ArgSpec {
            meta: "COMMAND",
            kind: ArgKind::Word,
            required: false,
        }],
        flags: &[],
        summary: "all commands, or the usage of one",
        details: "Without COMMAND, lists all commands; with it, shows that command's usage \
                  and examples.",
        examples: &["help", "help up"],
        build: |v| Action::Help {
            topic: v.word("COMMAND"),
        },
    },
];

/// The row of a command name (lowercase).
pub(crate) fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

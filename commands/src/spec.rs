//! The command table. One row per command drives both the parser and `help`, so the two cannot
//! disagree: the usage line is derived from the row's arguments and flags, and a test parses
//! every example of every row.
//!
//! Adding a command is adding a row, an [`Action`] variant, the row's `build` function and its
//! arm in `Display for Command`. A command with subcommands (`kill-switch on|off|status`) is a
//! row whose `subcommands` are rows named `kill-switch on`, ...
//!
//! Positional arguments are assigned in order, with one rule for an optional TARGET followed by
//! another argument (see [`ArgKind::claims`]): the word goes to that other argument when it has
//! that argument's shape, else it is the TARGET.

use std::time::Duration;

use crate::names::AppName;
use crate::route::Route;
use crate::target::{looks_like_url, target_shaped};
use crate::{Action, KillSwitch, Target};

/// Largest `--tail`.
pub const MAX_TAIL: u32 = 5000;

/// What a flag's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// No value: `--mine`.
    Switch,
    /// A `DUR`: `--ttl 4h`.
    Duration,
    /// An app name: `--app collect`.
    App,
    /// A number of log lines, `1..=MAX_TAIL`: `--tail 200`.
    Lines,
}

impl ValueKind {
    /// One line telling what a good value looks like, shown under a bad value.
    pub fn hint(self) -> &'static str {
        match self {
            ValueKind::Switch => "",
            ValueKind::Duration => DUR_HINT,
            ValueKind::App => "APP is an app name like `collect`.",
            ValueKind::Lines => "N is a number of lines from 1 to 5000.",
        }
    }
}

const DUR_HINT: &str = "DUR looks like `30m`, `4h`, `2d` or `1h30m`.";

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
    /// One or more `SVC=DEST`: every remaining word.
    Routes,
    /// A dataset name.
    Dataset,
    /// A workload name.
    Component,
    /// A `DUR`.
    Duration,
    /// One word or a quoted text.
    Reason,
}

impl ArgKind {
    /// One line telling what a good value looks like, shown under a bad value.
    pub fn hint(self) -> &'static str {
        match self {
            ArgKind::Target | ArgKind::Word => "",
            ArgKind::Routes => {
                "SVC is a service name like `payments`; DEST is `pr-N`, `APP#N`, `APP@BRANCH`, `staging` or `default`."
            }
            ArgKind::Dataset => "DATASET is a name like `demo` or `large_orders`.",
            ArgKind::Component => "COMPONENT is a workload name like `worker`.",
            ArgKind::Duration => DUR_HINT,
            ArgKind::Reason => "REASON is one word or a quoted text like `\"INC-123 db outage\"`.",
        }
    }

    /// Does `word` go to an argument of this kind rather than to an optional TARGET before it?
    /// `remaining` counts the positional words left, `word` included.
    ///
    /// - `SVC=DEST`: a word with `=` (and not a URL);
    /// - DUR: a word starting with a digit, unless target-shaped (`3m/repo#1`);
    /// - DATASET, COMPONENT: the last word, unless target-shaped (`#`, `/`, `@`, `<`, `:`, or
    ///   `pr-N`). So `logs worker` is a component, `logs web worker` is app `web`'s component.
    pub fn claims(self, word: &str, remaining: usize) -> bool {
        match self {
            ArgKind::Routes => word.contains('=') && !looks_like_url(word),
            ArgKind::Duration => {
                word.starts_with(|c: char| c.is_ascii_digit()) && !target_shaped(word)
            }
            ArgKind::Dataset | ArgKind::Component => remaining == 1 && !target_shaped(word),
            ArgKind::Target | ArgKind::Word | ArgKind::Reason => false,
        }
    }
}

#[derive(Debug)]
pub(crate) struct ArgSpec {
    pub meta: &'static str,
    pub kind: ArgKind,
    pub required: bool,
    /// Takes every remaining word (several TARGETs: `up web api`).
    pub many: bool,
}

/// The values a command line carried, handed to the row's `build`.
#[derive(Debug, Default)]
pub(crate) struct Values {
    pub target: Option<Target>,
    pub args: Vec<(&'static str, ArgValue)>,
    pub flags: Vec<(&'static str, FlagValue)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ArgValue {
    Word(String),
    Duration(Duration),
    Routes(Vec<Route>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FlagValue {
    Switch,
    Duration(Duration),
    App(AppName),
    Lines(u32),
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
    fn lines(&self, name: &str) -> Option<u32> {
        match self.flag(name) {
            Some(FlagValue::Lines(n)) => Some(*n),
            _ => None,
        }
    }
    fn arg(&self, meta: &str) -> Option<&ArgValue> {
        self.args.iter().find(|(m, _)| *m == meta).map(|(_, v)| v)
    }
    fn word(&self, meta: &str) -> Option<String> {
        match self.arg(meta) {
            Some(ArgValue::Word(w)) => Some(w.clone()),
            _ => None,
        }
    }
    fn arg_duration(&self, meta: &str) -> Option<Duration> {
        match self.arg(meta) {
            Some(ArgValue::Duration(d)) => Some(*d),
            _ => None,
        }
    }
    fn routes(&self, meta: &str) -> Vec<Route> {
        match self.arg(meta) {
            Some(ArgValue::Routes(r)) => r.clone(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct CommandSpec {
    /// The command words: `up`, or `kill-switch on` for a subcommand.
    pub name: &'static str,
    pub args: &'static [ArgSpec],
    pub flags: &'static [FlagSpec],
    /// Pairs of flags that cannot be given together.
    pub exclusive: &'static [[&'static str; 2]],
    /// Rows of the subcommands; a row with subcommands has no args, flags or `build`.
    pub subcommands: &'static [CommandSpec],
    /// One line for the overview, lowercase, no final period.
    pub summary: &'static str,
    /// A few sentences for `help COMMAND`.
    pub details: &'static str,
    /// Command lines without the prefix; each must parse.
    pub examples: &'static [&'static str],
    /// `None` only for a row with subcommands.
    pub build: Option<fn(&Values) -> Action>,
}

impl CommandSpec {
    /// `/preview up [TARGET] [--ttl DUR]`.
    pub fn usage(&self, prefix: &str) -> String {
        let mut out = format!("{prefix} {}", self.name);
        for arg in self.args {
            let dots = if arg.kind == ArgKind::Routes {
                "..."
            } else {
                ""
            };
            if arg.required {
                out.push_str(&format!(" {}{dots}", arg.meta));
            } else {
                out.push_str(&format!(" [{}{dots}]", arg.meta));
            }
        }
        for flag in self.flags {
            if self
                .exclusive
                .iter()
                .any(|[_, second]| *second == flag.name)
            {
                continue;
            }
            let mut forms = vec![flag.form()];
            for [first, second] in self.exclusive {
                if *first == flag.name
                    && let Some(other) = self.flag(second)
                {
                    forms.push(other.form());
                }
            }
            out.push_str(&format!(" [{}]", forms.join(" | ")));
        }
        out
    }

    /// The usage lines: one, or one per subcommand.
    pub fn usages(&self, prefix: &str) -> Vec<String> {
        if self.subcommands.is_empty() {
            vec![self.usage(prefix)]
        } else {
            self.subcommands.iter().map(|s| s.usage(prefix)).collect()
        }
    }

    pub fn flag(&self, name: &str) -> Option<&'static FlagSpec> {
        self.flags.iter().find(|f| f.name == name)
    }

    pub fn arg(&self, meta: &str) -> Option<&'static ArgSpec> {
        self.args.iter().find(|a| a.meta == meta)
    }

    /// The flag `name` cannot be given with, if any.
    pub fn excluded_by(&self, name: &str) -> Option<&'static str> {
        self.exclusive.iter().find_map(|[a, b]| match name {
            n if n == *a => Some(*b),
            n if n == *b => Some(*a),
            _ => None,
        })
    }

    /// The subcommand word of a subcommand row: `on` for `kill-switch on`.
    pub fn last_word(&self) -> &'static str {
        self.name.rsplit(' ').next().unwrap_or(self.name)
    }
}

impl FlagSpec {
    /// `--mine` or `--ttl DUR`.
    pub fn form(&self) -> String {
        match self.kind {
            ValueKind::Switch => format!("--{}", self.name),
            _ => format!("--{} {}", self.name, self.meta),
        }
    }
}

const TARGET: ArgSpec = ArgSpec {
    meta: "TARGET",
    kind: ArgKind::Target,
    required: false,
    many: false,
};

/// One or more TARGETs: commands that act on whole previews take several at once.
const TARGETS: ArgSpec = ArgSpec {
    meta: "TARGET...",
    many: true,
    ..TARGET
};

/// The defaults of a row, for `..ROW`.
const ROW: CommandSpec = CommandSpec {
    name: "",
    args: &[TARGETS],
    flags: &[],
    exclusive: &[],
    subcommands: &[],
    summary: "",
    details: "",
    examples: &[],
    build: None,
};

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "up",
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
            "up collect@feature/login",
        ],
        build: Some(|v| Action::Up {
            ttl: v.duration("ttl"),
        }),
        ..ROW
    },
    CommandSpec {
        name: "down",
        summary: "tear the preview down now",
        details: "Deletes the preview and everything it runs. `up` brings it back.",
        examples: &["down collect#42"],
        build: Some(|_| Action::Down),
        ..ROW
    },
    CommandSpec {
        name: "redeploy",
        summary: "re-render and re-apply at the current head, restart workloads",
        details: "Deploys the head commit again even if nothing changed and restarts the \
                  preview's workloads.",
        examples: &["redeploy collect#42"],
        build: Some(|_| Action::Redeploy),
        ..ROW
    },
    CommandSpec {
        name: "status",
        summary: "phase, URL, commit, age, idle time, expiry and log link of a preview",
        details: "Shows where the preview stands: phase, URL, commit, age, idle time, expiry, \
                  pointers, dependencies and a link to its logs.",
        examples: &["status collect#42", "status acme/collect#42"],
        build: Some(|_| Action::Status),
        ..ROW
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
        build: Some(|v| Action::List {
            mine: v.switch("mine"),
            app: v.app("app"),
        }),
        ..ROW
    },
    CommandSpec {
        name: "point",
        args: &[
            TARGET,
            ArgSpec {
                meta: "SVC=DEST",
                kind: ArgKind::Routes,
                required: true,
                many: false,
            },
        ],
        summary: "route the preview's upstream services to other previews or staging",
        details: "Each `SVC=DEST` sends the preview's calls to upstream service SVC to DEST: \
                  `pr-N` (the preview of pull request N of SVC's app), `APP#N` (a preview of \
                  another app), `staging`, or `default` (back to the configured upstream). \
                  A word with `=` is always a `SVC=DEST`; TARGET, when given, comes first. \
                  Each service at most once.",
        examples: &[
            "point payments=pr-42",
            "point collect#42 payments=pr-7 search=staging",
            "point web pr-42 api=shop#3",
            "point payments=default",
        ],
        build: Some(|v| Action::Point {
            routes: v.routes("SVC=DEST"),
        }),
        ..ROW
    },
    CommandSpec {
        name: "seed",
        args: &[
            TARGET,
            ArgSpec {
                meta: "DATASET",
                kind: ArgKind::Dataset,
                required: false,
                many: false,
            },
        ],
        summary: "run the app's seed job(s) in the preview, report the result and log tail",
        details: "Runs the app's configured seed job(s) in the preview, only DATASET's when \
                  given, and answers with the result and the log tail. A single bare word is \
                  the DATASET: to also pick an app of a monorepo, write `APP DATASET`, or use a \
                  full TARGET like `APP#N`.",
        examples: &[
            "seed",
            "seed demo",
            "seed collect#42 large_orders",
            "seed web demo",
        ],
        build: Some(|v| Action::Seed {
            dataset: v.word("DATASET"),
        }),
        ..ROW
    },
    CommandSpec {
        name: "logs",
        args: &[
            TARGET,
            ArgSpec {
                meta: "COMPONENT",
                kind: ArgKind::Component,
                required: false,
                many: false,
            },
        ],
        flags: &[FlagSpec {
            name: "tail",
            kind: ValueKind::Lines,
            meta: "N",
            help: "how many of the last lines to show",
        }],
        summary: "last log lines of a workload and a link to the full logs",
        details: "Shows the last N log lines of one workload of the preview (default: the app's \
                  main one) and a link to the full logs. A single bare word is the COMPONENT: \
                  to also pick an app of a monorepo, write `APP COMPONENT`, or use a full \
                  TARGET like `APP#N`.",
        examples: &[
            "logs",
            "logs worker --tail 200",
            "logs collect#42 worker",
            "logs web worker",
        ],
        build: Some(|v| Action::Logs {
            component: v.word("COMPONENT"),
            tail: v.lines("tail"),
        }),
        ..ROW
    },
    CommandSpec {
        name: "extend",
        args: &[
            TARGET,
            ArgSpec {
                meta: "DUR",
                kind: ArgKind::Duration,
                required: false,
                many: false,
            },
        ],
        summary: "push the idle deadline out",
        details: "Moves the preview's idle teardown DUR from now (default: one idle period), \
                  capped by the config. A word starting with a digit is the DUR.",
        examples: &["extend", "extend 4h", "extend collect#42 1h30m"],
        build: Some(|v| Action::Extend {
            by: v.arg_duration("DUR"),
        }),
        ..ROW
    },
    CommandSpec {
        name: "pin",
        summary: "exempt the preview from idle teardown",
        details: "The preview stays up however long it idles, until `unpin` or `down`. \
                  A per-team cap limits how many previews can be pinned.",
        examples: &["pin", "pin collect#42"],
        build: Some(|_| Action::Pin),
        ..ROW
    },
    CommandSpec {
        name: "unpin",
        summary: "let idle teardown apply to the preview again",
        details: "Undoes `pin`: the preview is torn down again once it idles too long.",
        examples: &["unpin", "unpin collect#42"],
        build: Some(|_| Action::Unpin),
        ..ROW
    },
    CommandSpec {
        name: "kill-switch",
        args: &[],
        subcommands: &[
            CommandSpec {
                name: "kill-switch on",
                args: &[ArgSpec {
                    meta: "REASON",
                    kind: ArgKind::Reason,
                    required: false,
                    many: false,
                }],
                flags: &[
                    FlagSpec {
                        name: "scale-to-zero",
                        kind: ValueKind::Switch,
                        meta: "",
                        help: "also scale every preview's workloads to zero",
                    },
                    FlagSpec {
                        name: "teardown",
                        kind: ValueKind::Switch,
                        meta: "",
                        help: "also delete every preview",
                    },
                ],
                exclusive: &[["scale-to-zero", "teardown"]],
                summary: "refuse every `up`, `redeploy`, `seed` and `point` until `off` (on-call)",
                build: Some(|v| {
                    let mode = if v.switch("scale-to-zero") {
                        crate::FreezeMode::ScaleToZero
                    } else if v.switch("teardown") {
                        crate::FreezeMode::Teardown
                    } else {
                        crate::FreezeMode::Freeze
                    };
                    Action::KillSwitch(KillSwitch::On {
                        reason: v.word("REASON"),
                        mode,
                    })
                }),
                ..ROW
            },
            CommandSpec {
                name: "kill-switch off",
                args: &[],
                flags: &[FlagSpec {
                    name: "restore",
                    kind: ValueKind::Switch,
                    meta: "",
                    help: "scale workloads back to the replica counts recorded by `on --scale-to-zero`",
                }],
                summary: "allow deploys again (on-call)",
                build: Some(|v| {
                    Action::KillSwitch(KillSwitch::Off {
                        restore: v.switch("restore"),
                    })
                }),
                ..ROW
            },
            CommandSpec {
                name: "kill-switch status",
                args: &[],
                summary: "whether the kill switch is on, since when, by whom and why",
                build: Some(|_| Action::KillSwitch(KillSwitch::Status)),
                ..ROW
            },
        ],
        summary: "freeze all previews during an incident (on-call only)",
        details: "`on` records who, why and when, announces it in the \
                  ops channel and refuses every `up`, `redeploy`, `seed` and `point` until `off`. \
                  REASON is one word or a quoted text.",
        examples: &[
            "kill-switch on \"INC-123 db outage\" --scale-to-zero",
            "kill-switch on INC-123",
            "kill-switch status",
            "kill-switch off --restore",
        ],
        ..ROW
    },
    CommandSpec {
        name: "help",
        args: &[ArgSpec {
            meta: "COMMAND",
            kind: ArgKind::Word,
            required: false,
            many: false,
        }],
        summary: "all commands, or the usage of one",
        details: "Without COMMAND, lists all commands; with it, shows that command's usage \
                  and examples.",
        examples: &["help", "help up", "help kill-switch"],
        build: Some(|v| Action::Help {
            topic: v.word("COMMAND"),
        }),
        ..ROW
    },
];

/// The row of a command name (lowercase): a top-level `up`, or a subcommand `kill-switch on`.
pub(crate) fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands))
        .find(|c| c.name == name)
}

/// The top-level row a row belongs to (itself for a top-level row).
pub(crate) fn top_level(name: &str) -> Option<&'static CommandSpec> {
    let first = name.split(' ').next().unwrap_or(name);
    COMMANDS.iter().find(|c| c.name == first)
}

/// Every row that parses: top-level rows without subcommands, and subcommand rows.
pub(crate) fn leaves() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().flat_map(|c| {
        let own = c.subcommands.is_empty().then_some(c);
        own.into_iter().chain(c.subcommands)
    })
}

/// Does the action act on previews, and so take a TARGET? From the table.
pub(crate) fn takes_target(name: &str) -> bool {
    find(name).is_some_and(|c| c.args.iter().any(|a| a.kind == ArgKind::Target))
}

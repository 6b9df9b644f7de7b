//! Where a request came from, so that its answer goes back there.

/// The sender of a command or event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A slash command typed in a Slack channel.
    Slack {
        channel: String,
        user: String,
        response_url: Option<String>,
    },
    /// A PR comment (with its id, for reactions) or a PR event (label, push, close).
    GitHub {
        owner: String,
        repo: String,
        pr: u64,
        comment_id: Option<u64>,
        actor: String,
    },
    /// A push to a branch (redeploys that branch's preview); there is no PR to answer on.
    Push {
        owner: String,
        repo: String,
        branch: String,
        actor: String,
    },
    /// The try-out console or `exec` from a terminal.
    Console,
    /// `POST /admin/kill-switch` with the admin token (a pager integration); `actor` is who the
    /// caller says it acts for.
    Admin { actor: String },
    /// The bot on its own behalf: resuming work after a restart.
    Bot,
}

impl Origin {
    /// Who acted, for the record's owner and logs.
    pub fn actor(&self) -> String {
        match self {
            Origin::Slack { user, .. } => format!("slack:{user}"),
            Origin::GitHub { actor, .. } | Origin::Push { actor, .. } => actor.clone(),
            Origin::Console => "console".into(),
            Origin::Admin { actor } => format!("admin:{actor}"),
            Origin::Bot => "preview-bot".into(),
        }
    }

    /// Where the request came from, for the audit log.
    pub fn source(&self) -> String {
        match self {
            Origin::Slack { channel, .. } => format!("slack #{channel}"),
            Origin::GitHub {
                owner, repo, pr, ..
            } => format!("github {owner}/{repo}#{pr}"),
            Origin::Push {
                owner,
                repo,
                branch,
                ..
            } => format!("github push {owner}/{repo}@{branch}"),
            Origin::Console => "console".into(),
            Origin::Admin { .. } => "admin api".into(),
            Origin::Bot => "preview-bot".into(),
        }
    }

    pub fn slack_channel(&self) -> Option<&str> {
        match self {
            Origin::Slack { channel, .. } => Some(channel),
            _ => None,
        }
    }
}

//! Label and annotation keys the bot writes. The managed-by label is what makes a namespace the
//! bot's to touch (SPEC section 3).

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "preview-bot";
pub const FIELD_MANAGER: &str = "preview-bot";

pub const APP: &str = "preview-bot.dev/app";
pub const PR: &str = "preview-bot.dev/pr";
/// Instead of `PR` on a branch preview: the branch, DNS-safe and cut to a label value's 63
/// characters (the exact name is the `branch` annotation).
pub const BRANCH: &str = "preview-bot.dev/branch";

/// The identity labels of a preview: its PR, or its branch.
pub fn subject(subject: &crate::Subject) -> (&'static str, String) {
    match subject {
        crate::Subject::Pr(pr) => (PR, pr.to_string()),
        crate::Subject::Branch(branch) => {
            let mut slug = crate::naming::sanitize(branch);
            slug.truncate(63);
            (BRANCH, slug.trim_end_matches('-').to_string())
        }
    }
}
/// On every applied object: the preview namespace it belongs to.
pub const PREVIEW: &str = "preview-bot.dev/preview";

/// Namespace record annotations (SPEC section 3).
pub mod annotations {
    pub const REPO: &str = "preview-bot.dev/repo";
    pub const OWNER: &str = "preview-bot.dev/owner";
    pub const HEAD_SHA: &str = "preview-bot.dev/head-sha";
    pub const BRANCH: &str = "preview-bot.dev/branch";
    pub const PHASE: &str = "preview-bot.dev/phase";
    pub const MESSAGE: &str = "preview-bot.dev/message";
    pub const CREATED: &str = "preview-bot.dev/created";
    pub const LAST_ACTIVITY: &str = "preview-bot.dev/last-activity";
    pub const DEADLINE: &str = "preview-bot.dev/deadline";
    pub const PINNED: &str = "preview-bot.dev/pinned";
    pub const URL: &str = "preview-bot.dev/url";
    pub const SLACK_CHANNEL: &str = "preview-bot.dev/slack-channel";
    pub const SLACK_THREAD: &str = "preview-bot.dev/slack-thread-ts";
    pub const GITHUB_COMMENT: &str = "preview-bot.dev/github-comment-id";
    pub const GITHUB_DEPLOYMENT: &str = "preview-bot.dev/github-deployment-id";
    /// The check run of the current deploy (GitHub App only).
    pub const GITHUB_CHECK_RUN: &str = "preview-bot.dev/github-check-run-id";
    /// What the last deploy applied (`apiVersion Kind name` per entry, JSON list): what a later
    /// deploy prunes when its render no longer has it.
    pub const APPLIED: &str = "preview-bot.dev/applied";
    /// Upstreams pointed away from staging: JSON map of service to `APP#N`.
    pub const POINTERS: &str = "preview-bot.dev/pointers";
    /// `extend`: the preview is kept at least until then, however idle.
    pub const KEEP_UNTIL: &str = "preview-bot.dev/keep-until";
    /// The last `redeploy`: stamped on the pod templates so every later apply keeps it.
    pub const RESTARTED_AT: &str = "preview-bot.dev/restarted-at";
    /// When a seed first succeeded: `seed.on_create` runs until one has.
    pub const SEEDED_AT: &str = "preview-bot.dev/seeded-at";
    /// The teardown time the last idle warning announced (empty when none): what makes a
    /// warning go out once, even across restarts and replicas.
    pub const WARNED_FOR: &str = "preview-bot.dev/warned-for";
    /// A sleeping preview's replica counts, JSON map of `Kind/name` to replicas.
    pub const SLEEPING_REPLICAS: &str = "preview-bot.dev/sleeping-replicas";
}

/// The label selector that finds every namespace the bot manages.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE}")
}

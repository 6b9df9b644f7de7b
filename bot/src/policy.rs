//! Who may run what (SPEC sections 7 and 8), checked before any effect. Memberships come from
//! Slack and GitHub, are cached briefly, and an answer that cannot be had is a refusal, never a
//! pass.

use crate::engine::PreviewRef;
use crate::github::GitHubApi;
use crate::origin::Origin;
use crate::slack::SlackApi;
use preview_commands::{Action, KillSwitch};
use preview_config::Config;
use preview_config::access::parse_team;
use preview_deploy::Cluster;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What a command asks of the person running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Reading what runs: anyone who may talk to the bot.
    Anyone,
    /// Changing a preview, or reading its logs (which may hold secrets).
    Writer,
    /// Ending or keeping a preview: its owner may, as may any writer.
    OwnerOrWriter,
    /// The kill switch.
    OnCall,
}

pub fn requirement(action: &Action) -> Requirement {
    match action {
        Action::Help { .. }
        | Action::Status
        | Action::List { .. }
        | Action::KillSwitch(KillSwitch::Status) => Requirement::Anyone,
        Action::Down | Action::Extend { .. } | Action::Pin | Action::Unpin => {
            Requirement::OwnerOrWriter
        }
        Action::Up { .. }
        | Action::Redeploy
        | Action::Point { .. }
        | Action::Seed { .. }
        | Action::Logs { .. } => Requirement::Writer,
        Action::KillSwitch(KillSwitch::On { .. } | KillSwitch::Off { .. }) => Requirement::OnCall,
    }
}

/// Memberships and permissions, each remembered for `access.membership_cache`.
#[derive(Default)]
struct Cache {
    answers: HashMap<String, (Instant, bool)>,
    groups: HashMap<String, (Instant, Arc<BTreeSet<String>>)>,
}

pub struct Policy {
    config: Arc<Config>,
    cluster: Arc<Cluster>,
    slack: Option<SlackApi>,
    github: Option<GitHubApi>,
    cache: Mutex<Cache>,
}

impl Policy {
    pub fn new(
        config: Arc<Config>,
        cluster: Arc<Cluster>,
        slack: Option<SlackApi>,
        github: Option<GitHubApi>,
    ) -> Policy {
        Policy {
            config,
            cluster,
            slack,
            github,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// `Ok` when `origin` may run `action` on `previews`; else what was refused, why and who
    /// may do it.
    pub async fn authorize(
        &self,
        origin: &Origin,
        action: &Action,
        previews: &[PreviewRef],
    ) -> Result<(), String> {
        let command = format!("{} {}", self.config.bot.command_prefix, action.name());
        match (requirement(action), origin) {
            // The terminal and the admin endpoint are trusted: they hold the kubeconfig or the
            // admin token.
            (_, Origin::Console | Origin::Admin { .. } | Origin::Bot) => Ok(()),
            // Only a redeploy of an existing branch preview; pushing needed write access.
            (Requirement::OnCall, Origin::Push { .. }) => {
                Err(format!("`{command}` is for on-call only."))
            }
            (_, Origin::Push { .. }) => Ok(()),
            (Requirement::Anyone, _) => Ok(()),
            (Requirement::OnCall, _) => match self.is_oncall(origin).await? {
                true => Ok(()),
                false => Err(format!(
                    "`{command}` is for on-call only, and {} is not on call. On-call: {}.",
                    origin.actor(),
                    self.oncall_summary()
                )),
            },
            (_, Origin::Slack { user, channel, .. }) => {
                self.slack_writer(user, channel, &command).await
            }
            (requirement, Origin::GitHub { actor, .. }) => {
                self.github_writer(actor, requirement, previews, origin, &command)
                    .await
            }
        }
    }

    /// Slack: the channel must be allowed and, when `access.slack_usergroups` is set, the user
    /// in one of them. Slack users are not mapped to GitHub logins, so within an allowed
    /// channel everyone counts as a writer.
    async fn slack_writer(&self, user: &str, channel: &str, command: &str) -> Result<(), String> {
        let allowed = &self.config.slack.allowed_channels;
        if !allowed.is_empty() && !allowed.iter().any(|c| c == channel) {
            return Err(format!(
                "`{command}` can't be run from <#{channel}>. Use {}.",
                allowed
                    .iter()
                    .map(|c| format!("<#{c}>"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let groups = &self.config.access.slack_usergroups;
        if groups.is_empty() {
            return Ok(());
        }
        for group in groups {
            if self.in_slack_group(group, user).await? {
                return Ok(());
            }
        }
        Err(format!(
            "`{command}` is refused: <@{user}> is in none of the user groups allowed to manage previews ({}). Ask to be added to one.",
            groups
                .iter()
                .map(|g| format!("<!subteam^{g}>"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// GitHub: write access to every repository the command touches (or membership of an
    /// `access.github_teams` team); for `down`/`extend`/`pin`/`unpin` owning every targeted
    /// preview is enough.
    async fn github_writer(
        &self,
        login: &str,
        requirement: Requirement,
        previews: &[PreviewRef],
        origin: &Origin,
        command: &str,
    ) -> Result<(), String> {
        for team in &self.config.access.github_teams {
            if self.in_github_team(team, login).await? {
                return Ok(());
            }
        }
        let mut repos: BTreeSet<(String, String)> = previews
            .iter()
            .map(|p| (p.owner.clone(), p.repo.clone()))
            .collect();
        if repos.is_empty()
            && let Origin::GitHub { owner, repo, .. } = origin
        {
            repos.insert((owner.clone(), repo.clone()));
        }
        let mut missing = Vec::new();
        for (owner, repo) in &repos {
            let permission = self.github_permission(owner, repo, login).await?;
            if !matches!(permission.as_str(), "admin" | "write") {
                missing.push((format!("{owner}/{repo}"), permission));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if requirement == Requirement::OwnerOrWriter && self.owns_all(login, previews).await? {
            return Ok(());
        }
        let (repo, permission) = &missing[0];
        let teams = &self.config.access.github_teams;
        let who = if teams.is_empty() {
            format!("people with write access to `{repo}`")
        } else {
            format!(
                "people with write access to `{repo}` and members of {}",
                teams
                    .iter()
                    .map(|t| format!("`@{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let owner_note = if requirement == Requirement::OwnerOrWriter {
            ", and the preview's owner"
        } else {
            ""
        };
        Err(format!(
            "`{command}` is refused: @{login} has `{permission}` access to `{repo}`. Who may: {who}{owner_note}. Nothing was changed."
        ))
    }

    /// Whether `login` owns every targeted preview that exists (the PR author, from the record).
    async fn owns_all(&self, login: &str, previews: &[PreviewRef]) -> Result<bool, String> {
        if previews.is_empty() {
            return Ok(false);
        }
        for preview in previews {
            let ns = preview.id().namespace(&self.config.bot.namespace_prefix);
            match self.cluster.get_record(&ns).await {
                Ok(Some(record)) if record.owner.eq_ignore_ascii_case(login) => {}
                Ok(_) => return Ok(false),
                Err(e) => {
                    return Err(format!(
                        "I couldn't check who owns `{}`: {e}. Nothing was changed; try again.",
                        preview.id()
                    ));
                }
            }
        }
        Ok(true)
    }

    /// On-call: a listed Slack user or member of a listed user group; a listed GitHub login or
    /// member of a listed team.
    pub async fn is_oncall(&self, origin: &Origin) -> Result<bool, String> {
        let oncall = &self.config.oncall;
        match origin {
            Origin::Console | Origin::Admin { .. } | Origin::Bot => Ok(true),
            Origin::Push { .. } => Ok(false),
            Origin::Slack { user, .. } => {
                if oncall.slack_users.iter().any(|u| u == user) {
                    return Ok(true);
                }
                for group in &oncall.slack_usergroups {
                    if self.in_slack_group(group, user).await? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Origin::GitHub { actor, .. } => {
                if oncall
                    .github_users
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(actor))
                {
                    return Ok(true);
                }
                for team in &oncall.github_teams {
                    if self.in_github_team(team, actor).await? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    fn oncall_summary(&self) -> String {
        let oncall = &self.config.oncall;
        let mut who: Vec<String> = Vec::new();
        who.extend(oncall.slack_users.iter().map(|u| format!("<@{u}>")));
        who.extend(
            oncall
                .slack_usergroups
                .iter()
                .map(|g| format!("<!subteam^{g}>")),
        );
        who.extend(oncall.github_users.iter().map(|u| format!("@{u}")));
        who.extend(oncall.github_teams.iter().map(|t| format!("@{t}")));
        if who.is_empty() {
            "nobody is configured (`[oncall]` in the config); the admin endpoint still works".into()
        } else {
            who.join(", ")
        }
    }

    fn cached_answer(&self, key: &str) -> Option<bool> {
        let ttl = self.config.access.membership_cache.get();
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .answers
            .get(key)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, answer)| *answer)
    }

    fn remember(&self, key: String, answer: bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.answers.insert(key, (Instant::now(), answer));
    }

    async fn github_permission(
        &self,
        owner: &str,
        repo: &str,
        login: &str,
    ) -> Result<String, String> {
        let key = format!(
            "write:{}/{}:{}",
            owner.to_ascii_lowercase(),
            repo.to_ascii_lowercase(),
            login.to_ascii_lowercase()
        );
        if let Some(writer) = self.cached_answer(&key) {
            return Ok(if writer { "write" } else { "read" }.into());
        }
        let github = self.github.as_ref().ok_or_else(|| {
            "GitHub is not configured, so nobody's access can be checked. Nothing was changed."
                .to_string()
        })?;
        let permission = github
            .permission(owner, repo, login)
            .await
            .map_err(|e| {
                format!(
                    "I couldn't check @{login}'s access to `{owner}/{repo}` (GitHub: {e}). Nothing was changed; try again."
                )
            })?;
        self.remember(key, matches!(permission.as_str(), "admin" | "write"));
        Ok(permission)
    }

    async fn in_github_team(&self, team: &str, login: &str) -> Result<bool, String> {
        let Some((org, slug)) = parse_team(team) else {
            return Ok(false);
        };
        let key = format!(
            "team:{}:{}",
            team.to_ascii_lowercase(),
            login.to_ascii_lowercase()
        );
        if let Some(member) = self.cached_answer(&key) {
            return Ok(member);
        }
        let github = self.github.as_ref().ok_or_else(|| {
            "GitHub is not configured, so team membership can't be checked. Nothing was changed."
                .to_string()
        })?;
        let member = github
            .team_member(org, slug, login)
            .await
            .map_err(|e| {
                format!(
                    "I couldn't check whether @{login} is in `@{team}` (GitHub: {e}). Nothing was changed; try again."
                )
            })?;
        self.remember(key, member);
        Ok(member)
    }

    async fn in_slack_group(&self, group: &str, user: &str) -> Result<bool, String> {
        let ttl = self.config.access.membership_cache.get();
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .groups
                .get(group)
                .filter(|(at, _)| at.elapsed() < ttl)
                .map(|(_, members)| members.clone())
        };
        let members = match cached {
            Some(members) => members,
            None => {
                let slack = self.slack.as_ref().ok_or_else(|| {
                    "Slack is not configured, so user groups can't be checked. Nothing was changed."
                        .to_string()
                })?;
                let members: Arc<BTreeSet<String>> = Arc::new(
                    slack
                        .usergroup_members(group)
                        .await
                        .map_err(|e| {
                            format!(
                                "I couldn't read the members of <!subteam^{group}> (Slack: {e}). Nothing was changed; try again."
                            )
                        })?
                        .into_iter()
                        .collect(),
                );
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                cache
                    .groups
                    .insert(group.to_string(), (Instant::now(), members.clone()));
                members
            }
        };
        Ok(members.contains(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use preview_commands::parse;

    #[test]
    fn every_command_has_the_expected_requirement() {
        let cases = [
            ("help", Requirement::Anyone),
            ("status hello#2", Requirement::Anyone),
            ("list --mine", Requirement::Anyone),
            ("kill-switch status", Requirement::Anyone),
            ("up hello#2", Requirement::Writer),
            ("redeploy hello#2", Requirement::Writer),
            ("point hello#2 payments=staging", Requirement::Writer),
            ("seed hello#2", Requirement::Writer),
            ("logs hello#2", Requirement::Writer),
            ("down hello#2", Requirement::OwnerOrWriter),
            ("extend hello#2 4h", Requirement::OwnerOrWriter),
            ("pin hello#2", Requirement::OwnerOrWriter),
            ("unpin hello#2", Requirement::OwnerOrWriter),
            ("kill-switch on INC-1", Requirement::OnCall),
            ("kill-switch off --restore", Requirement::OnCall),
        ];
        for (text, expected) in cases {
            let command = parse(text).expect(text);
            assert_eq!(requirement(&command.action), expected, "{text}");
        }
    }
}

//! `[access]` and `[oncall]`: who may run which commands (SPEC sections 7 and 8).

use crate::duration::ConfigDuration;
use serde::Deserialize;
use std::time::Duration;

/// `[access]`: who may change previews. By default anyone in an allowed Slack channel, and on
/// GitHub anyone with write access to the repository.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// When set, Slack commands are accepted only from members of these user groups (ids like
    /// `S0PLATFORM`), on top of `slack.allowed_channels`.
    #[serde(default)]
    pub slack_usergroups: Vec<String>,
    /// Members of these GitHub teams (`org/team-slug`) may run commands on any configured
    /// repository even without write access to it.
    #[serde(default)]
    pub github_teams: Vec<String>,
    /// How long a membership or permission answer is reused before asking again.
    #[serde(default = "default_membership_cache")]
    pub membership_cache: ConfigDuration,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            slack_usergroups: Vec::new(),
            github_teams: Vec::new(),
            membership_cache: default_membership_cache(),
        }
    }
}

/// `[oncall]`: who may use the kill switch. Empty means nobody can (except the admin endpoint
/// and the terminal).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OncallConfig {
    /// Slack user ids (`U0ONCALL1`).
    #[serde(default)]
    pub slack_users: Vec<String>,
    /// Slack user group ids (`S0ONCALL`), resolved with `usergroups.users.list`.
    #[serde(default)]
    pub slack_usergroups: Vec<String>,
    /// GitHub logins.
    #[serde(default)]
    pub github_users: Vec<String>,
    /// GitHub teams as `org/team-slug`.
    #[serde(default)]
    pub github_teams: Vec<String>,
}

impl OncallConfig {
    pub fn is_empty(&self) -> bool {
        self.slack_users.is_empty()
            && self.slack_usergroups.is_empty()
            && self.github_users.is_empty()
            && self.github_teams.is_empty()
    }
}

fn default_membership_cache() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(60))
}

/// A GitHub team reference `org/team-slug`.
pub fn parse_team(team: &str) -> Option<(&str, &str)> {
    let (org, slug) = team.split_once('/')?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    (valid(org) && valid(slug)).then_some((org, slug))
}

/// Checks of `[access]` and `[oncall]`; the error is `(key, problem)`.
pub(crate) fn validate(
    access: &AccessConfig,
    oncall: &OncallConfig,
) -> Result<(), (String, String)> {
    let teams = [
        ("access.github_teams", &access.github_teams),
        ("oncall.github_teams", &oncall.github_teams),
    ];
    for (key, list) in teams {
        if let Some(bad) = list.iter().find(|t| parse_team(t).is_none()) {
            return Err((
                key.to_string(),
                format!("{bad:?} is not a team like \"acme/sre\" (organization/team-slug)"),
            ));
        }
    }
    let slack_ids = [
        ("access.slack_usergroups", &access.slack_usergroups, 'S'),
        ("oncall.slack_usergroups", &oncall.slack_usergroups, 'S'),
        ("oncall.slack_users", &oncall.slack_users, 'U'),
    ];
    for (key, list, first) in slack_ids {
        let looks_like_id = |id: &String| {
            // Enterprise Grid user ids start with W.
            (id.starts_with(first) || (first == 'U' && id.starts_with('W')))
                && id.len() >= 3
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        };
        if let Some(bad) = list.iter().find(|id| !looks_like_id(id)) {
            return Err((
                key.to_string(),
                format!(
                    "{bad:?} is not a Slack id (they look like {first}0ABC123; names and @handles are not accepted)"
                ),
            ));
        }
    }
    if let Some(bad) = oncall.github_users.iter().find(|u| {
        u.is_empty() || u.len() > 39 || !u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }) {
        return Err((
            "oncall.github_users".into(),
            format!("{bad:?} is not a GitHub login"),
        ));
    }
    if access.membership_cache.get() > Duration::from_secs(3600) {
        return Err((
            "access.membership_cache".into(),
            "at most 1h: a removed member must lose access soon".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn parse(extra: &str) -> Result<Config, String> {
        let text = format!(
            "[bot]\npublic_url = \"https://bot.example.com\"\n[domains]\nbase = \"p.example.com\"\n[apps.web]\nrepo = \"acme/web\"\nmanifests = {{ dir = \"deploy\" }}\n{extra}"
        );
        Config::parse(&text, "c.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn access_and_oncall_parse_with_defaults() {
        let config = parse(
            "[oncall]\nslack_users = [\"U0ONCALL1\", \"W0GRID\"]\nslack_usergroups = [\"S0ONCALL\"]\ngithub_teams = [\"acme/sre\"]\ngithub_users = [\"octocat\"]\n[access]\ngithub_teams = [\"acme/platform\"]\n",
        )
        .expect("valid");
        assert_eq!(config.oncall.slack_users, ["U0ONCALL1", "W0GRID"]);
        assert_eq!(config.access.github_teams, ["acme/platform"]);
        assert_eq!(config.access.membership_cache.get().as_secs(), 60);
        assert!(parse("").expect("valid").oncall.is_empty());
    }

    #[test]
    fn bad_entries_name_their_key() {
        let cases = [
            ("[oncall]\ngithub_teams = [\"sre\"]", "oncall.github_teams"),
            (
                "[access]\ngithub_teams = [\"acme/\"]",
                "access.github_teams",
            ),
            ("[oncall]\nslack_users = [\"@alice\"]", "oncall.slack_users"),
            (
                "[oncall]\nslack_usergroups = [\"U0USER\"]",
                "oncall.slack_usergroups",
            ),
            ("[oncall]\ngithub_users = [\"a b\"]", "oncall.github_users"),
            (
                "[access]\nmembership_cache = \"2h\"",
                "access.membership_cache",
            ),
            ("[oncall]\nslack_user = [\"U1\"]", "slack_user"),
        ];
        for (text, key) in cases {
            let error = parse(text).expect_err(text);
            assert!(error.contains(key), "{text}: {error}");
        }
    }
}

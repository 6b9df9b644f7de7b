//! TARGET: which preview a command is about.
//!
//! Accepted forms:
//! - `APP#N` and the two words `APP pr-N` (also `APP #N`): an app from the config and a PR number;
//! - `OWNER/REPO#N`: a GitHub repository and PR number;
//! - a PR URL `https://github.com/OWNER/REPO/pull/N`, `http` or `https`, with or without `www.`,
//!   with or without the scheme, possibly followed by `/files`, `/commits/...`, `?query` or
//!   `#fragment`; Slack's `<URL>` and `<URL|label>` link wrapping is removed;
//! - `APP@BRANCH`: a branch preview without a pull request;
//! - a bare `APP`: on a PR comment in a monorepo, picks one app of the implied PR.

use crate::names::{AppName, PrNumber, check_branch};
use crate::{MAX_PR_NUMBER, Target};

/// Why a word is not a target, and what it may have meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TargetError {
    pub reason: String,
    pub suggestion: Option<String>,
}

impl TargetError {
    fn new(reason: impl Into<String>) -> TargetError {
        TargetError {
            reason: reason.into(),
            suggestion: None,
        }
    }
}

/// Parses a one-word target.
pub(crate) fn parse_target(word: &str) -> Result<Target, TargetError> {
    parse_target_inner(word).map_err(|mut e| {
        if e.suggestion.is_none() && word.chars().any(|c| c.is_ascii_uppercase()) {
            let lower = word.to_ascii_lowercase();
            if parse_target_inner(&lower).is_ok() {
                e.suggestion = Some(lower);
            }
        }
        e
    })
}

/// A URL (or what is meant as one): `scheme://...`, `github.com/...`, a Slack `<...>` link.
pub(crate) fn looks_like_url(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    lower.starts_with('<')
        || lower.contains("://")
        || lower.starts_with("github.com/")
        || lower.starts_with("www.github.com/")
}

/// A word that can only be meant as a TARGET, never as a COMPONENT, DATASET or DUR: it has one
/// of `#`, `/`, `@`, `<`, `:`, or is the `pr-N` half of `APP pr-N`.
pub(crate) fn target_shaped(word: &str) -> bool {
    word.contains(['#', '/', '@', '<', ':']) || pr_word(word).is_some()
}

/// The PR part of the two-word form `APP pr-N` / `APP #N`: `Some("N")` when `word` has that shape.
pub(crate) fn pr_word(word: &str) -> Option<&str> {
    let digits = word.strip_prefix('#').or_else(|| {
        let (head, tail) = (word.get(..3)?, word.get(3..)?);
        head.eq_ignore_ascii_case("pr-").then_some(tail)
    })?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The two-word form: `app` followed by a word for which [`pr_word`] gave `digits`.
pub(crate) fn parse_app_pr(app: &str, digits: &str) -> Result<Target, TargetError> {
    let pr = parse_pr(digits)?;
    let app = AppName::new(app).map_err(|e| TargetError {
        reason: e.to_string(),
        suggestion: AppName::new(&app.to_ascii_lowercase())
            .ok()
            .map(|a| format!("{a} pr-{pr}")),
    })?;
    Ok(Target::AppPr { app, pr })
}

fn parse_target_inner(word: &str) -> Result<Target, TargetError> {
    let word = unwrap_slack_link(word);
    let lower = word.to_ascii_lowercase();
    if lower.contains("://")
        || lower.starts_with("github.com/")
        || lower.starts_with("www.github.com/")
    {
        return parse_url(word);
    }
    if let Some((app, branch)) = word.split_once('@') {
        return parse_branch(app, branch);
    }
    if let Some((left, right)) = word.split_once('#') {
        let pr = parse_pr(right)?;
        if left.is_empty() {
            return Err(TargetError::new(format!(
                "the app is missing; write `APP#{pr}` or `OWNER/REPO#{pr}`"
            )));
        }
        if let Some((owner, repo)) = left.split_once('/') {
            return repo_pr(owner, repo, pr);
        }
        let app = AppName::new(left).map_err(|e| TargetError::new(e.to_string()))?;
        return Ok(Target::AppPr { app, pr });
    }
    if let Some(digits) = pr_word(word) {
        return Err(TargetError::new(format!(
            "the app is missing; write `APP pr-{digits}`"
        )));
    }
    if word.contains('/') {
        return Err(TargetError::new(
            "the pull request number is missing; write `OWNER/REPO#N`",
        ));
    }
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::new(format!(
            "the app is missing; write `APP#{word}`"
        )));
    }
    let app = AppName::new(word).map_err(|e| TargetError::new(e.to_string()))?;
    Ok(Target::App { app })
}

/// `APP@BRANCH`.
fn parse_branch(app: &str, branch: &str) -> Result<Target, TargetError> {
    if app.is_empty() {
        return Err(TargetError::new("the app is missing; write `APP@BRANCH`"));
    }
    let app = AppName::new(app).map_err(|e| TargetError {
        reason: e.to_string(),
        suggestion: AppName::new(&app.to_ascii_lowercase())
            .ok()
            .filter(|_| check_branch(branch).is_ok())
            .map(|a| format!("{a}@{branch}")),
    })?;
    check_branch(branch).map_err(|e| TargetError::new(e.to_string()))?;
    Ok(Target::Branch {
        app,
        branch: branch.to_string(),
    })
}

/// `<https://...>` and `<https://...|label>` as Slack sends links.
fn unwrap_slack_link(word: &str) -> &str {
    match word.strip_prefix('<').and_then(|w| w.strip_suffix('>')) {
        Some(inner) => inner.split('|').next().unwrap_or(inner),
        None => word,
    }
}

pub(crate) fn parse_pr(digits: &str) -> Result<PrNumber, TargetError> {
    if digits.is_empty() {
        return Err(TargetError::new("the pull request number is missing"));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::new("the pull request number must be digits"));
    }
    digits.parse().ok().and_then(PrNumber::new).ok_or_else(|| {
        TargetError::new(format!("pull request numbers go from 1 to {MAX_PR_NUMBER}"))
    })
}

fn repo_pr(owner: &str, repo: &str, pr: PrNumber) -> Result<Target, TargetError> {
    if !valid_owner(owner) {
        return Err(TargetError::new(
            "`OWNER` must be a GitHub user or organization name (letters, digits, `-`)",
        ));
    }
    if !valid_repo(repo) {
        return Err(TargetError::new(
            "`REPO` must be a GitHub repository name (letters, digits, `.`, `_`, `-`)",
        ));
    }
    Ok(Target::RepoPr {
        owner: owner.to_string(),
        repo: repo.to_string(),
        pr,
    })
}

/// GitHub logins: 1 to 39 of `[A-Za-z0-9-]`, not starting or ending with `-`.
fn valid_owner(s: &str) -> bool {
    (1..=39).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// GitHub repository names: 1 to 100 of `[A-Za-z0-9._-]`, not `.` or `..`.
fn valid_repo(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && s != "."
        && s != ".."
}

const PR_URL: &str = "`https://github.com/OWNER/REPO/pull/N`";

fn parse_url(url: &str) -> Result<Target, TargetError> {
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") =>
        {
            rest
        }
        Some(_) => {
            return Err(TargetError::new(format!(
                "only GitHub pull request URLs like {PR_URL} work"
            )));
        }
        None => url,
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.to_ascii_lowercase();
    if host != "github.com" && host != "www.github.com" {
        return Err(TargetError::new(format!(
            "only GitHub pull request URLs like {PR_URL} work"
        )));
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.split('/');
    let (Some(owner), Some(repo), Some("pull"), Some(number)) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(TargetError::new(format!(
            "this is not a pull request URL like {PR_URL}"
        )));
    };
    let pr = parse_pr(number)?;
    repo_pr(owner, repo, pr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(s: &str) -> AppName {
        AppName::new(s).unwrap_or_else(|e| panic!("{e}"))
    }
    fn pr(n: u64) -> PrNumber {
        PrNumber::new(n).unwrap_or_else(|| panic!("{n}"))
    }
    fn repo_target(o: &str, r: &str, n: u64) -> Result<Target, TargetError> {
        Ok(Target::RepoPr {
            owner: o.into(),
            repo: r.into(),
            pr: pr(n),
        })
    }
    fn reason(word: &str) -> String {
        parse_target(word)
            .err()
            .map(|e| e.reason)
            .unwrap_or_default()
    }

    #[test]
    fn app_pr() {
        assert_eq!(
            parse_target("collect#42"),
            Ok(Target::AppPr {
                app: app("collect"),
                pr: pr(42)
            })
        );
        assert_eq!(
            parse_target("collect#042"),
            Ok(Target::AppPr {
                app: app("collect"),
                pr: pr(42)
            })
        );
        assert_eq!(
            parse_app_pr("collect", "42"),
            Ok(Target::AppPr {
                app: app("collect"),
                pr: pr(42)
            })
        );
        assert_eq!(pr_word("pr-42"), Some("42"));
        assert_eq!(pr_word("PR-42"), Some("42"));
        assert_eq!(pr_word("#42"), Some("42"));
        assert_eq!(pr_word("pr-"), None);
        assert_eq!(pr_word("pr-4x"), None);
        assert_eq!(pr_word("pé"), None);
        assert_eq!(pr_word("p"), None);
    }

    #[test]
    fn repo_pr_and_urls() {
        assert_eq!(
            parse_target("acme/collect#42"),
            repo_target("acme", "collect", 42)
        );
        assert_eq!(
            parse_target("Acme-Inc/my.repo_x#7"),
            repo_target("Acme-Inc", "my.repo_x", 7)
        );
        for url in [
            "https://github.com/acme/collect/pull/42",
            "http://github.com/acme/collect/pull/42",
            "https://www.github.com/acme/collect/pull/42",
            "HTTPS://GitHub.com/acme/collect/pull/42",
            "github.com/acme/collect/pull/42",
            "www.github.com/acme/collect/pull/42",
            "https://github.com/acme/collect/pull/42/",
            "https://github.com/acme/collect/pull/42/files",
            "https://github.com/acme/collect/pull/42/commits/abc123",
            "https://github.com/acme/collect/pull/42?w=1",
            "https://github.com/acme/collect/pull/42#issuecomment-1",
            "<https://github.com/acme/collect/pull/42>",
            "<https://github.com/acme/collect/pull/42|acme/collect#42>",
        ] {
            assert_eq!(
                parse_target(url),
                repo_target("acme", "collect", 42),
                "{url}"
            );
        }
    }

    #[test]
    fn branches() {
        assert_eq!(
            parse_target("web@feature/x-1"),
            Ok(Target::Branch {
                app: app("web"),
                branch: "feature/x-1".into()
            })
        );
        assert_eq!(
            parse_target("web@Fix_2.0"),
            Ok(Target::Branch {
                app: app("web"),
                branch: "Fix_2.0".into()
            })
        );
        assert_eq!(reason("@main"), "the app is missing; write `APP@BRANCH`");
        assert_eq!(reason("web@"), "the branch is missing; write `APP@BRANCH`");
        assert_eq!(
            reason("web@a..b"),
            "branch names cannot contain `..` or `//`"
        );
        assert_eq!(
            reason("web@main#1"),
            "branch names use only letters, digits, `.`, `_`, `/` and `-`, not `#`"
        );
        assert_eq!(
            parse_target("Web@Main").err().and_then(|e| e.suggestion),
            Some("web@Main".into())
        );
        assert!(target_shaped("web@main"));
        assert!(target_shaped("pr-4"));
        assert!(target_shaped("a/b#1"));
        assert!(!target_shaped("worker"));
        assert!(!target_shaped("4h"));
    }

    #[test]
    fn bare_app() {
        assert_eq!(
            parse_target("collect"),
            Ok(Target::App {
                app: app("collect")
            })
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            reason("collect#0"),
            "pull request numbers go from 1 to 1000000000"
        );
        assert_eq!(
            reason("collect#1000000001"),
            "pull request numbers go from 1 to 1000000000"
        );
        assert_eq!(
            reason("collect#99999999999999999999999"),
            "pull request numbers go from 1 to 1000000000"
        );
        assert_eq!(
            reason("collect#abc"),
            "the pull request number must be digits"
        );
        assert_eq!(
            reason("collect#-1"),
            "the pull request number must be digits"
        );
        assert_eq!(reason("collect#"), "the pull request number is missing");
        assert_eq!(reason("Collect#1"), "app names are lowercase");
        assert_eq!(
            parse_target("Collect#1").err().and_then(|e| e.suggestion),
            Some("collect#1".into())
        );
        assert!(reason("../x#1").starts_with("`OWNER` must be"));
        assert!(reason("a/b/c#1").starts_with("`REPO` must be"));
        assert!(reason("acme/..#1").starts_with("`REPO` must be"));
        assert!(reason("-acme/x#1").starts_with("`OWNER` must be"));
        assert_eq!(
            reason("#42"),
            "the app is missing; write `APP#42` or `OWNER/REPO#42`"
        );
        assert_eq!(reason("pr-42"), "the app is missing; write `APP pr-42`");
        assert_eq!(reason("42"), "the app is missing; write `APP#42`");
        assert_eq!(
            reason("acme/collect"),
            "the pull request number is missing; write `OWNER/REPO#N`"
        );
        assert_eq!(
            reason(&format!("{}#1", "a".repeat(41))),
            "app names have at most 40 characters, this one has 41"
        );
        assert_eq!(
            reason("my_app"),
            "app names use only `a-z`, `0-9` and `-`, not `_`"
        );
        let not_github =
            "only GitHub pull request URLs like `https://github.com/OWNER/REPO/pull/N` work";
        assert_eq!(
            reason("https://gitlab.com/acme/collect/pull/42"),
            not_github
        );
        assert_eq!(reason("ftp://github.com/acme/collect/pull/42"), not_github);
        assert_eq!(
            reason("https://github.com.evil.com/acme/collect/pull/42"),
            not_github
        );
        let not_pr = "this is not a pull request URL like `https://github.com/OWNER/REPO/pull/N`";
        assert_eq!(reason("https://github.com/acme/collect/issues/42"), not_pr);
        assert_eq!(reason("https://github.com/acme/collect"), not_pr);
        assert_eq!(reason("https://github.com"), not_pr);
        assert_eq!(
            reason("https://github.com/acme/collect/pull/x"),
            "the pull request number must be digits"
        );
        assert_eq!(
            reason("https://github.com/acme/collect/pull/"),
            "the pull request number is missing"
        );
    }
}

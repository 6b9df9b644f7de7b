//! Preview identity (app + PR number, or app + branch for a branch preview) and its namespace
//! name (SPEC section 3).

use sha2::{Digest, Sha256};
use std::fmt;

/// Kubernetes' limit for a namespace name (a DNS-1123 label).
pub const MAX_NAMESPACE_LEN: usize = 63;
const HASH_LEN: usize = 8;

/// What a preview shows: a pull request, or a branch without one (`APP@BRANCH`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Pr(u64),
    Branch(String),
}

/// What identifies a preview: the app and its pull request (or branch).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PreviewId {
    pub app: String,
    pub subject: Subject,
}

impl PreviewId {
    pub fn new(app: impl Into<String>, pr: u64) -> PreviewId {
        PreviewId {
            app: app.into(),
            subject: Subject::Pr(pr),
        }
    }

    pub fn branch(app: impl Into<String>, branch: impl Into<String>) -> PreviewId {
        PreviewId {
            app: app.into(),
            subject: Subject::Branch(branch.into()),
        }
    }

    /// The pull request, for a PR preview.
    pub fn pr(&self) -> Option<u64> {
        match self.subject {
            Subject::Pr(pr) => Some(pr),
            Subject::Branch(_) => None,
        }
    }

    /// The branch, for a branch preview.
    pub fn branch_name(&self) -> Option<&str> {
        match &self.subject {
            Subject::Pr(_) => None,
            Subject::Branch(branch) => Some(branch),
        }
    }

    pub fn namespace(&self, prefix: &str) -> PreviewNamespace {
        match &self.subject {
            Subject::Pr(pr) => PreviewNamespace::for_preview(prefix, &self.app, *pr),
            Subject::Branch(branch) => PreviewNamespace::for_branch(prefix, &self.app, branch),
        }
    }

    /// `pr-42` or `br-feature-x`: the part of names and GitHub environments after the app.
    pub fn slug(&self) -> String {
        match &self.subject {
            Subject::Pr(pr) => format!("pr-{pr}"),
            Subject::Branch(branch) => format!("br-{}", sanitize(branch)),
        }
    }
}

impl fmt::Display for PreviewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Pr(pr) => write!(f, "{}#{pr}", self.app),
            Subject::Branch(branch) => write!(f, "{}@{branch}", self.app),
        }
    }
}

/// A preview's namespace name: always a valid DNS-1123 label of at most 63 characters, built
/// only through its constructors.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PreviewNamespace(String);

impl PreviewNamespace {
    /// `{prefix}{app}-pr-{N}`, lower-cased, invalid characters replaced by `-`; a name longer
    /// than 63 characters is cut and ends in a short hash of the full name so that two long
    /// names never collide.
    pub fn for_preview(prefix: &str, app: &str, pr: u64) -> PreviewNamespace {
        let full = sanitize(&format!("{prefix}{app}-pr-{pr}"));
        if full.len() <= MAX_NAMESPACE_LEN {
            return PreviewNamespace(full);
        }
        Self::cut_with_hash(&full, &full)
    }

    /// `{prefix}{app}-br-{branch}-{hash}`: branch names are case-sensitive and may hold `/`, so
    /// `Feature/x` and `feature-x` sanitize alike; the hash of the exact name keeps them apart.
    pub fn for_branch(prefix: &str, app: &str, branch: &str) -> PreviewNamespace {
        let full = sanitize(&format!("{prefix}{app}-br-{branch}"));
        Self::cut_with_hash(&full, &format!("{prefix}{app}@{branch}"))
    }

    /// `name` cut to fit with a short hash of `identity` at the end.
    fn cut_with_hash(name: &str, identity: &str) -> PreviewNamespace {
        let hash = hex::encode(Sha256::digest(identity.as_bytes()));
        let keep = (MAX_NAMESPACE_LEN - HASH_LEN - 1).min(name.len());
        let head = name[..keep].trim_end_matches('-');
        PreviewNamespace(format!("{head}-{}", &hash[..HASH_LEN]))
    }

    /// Accepts an existing name only if it is a valid label that starts with `prefix`: the bot
    /// never touches a namespace outside its prefix.
    pub fn parse(name: &str, prefix: &str) -> Option<PreviewNamespace> {
        (is_dns_label(name) && name.starts_with(prefix) && name.len() > prefix.len())
            .then(|| PreviewNamespace(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PreviewNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A DNS-1123 label: lowercase alphanumerics and '-', alphanumeric at both ends, 1-63 chars.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAMESPACE_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Makes any text DNS-safe (for `{branch}` and names): lowercase, `[a-z0-9-]`, no dashes at the ends.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "x".into()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_plain() {
        assert_eq!(
            PreviewId::new("collect", 42).namespace("preview-").as_str(),
            "preview-collect-pr-42"
        );
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_stay_distinct() {
        let long = "a".repeat(60);
        let one = PreviewNamespace::for_preview("preview-", &long, 1);
        let two = PreviewNamespace::for_preview("preview-", &long, 2);
        assert!(one.as_str().len() <= MAX_NAMESPACE_LEN);
        assert!(is_dns_label(one.as_str()));
        assert_ne!(one, two);
        assert!(one.as_str().starts_with("preview-aaaa"));
    }

    #[test]
    fn branch_namespaces_are_valid_and_tell_similar_branches_apart() {
        let one = PreviewId::branch("web", "Feature/x").namespace("preview-");
        let two = PreviewId::branch("web", "feature-x").namespace("preview-");
        assert!(
            one.as_str().starts_with("preview-web-br-feature-x-"),
            "{one}"
        );
        assert_ne!(one, two);
        let long = PreviewId::branch("web", "very/long/branch".repeat(10)).namespace("preview-");
        assert!(is_dns_label(long.as_str()), "{long}");
        assert_ne!(
            PreviewId::branch("web", "pr-2").namespace("preview-"),
            PreviewId::new("web", 2).namespace("preview-")
        );
        assert_eq!(PreviewId::branch("web", "main").to_string(), "web@main");
    }

    #[test]
    fn parse_refuses_names_outside_the_prefix() {
        assert!(PreviewNamespace::parse("preview-collect-pr-1", "preview-").is_some());
        assert!(PreviewNamespace::parse("kube-system", "preview-").is_none());
        assert!(PreviewNamespace::parse("preview-", "preview-").is_none());
        assert!(PreviewNamespace::parse("preview-../x", "preview-").is_none());
        assert!(
            PreviewNamespace::parse(&format!("preview-{}", "a".repeat(60)), "preview-").is_none()
        );
    }

    #[test]
    fn sanitize_makes_dns_safe() {
        assert_eq!(sanitize("Feature/Fancy_Thing!"), "feature-fancy-thing");
        assert_eq!(sanitize("///"), "x");
        assert_eq!(sanitize("ünïcode"), "n-code");
    }
}

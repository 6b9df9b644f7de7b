//! Newtypes for the names a command may carry: [`AppName`], [`PrNumber`] and [`ServiceName`],
//! and the checks for the other words with rules (components, datasets, branches, reasons).

use std::fmt;
use std::str::FromStr;

/// Longest accepted app name, in characters.
pub const MAX_APP_NAME_LEN: usize = 40;
/// Largest accepted pull request number.
pub const MAX_PR_NUMBER: u64 = 1_000_000_000;

/// The name of an app from the config: lowercase `[a-z0-9-]`, starts with a letter, ends with a
/// letter or digit, at most [`MAX_APP_NAME_LEN`] characters. Only built through [`AppName::new`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppName(String);

/// Why a word is not a valid [`AppName`]. Display is a short, user-facing reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name has more than [`MAX_APP_NAME_LEN`] characters (the count is attached).
    TooLong(usize),
    /// The name has uppercase letters.
    Uppercase,
    /// The name has a character outside `a-z`, `0-9`, `-`.
    BadChar(char),
    /// The name does not start with a letter.
    BadStart,
    /// The name does not end with a letter or digit.
    BadEnd,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("the app name is empty"),
            NameError::TooLong(n) => {
                write!(
                    f,
                    "app names have at most {MAX_APP_NAME_LEN} characters, this one has {n}"
                )
            }
            NameError::Uppercase => f.write_str("app names are lowercase"),
            NameError::BadChar(c) => write!(
                f,
                "app names use only `a-z`, `0-9` and `-`, not `{}`",
                crate::error::sanitize(&c.to_string())
            ),
            NameError::BadStart => f.write_str("app names start with a letter"),
            NameError::BadEnd => f.write_str("app names end with a letter or digit"),
        }
    }
}

impl std::error::Error for NameError {}

impl AppName {
    /// Validates `s` as an app name.
    pub fn new(s: &str) -> Result<AppName, NameError> {
        let len = s.chars().count();
        if len == 0 {
            return Err(NameError::Empty);
        }
        if len > MAX_APP_NAME_LEN {
            return Err(NameError::TooLong(len));
        }
        if s.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(NameError::Uppercase);
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameError::BadChar(c));
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(NameError::BadStart);
        }
        if !s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(NameError::BadEnd);
        }
        Ok(AppName(s.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for AppName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for AppName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppName::new(s)
    }
}

/// A pull request number, `1..=`[`MAX_PR_NUMBER`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrNumber(u64);

impl PrNumber {
    /// `None` unless `1 <= n <= MAX_PR_NUMBER`.
    pub fn new(n: u64) -> Option<PrNumber> {
        (1..=MAX_PR_NUMBER).contains(&n).then_some(PrNumber(n))
    }

    /// The number.
    pub fn get(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Longest DNS-1123 label (service and component names, datasets).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest accepted branch name of `APP@BRANCH`, in characters.
pub const MAX_BRANCH_LEN: usize = 200;
/// Longest accepted kill-switch REASON, in characters.
pub const MAX_REASON_LEN: usize = 200;

/// Why a word is not a valid name of some kind (a service, a component, a dataset, a branch).
/// Display is a short, user-facing reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelError {
    reason: String,
}

impl LabelError {
    fn new(reason: impl Into<String>) -> LabelError {
        LabelError {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for LabelError {}

/// The name of an upstream service in `point SVC=DEST`: a DNS-1123 label (lowercase `[a-z0-9-]`,
/// starting and ending with a letter or digit, at most [`MAX_LABEL_LEN`] characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(String);

impl ServiceName {
    /// Validates `s` as a service name.
    pub fn new(s: &str) -> Result<ServiceName, LabelError> {
        check_label(s, "service", false)?;
        Ok(ServiceName(s.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ServiceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for ServiceName {
    type Err = LabelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceName::new(s)
    }
}

/// A DNS-1123 label (`underscore` false), or a dataset name `[a-z0-9][a-z0-9_-]*` (`underscore`
/// true); `noun` names the kind of name in the reason.
fn check_label(s: &str, noun: &str, underscore: bool) -> Result<(), LabelError> {
    let len = s.chars().count();
    if len == 0 {
        return Err(LabelError::new(format!("the {noun} name is empty")));
    }
    if len > MAX_LABEL_LEN {
        return Err(LabelError::new(format!(
            "{noun} names have at most {MAX_LABEL_LEN} characters, this one has {len}"
        )));
    }
    if s.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(LabelError::new(format!("{noun} names are lowercase")));
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (underscore && c == '_')
    };
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        let chars = if underscore {
            "`a-z`, `0-9`, `_` and `-`"
        } else {
            "`a-z`, `0-9` and `-`"
        };
        return Err(LabelError::new(format!(
            "{noun} names use only {chars}, not `{}`",
            crate::error::sanitize(&c.to_string())
        )));
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !s.starts_with(alnum) {
        return Err(LabelError::new(format!(
            "{noun} names start with a letter or digit"
        )));
    }
    if !underscore && !s.ends_with(alnum) {
        return Err(LabelError::new(format!(
            "{noun} names end with a letter or digit"
        )));
    }
    Ok(())
}

/// COMPONENT of `logs`: a DNS-1123 label that is not only digits (`logs 50` is a mistake for
/// `--tail 50`, not a workload).
pub(crate) fn check_component(s: &str) -> Result<(), LabelError> {
    check_label(s, "component", false)?;
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LabelError::new("component names have a letter"));
    }
    Ok(())
}

/// DATASET of `seed`: `[a-z0-9][a-z0-9_-]*`, at most [`MAX_LABEL_LEN`] characters.
pub(crate) fn check_dataset(s: &str) -> Result<(), LabelError> {
    check_label(s, "dataset", true)
}

/// BRANCH of `APP@BRANCH`: git's ref name rules, simplified: 1 to [`MAX_BRANCH_LEN`] of
/// `[A-Za-z0-9._/-]`, no `..` or `//`, not starting with `/` or `-`, no part starting with `.`,
/// not ending with `/`, `.` or `.lock`.
pub(crate) fn check_branch(s: &str) -> Result<(), LabelError> {
    let len = s.chars().count();
    if len == 0 {
        return Err(LabelError::new("the branch is missing; write `APP@BRANCH`"));
    }
    if len > MAX_BRANCH_LEN {
        return Err(LabelError::new(format!(
            "branch names have at most {MAX_BRANCH_LEN} characters, this one has {len}"
        )));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')))
    {
        return Err(LabelError::new(format!(
            "branch names use only letters, digits, `.`, `_`, `/` and `-`, not `{}`",
            crate::error::sanitize(&c.to_string())
        )));
    }
    if s.contains("..") || s.contains("//") {
        return Err(LabelError::new("branch names cannot contain `..` or `//`"));
    }
    if s.starts_with(['/', '-']) {
        return Err(LabelError::new("branch names cannot start with `/` or `-`"));
    }
    if s.starts_with('.') || s.contains("/.") {
        return Err(LabelError::new(
            "no part of a branch name can start with `.`",
        ));
    }
    if s.ends_with(['/', '.']) || s.ends_with(".lock") {
        return Err(LabelError::new(
            "branch names cannot end with `/`, `.` or `.lock`",
        ));
    }
    Ok(())
}

/// REASON of `kill-switch on`: at most [`MAX_REASON_LEN`] characters, no line breaks or other
/// control characters (it is echoed in announcements).
pub(crate) fn check_reason(s: &str) -> Result<(), LabelError> {
    let len = s.chars().count();
    if len > MAX_REASON_LEN {
        return Err(LabelError::new(format!(
            "a reason has at most {MAX_REASON_LEN} characters, this one has {len}"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(LabelError::new(
            "a reason cannot contain line breaks or control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        for ok in ["a", "collect", "a1", "my-app", "a--b", &"a".repeat(40)] {
            assert_eq!(
                AppName::new(ok).map(|a| a.to_string()),
                Ok(ok.to_string()),
                "{ok}"
            );
        }
        assert_eq!(AppName::new(""), Err(NameError::Empty));
        assert_eq!(AppName::new(&"a".repeat(41)), Err(NameError::TooLong(41)));
        assert_eq!(AppName::new("Collect"), Err(NameError::Uppercase));
        assert_eq!(AppName::new("1app"), Err(NameError::BadStart));
        assert_eq!(AppName::new("-app"), Err(NameError::BadStart));
        assert_eq!(AppName::new("app-"), Err(NameError::BadEnd));
        assert_eq!(AppName::new("my_app"), Err(NameError::BadChar('_')));
        assert_eq!(AppName::new("../x"), Err(NameError::BadChar('.')));
        assert_eq!(AppName::new("café"), Err(NameError::BadChar('é')));
        assert_eq!(AppName::new(&"é".repeat(41)), Err(NameError::TooLong(41)));
    }

    #[test]
    fn pr_numbers() {
        assert_eq!(PrNumber::new(0), None);
        assert_eq!(PrNumber::new(1).map(|p| p.get()), Some(1));
        assert_eq!(
            PrNumber::new(MAX_PR_NUMBER).map(|p| p.to_string()),
            Some("1000000000".into())
        );
        assert_eq!(PrNumber::new(MAX_PR_NUMBER + 1), None);
    }
    #[test]
    fn labels() {
        let reason = |r: Result<(), LabelError>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(ServiceName::new("payments").is_ok());
        assert!(ServiceName::new("0db").is_ok());
        assert!(ServiceName::new(&"a".repeat(63)).is_ok());
        assert_eq!(
            reason(ServiceName::new(&"a".repeat(64)).map(|_| ())),
            "service names have at most 63 characters, this one has 64"
        );
        assert_eq!(
            reason(ServiceName::new("Api").map(|_| ())),
            "service names are lowercase"
        );
        assert_eq!(
            reason(ServiceName::new("a_b").map(|_| ())),
            "service names use only `a-z`, `0-9` and `-`, not `_`"
        );
        assert_eq!(
            reason(ServiceName::new("-a").map(|_| ())),
            "service names start with a letter or digit"
        );
        assert_eq!(
            reason(ServiceName::new("a-").map(|_| ())),
            "service names end with a letter or digit"
        );
        assert_eq!(
            reason(ServiceName::new("").map(|_| ())),
            "the service name is empty"
        );
        assert!(check_component("worker").is_ok());
        assert_eq!(
            reason(check_component("50")),
            "component names have a letter"
        );
        assert!(check_dataset("large_orders").is_ok());
        assert!(check_dataset("demo-").is_ok());
        assert!(check_dataset("1k").is_ok());
        assert_eq!(
            reason(check_dataset("_x")),
            "dataset names start with a letter or digit"
        );
        assert_eq!(
            reason(check_dataset("a.b")),
            "dataset names use only `a-z`, `0-9`, `_` and `-`, not `.`"
        );
    }

    #[test]
    fn branches() {
        for ok in [
            "main",
            "feature/x-1",
            "Fix_2.0",
            "a/b/c",
            "v1.2",
            &"b".repeat(200),
        ] {
            assert_eq!(check_branch(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a..b",
            "a//b",
            "/a",
            "-a",
            "a/",
            "a.",
            "a.lock",
            ".a",
            "a/.b",
            "a b",
            "a@b",
            "a~b",
            "é",
            &"b".repeat(201),
        ] {
            assert!(check_branch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reasons() {
        assert!(check_reason("INC-123 db outage \"quoted\"").is_ok());
        assert!(check_reason("a\nb").is_err());
        assert!(check_reason(&"r".repeat(200)).is_ok());
        assert!(check_reason(&"r".repeat(201)).is_err());
    }
}

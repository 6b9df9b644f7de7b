//! Newtypes for the names a command may carry: [`AppName`] and [`PrNumber`].

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
}

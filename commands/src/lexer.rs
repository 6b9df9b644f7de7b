//! Splitting command text into words.
//!
//! Words are separated by whitespace (any Unicode whitespace, so Slack's non-breaking spaces
//! work). A double-quoted part (`"..."`) keeps its whitespace; inside it `\"` and `\\` stand for
//! `"` and `\`, any other backslash is literal. Slack and phones like to turn `"` into
//! typographic quotes, so `“` and `”` count as quotes too; likewise a leading `—` or `–` (what
//! autocorrect makes of `--`) counts as `--`. A word that begins with a quote is never a flag.

use std::borrow::Cow;

/// One word of the command text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// The word with quotes removed and escapes resolved.
    pub text: String,
    /// The word began outside quotes: only such a word can be a flag.
    pub bare: bool,
}

impl Token {
    /// A bare word starting with a dash: a flag (or a mistyped one).
    pub fn is_flag(&self) -> bool {
        self.bare && self.text.starts_with(is_dash)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LexError {
    /// A quote was opened and never closed; the word as far as it got.
    Unterminated(String),
    /// A word that is nothing but `""`.
    EmptyQuotes,
}

pub(crate) fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}')
}

pub(crate) fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2014}' | '\u{2013}')
}

/// `--ttl`, `—ttl` and `–ttl` become `--ttl`; `-ttl` stays as is.
pub(crate) fn normalize_dashes(word: &str) -> Cow<'_, str> {
    match word.strip_prefix(['\u{2014}', '\u{2013}']) {
        Some(rest) => Cow::Owned(format!("--{rest}")),
        None => Cow::Borrowed(word),
    }
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        let mut word = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            if !is_quote(c) {
                word.push(c);
                continue;
            }
            quoted = true;
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next_if(|&n| is_quote(n) || n == '\\') {
                        Some(n) => word.push(n),
                        None => word.push('\\'),
                    }
                } else if is_quote(c) {
                    closed = true;
                    break;
                } else {
                    word.push(c);
                }
            }
            if !closed {
                return Err(LexError::Unterminated(format!("\"{word}")));
            }
        }
        if quoted && word.is_empty() {
            return Err(LexError::EmptyQuotes);
        }
        out.push(Token {
            text: word,
            bare: !is_quote(first),
        });
    }
}

/// The word as it must be written so that [`tokenize`] reads it back unchanged as one
/// non-flag word. (The empty word has no such form.)
pub(crate) fn quote(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && !word.starts_with(is_dash)
        && !word.chars().any(|c| c.is_whitespace() || is_quote(c));
    if plain {
        return Cow::Borrowed(word);
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if c == '\\' || is_quote(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        tokenize(s)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(
            words("  up  collect#42\t--ttl\n4h "),
            ["up", "collect#42", "--ttl", "4h"]
        );
        assert_eq!(words("\u{3000}up\u{a0}x"), ["up", "x"]);
        assert!(words("   ").is_empty());
    }

    #[test]
    fn quotes() {
        assert_eq!(words(r#"help "a b" c"#), ["help", "a b", "c"]);
        assert_eq!(words(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(words(r#""a\\b" "a\b""#), [r"a\b", r"a\b"]);
        assert_eq!(words(r#"--app="my app""#), ["--app=my app"]);
        assert_eq!(words("“smart quotes”"), ["smart quotes"]);
        assert_eq!(words(r"a\b"), [r"a\b"]);
        assert_eq!(words("it's"), ["it's"]);
        assert_eq!(
            tokenize(r#"up "oops"#),
            Err(LexError::Unterminated("\"oops".into()))
        );
        assert_eq!(
            tokenize(r#"up "a\""#),
            Err(LexError::Unterminated("\"a\"".into()))
        );
        assert_eq!(tokenize(r#"up """#), Err(LexError::EmptyQuotes));
    }

    #[test]
    fn bare_marks_flags() {
        let t = tokenize(r#"--x "--y""#).unwrap_or_default();
        assert!(t[0].is_flag());
        assert!(!t[1].is_flag());
        assert_eq!(normalize_dashes("—ttl"), "--ttl");
        assert_eq!(normalize_dashes("–ttl"), "--ttl");
        assert_eq!(normalize_dashes("-ttl"), "-ttl");
    }

    #[test]
    fn quote_round_trips() {
        for w in [
            "up", "a b", "-x", "—x", r#"a"b"#, r"a\b", "“”", "\\", "x\n", "é",
        ] {
            let q = quote(w);
            let t = tokenize(&q).unwrap_or_default();
            assert_eq!(t.len(), 1, "{w:?} -> {q}");
            assert_eq!(t[0].text, w);
            assert!(!t[0].is_flag());
        }
    }
}

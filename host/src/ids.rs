//! Validated identifiers: [`RoomId`], [`UserId`] and [`ClientId`]. Each is checked once, where it
//! enters the host (an HTTP path or body, a NATS subject or request, a token's subject), and
//! travels inward as its type, so the core never validates a string twice and never sees an
//! unchecked one. A leaf module: it imports nothing from the rest of the crate.

use std::fmt;

use serde::Serialize;

/// Why a string is not a valid id. `field` names what the caller sent (`room`, `user`,
/// `client_id`, ...); the message quotes at most the first 64 characters of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct IdError {
    /// The field the value came from.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl IdError {
    /// The same error, reported under another field name (`before` for a message-id query
    /// parameter, `sub` for a token's subject, ...).
    pub fn for_field(mut self, field: &'static str) -> Self {
        self.field = field;
        self
    }
}

/// At most 64 characters of `s`, quoted, for error messages (an attacker's 10 KB id does not
/// come back in a 10 KB error).
pub fn preview(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} characters)", &s[..cut], s.chars().count()),
    }
}

/// Whether `s` is 1 to 64 of `a-z`, `0-9`, `_` and `-`: room ids and plugin names (both are
/// used as NATS subject tokens and Redis key parts).
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The first character of `s` that stored text must not carry: control characters other than
/// line ends and tab (NUL, ESC and terminal escapes), and the bidirectional overrides and
/// isolates (U+202A–U+202E, U+2066–U+2069) that make text display as something else.
pub fn forbidden_char(s: &str) -> Option<char> {
    s.chars().find(|&c| {
        (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    })
}

/// Whether `s` shows nothing: only whitespace and invisible characters (zero-width spaces and
/// joiners, direction marks, word joiners, the byte-order mark, soft hyphens, variation
/// selectors).
pub fn is_blank(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{00AD}'
                    | '\u{034F}'
                    | '\u{180E}'
                    | '\u{200B}'..='\u{200F}'
                    | '\u{2060}'..='\u{2064}'
                    | '\u{FE00}'..='\u{FE0F}'
                    | '\u{FEFF}'
            )
    })
}

/// "must not contain …" for the character `forbidden_char` found.
pub fn forbidden_message(c: char) -> String {
    format!(
        "must not contain control characters or bidirectional overrides (found U+{:04X})",
        c as u32
    )
}

/// The default longest message text, characters (`[limits] text_chars`).
pub const DEFAULT_TEXT_CHARS: usize = 4_000;

/// What is wrong with `text` as a message text, if anything: blank, a forbidden character, or
/// more than `max_chars` characters. Posts and plugin rewrites obey the same rules.
pub fn text_problem(text: &str, max_chars: usize) -> Option<String> {
    if is_blank(text) {
        return Some("must not be empty (or only invisible characters)".into());
    }
    if let Some(c) = forbidden_char(text) {
        return Some(forbidden_message(c));
    }
    length_problem(text, max_chars)
}

/// "at most N characters" when `text` is longer than `max_chars`.
pub fn length_problem(text: &str, max_chars: usize) -> Option<String> {
    let chars = text.chars().count();
    (chars > max_chars).then(|| format!("at most {max_chars} characters, got {chars}"))
}

/// A room id: 1 to 64 of `a-z`, `0-9`, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = "^[a-z0-9_-]{1,64}$")]
pub struct RoomId(String);

impl RoomId {
    /// Validate a room id.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if is_valid_name(&id) {
            Ok(RoomId(id))
        } else {
            Err(IdError {
                field: "room",
                message: format!(
                    "{} is not a room id: use 1-64 of a-z, 0-9, _ and -",
                    preview(&id)
                ),
            })
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user id: 1 to 64 bytes, no whitespace or control characters. It is a token's subject
/// (the sender of everything that token does) and the key of a business profile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// Validate a user id.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(IdError {
                field: "user",
                message: format!(
                    "{} is not a user id: use 1-64 bytes without spaces or control characters",
                    preview(&id)
                ),
            });
        }
        Ok(UserId(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for UserId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for UserId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client's own id for one message (1 to 128 printable characters): a retry with the same id
/// from the same sender in the same room returns the original instead of posting twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// Validate a client id.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if id.is_empty() || id.chars().count() > 128 || id.chars().any(char::is_control) {
            return Err(IdError {
                field: "client_id",
                message: "must be 1 to 128 printable characters".into(),
            });
        }
        Ok(ClientId(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_and_name_their_field() {
        assert!(RoomId::new("mumbai-traders_1").is_ok());
        assert_eq!(RoomId::new("Bad Room").expect_err("bad").field, "room");
        assert!(UserId::new("asha@example").is_ok());
        assert_eq!(UserId::new("a b").expect_err("space").field, "user");
        assert_eq!(UserId::new("").expect_err("empty").field, "user");
        assert!(ClientId::new("c-1").is_ok());
        assert_eq!(
            ClientId::new("x".repeat(129)).expect_err("long").field,
            "client_id"
        );
        assert!(ClientId::new("a\u{7}").is_err());
    }

    #[test]
    fn hidden_and_disguising_characters_are_found() {
        assert_eq!(forbidden_char("ok\nfine\ttoo\r\n"), None);
        assert_eq!(forbidden_char("nul\u{0}"), Some('\u{0}'));
        assert_eq!(forbidden_char("\u{1b}[31mred"), Some('\u{1b}'));
        assert_eq!(forbidden_char("abc\u{202E}cba"), Some('\u{202E}'));
        assert!(is_blank(" \u{200B}\u{200D}\u{FEFF} "));
        assert!(!is_blank("\u{1F468}\u{200D}\u{1F469}"));
    }

    #[test]
    fn errors_quote_at_most_64_characters() {
        let long = "x".repeat(10_000);
        let message = RoomId::new(long).expect_err("long").message;
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("10000 characters"), "{message}");
    }
}

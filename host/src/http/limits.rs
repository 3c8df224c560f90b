//! `[limits]`: what one HTTP request may carry. Read by the HTTP layer; the text limit is also
//! chat's (the server passes it to `Chat::new`).

use serde::Deserialize;

/// `[limits]`: what one request may carry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, bytes.
    pub body_bytes: usize,
    /// Longest message text, characters.
    pub text_chars: usize,
    /// Largest total size of the request headers, bytes.
    pub header_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            body_bytes: 16 * 1024,
            text_chars: crate::ids::DEFAULT_TEXT_CHARS,
            header_bytes: 8 * 1024,
        }
    }
}

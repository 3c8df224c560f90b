//! `[limits]`: what one HTTP request may carry, and how many posts run at once. Read by the
//! HTTP layer; the text limit and the posts in flight are chat's (the server passes them on).

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
    /// Posts judged and stored at a time on this host (HTTP and NATS ingest); the next one is
    /// answered 503 + Retry-After at once.
    pub posts_in_flight: usize,
    /// Of those, at most this many from one sender (the next: 429).
    pub sender_posts_in_flight: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            body_bytes: 16 * 1024,
            text_chars: crate::ids::DEFAULT_TEXT_CHARS,
            header_bytes: 8 * 1024,
            posts_in_flight: crate::chat::DEFAULT_POSTS_IN_FLIGHT,
            sender_posts_in_flight: crate::chat::DEFAULT_SENDER_POSTS_IN_FLIGHT,
        }
    }
}

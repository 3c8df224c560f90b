//! The stable error codes of Chowk's error bodies (`{"error": {"code", ...}}`). Core errors
//! ([`crate::store::StoreError::code`], [`crate::chat::ChatError::code`]) name their code here
//! once; the adapters map a code to their transport (an HTTP status in `http/error.rs`, the
//! same body in a NATS ingest reply). A leaf module: it imports nothing from the crate.

use serde::Serialize;

/// A stable error code. Clients branch on it; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A field is missing or wrong; the message names it.
    InvalidRequest,
    /// The body is not JSON (or not UTF-8).
    InvalidJson,
    /// The body is not sent as `application/json`.
    UnsupportedMediaType,
    /// The body is larger than `[limits] body_bytes`.
    BodyTooLarge,
    /// The request body did not arrive within `[server] body_timeout_ms`.
    RequestTimeout,
    /// The headers are larger than `[limits] header_bytes`.
    HeadersTooLarge,
    /// No bearer token.
    Unauthorized,
    /// The token is forged, malformed or of another algorithm.
    InvalidToken,
    /// The token has expired.
    TokenExpired,
    /// The caller may not do this.
    Forbidden,
    /// No such room, message or profile.
    NotFound,
    /// No such endpoint.
    NoRoute,
    /// The endpoint does not take that method.
    MethodNotAllowed,
    /// It exists already.
    Conflict,
    /// A plugin refused the message.
    Rejected,
    /// A plugin's rate limit refused the message; retry after `retry_after_ms`.
    RateLimited,
    /// A chain reload failed; the previous chain stays live.
    ReloadFailed,
    /// Storage (or another dependency) is unavailable; retry, with the same `client_id`.
    Unavailable,
    /// A bug: logged on the host.
    #[default]
    Internal,
}

impl ErrorCode {
    /// The code as it appears in error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NoRoute => "no_route",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Rejected => "rejected",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ReloadFailed => "reload_failed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn serialized_code_is_the_documented_name() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_value(code).expect("serialises");
            assert_eq!(json, code.as_str());
        }
    }
}

//! The one error body, `{"error": {"code", "message", ...}}`: the typed struct the OpenAPI
//! document shows, built from the core's typed errors, sent by the HTTP API and by NATS ingest
//! replies alike. Optional fields are left out when they do not apply (never `null`).

use serde::Serialize;

use crate::chat::ChatError;
use crate::codes::ErrorCode;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error: a stable code, a message for people, and the fields that apply to it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code: clients branch on it.
    pub code: ErrorCode,
    /// What happened, for people.
    pub message: String,
    /// For `invalid_request`: the field to fix (`text`, `room`, `client_id`, `limit`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `rejected`/`rate_limited`: the plugin that refused the message; for
    /// `reload_failed`: the plugin that failed to load, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// For `rejected`/`rate_limited`: the plugin's rule code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For `rejected`: every rule that counted against the message (plugin and rule code), so
    /// the app can explain it in the sender's language. Scores, thresholds and the plugins'
    /// details are for moderators only and never appear here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<RuleRef>,
    /// For `rate_limited` and `unavailable`: how long to wait before retrying, ms (HTTP
    /// answers also carry `Retry-After` in seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// For `reload_failed`: the chain generation that stays live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_generation: Option<u64>,
}

/// A rule that counted against a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RuleRef {
    /// The plugin.
    pub plugin: String,
    /// Its stable rule code (for example `link_shortener`, `blocked_keyword`).
    pub rule: String,
}

impl ErrorDetail {
    /// An error with `code` and `message` and no other fields.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorDetail {
            code,
            message: message.into(),
            ..ErrorDetail::default()
        }
    }

    /// Wrapped as a body, with the message and field cut to a readable length: parsers'
    /// messages quote the input (an unknown parameter's name, a bad value), and an error must
    /// not hand a 10 KB input back.
    pub fn into_body(mut self) -> ErrorBody {
        self.message = bounded(self.message, MAX_MESSAGE_CHARS);
        self.field = self.field.map(|f| bounded(f, MAX_FIELD_CHARS));
        ErrorBody { error: self }
    }
}

/// Longest error message sent, characters.
const MAX_MESSAGE_CHARS: usize = 300;
/// Longest field name sent, characters.
const MAX_FIELD_CHARS: usize = 64;

/// `text` cut to `max` characters (the cut marked with `…`).
fn bounded(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

impl From<&StoreError> for ErrorDetail {
    fn from(e: &StoreError) -> Self {
        ErrorDetail {
            field: match e {
                StoreError::Invalid { field, .. } => Some(field.clone()),
                _ => None,
            },
            retry_after_ms: e.is_transient().then_some(1_000),
            ..ErrorDetail::new(e.code(), e.to_string())
        }
    }
}

impl From<&ChatError> for ErrorDetail {
    fn from(e: &ChatError) -> Self {
        match e {
            ChatError::Store(store) => store.into(),
            ChatError::Rejected {
                rejection,
                decision,
            } => ErrorDetail {
                plugin: Some(rejection.plugin.clone()),
                rule: Some(rejection.code.clone()),
                reasons: decision
                    .reasons
                    .iter()
                    .filter(|r| {
                        r.points.is_some_and(|p| p > 0.0)
                            || (r.points.is_none() && r.plugin == rejection.plugin)
                    })
                    .map(|r| RuleRef {
                        plugin: r.plugin.clone(),
                        rule: r.rule.clone(),
                    })
                    .collect(),
                retry_after_ms: e.retry_after_ms(),
                ..ErrorDetail::new(e.code(), rejection.message.clone())
            },
            ChatError::Invalid { field, .. } => ErrorDetail {
                field: Some((*field).to_owned()),
                ..ErrorDetail::new(e.code(), e.to_string())
            },
            ChatError::Forbidden(_)
            | ChatError::Chain(_)
            | ChatError::Overloaded
            | ChatError::SenderBusy(_) => ErrorDetail {
                retry_after_ms: e.retry_after_ms(),
                ..ErrorDetail::new(e.code(), e.to_string())
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorDetail;
    use crate::codes::ErrorCode;

    #[test]
    fn an_error_does_not_hand_a_long_input_back() {
        let input = "ा".repeat(10_000);
        let body = ErrorDetail {
            field: Some(input.clone()),
            ..ErrorDetail::new(
                ErrorCode::InvalidRequest,
                format!("unknown field `{input}`"),
            )
        }
        .into_body();
        assert_eq!(body.error.message.chars().count(), 301);
        assert!(body.error.message.ends_with('…'));
        assert_eq!(body.error.field.map(|f| f.chars().count()), Some(65));
        let short = ErrorDetail::new(ErrorCode::NotFound, "room lobby not found").into_body();
        assert_eq!(short.error.message, "room lobby not found");
    }
}

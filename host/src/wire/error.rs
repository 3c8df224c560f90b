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

    /// Wrapped as a body.
    pub fn into_body(self) -> ErrorBody {
        ErrorBody { error: self }
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

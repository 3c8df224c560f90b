//! What the chain decided about one message, with the decision trace: which plugin and rule
//! decided, why, and how long each plugin took.

use serde::Serialize;

/// The chain's final action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Store and relay as sent.
    Allow,
    /// Store and relay the rewritten text.
    Rewrite,
    /// Store, but hold for moderators (score reached `flag_at`).
    Flag,
    /// Refuse.
    Reject,
}

/// One reason behind the decision (a score hit, a rewrite, a reject, or a plugin failure).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Reason {
    /// The plugin that gave it (`chain` for the score thresholds).
    pub plugin: String,
    /// The stable rule label or reject code.
    pub rule: String,
    /// Human-readable detail.
    pub detail: String,
    /// Points added, for score hits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<f64>,
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    /// The plugin that refused it (`chain` when the total score did).
    pub plugin: String,
    /// Stable code, e.g. `blocked_keyword`, `rate_limited`, `spam_score`, `plugin_error`.
    pub code: String,
    /// Reason the app may show to the sender.
    pub message: String,
    /// For rate limits: milliseconds until a retry can pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// What one plugin did with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Allowed.
    Allow,
    /// Added score.
    Score,
    /// Rewrote the text.
    Rewrite,
    /// Rejected.
    Reject,
    /// Trapped, timed out, hit its memory cap, or could not be instantiated.
    Error,
    /// Disabled by its circuit breaker.
    Disabled,
    /// Does not apply to this room.
    Skipped,
}

/// One entry of the decision trace.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PluginRun {
    /// Plugin name.
    pub plugin: String,
    /// What it did.
    pub outcome: RunOutcome,
    /// Whether the plugin runs in shadow mode (its outcome was recorded, not enforced).
    pub shadow: bool,
    /// Wall time of the call, microseconds.
    pub elapsed_us: u64,
    /// Points it added (or would have, in shadow mode).
    pub points: f64,
    /// Failure description for `error` and `disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The chain's decision about one message.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Decision {
    /// Final action.
    pub action: Action,
    /// Total enforced score.
    pub score: f64,
    /// Text after enforced rewrites.
    pub text: String,
    /// Enforced reasons, in chain order.
    pub reasons: Vec<Reason>,
    /// Set when `action` is `reject`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
    /// Generation of the chain that judged the message.
    pub generation: u64,
    /// Every plugin's run, in chain order, including shadow and skipped ones.
    pub trace: Vec<PluginRun>,
}

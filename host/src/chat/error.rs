//! [`ChatError`]: why a post, a moderation decision, a dry run or a profile change failed, with
//! its stable [`ErrorCode`] (store failures take theirs from [`StoreError::code`]).

use crate::codes::ErrorCode;
use crate::ids::IdError;
use crate::plugins::{Decision, Rejection};
use crate::store::StoreError;

/// The rule code a rate-limiting plugin rejects with (`chowk:plugin` convention): such a
/// rejection is `rate_limited` (HTTP 429 with `Retry-After`), not `rejected`.
pub const RATE_LIMITED_RULE: &str = "rate_limited";

/// Why a chat operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// Bad input (empty or too long text, a bad id...); `field` names what to fix.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The caller may not do this in this room.
    #[error("{0}")]
    Forbidden(String),
    /// The chain refused the message.
    #[error("rejected by {}: {}", .rejection.plugin, .rejection.message)]
    Rejected {
        /// Who refused it and why.
        rejection: Rejection,
        /// The full decision.
        decision: Box<Decision>,
    },
    /// The plugin chain could not run (its task panicked, or the host is shutting down); a
    /// retry may succeed.
    #[error("the plugin chain could not run: {0}")]
    Chain(String),
    /// The store failed (not found, unavailable, not replicated...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every post slot of this host is taken; a retry after a second may find one.
    #[error("this host is at capacity; retry after Retry-After")]
    Overloaded,
    /// The sender already has this many posts in flight on this host.
    #[error("you already have {0} messages being posted; wait for their answers")]
    SenderBusy(usize),
}

impl From<IdError> for ChatError {
    fn from(e: IdError) -> Self {
        ChatError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl ChatError {
    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ChatError::Invalid { .. } => ErrorCode::InvalidRequest,
            ChatError::Forbidden(_) => ErrorCode::Forbidden,
            ChatError::Rejected { rejection, .. } if rejection.code == RATE_LIMITED_RULE => {
                ErrorCode::RateLimited
            }
            ChatError::Rejected { .. } => ErrorCode::Rejected,
            ChatError::Chain(_) | ChatError::Overloaded => ErrorCode::Unavailable,
            ChatError::SenderBusy(_) => ErrorCode::RateLimited,
            ChatError::Store(e) => e.code(),
        }
    }

    /// How long the caller should wait before retrying, ms: the plugin's figure (1 s when a
    /// rate limit gave none; any other rejection only when its plugin gave one, as a failing
    /// plugin does), 1 s for a transient store failure, else `None`.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            ChatError::Rejected { rejection, .. } if self.code() == ErrorCode::RateLimited => {
                Some(rejection.retry_after_ms.unwrap_or(1_000))
            }
            ChatError::Rejected { rejection, .. } => rejection.retry_after_ms,
            ChatError::Store(e) if e.is_transient() => Some(1_000),
            ChatError::Chain(_) | ChatError::Overloaded | ChatError::SenderBusy(_) => Some(1_000),
            _ => None,
        }
    }
}

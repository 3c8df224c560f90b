//! The wire shapes every adapter shares: how a message looks to clients and subscribers
//! ([`MessageView`], [`ModerationEvent`]) and the one error body ([`ErrorBody`]). HTTP, NATS
//! ingest and the relay serialise these and nothing else, so a message or an error looks the
//! same on every transport. Only adapters import this module; the core (chat, plugins, store)
//! knows no JSON shapes.

mod error;
mod message;

pub use error::{ErrorBody, ErrorDetail, RuleRef};
pub use message::{MessageView, ModerationEvent};

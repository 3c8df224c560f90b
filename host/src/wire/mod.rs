//! The wire shapes the adapters share: how a message looks to clients and subscribers
//! ([`MessageView`], [`ModerationEvent`]) and the one error body ([`ErrorBody`]), so a message
//! or an error looks the same over HTTP, SSE, NATS ingest and the relay. The core (chat,
//! plugins, store) never imports this module; shapes only one adapter sends stay in it.

mod error;
mod message;

pub use error::{ErrorBody, ErrorDetail, RuleRef};
pub use message::{MessageView, ModerationEvent};

//! The relay, outbound only: publishes what chat stored, from a per-room cursor kept in the
//! store, to NATS or (with no `[nats]`) to this host's live feed ([`publisher`]); and carries
//! chat's announcements out ([`outbox`], which implements `chat::Outbox`). Redis is the source
//! of truth, so an acknowledged message is published at least once even if NATS is down or the
//! host dies right after storing it. Nothing comes in through this module: inbound NATS
//! traffic is `ingest/`.

pub mod outbox;
pub mod publisher;

pub use outbox::RelayOutbox;
pub use publisher::{Relay, RelayHandle, JETSTREAM_STREAM};

use crate::bus::BusError;
use crate::store::StoreError;

/// Why relaying failed (the relay retries).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RelayError {
    /// NATS refused or did not confirm in time.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

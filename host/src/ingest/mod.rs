//! Inbound NATS: what other services and other hosts send this host over the bus.
//! [`requests`]: trusted services post messages by request-reply on `chowk.ingest.<room>` (the
//! same chat call, the same answers as the HTTP API). [`feed`]: every host's relayed messages
//! on `chowk.room.*.messages` feed this host's live hub, so SSE clients on any host see them.

pub mod feed;
pub mod requests;

pub use feed::feed_live_hub;
pub use requests::Ingest;

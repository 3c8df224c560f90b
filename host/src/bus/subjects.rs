//! NATS subjects and headers. Room ids are `[a-z0-9_-]`, safe as subject tokens; user ids are
//! escaped.

use crate::ids::RoomId;

/// Prefix of ingest subjects: `chowk.ingest.<room>`.
pub const INGEST_PREFIX: &str = "chowk.ingest.";
/// Wildcard the ingest service subscribes to.
pub const INGEST_ALL: &str = "chowk.ingest.*";
/// Queue group of the ingest service: a fleet shares the load, each request handled once.
pub const INGEST_QUEUE: &str = "chowk";

/// Header marking a `.messages` publication as an approval (an older message made visible):
/// written by the relay, read by the hosts' live feeds.
pub const EVENT_HEADER: &str = "Chowk-Event";
/// [`EVENT_HEADER`] value of approvals.
pub const APPROVED: &str = "approved";
/// Header carrying the message id, by which subscribers and JetStream deduplicate.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// The relay's confirmation round trip (core NATS): a request nobody answers but the server,
/// with "no responders", after it has read every earlier publish of the connection.
pub const RELAY_CONFIRM: &str = "chowk.relay.confirm";

/// Every room's `.messages` subject (what a host's live feed listens to).
pub const MESSAGES_ALL: &str = "chowk.room.*.messages";

/// Every stored, visible message of a room.
pub fn messages(room: &RoomId) -> String {
    format!("chowk.room.{room}.messages")
}

/// Flagged and rejected messages of a room, with their decision trace.
pub fn moderation(room: &RoomId) -> String {
    format!("chowk.room.{room}.moderation")
}

/// Profile changes of a user. Characters other than `[A-Za-z0-9_-]` become `_`.
pub fn profile(user: &str) -> String {
    let token: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("chowk.profile.{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        let room = RoomId::new("mumbai-traders").expect("id");
        assert_eq!(messages(&room), "chowk.room.mumbai-traders.messages");
        assert_eq!(profile("a.b*c>"), "chowk.profile.a_b_c_");
    }
}

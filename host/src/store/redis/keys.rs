//! The key schema. Every key starts with `chowk:`; a room's keys share the hash tag
//! `{room:<id>}`. The scripts that write a room (append, moderate, relay commit) also touch
//! the global `chowk:relay:dirty`, so Chowk runs on one primary (with replicas, Sentinel or an
//! HAProxy front), not on Redis Cluster.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `chowk:rooms` | set | every room id |
//! | `chowk:{room:R}:meta` | hash | name, description, visibility, retention, created |
//! | `chowk:{room:R}:members` | set | member user ids |
//! | `chowk:{room:R}:moderators` | set | moderator user ids |
//! | `chowk:{room:R}:messages` | stream | messages; the stream id is the message id |
//! | `chowk:{room:R}:traces` | stream | each message's full decision trace, under the message's own id (moderators read it) |
//! | `chowk:{room:R}:pending` | set | ids of flagged messages awaiting a moderator |
//! | `chowk:{room:R}:cid:<len>:<sender>:<client_id>` | string, TTL | message id of a client id |
//! | `chowk:{room:R}:attempt:<token>` | string, TTL | message id of a post without client id, by the host's own key for its retries |
//! | `chowk:{room:R}:relayed` | string | id of the last message the relay published |
//! | `chowk:{room:R}:fence` | integer | written by the relay before its `WAIT`: replicas that acknowledge it hold what it read |
//! | `chowk:{room:R}:approved` | list | ids approved by a moderator, waiting to be relayed |
//! | `chowk:{room:R}:labels` | stream | moderators' decisions with the text: training labels |
//! | `chowk:{room:R}:decided:<id>` | string, TTL | the decision taken on message `<id>` (so a retry answers as it did) |
//! | `chowk:relay:dirty` | set | rooms with messages the relay may not have published |
//! | `chowk:profile:<user>` | string (JSON) | the user's business profile |
//! | `chowk:pstate:<plugin>:<key>` | string, TTL | plugin key-value state |

use crate::store::RoomId;

/// Set of all room ids.
pub const ROOMS: &str = "chowk:rooms";
/// Rooms the relay must look at: marked with every append and approval, cleared by the relay
/// only when a room has nothing left to publish.
pub const RELAY_DIRTY: &str = "chowk:relay:dirty";

fn room(room: &RoomId, suffix: &str) -> String {
    format!("chowk:{{room:{room}}}:{suffix}")
}

/// Room metadata hash.
pub fn meta(r: &RoomId) -> String {
    room(r, "meta")
}

/// Members set.
pub fn members(r: &RoomId) -> String {
    room(r, "members")
}

/// Moderators set.
pub fn moderators(r: &RoomId) -> String {
    room(r, "moderators")
}

/// Message stream.
pub fn messages(r: &RoomId) -> String {
    room(r, "messages")
}

/// Full decision traces, one entry per message under the message's id.
pub fn traces(r: &RoomId) -> String {
    room(r, "traces")
}

/// Pending (flagged) message ids.
pub fn pending(r: &RoomId) -> String {
    room(r, "pending")
}

/// The relay's cursor: the last published message id.
pub fn relayed(r: &RoomId) -> String {
    room(r, "relayed")
}

/// The decision taken on message `id` of room `r`.
pub fn decided(r: &RoomId, id: &str) -> String {
    room(r, &format!("decided:{id}"))
}

/// Moderators' decisions with the message text (training labels).
pub fn labels(r: &RoomId) -> String {
    room(r, "labels")
}

/// Ids approved by a moderator, waiting to be relayed.
pub fn approved(r: &RoomId) -> String {
    room(r, "approved")
}

/// A counter the relay increments (a write to `WAIT` for) before relaying what it read.
pub fn fence(r: &RoomId) -> String {
    room(r, "fence")
}

/// Client-id dedupe key; the sender's length prefix keeps `a:b`+`c` apart from `a`+`b:c`.
pub fn client_id(r: &RoomId, sender: &str, client_id: &str) -> String {
    room(r, &format!("cid:{}:{sender}:{client_id}", sender.len()))
}

/// The host's own idempotency key for one post without a client id: the store retries an
/// append after an ambiguous failure (a timeout, a dropped connection), and the retry must find
/// the first attempt's message instead of storing a second. `token` is random per post.
pub fn attempt(r: &RoomId, token: &str) -> String {
    room(r, &format!("attempt:{token}"))
}

/// A profile.
pub fn profile(user: &str) -> String {
    format!("chowk:profile:{user}")
}

/// A plugin's state key. Plugin names are `[a-z0-9_-]`, so the namespace cannot be escaped.
pub fn plugin_state(plugin: &str, key: &str) -> String {
    format!("chowk:pstate:{plugin}:{key}")
}

//! Chat storage: rooms, messages (one ordered, pageable stream per room), flagged-message
//! moderation, idempotent posting, and business profiles. Backed by highly available Redis
//! ([`redis`]) or, as the zero-setup default, by process memory ([`memory`]); both behave the
//! same, and the Redis side also keeps plugin state ([`redis::RedisPluginState`]).

pub mod memory;
pub mod model;
pub mod profile;
pub mod redis;

pub use crate::ids::{ClientId, RoomId, UserId};
pub use memory::MemoryStore;
pub use model::{
    Appended, CreatedRoom, Decision, HistoryPage, HistoryQuery, Label, NewMessage, Placement,
    PostContext, RelayBatch, Room, StoredAction, StoredMessage, Viewer, Visibility, MAX_LABELS,
};
pub use profile::{Product, Profile, ProfilePatch};
pub use redis::{RedisConfig, RedisPluginState, RedisStore};

use crate::codes::ErrorCode;

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// Input that can never succeed (HTTP 400); `field` names what to fix.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such room, message or profile (HTTP 404).
    #[error("{0} not found")]
    NotFound(String),
    /// It exists already (HTTP 409).
    #[error("{0} already exists")]
    Conflict(String),
    /// The database is unreachable, timed out, or is failing over (HTTP 503; retry, with the
    /// same client id for messages).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored on the primary but not yet on `wanted` replicas (HTTP 503; a retry with the same
    /// client id is safe).
    #[error("stored, but only {got} of {wanted} replicas confirmed it in time")]
    NotReplicated {
        /// Replicas required (`min_replica_acks`).
        wanted: u32,
        /// Replicas that confirmed.
        got: u32,
    },
}

impl From<crate::ids::IdError> for StoreError {
    fn from(e: crate::ids::IdError) -> Self {
        StoreError::Invalid {
            field: e.field.into(),
            message: e.message,
        }
    }
}

impl StoreError {
    /// The stable error code every adapter reports for this failure (the one table of it).
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Invalid { .. } => ErrorCode::InvalidRequest,
            StoreError::NotFound(_) => ErrorCode::NotFound,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::Unavailable(_) | StoreError::NotReplicated { .. } => ErrorCode::Unavailable,
        }
    }

    /// Whether a retry may succeed (503 territory).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::NotReplicated { .. }
        )
    }
}

/// New room as an admin creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoom {
    /// Id.
    pub id: RoomId,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Open or members-only.
    pub visibility: Visibility,
    /// Messages kept.
    pub retention: u64,
}

impl NewRoom {
    /// The room as stored, created at `now_ms`.
    pub fn into_room(self, now_ms: u64) -> Room {
        Room {
            id: self.id,
            name: self.name.trim().to_owned(),
            description: self.description,
            visibility: self.visibility,
            retention: self.retention,
            created_at_ms: now_ms,
        }
    }
}

/// The store the server runs on.
#[derive(Debug)]
pub enum Store {
    /// In process memory: one host, nothing persisted.
    Memory(MemoryStore),
    /// Redis (standalone, behind HAProxy, or discovered through Sentinel).
    Redis(RedisStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Store::Memory($s) => $call,
            Store::Redis($s) => $call.await,
        }
    };
}

impl Store {
    /// The store for a `[redis]` config section, or the in-memory store (with a loud warning)
    /// when there is none.
    pub fn open(
        config: Option<&RedisConfig>,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
    ) -> Result<Store, StoreError> {
        match config {
            Some(config) => Ok(Store::Redis(RedisStore::new(config.clone())?)),
            None => {
                tracing::warn!(
                    "no [redis] section: using the in-memory store. NOTHING IS PERSISTED, and it \
                     serves one host only. Configure [redis] for anything but a trial."
                );
                Ok(Store::Memory(MemoryStore::new(clock)))
            }
        }
    }

    /// Whether the database answers (always, for the memory store).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(s) => s.ping().await,
        }
    }

    /// Open connections and load scripts ahead of the first requests (nothing to do in
    /// memory).
    pub async fn warm(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(s) => s.warm().await,
        }
    }

    /// Redis connections dropped after failover signals (0 for the memory store).
    pub fn failovers_seen(&self) -> u64 {
        match self {
            Store::Memory(_) => 0,
            Store::Redis(s) => s.failovers_seen(),
        }
    }

    /// Create a room. The same request again (a retry after an ambiguous failure) finds the
    /// room and answers `created: false`; the id taken with other settings is `Conflict`.
    pub async fn create_room(&self, room: NewRoom) -> Result<CreatedRoom, StoreError> {
        validate_room(&room)?;
        dispatch!(self, s => s.create_room(room))
    }

    /// A room by id.
    pub async fn room(&self, id: &RoomId) -> Result<Room, StoreError> {
        dispatch!(self, s => s.room(id))
    }

    /// Every room, by id.
    pub async fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        dispatch!(self, s => s.rooms())
    }

    /// Add (`true`) or remove (`false`) a member.
    pub async fn set_member(
        &self,
        room: &RoomId,
        user: &UserId,
        member: bool,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_member(room, user.as_str(), member))
    }

    /// Add or remove a moderator.
    pub async fn set_moderator(
        &self,
        room: &RoomId,
        user: &UserId,
        moderator: bool,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_moderator(room, user.as_str(), moderator))
    }

    /// Whether `user` is a member / a moderator of `room`.
    pub async fn roles(&self, room: &RoomId, user: &UserId) -> Result<(bool, bool), StoreError> {
        dispatch!(self, s => s.roles(room, user.as_str()))
    }

    /// Whether acknowledgements wait for replicas (`min_replica_acks` > 0): then a retry's
    /// original must be confirmed on them with [`Store::find_client_id`] before it is answered.
    pub fn confirms_replicas(&self) -> bool {
        match self {
            Store::Memory(_) => false,
            Store::Redis(s) => s.config().min_replica_acks > 0,
        }
    }

    /// Everything a post from `sender` needs before it is judged, in one step: the room, the
    /// sender's roles in it, and the message already stored under `client_id` (a retry).
    pub async fn prepare_post(
        &self,
        room: &RoomId,
        sender: &UserId,
        client_id: Option<&ClientId>,
    ) -> Result<PostContext, StoreError> {
        let cid = client_id.map(ClientId::as_str);
        dispatch!(self, s => s.prepare_post(room, sender.as_str(), cid))
    }

    /// Store a judged message (marking its room for the relay in the same step). With a
    /// client id seen before (from the same sender, in this room), returns the original
    /// message instead of storing a duplicate.
    pub async fn append(&self, message: NewMessage) -> Result<Appended, StoreError> {
        dispatch!(self, s => s.append(message))
    }

    /// The message `sender` stored with `client_id` in `room`, if it is remembered.
    pub async fn find_client_id(
        &self,
        room: &RoomId,
        sender: &UserId,
        client_id: &ClientId,
    ) -> Result<Option<StoredMessage>, StoreError> {
        dispatch!(self, s => s.find_client_id(room, sender.as_str(), client_id.as_str()))
    }

    /// A page of history, newest first, as `viewer` may see it.
    pub async fn history(
        &self,
        room: &RoomId,
        query: &HistoryQuery,
        viewer: &Viewer,
    ) -> Result<HistoryPage, StoreError> {
        query.validate()?;
        dispatch!(self, s => s.history(room, query, viewer))
    }

    /// Flagged messages waiting for a moderator, oldest first.
    pub async fn pending(&self, room: &RoomId) -> Result<Vec<StoredMessage>, StoreError> {
        dispatch!(self, s => s.pending(room))
    }

    /// Approve a flagged message or remove any stored one, keeping the text as a training
    /// label; `NotFound` if there is nothing to decide. The same decision again (a retry)
    /// succeeds without a second label; approving a removed message is `Conflict` (an approved
    /// one may still be removed).
    pub async fn moderate(
        &self,
        room: &RoomId,
        id: &str,
        decision: Decision,
    ) -> Result<(), StoreError> {
        model::parse_id(id)?;
        dispatch!(self, s => s.moderate(room, id, decision))
    }

    /// Moderators' decisions in `room` with the texts (training labels), oldest first.
    pub async fn labels(&self, room: &RoomId) -> Result<Vec<Label>, StoreError> {
        dispatch!(self, s => s.labels(room))
    }

    /// Note that `room` has messages the relay may not have published yet.
    pub async fn mark_dirty(&self, room: &RoomId) -> Result<(), StoreError> {
        dispatch!(self, s => s.mark_dirty(room))
    }

    /// Rooms marked dirty.
    pub async fn dirty_rooms(&self) -> Result<Vec<RoomId>, StoreError> {
        dispatch!(self, s => s.dirty_rooms())
    }

    /// Unmark a room.
    pub async fn clear_dirty(&self, room: &RoomId) -> Result<(), StoreError> {
        dispatch!(self, s => s.clear_dirty(room))
    }

    /// The id of the last message the relay published in `room`.
    pub async fn relay_cursor(&self, room: &RoomId) -> Result<Option<String>, StoreError> {
        dispatch!(self, s => s.relay_cursor(room))
    }

    /// Move the relay's cursor forward to `id` (an older id, from a slower relay of another
    /// host, leaves it where it is).
    pub async fn set_relay_cursor(&self, room: &RoomId, id: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_relay_cursor(room, id))
    }

    /// What the relay publishes next from `room`: up to `limit` messages after its cursor,
    /// oldest first (flagged ones included; pending ones with their full trace), and up to
    /// `limit` approvals waiting, `(id, message if still stored)`. With `min_replica_acks`,
    /// only once the replicas hold everything read (`NotReplicated` otherwise).
    pub async fn relay_read(&self, room: &RoomId, limit: usize) -> Result<RelayBatch, StoreError> {
        dispatch!(self, s => s.relay_read(room, limit))
    }

    /// After publishing a batch of `room`: move the cursor forward to `last`, drop the
    /// `approved` ids from the queue (by id, not by count: another host's relay may have taken
    /// some, and new approvals may have arrived), and unmark the room if nothing is left to
    /// relay. Returns whether it was unmarked (settled).
    pub async fn relay_commit(
        &self,
        room: &RoomId,
        last: Option<&str>,
        approved: &[String],
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.relay_commit(room, last, approved))
    }

    /// Drop these ids from the approved backlog (see [`Store::relay_commit`]).
    pub async fn ack_approved(&self, room: &RoomId, ids: &[String]) -> Result<(), StoreError> {
        dispatch!(self, s => s.ack_approved(room, ids))
    }

    /// A user's profile.
    pub async fn profile(&self, user: &UserId) -> Result<Profile, StoreError> {
        dispatch!(self, s => s.profile(user.as_str()))
    }

    /// Create or update a profile: the patch is applied to the stored profile (or an empty one)
    /// and the result validated before it is stored.
    pub async fn update_profile(
        &self,
        user: &UserId,
        patch: ProfilePatch,
        now_ms: u64,
    ) -> Result<Profile, StoreError> {
        dispatch!(self, s => s.update_profile(user.as_str(), patch, now_ms))
    }
}

fn validate_room(room: &NewRoom) -> Result<(), StoreError> {
    let invalid = |field: &str, message: String| StoreError::Invalid {
        field: field.into(),
        message,
    };
    for (field, text) in [("name", &room.name), ("description", &room.description)] {
        if let Some(c) = crate::ids::forbidden_char(text) {
            return Err(invalid(field, crate::ids::forbidden_message(c)));
        }
    }
    if crate::ids::is_blank(&room.name) {
        return Err(invalid(
            "name",
            "must not be empty (or only invisible characters)".into(),
        ));
    }
    let name = room.name.trim().chars().count();
    if !(1..=80).contains(&name) {
        return Err(invalid(
            "name",
            format!("must be 1 to 80 characters, got {name}"),
        ));
    }
    if room.description.chars().count() > 500 {
        return Err(invalid(
            "description",
            "must be at most 500 characters".into(),
        ));
    }
    if !(1..=1_000_000).contains(&room.retention) {
        return Err(invalid(
            "retention",
            format!("must be 1..=1000000, got {}", room.retention),
        ));
    }
    Ok(())
}

//! [`Outbox`]: the one interface through which chat tells the world about its writes. Chat
//! calls it after a write the relay must publish, and for announcements the store does not
//! keep (a rejection for moderators' tools, a changed profile). The relay implements it
//! (`relay::RelayOutbox`); chat never learns whether NATS, an in-process feed or nothing is
//! behind it. Every method returns at once: no request ever waits on the message bus.

use crate::ids::{RoomId, UserId};
use crate::plugins::Decision;
use crate::store::{Placement, Profile, StoredMessage};

/// Something subscribers are told that is not a stored message.
#[derive(Debug, Clone)]
pub enum Announcement {
    /// The chain refused a message (it was not stored).
    Rejected {
        /// Room.
        room: RoomId,
        /// Sender.
        sender: UserId,
        /// Text as sent.
        text: String,
        /// The chain's decision with its trace.
        decision: Box<Decision>,
    },
    /// A business profile changed (the whole profile as stored now).
    ProfileChanged {
        /// Whose.
        user: UserId,
        /// The profile.
        profile: Box<Profile>,
    },
}

/// Where chat's writes go out. Implementations must not block.
pub trait Outbox: Send + Sync + std::fmt::Debug {
    /// `room` has a write the relay must publish (a stored message, an approval). The room is
    /// already marked in the store, so a lost wake-up only delays it until the relay's poll.
    fn wake(&self, room: &RoomId);
    /// `message` was just stored at `placed`: the relay may publish it from memory. By default
    /// a [`Outbox::wake`] of its room.
    fn appended(&self, message: &StoredMessage, placed: &Placement) {
        let _ = placed;
        self.wake(&message.room);
    }

    /// Tell subscribers, best effort: an announcement may be dropped when the bus is down or
    /// slow (the store is the record; profiles are always readable over HTTP).
    fn announce(&self, announcement: Announcement);
}

/// An outbox that tells nobody: for tools and tests that run chat without a relay.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOutbox;

impl Outbox for NoOutbox {
    fn wake(&self, _room: &RoomId) {}

    fn announce(&self, _announcement: Announcement) {}
}

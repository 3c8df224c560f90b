//! The embedded default store: everything in process memory, with the same ordering, paging,
//! idempotency and flagged-visibility rules as Redis. For trying Chowk out; nothing survives a
//! restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use super::model::{
    parse_id, Appended, CreatedRoom, Decision, HistoryPage, HistoryQuery, Label, NewMessage,
    Placement, PostContext, RelayBatch, Room, StoredMessage, Viewer, MAX_LABELS,
};
use super::profile::{Profile, ProfilePatch};
use super::{NewRoom, StoreError};
use crate::clock::Clock;
use crate::ids::RoomId;

/// How long a client id is remembered, ms (24 h, as in Redis).
const CLIENT_ID_TTL_MS: u64 = 24 * 3600 * 1000;

type Id = (u64, u64);

#[derive(Debug)]
struct RoomState {
    room: Room,
    members: HashSet<String>,
    moderators: HashSet<String>,
    messages: BTreeMap<Id, StoredMessage>,
    client_ids: HashMap<(String, String), (String, u64)>,
    relayed: Option<String>,
    approved: Vec<String>,
    labels: std::collections::VecDeque<Label>,
    /// Moderation decisions by message id, so a retry answers as the first call did.
    decided: HashMap<String, Decision>,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: BTreeMap<RoomId, RoomState>,
    profiles: HashMap<String, Profile>,
    last_id: Id,
    dirty: std::collections::BTreeSet<RoomId>,
}

/// In-memory rooms, messages and profiles.
#[derive(Debug)]
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

fn fmt_id((ms, seq): Id) -> String {
    format!("{ms}-{seq}")
}

impl MemoryStore {
    /// An empty store.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            clock,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn create_room(&self, new: NewRoom) -> Result<CreatedRoom, StoreError> {
        let mut inner = self.lock();
        if let Some(existing) = inner.rooms.get(&new.id) {
            if existing.room.has_settings_of(&new) {
                return Ok(CreatedRoom {
                    room: existing.room.clone(),
                    created: false,
                });
            }
            return Err(StoreError::Conflict(format!("room {}", new.id)));
        }
        let room = new.into_room(self.clock.now_ms());
        inner.rooms.insert(
            room.id.clone(),
            RoomState {
                room: room.clone(),
                members: HashSet::new(),
                moderators: HashSet::new(),
                messages: BTreeMap::new(),
                client_ids: HashMap::new(),
                relayed: None,
                approved: Vec::new(),
                labels: Default::default(),
                decided: HashMap::new(),
            },
        );
        Ok(CreatedRoom {
            room,
            created: true,
        })
    }

    fn with_room<T>(
        &self,
        id: &RoomId,
        f: impl FnOnce(&mut RoomState, &mut Id) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut inner = self.lock();
        let Inner { rooms, last_id, .. } = &mut *inner;
        let state = rooms
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound(format!("room {id}")))?;
        f(state, last_id)
    }

    pub(super) fn room(&self, id: &RoomId) -> Result<Room, StoreError> {
        self.with_room(id, |s, _| Ok(s.room.clone()))
    }

    pub(super) fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        Ok(self.lock().rooms.values().map(|s| s.room.clone()).collect())
    }

    pub(super) fn set_member(
        &self,
        room: &RoomId,
        user: &str,
        member: bool,
    ) -> Result<(), StoreError> {
        self.with_room(room, |s, _| {
            toggle(&mut s.members, user, member);
            Ok(())
        })
    }

    pub(super) fn set_moderator(
        &self,
        room: &RoomId,
        user: &str,
        moderator: bool,
    ) -> Result<(), StoreError> {
        self.with_room(room, |s, _| {
            toggle(&mut s.moderators, user, moderator);
            Ok(())
        })
    }

    pub(super) fn roles(&self, room: &RoomId, user: &str) -> Result<(bool, bool), StoreError> {
        self.with_room(room, |s, _| {
            Ok((s.members.contains(user), s.moderators.contains(user)))
        })
    }

    pub(super) fn append(&self, m: NewMessage) -> Result<Appended, StoreError> {
        let now = self.clock.now_ms();
        self.with_room(&m.room.clone(), |s, last_id| {
            s.client_ids.retain(|_, (_, exp)| *exp > now);
            if let Some(cid) = &m.client_id {
                if let Some((id, _)) = s.client_ids.get(&(m.sender.to_string(), cid.to_string())) {
                    let key = parse_id(id)?;
                    let message = s
                        .messages
                        .get(&key)
                        .cloned()
                        .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
                    return Ok(Appended {
                        message,
                        created: false,
                        placed: None,
                    });
                }
            }
            let id = if now > last_id.0 {
                (now, 0)
            } else {
                (last_id.0, last_id.1 + 1)
            };
            *last_id = id;
            let placed = Placement {
                previous: s.messages.keys().next_back().map(|k| fmt_id(*k)),
                relayed: s.relayed.clone(),
            };
            let message = m.into_stored(fmt_id(id));
            s.messages.insert(id, message.clone());
            while s.messages.len() as u64 > s.room.retention {
                s.messages.pop_first();
            }
            if let Some(cid) = message.client_id.clone() {
                s.client_ids.insert(
                    (message.sender.clone(), cid),
                    (message.id.clone(), now + CLIENT_ID_TTL_MS),
                );
            }
            Ok(Appended {
                message,
                created: true,
                placed: Some(placed),
            })
        })
        .inspect(|a| {
            if a.created {
                self.lock().dirty.insert(a.message.room.clone());
            }
        })
    }

    pub(super) fn history(
        &self,
        room: &RoomId,
        q: &HistoryQuery,
        viewer: &Viewer,
    ) -> Result<HistoryPage, StoreError> {
        let lower = match &q.after {
            Some(a) => Bound::Excluded(parse_id(a)?),
            None => Bound::Unbounded,
        };
        let upper = match &q.before {
            Some(b) => Bound::Excluded(parse_id(b)?),
            None => Bound::Unbounded,
        };
        self.with_room(room, |s, _| {
            if lower_above_upper(&lower, &upper) {
                return Ok(HistoryPage {
                    messages: Vec::new(),
                    next_before: None,
                });
            }
            let range = s
                .messages
                .range((lower, upper))
                .map(|(_, m)| m)
                .filter(|m| viewer.can_see(m));
            if q.after.is_some() {
                let mut messages: Vec<StoredMessage> = range.take(q.limit).cloned().collect();
                messages.reverse();
                Ok(HistoryPage {
                    messages,
                    next_before: None,
                })
            } else {
                let messages: Vec<StoredMessage> = range.rev().take(q.limit).cloned().collect();
                let next_before =
                    (messages.len() == q.limit).then(|| messages[q.limit - 1].id.clone());
                Ok(HistoryPage {
                    messages,
                    next_before,
                })
            }
        })
    }

    pub(super) fn pending(&self, room: &RoomId) -> Result<Vec<StoredMessage>, StoreError> {
        self.with_room(room, |s, _| {
            Ok(s.messages.values().filter(|m| m.pending).cloned().collect())
        })
    }

    pub(super) fn moderate(
        &self,
        room: &RoomId,
        id: &str,
        decision: Decision,
    ) -> Result<(), StoreError> {
        let key = parse_id(id)?;
        self.with_room(room, |s, _| {
            match s.decided.get(id) {
                Some(d) if *d == decision => return Ok(()),
                Some(Decision::Remove) => {
                    return Err(StoreError::Conflict(format!(
                        "a different decision on message {id}"
                    )))
                }
                _ => {}
            }
            let not_found = || StoreError::NotFound(format!("flagged message {id}"));
            let message = s.messages.get_mut(&key).ok_or_else(not_found)?;
            let text = message.text.clone();
            match decision {
                Decision::Approve if message.pending => {
                    message.pending = false;
                    s.approved.push(id.to_owned());
                }
                Decision::Approve => return Err(not_found()),
                Decision::Remove => {
                    s.messages.remove(&key);
                }
            }
            if s.labels.len() == MAX_LABELS {
                s.labels.pop_front();
            }
            s.labels.push_back(Label {
                message: id.to_owned(),
                text,
                spam: decision == Decision::Remove,
            });
            s.decided.insert(id.to_owned(), decision);
            Ok(())
        })
        .inspect(|()| {
            self.lock().dirty.insert(room.clone());
        })
    }

    pub(super) fn labels(&self, room: &RoomId) -> Result<Vec<Label>, StoreError> {
        self.with_room(room, |s, _| Ok(s.labels.iter().cloned().collect()))
    }

    pub(super) fn find_client_id(
        &self,
        room: &RoomId,
        sender: &str,
        cid: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let now = self.clock.now_ms();
        self.with_room(room, |s, _| {
            let Some((id, exp)) = s.client_ids.get(&(sender.to_owned(), cid.to_owned())) else {
                return Ok(None);
            };
            if *exp <= now {
                return Ok(None);
            }
            Ok(parse_id(id).ok().and_then(|k| s.messages.get(&k).cloned()))
        })
    }

    pub(super) fn mark_dirty(&self, room: &RoomId) -> Result<(), StoreError> {
        self.lock().dirty.insert(room.clone());
        Ok(())
    }

    pub(super) fn dirty_rooms(&self) -> Result<Vec<RoomId>, StoreError> {
        Ok(self.lock().dirty.iter().cloned().collect())
    }

    pub(super) fn clear_dirty(&self, room: &RoomId) -> Result<(), StoreError> {
        self.lock().dirty.remove(room);
        Ok(())
    }

    pub(super) fn relay_cursor(&self, room: &RoomId) -> Result<Option<String>, StoreError> {
        self.with_room(room, |s, _| Ok(s.relayed.clone()))
    }

    pub(super) fn set_relay_cursor(&self, room: &RoomId, id: &str) -> Result<(), StoreError> {
        let new = parse_id(id)?;
        self.with_room(room, |s, _| {
            let current = s.relayed.as_deref().map(parse_id).transpose()?;
            if current.is_none_or(|c| new > c) {
                s.relayed = Some(id.to_owned());
            }
            Ok(())
        })
    }

    pub(super) fn relay_read(&self, room: &RoomId, limit: usize) -> Result<RelayBatch, StoreError> {
        self.with_room(room, |s, _| {
            let lower = match s.relayed.as_deref() {
                Some(a) => Bound::Excluded(parse_id(a)?),
                None => Bound::Unbounded,
            };
            let messages = s
                .messages
                .range((lower, Bound::Unbounded))
                .take(limit)
                .map(|(_, m)| m.clone())
                .collect();
            let approved = s
                .approved
                .iter()
                .take(limit)
                .map(|id| {
                    let m = parse_id(id).ok().and_then(|k| s.messages.get(&k).cloned());
                    (id.clone(), m)
                })
                .collect();
            Ok(RelayBatch { messages, approved })
        })
    }

    pub(super) fn relay_commit(
        &self,
        room: &RoomId,
        last: Option<&str>,
        approved: &[String],
    ) -> Result<bool, StoreError> {
        if let Some(id) = last {
            self.set_relay_cursor(room, id)?;
        }
        self.ack_approved(room, approved)?;
        let settled = self.with_room(room, |s, _| {
            let cursor = s.relayed.as_deref().map(parse_id).transpose()?;
            let newest = s.messages.keys().next_back().copied();
            Ok(s.approved.is_empty() && newest.is_none_or(|n| cursor.is_some_and(|c| c >= n)))
        })?;
        if settled {
            self.clear_dirty(room)?;
        }
        Ok(settled)
    }

    pub(super) fn prepare_post(
        &self,
        room: &RoomId,
        sender: &str,
        cid: Option<&str>,
    ) -> Result<PostContext, StoreError> {
        let (member, moderator) = self.roles(room, sender)?;
        let existing = match cid {
            Some(c) => self.find_client_id(room, sender, c)?,
            None => None,
        };
        Ok(PostContext {
            room: self.room(room)?,
            member,
            moderator,
            existing,
        })
    }

    pub(super) fn ack_approved(&self, room: &RoomId, ids: &[String]) -> Result<(), StoreError> {
        self.with_room(room, |s, _| {
            for id in ids {
                if let Some(at) = s.approved.iter().position(|a| a == id) {
                    s.approved.remove(at);
                }
            }
            Ok(())
        })
    }

    pub(super) fn profile(&self, user: &str) -> Result<Profile, StoreError> {
        self.lock()
            .profiles
            .get(user)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("profile {user}")))
    }

    pub(super) fn update_profile(
        &self,
        user: &str,
        patch: ProfilePatch,
        now_ms: u64,
    ) -> Result<Profile, StoreError> {
        let mut inner = self.lock();
        let current = inner
            .profiles
            .get(user)
            .cloned()
            .unwrap_or_else(|| Profile {
                user: user.to_owned(),
                ..Profile::default()
            });
        let mut updated = current.apply(patch)?;
        updated.updated_at_ms = now_ms;
        inner.profiles.insert(user.to_owned(), updated.clone());
        Ok(updated)
    }
}

fn toggle(set: &mut HashSet<String>, user: &str, on: bool) {
    if on {
        set.insert(user.to_owned());
    } else {
        set.remove(user);
    }
}

fn lower_above_upper(lower: &Bound<Id>, upper: &Bound<Id>) -> bool {
    matches!((lower, upper), (Bound::Excluded(l), Bound::Excluded(u)) if l >= u)
}

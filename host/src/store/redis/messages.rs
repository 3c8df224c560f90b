//! Messages in Redis: the per-room stream, idempotent appends, history pages with flagged
//! visibility, and the moderation queue.

use super::*;

impl RedisStore {
    pub(in crate::store) async fn append(&self, m: NewMessage) -> Result<Appended, StoreError> {
        // Every append is deduplicated: by the client's id, or without one by a key of this
        // host's own, random per post, that lives only as long as this call may retry.
        let (dedupe_key, ttl_ms) = match &m.client_id {
            Some(c) => (
                keys::client_id(&m.room, m.sender.as_str(), c.as_str()),
                self.config.client_id_ttl_s * 1000,
            ),
            None => (
                keys::attempt(&m.room, &attempt_token()?),
                (self.config.retry_budget_ms + self.waiting_timeout().as_millis() as u64) * 2,
            ),
        };
        let keys = [
            keys::meta(&m.room),
            keys::messages(&m.room),
            keys::pending(&m.room),
            dedupe_key,
            keys::RELAY_DIRTY.to_owned(),
            keys::traces(&m.room),
            keys::relayed(&m.room),
        ];
        let fields: Vec<(&str, String)> = vec![
            ("sender", m.sender.to_string()),
            ("text", m.text.clone()),
            ("time", m.time_ms.to_string()),
            ("action", m.action.as_str().to_owned()),
            ("score", m.score.to_string()),
            ("trace", m.reasons.clone()),
            ("gen", m.generation.to_string()),
            (
                "cid",
                m.client_id
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            ),
        ];
        let by_client = m.client_id.is_some();
        let ttl_ms = ttl_ms.to_string();
        let acks = self.config.min_replica_acks;
        let wait_ms = self.config.replica_ack_timeout_ms;
        // Too few replica acks counts as a transient failure of this connection: it may lead to
        // a demoted primary that Sentinel has not converted yet. The retry (same client id)
        // returns the stored message and waits again, on a freshly resolved primary.
        let waiting = self.waiting_timeout();
        let (created, id, existing, pending, previous, relayed) = self
            .replicated
            .run(|mut c| {
                if acks > 0 {
                    c.set_response_timeout(waiting);
                }
                let mut inv = scripts::APPEND.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                inv.arg(&ttl_ms)
                    .arg(m.action.as_str())
                    .arg(m.room.as_str())
                    .arg(&m.trace);
                for (k, v) in &fields {
                    inv.arg(*k).arg(v);
                }
                async move {
                    type Reply = (i64, String, HashMap<String, Value>, i64, String, String);
                    let r = invoke_then_wait::<Reply>(&mut c, &inv, acks, wait_ms).await;
                    (c, r)
                }
            })
            .await
            .map_err(naming_room(&m.room))?;
        // Found by the host's own key, an earlier attempt of this very call stored it (its
        // answer was lost): for the client this is the one and only creation.
        if created == 1 || !by_client {
            let placed = (created == 1).then(|| Placement {
                previous: (!previous.is_empty()).then_some(previous),
                relayed: (!relayed.is_empty()).then_some(relayed),
            });
            return Ok(Appended {
                message: m.into_stored(id),
                created: true,
                placed,
            });
        }
        if existing.is_empty() {
            return Err(StoreError::NotFound(format!(
                "message {id} (removed or trimmed)"
            )));
        }
        Ok(Appended {
            message: message_of(&m.room, id, existing, pending == 1)?,
            created: false,
            placed: None,
        })
    }

    /// The room, the sender's roles and the message of a known client id, in one script
    /// ([`scripts::PREPARE_POST`]).
    pub(in crate::store) async fn prepare_post(
        &self,
        room: &RoomId,
        sender: &str,
        cid: Option<&str>,
    ) -> Result<PostContext, StoreError> {
        let keys = [
            keys::meta(room),
            keys::members(room),
            keys::moderators(room),
            match cid {
                Some(c) => keys::client_id(room, sender, c),
                None => keys::meta(room),
            },
            keys::messages(room),
            keys::pending(room),
        ];
        let (sender, has_cid) = (sender.to_owned(), if cid.is_some() { "1" } else { "0" });
        let reply: Value = self
            .redis
            .run(|mut c| {
                let mut inv = scripts::PREPARE_POST.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                inv.arg(&sender).arg(has_cid);
                async move {
                    let r = inv.invoke_async(&mut c).await;
                    (c, r)
                }
            })
            .await
            .map_err(naming_room(room))?;
        let Value::Array(mut parts) = reply else {
            return Err(corrupt("post context"));
        };
        if parts.len() != 3 && parts.len() != 6 {
            return Err(corrupt("post context"));
        }
        let found = parts.split_off(3);
        let mut parts = parts.into_iter();
        let mut next = || parts.next().unwrap_or(Value::Nil);
        let meta: HashMap<String, String> =
            redis::from_redis_value(next()).map_err(|_| corrupt("room"))?;
        // As in every script reply: out of shape is an error, never a default.
        let flag = |v: Value, what: &str| {
            redis::from_redis_value::<i64>(v)
                .map(|n| n == 1)
                .map_err(|_| corrupt(what))
        };
        let member = flag(next(), "membership")?;
        let moderator = flag(next(), "moderator role")?;
        let existing = match <[Value; 3]>::try_from(found) {
            Ok([id, fields, pending]) => {
                let id: String = redis::from_redis_value(id).map_err(|_| corrupt("client id"))?;
                let fields: HashMap<String, Value> =
                    redis::from_redis_value(fields).map_err(|_| corrupt("client id's message"))?;
                let pending = flag(pending, "pending flag")?;
                // Trimmed or removed since: judged and appended again, where the append
                // reports it.
                (!fields.is_empty())
                    .then(|| message_of(room, id, fields, pending))
                    .transpose()?
            }
            Err(_) => None,
        };
        Ok(PostContext {
            room: room_of(room, &meta)?,
            member,
            moderator,
            existing,
        })
    }

    /// The full decision traces of `messages` (moderators' views), in one round trip.
    pub(super) async fn with_traces(
        &self,
        room: &RoomId,
        messages: &mut [StoredMessage],
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let key = keys::traces(room);
        let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
        let replies: Vec<StreamRangeReply> = self
            .redis
            .run(|mut c| {
                let mut p = redis::pipe();
                for id in &ids {
                    p.cmd("XRANGE").arg(&key).arg(id).arg(id);
                }
                async move {
                    let r = p.query_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        for (m, reply) in messages.iter_mut().zip(replies) {
            if let Some(t) = reply.ids.first().and_then(|e| e.get::<String>("trace")) {
                m.trace = t;
            }
        }
        Ok(())
    }

    /// One batch of stream entries, newest first (`rev`) or oldest first. With `check_room`,
    /// the room's existence is checked in the same round trip.
    pub(super) async fn range(
        &self,
        room: &RoomId,
        rev: bool,
        (start, end): (&str, &str),
        count: usize,
        check_room: bool,
    ) -> Result<Vec<StreamId>, StoreError> {
        let (meta, key) = (keys::meta(room), keys::messages(room));
        let (start, end) = (start.to_owned(), end.to_owned());
        let (exists, reply): (bool, StreamRangeReply) = self
            .redis
            .run(|mut c| {
                let mut p = redis::pipe();
                if check_room {
                    p.cmd("EXISTS").arg(&meta);
                } else {
                    p.cmd("ECHO").arg(1);
                }
                p.cmd(if rev { "XREVRANGE" } else { "XRANGE" })
                    .arg(&key)
                    .arg(&start)
                    .arg(&end)
                    .arg("COUNT")
                    .arg(count);
                async move {
                    let r = p.query_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        if !exists {
            return Err(StoreError::NotFound(format!("room {room}")));
        }
        Ok(reply.ids)
    }

    /// Which of `ids` are pending.
    pub(super) async fn pending_of(
        &self,
        room: &RoomId,
        ids: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("SMISMEMBER");
        cmd.arg(keys::pending(room)).arg(ids);
        self.command(cmd).await
    }

    /// Decode stream entries into messages, looking up which flagged ones are still pending
    /// (one `SMISMEMBER`, only when there are flagged entries).
    pub(super) async fn decode(
        &self,
        room: &RoomId,
        entries: Vec<StreamId>,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let flagged: Vec<String> = entries
            .iter()
            .filter(|e| str_of(&e.map, "action") == "flag")
            .map(|e| e.id.clone())
            .collect();
        let pending: HashMap<String, bool> = flagged
            .iter()
            .cloned()
            .zip(self.pending_of(room, &flagged).await?)
            .collect();
        entries
            .into_iter()
            .map(|e| {
                let p = pending.get(&e.id).copied().unwrap_or(false);
                message_of(room, e.id, e.map, p)
            })
            .collect()
    }

    pub(in crate::store) async fn history(
        &self,
        room: &RoomId,
        q: &HistoryQuery,
        viewer: &Viewer,
    ) -> Result<HistoryPage, StoreError> {
        let rev = q.after.is_none();
        let mut start = match (&q.before, rev) {
            (Some(b), true) => format!("({b}"),
            (None, true) => "+".into(),
            (_, false) => format!("({}", q.after.as_deref().unwrap_or("-")),
        };
        let end = match (&q.after, &q.before, rev) {
            (Some(a), _, true) => format!("({a}"),
            (_, Some(b), false) => format!("({b}"),
            (None, _, true) => "-".into(),
            (_, None, false) => "+".into(),
        };
        if let (Some(a), Some(b)) = (&q.after, &q.before) {
            if parse_id(a)? >= parse_id(b)? {
                return Ok(HistoryPage {
                    messages: Vec::new(),
                    next_before: None,
                });
            }
        }
        // Fetch exactly a page; only when hidden (flagged) entries were skipped is more fetched.
        let batch = q.limit;
        let mut messages = Vec::with_capacity(q.limit);
        let mut first = true;
        'fill: loop {
            let entries = self.range(room, rev, (&start, &end), batch, first).await?;
            first = false;
            let last_id = entries.last().map(|e| e.id.clone());
            let full = entries.len() == batch;
            for m in self.decode(room, entries).await? {
                if viewer.can_see(&m) {
                    messages.push(m);
                    if messages.len() == q.limit {
                        break 'fill;
                    }
                }
            }
            match last_id {
                Some(last) if full => start = format!("({last}"),
                _ => break,
            }
        }
        if viewer.moderator {
            self.with_traces(room, &mut messages).await?;
        }
        if rev {
            let next_before = (messages.len() == q.limit).then(|| messages[q.limit - 1].id.clone());
            Ok(HistoryPage {
                messages,
                next_before,
            })
        } else {
            messages.reverse();
            Ok(HistoryPage {
                messages,
                next_before: None,
            })
        }
    }

    pub(in crate::store) async fn pending(
        &self,
        room: &RoomId,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.ensure_room(room).await?;
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(keys::pending(room));
        let mut ids: Vec<String> = self.command(cmd).await?;
        ids.sort_by_key(|id| parse_id(id).unwrap_or_default());
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(e) = self
                .range(room, false, (&id, &id), 1, false)
                .await?
                .into_iter()
                .next()
            {
                out.push(message_of(room, e.id, e.map, true)?);
            }
        }
        self.with_traces(room, &mut out).await?;
        Ok(out)
    }

    pub(in crate::store) async fn moderate(
        &self,
        room: &RoomId,
        id: &str,
        decision: Decision,
    ) -> Result<(), StoreError> {
        let (pending, messages, approved, labels, decided) = (
            keys::pending(room),
            keys::messages(room),
            keys::approved(room),
            keys::labels(room),
            keys::decided(room, id),
        );
        let verb = match decision {
            Decision::Approve => "approve",
            Decision::Remove => "remove",
        };
        let id_owned = id.to_owned();
        let was: i64 = self
            .redis
            .run(|mut c| {
                let mut inv = scripts::MODERATE.key(&pending);
                inv.key(&messages)
                    .key(&approved)
                    .key(&labels)
                    .key(&decided)
                    .key(keys::RELAY_DIRTY)
                    .arg(&id_owned)
                    .arg(verb)
                    .arg(MAX_LABELS)
                    .arg(DECISION_MEMORY_MS)
                    .arg(room.as_str());
                async move {
                    let r = inv.invoke_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        match was {
            1 | 2 => Ok(()),
            3 => Err(StoreError::Conflict(format!(
                "a different decision on message {id}"
            ))),
            _ => Err(StoreError::NotFound(format!("flagged message {id}"))),
        }
    }

    pub(in crate::store) async fn labels(&self, room: &RoomId) -> Result<Vec<Label>, StoreError> {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(keys::labels(room)).arg("-").arg("+");
        let reply: redis::streams::StreamRangeReply = self.command(cmd).await?;
        Ok(reply
            .ids
            .into_iter()
            .filter_map(|e| {
                let field = |name: &str| e.get::<String>(name);
                Some(Label {
                    message: field("message")?,
                    text: field("text")?,
                    spam: field("label")? == "spam",
                })
            })
            .collect())
    }

    /// The message a client id was stored as. With `min_replica_acks`, finding it is an
    /// acknowledgement too (the retry answers 200), so the replicas must hold it now: the key's
    /// TTL is refreshed (a write, advancing this connection's replication offset past the
    /// original message) and `WAIT` must count enough replicas, or `NotReplicated`.
    pub(in crate::store) async fn find_client_id(
        &self,
        room: &RoomId,
        sender: &str,
        cid: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let key = keys::client_id(room, sender, cid);
        let acks = self.config.min_replica_acks;
        let id = if acks == 0 {
            let mut cmd = redis::cmd("GET");
            cmd.arg(&key);
            self.command::<Option<String>>(cmd).await?
        } else {
            let (ttl_ms, wait_ms) = (
                self.config.client_id_ttl_s * 1000,
                self.config.replica_ack_timeout_ms,
            );
            let waiting = self.waiting_timeout();
            self.replicated
                .run(|mut c| {
                    c.set_response_timeout(waiting);
                    let mut inv = scripts::TOUCH.key(&key);
                    inv.arg(ttl_ms);
                    async move {
                        let r: Result<Option<String>, Failure> =
                            match inv.invoke_async::<Option<String>>(&mut c).await {
                                Ok(Some(id)) => match redis::cmd("WAIT")
                                    .arg(acks)
                                    .arg(wait_ms)
                                    .query_async::<u32>(&mut c)
                                    .await
                                {
                                    Ok(got) if got >= acks => Ok(Some(id)),
                                    Ok(got) => Err(Failure::NotReplicated { wanted: acks, got }),
                                    Err(e) => Err(e.into()),
                                },
                                other => other.map_err(Failure::from),
                            };
                        (c, r)
                    }
                })
                .await?
        };
        let Some(id) = id else {
            return Ok(None);
        };
        let Some(entry) = self
            .range(room, false, (&id, &id), 1, false)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let pending = self
            .pending_of(room, std::slice::from_ref(&id))
            .await?
            .first()
            .copied()
            .unwrap_or(false);
        message_of(room, entry.id, entry.map, pending).map(Some)
    }
}

/// A random token for [`keys::attempt`] (16 random bytes, hex).
fn attempt_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("no randomness for an append key: {e}")))?;
    Ok(hex::encode(bytes))
}

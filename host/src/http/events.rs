//! `GET /v1/rooms/{room}/events`: the room's visible messages as server-sent events, for
//! clients that cannot speak NATS. Each event's id is the newest message id delivered so far,
//! so a reconnect with `Last-Event-ID` replays what was missed from the store, then goes live.
//!
//! Order of operations: subscribe to the live feed first, then replay from the store, then
//! forward live messages newer than the last one sent; so nothing falls between replay and
//! live. A subscriber that lags behind the feed replays from the store again. Approvals (an
//! older message becoming visible) are forwarded as they come.
//!
//! Access is not checked once: the stream ends with an `event: error` (and its code) when the
//! caller's token expires, and when a check repeated every `[server] stream_access_check_ms`
//! finds the caller may no longer read the room (a removed member, a deleted room). A store
//! that does not answer the check ends nothing: the next check decides.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

use super::access::{self, room_id};
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Path};
use super::AppState;
use crate::codes::ErrorCode;
use crate::ids::RoomId;
use crate::live::LiveMessage;
use crate::store::model::{parse_id, MAX_PAGE};
use crate::store::{HistoryQuery, Viewer};
use crate::wire::MessageView;

struct Feed {
    state: Arc<AppState>,
    room: RoomId,
    caller: Caller,
    viewer: Viewer,
    /// When the caller's token expires.
    expiry: Pin<Box<Sleep>>,
    /// When to check the caller's access again.
    access_check: Interval,
    live: Receiver<Arc<LiveMessage>>,
    /// Newest message id sent, parsed and as text.
    cursor: Option<((u64, u64), String)>,
    queue: VecDeque<(MessageView, bool)>,
    replaying: bool,
}

impl Feed {
    fn is_new(&self, id: &str) -> bool {
        match (&self.cursor, parse_id(id)) {
            (_, Err(_)) => false,
            (None, Ok(_)) => true,
            (Some((last, _)), Ok(id)) => id > *last,
        }
    }

    fn event(&mut self, message: &MessageView, approved: bool) -> Event {
        if !approved {
            if let Ok(parsed) = parse_id(&message.id) {
                self.cursor = Some((parsed, message.id.clone()));
            }
        }
        let data = serde_json::to_string(message).unwrap_or_default();
        let event = Event::default().event("message").data(data);
        match &self.cursor {
            Some((_, id)) => event.id(id.clone()),
            None => event,
        }
    }

    /// Fill the queue with the next page after the cursor, oldest first.
    async fn replay_page(&mut self) -> Result<(), ApiError> {
        let Some((_, after)) = &self.cursor else {
            self.replaying = false;
            return Ok(());
        };
        let page = self
            .state
            .chat
            .store
            .history(
                &self.room,
                &HistoryQuery {
                    before: None,
                    after: Some(after.clone()),
                    limit: MAX_PAGE,
                },
                &self.viewer,
            )
            .await?;
        if page.messages.len() < MAX_PAGE {
            self.replaying = false;
        }
        self.queue.extend(
            page.messages
                .iter()
                .rev()
                .filter(|m| !m.pending)
                .map(|m| (MessageView::from(m), false)),
        );
        Ok(())
    }

    /// The next event, and the feed to continue with (`None`: end after this event).
    async fn next(mut self) -> Option<(Event, Option<Feed>)> {
        loop {
            if let Some((message, approved)) = self.queue.pop_front() {
                if approved || self.is_new(&message.id) {
                    let event = self.event(&message, approved);
                    return Some((event, Some(self)));
                }
                continue;
            }
            if self.replaying {
                if let Err(e) = self.replay_page().await {
                    // The client reconnects with its Last-Event-ID and resumes.
                    return Some((error_event(e), None));
                }
                continue;
            }
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(live) => self.queue.push_back((live.message.clone(), live.approved)),
                    Err(RecvError::Lagged(_)) => {
                        self.live = self.live.resubscribe();
                        self.replaying = true;
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.state.shutdown.cancelled() => return None,
                () = &mut self.expiry => {
                    let expired = ApiError::new(
                        ErrorCode::TokenExpired,
                        "token expired: reconnect with a new token and Last-Event-ID",
                    );
                    return Some((error_event(expired), None));
                }
                _ = self.access_check.tick() => {
                    if let Err(lost) = self.check_access().await {
                        return Some((error_event(lost), None));
                    }
                }
            }
        }
    }

    /// Whether the caller may still read the room (and see what moderators see).
    async fn check_access(&mut self) -> Result<(), ApiError> {
        match access::readable(&self.state, &self.room, &self.caller).await {
            Ok(access) => {
                self.viewer = access.viewer;
                Ok(())
            }
            Err(e) if e.detail.code == ErrorCode::Unavailable => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The last event of a stream that ends because of `error`.
fn error_event(error: ApiError) -> Event {
    Event::default()
        .event("error")
        .data(serde_json::to_string(&error.detail.into_body()).unwrap_or_default())
}

/// Live messages of a room (server-sent events, `event: message`, data = the message JSON).
#[utoipa::path(get, path = "/v1/rooms/{room}/events", tag = "messages", security(("bearer" = [])),
    params(("room" = String, Path), ("Last-Event-ID" = Option<String>, Header, description = "Resume after this message id")),
    responses((status = 200, description = "text/event-stream of `message` events; the stream ends with an `error` event (data: the error body) when the token expires (`token_expired`) or the caller loses access (`forbidden`, `not_found`)", content_type = "text/event-stream"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let room = room_id(room)?;
    let access = access::readable(&state, &room, &caller).await?;
    let cursor = match headers.get("last-event-id") {
        None => None,
        Some(v) => {
            let id = v
                .to_str()
                .map_err(|_| ApiError::invalid("Last-Event-ID", "is not a message id"))?
                .trim()
                .to_owned();
            let parsed = parse_id(&id)?;
            Some((parsed, id))
        }
    };
    let period = state.stream_access_check;
    let mut access_check = tokio::time::interval_at(Instant::now() + period, period);
    access_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        live: state.live.subscribe(&room),
        replaying: cursor.is_some(),
        cursor,
        queue: VecDeque::new(),
        room,
        viewer: access.viewer,
        expiry: Box::pin(tokio::time::sleep(caller.0.remaining())),
        access_check,
        caller,
        state,
    };
    let stream = futures::stream::unfold(Some(feed), |feed| async move {
        let (event, next) = feed?.next().await?;
        Some((Ok::<_, Infallible>(event), next))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

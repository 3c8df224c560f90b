//! Ingest over NATS: trusted services send `{"sender", "text", "client_id"}` to
//! `chowk.ingest.<room>` as a request; hosts answer in the queue group `chowk`, so a fleet
//! shares the load and each request is handled once. The reply is what the HTTP API answers:
//! `{"message": ..., "created": bool}` or `{"error": {"code", "message", ...}}`. Malformed
//! requests get an error reply, never silence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::bus::{flushed, subjects, BusError};
use crate::chat::Chat;
use crate::codes::ErrorCode;
use crate::ids::{ClientId, RoomId, UserId};
use crate::wire::{ErrorBody, ErrorDetail, MessageView};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestRequest {
    sender: String,
    text: String,
    #[serde(default)]
    client_id: Option<String>,
}

/// The ingest subscriber of one host.
#[derive(Debug)]
pub struct Ingest {
    chat: Arc<Chat>,
    client: async_nats::Client,
    handled: AtomicU64,
}

impl Ingest {
    /// Ingest for `chat`, answering through `client`.
    pub fn new(chat: Arc<Chat>, client: async_nats::Client) -> Self {
        Ingest {
            chat,
            client,
            handled: AtomicU64::new(0),
        }
    }

    /// Requests this host has answered.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    /// Subscribe (queue group `chowk`) and answer requests until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), BusError> {
        let mut sub = self
            .client
            .queue_subscribe(subjects::INGEST_ALL, subjects::INGEST_QUEUE.into())
            .await
            .map_err(|e| BusError::Nats(e.to_string()))?;
        // Make sure the server has the subscription before the first request arrives. While
        // NATS is down this fails; the client re-subscribes by itself on reconnect.
        if !flushed(&self.client).await {
            tracing::warn!("ingest subscribed while NATS is unreachable; it starts on reconnect");
        }
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                next = sub.next() => match next {
                    Some(msg) => {
                        let me = self.clone();
                        tokio::spawn(async move { me.answer(msg).await });
                    }
                    None => return Ok(()),
                },
                _ = &mut shutdown => {
                    let _ = sub.unsubscribe().await;
                    return Ok(());
                }
            }
        }
    }

    async fn answer(&self, msg: async_nats::Message) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        let Some(reply) = msg.reply.clone() else {
            tracing::debug!(subject = %msg.subject, "ingest message without a reply subject ignored");
            return;
        };
        let body = match serde_json::to_vec(&self.process(&msg).await) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "could not serialise an ingest reply");
                return;
            }
        };
        if let Err(e) = self.client.publish(reply, body.into()).await {
            tracing::warn!(error = %e, "could not reply to an ingest request");
        }
    }

    async fn process(&self, msg: &async_nats::Message) -> Reply {
        let room = msg
            .subject
            .as_str()
            .strip_prefix(subjects::INGEST_PREFIX)
            .unwrap_or_default();
        let request = match parse(room, &msg.payload) {
            Ok(r) => r,
            Err(detail) => return Reply::Failed(detail.into_body()),
        };
        match self
            .chat
            .post(
                &request.room,
                &request.sender,
                request.text,
                request.client_id,
            )
            .await
        {
            Ok(posted) => Reply::Posted {
                message: MessageView::from(&posted.message),
                created: posted.created,
            },
            Err(e) => Reply::Failed(ErrorDetail::from(&e).into_body()),
        }
    }
}

/// An ingest request with its ids checked.
struct Checked {
    room: RoomId,
    sender: UserId,
    text: String,
    client_id: Option<ClientId>,
}

/// Check the subject's room and the body's fields, naming the field that is wrong.
fn parse(room: &str, payload: &[u8]) -> Result<Checked, Box<ErrorDetail>> {
    let invalid = |e: crate::ids::IdError| {
        Box::new(ErrorDetail {
            field: Some(e.field.to_owned()),
            ..ErrorDetail::new(ErrorCode::InvalidRequest, e.to_string())
        })
    };
    let room = RoomId::new(room).map_err(invalid)?;
    let request: IngestRequest = serde_json::from_slice(payload).map_err(|e| {
        Box::new(ErrorDetail::new(
            ErrorCode::InvalidRequest,
            format!("body: {e}"),
        ))
    })?;
    Ok(Checked {
        room,
        sender: UserId::new(request.sender).map_err(|e| invalid(e.for_field("sender")))?,
        text: request.text,
        client_id: request
            .client_id
            .map(ClientId::new)
            .transpose()
            .map_err(invalid)?,
    })
}

/// What an ingest request is answered with: what the HTTP API answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Reply {
    /// Stored (or a retry's original).
    Posted {
        /// The message.
        message: MessageView,
        /// `false` for a retry with a known client id.
        created: bool,
    },
    /// Not stored.
    Failed(ErrorBody),
}

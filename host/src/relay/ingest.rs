//! Ingest over NATS: trusted services send `{"sender", "text", "client_id"}` to
//! `chowk.ingest.<room>` as a request; hosts answer in the queue group `chowk`, so a fleet
//! shares the load and each request is handled once. The reply is what the HTTP API answers:
//! `{"message": ..., "created": bool}` or `{"error": {"code", "message", ...}}`. Malformed
//! requests get an error reply, never silence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::event::MessageView;
use super::{subjects, RelayError};
use crate::chat::{Chat, PostError};
use crate::store::RoomId;

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
    ) -> Result<(), RelayError> {
        let mut sub = self
            .client
            .queue_subscribe(subjects::INGEST_ALL, subjects::INGEST_QUEUE.into())
            .await
            .map_err(|e| RelayError::Nats(e.to_string()))?;
        // Make sure the server has the subscription before the first request arrives. While
        // NATS is down this fails; the client re-subscribes by itself on reconnect.
        if !super::live::flushed(&self.client).await {
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
        let body = self.process(&msg).await;
        if let Err(e) = self.client.publish(reply, body.to_string().into()).await {
            tracing::warn!(error = %e, "could not reply to an ingest request");
        }
    }

    async fn process(&self, msg: &async_nats::Message) -> serde_json::Value {
        let error =
            |code: &str, message: String| json!({"error": {"code": code, "message": message}});
        let room = msg
            .subject
            .as_str()
            .strip_prefix(subjects::INGEST_PREFIX)
            .unwrap_or_default();
        let room = match RoomId::new(room) {
            Ok(r) => r,
            Err(e) => return error("invalid_request", e.to_string()),
        };
        let request: IngestRequest = match serde_json::from_slice(&msg.payload) {
            Ok(r) => r,
            Err(e) => return error("invalid_request", format!("body: {e}")),
        };
        match self
            .chat
            .post(&room, &request.sender, request.text, request.client_id)
            .await
        {
            Ok(posted) => {
                json!({"message": MessageView::from(&posted.message), "created": posted.created})
            }
            Err(e) => error_body(&e),
        }
    }
}

/// The error body the HTTP API and ingest share.
pub fn error_body(e: &PostError) -> serde_json::Value {
    match e {
        PostError::Rejected { rejection, .. } => {
            json!({"error": {
                "code": e.code(),
                "plugin": rejection.plugin,
                "rule": rejection.code,
                "message": rejection.message,
                "retry_after_ms": rejection.retry_after_ms,
            }})
        }
        other => json!({"error": {"code": other.code(), "message": other.to_string()}}),
    }
}

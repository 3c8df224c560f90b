//! The bare minimum a post needs, as the baseline every Chowk figure is compared with: an axum
//! handler that appends the text to a Redis stream and publishes it to NATS. No auth, no
//! plugins, no deduplication, no Chowk code. It runs in a process of its own
//! (`chowk-load bare-server`) so its CPU time can be read like the host's.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

struct Bare {
    redis: redis::aio::MultiplexedConnection,
    nats: async_nats::Client,
}

/// Serve until killed; prints `bare: listening on http://…` once it accepts connections.
pub async fn serve(redis_url: &str, nats_url: &str) -> anyhow::Result<()> {
    let redis = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
    let nats = async_nats::connect(nats_url).await?;
    let app = Router::new()
        .route("/v1/rooms/{room}/messages", post(handle))
        .with_state(Arc::new(Bare { redis, nats }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("bare: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn handle(
    State(bare): State<Arc<Bare>>,
    Path(room): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let text = body.get("text").and_then(Value::as_str).unwrap_or_default();
    let added: redis::RedisResult<String> = redis::cmd("XADD")
        .arg(format!("bare:{room}"))
        .arg("*")
        .arg("text")
        .arg(text)
        .query_async(&mut bare.redis.clone())
        .await;
    let Ok(id) = added else {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({})));
    };
    let view = json!({ "id": id, "room": room, "text": text });
    let published = bare
        .nats
        .publish(
            format!("bare.room.{room}.messages"),
            view.to_string().into(),
        )
        .await;
    match published {
        Ok(()) => (StatusCode::CREATED, Json(view)),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({}))),
    }
}

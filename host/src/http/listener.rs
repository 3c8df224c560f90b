//! The HTTP listener: accepts TCP connections and serves each with hyper's HTTP/1.1, so that
//! no connection can hold the host's memory for free. A connection that has sent no complete
//! request head within `header_timeout` (from its start, or from the end of the previous
//! response: an idle keep-alive connection) is closed; connections beyond `max_connections`
//! are answered `503` with `Retry-After` and closed at once. Request bodies have their own
//! deadline, enforced where they are read (`extract::Json`). HTTP/2 belongs to the TLS proxy in
//! front of the host. `chowk_http_connections` counts the open connections and
//! `chowk_http_connections_refused_total` the refused ones.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::metrics::Metrics;

/// What one connection may cost, and how many there may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; the next ones get a 503.
    pub max_connections: usize,
    /// Longest wait for a complete request head (also the idle keep-alive time).
    pub header_timeout: Duration,
}

/// The body a connection over the limit is told before it is closed.
const OVER_LIMIT_BODY: &str =
    r#"{"error":{"code":"unavailable","message":"too many connections; retry after Retry-After"}}"#;

/// The whole response to a connection over the limit.
fn over_limit() -> String {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{OVER_LIMIT_BODY}",
        OVER_LIMIT_BODY.len()
    )
}

/// Serve `router` on `listener` until `shutdown` resolves; then stop accepting, let every
/// connection finish its request in flight, and return once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (socket, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin or die.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.http_connections_refused.inc();
            tokio::spawn(refuse(socket, limits.header_timeout));
            continue;
        };
        let open = metrics.http_connections.clone();
        open.inc();
        let _ = socket.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(socket), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a header timeout): nothing to report.
            let _ = connection.await;
            open.dec();
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answer a connection over the limit (bounded in time: a client that does not read gets
/// nothing) and close it.
async fn refuse(mut socket: TcpStream, within: Duration) {
    let _ = tokio::time::timeout(within, socket.write_all(over_limit().as_bytes())).await;
}

#[cfg(test)]
mod tests {
    use super::over_limit;

    #[test]
    fn the_refusal_is_a_complete_response() {
        let text = over_limit();
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("length")
            .parse()
            .expect("number");
        assert_eq!(body.len(), length);
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["error"]["code"], "unavailable");
    }
}

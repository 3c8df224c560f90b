//! Connections to the current primary, standalone or through Sentinel, and the retry loop that
//! carries a call across a failover: on a dropped connection, `READONLY` (a demoted primary),
//! `MASTERDOWN` or `LOADING`, the connection is discarded (so Sentinel is asked again for the
//! primary) and the call retried with backoff until the retry budget is spent.
//!
//! deadpool-redis is the connection factory (with Sentinel discovery and connect timeouts);
//! its connections are taken out of the pool and kept as multiplexed connections shared
//! round-robin, because recycling a pooled connection costs a `PING` round trip per call.

use std::future::Future;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use deadpool_redis::{Pool as SinglePool, PoolConfig, Runtime, Timeouts};
use redis::aio::MultiplexedConnection;
use redis::RedisError;
use tokio::time::Instant;

use super::config::RedisConfig;
use crate::store::StoreError;

/// Where new connections to the primary come from.
pub(super) enum Pools {
    Single(SinglePool),
    Sentinel(deadpool_redis::sentinel::Pool),
}

/// One connection to the primary. Multiplexed: clones share it, requests are pipelined.
pub(super) type Conn = MultiplexedConnection;

/// Run a script, then (with `acks` > 0) `WAIT acks wait_ms` on the same connection: the
/// script's writes are acknowledged only when that many replicas hold them.
pub(super) async fn invoke_then_wait<T: redis::FromRedisValue>(
    c: &mut Conn,
    inv: &redis::ScriptInvocation<'_>,
    acks: u32,
    wait_ms: u64,
) -> Result<T, Failure> {
    let reply = inv.invoke_async::<T>(c).await?;
    if acks == 0 {
        return Ok(reply);
    }
    let got: u32 = redis::cmd("WAIT")
        .arg(acks)
        .arg(wait_ms)
        .query_async(c)
        .await?;
    if got < acks {
        return Err(Failure::NotReplicated { wanted: acks, got });
    }
    Ok(reply)
}

/// How one attempt of a call failed: a Redis error, or a write that too few replicas
/// confirmed in time (which may mean a demoted primary Sentinel has not converted yet, so it is
/// retried on a freshly resolved connection like a transient error).
#[derive(Debug)]
pub(super) enum Failure {
    /// Redis (or the connection) failed.
    Redis(RedisError),
    /// `WAIT` counted fewer replicas than required.
    NotReplicated {
        /// Replicas required.
        wanted: u32,
        /// Replicas that confirmed.
        got: u32,
    },
}

impl From<RedisError> for Failure {
    fn from(e: RedisError) -> Self {
        Failure::Redis(e)
    }
}

/// Connections in use, shared round-robin by all calls. A slot is emptied when its connection
/// fails, and refilled from the pool, which for Sentinel asks where the primary is now.
pub(super) struct Redis {
    pools: Pools,
    slots: Vec<Mutex<Option<Conn>>>,
    next: AtomicUsize,
    timeout: Duration,
    budget: Duration,
    failovers_seen: AtomicU64,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.pools {
            Pools::Single(_) => "single",
            Pools::Sentinel(_) => "sentinel",
        };
        f.debug_struct("Redis")
            .field("mode", &mode)
            .field("connections", &self.slots.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Put `user:password@` into a `redis://` URL that has no credentials.
fn with_credentials(url: &str, username: Option<&str>, password: Option<&str>) -> String {
    let Some(password) = password else {
        return url.to_owned();
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if rest.split('/').next().unwrap_or_default().contains('@') {
        return url.to_owned();
    }
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "{scheme}://{}:{}@{rest}",
        encode(username.unwrap_or_default()),
        encode(password)
    )
}

impl Redis {
    /// Build the pool described by `config` (no connection is made yet).
    pub(super) fn new(
        config: &RedisConfig,
        timeout: Duration,
        budget: Duration,
    ) -> Result<Self, StoreError> {
        let bad = |message: String| StoreError::Invalid {
            field: "redis".into(),
            message,
        };
        let pool_config = PoolConfig {
            max_size: config.pool_size.max(1),
            timeouts: Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        };
        let pools = match (
            &config.url,
            config.sentinels.is_empty(),
            &config.master_name,
        ) {
            (Some(url), true, None) => {
                let mut url =
                    with_credentials(url, config.username.as_deref(), config.password.as_deref());
                if config.tls_insecure && url.starts_with("rediss://") && !url.contains('#') {
                    url.push_str("#insecure");
                }
                let mut cfg = deadpool_redis::Config::from_url(url);
                cfg.pool = Some(pool_config);
                Pools::Single(
                    cfg.create_pool(Some(Runtime::Tokio1))
                        .map_err(|e| bad(e.to_string()))?,
                )
            }
            (None, false, Some(master)) => {
                let mut cfg = deadpool_redis::sentinel::Config::from_urls(
                    config.sentinels.clone(),
                    master.clone(),
                    deadpool_redis::sentinel::SentinelServerType::Master,
                );
                if config.password.is_some() || config.username.is_some() || config.tls {
                    use deadpool_redis::sentinel::TlsMode;
                    let tls_mode = config.tls.then_some(if config.tls_insecure {
                        TlsMode::Insecure
                    } else {
                        TlsMode::Secure
                    });
                    cfg.node_connection_info =
                        Some(deadpool_redis::sentinel::SentinelNodeConnectionInfo {
                            tls_mode,
                            redis_connection_info: Some(deadpool_redis::RedisConnectionInfo {
                                db: 0,
                                username: config.username.clone(),
                                password: config.password.clone(),
                                protocol: Default::default(),
                            }),
                        });
                }
                cfg.pool = Some(pool_config);
                Pools::Sentinel(
                    cfg.create_pool(Some(Runtime::Tokio1))
                        .map_err(|e| bad(e.to_string()))?,
                )
            }
            _ => {
                return Err(bad(
                    "set either `url`, or `sentinels` together with `master_name`".into(),
                ))
            }
        };
        let slots = (0..config.pool_size.max(1))
            .map(|_| Mutex::new(None))
            .collect();
        Ok(Redis {
            pools,
            slots,
            next: AtomicUsize::new(0),
            timeout,
            budget,
            failovers_seen: AtomicU64::new(0),
        })
    }

    fn slot(&self, i: usize) -> std::sync::MutexGuard<'_, Option<Conn>> {
        self.slots[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection (and its slot): the slot's, or a new one taken out of the pool.
    async fn get(&self) -> Result<(usize, Conn), String> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        if let Some(conn) = self.slot(i).clone() {
            return Ok((i, conn));
        }
        let conn = match &self.pools {
            Pools::Single(p) => p.get().await.map(deadpool_redis::Connection::take),
            Pools::Sentinel(p) => p
                .get()
                .await
                .map(deadpool_redis::sentinel::Connection::take),
        }
        .map_err(|e| e.to_string())?;
        *self.slot(i) = Some(conn.clone());
        Ok((i, conn))
    }

    /// Forget a failed connection, so the slot's next user connects afresh (and, through
    /// Sentinel, asks where the primary is now).
    fn discard(&self, i: usize) {
        if i < self.slots.len() && self.slot(i).take().is_some() {
            self.failovers_seen.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Connections dropped after a failover signal (READONLY, MASTERDOWN, lost connection...).
    pub(super) fn failovers_seen(&self) -> u64 {
        self.failovers_seen.load(Ordering::Relaxed)
    }

    /// Run `call` on a connection to the primary, retrying transient failures (see the module
    /// docs) until the budget is spent. `call` may run more than once: it must be idempotent.
    pub(super) async fn run<T, E, F, Fut>(&self, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut(Conn) -> Fut,
        Fut: Future<Output = (Conn, Result<T, E>)>,
        E: Into<Failure>,
    {
        let deadline = Instant::now() + self.budget;
        let mut delay = Duration::from_millis(25);
        loop {
            let slot = AtomicUsize::new(usize::MAX);
            let last = match tokio::time::timeout(self.timeout, async {
                let (i, conn) = self.get().await?;
                slot.store(i, Ordering::Relaxed);
                Ok::<_, String>(call(conn).await)
            })
            .await
            {
                Ok(Ok((_conn, Ok(value)))) => return Ok(value),
                Ok(Ok((_conn, Err(e)))) => {
                    let last = match e.into() {
                        Failure::Redis(e) if !is_transient(&e) => return Err(permanent(e)),
                        Failure::Redis(e) => StoreError::Unavailable(e.to_string()),
                        Failure::NotReplicated { wanted, got } => {
                            StoreError::NotReplicated { wanted, got }
                        }
                    };
                    self.discard(slot.load(Ordering::Relaxed));
                    last
                }
                Ok(Err(pool)) => StoreError::Unavailable(pool),
                Err(_) => {
                    // A connection that does not answer is as good as gone.
                    self.discard(slot.load(Ordering::Relaxed));
                    StoreError::Unavailable(format!(
                        "no answer within {} ms",
                        self.timeout.as_millis()
                    ))
                }
            };
            if Instant::now() + delay > deadline {
                return Err(last);
            }
            tracing::debug!(error = %last, "redis call failed, retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(400));
        }
    }

    /// One attempt, no retries, with this call's own timeout (for plugin state).
    pub(super) async fn once<T, F, Fut>(&self, timeout: Duration, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = (Conn, Result<T, RedisError>)>,
    {
        let slot = AtomicUsize::new(usize::MAX);
        match tokio::time::timeout(timeout, async {
            let (i, conn) = self.get().await?;
            slot.store(i, Ordering::Relaxed);
            Ok::<_, String>(call(conn).await)
        })
        .await
        {
            Ok(Ok((_conn, Ok(v)))) => Ok(v),
            Ok(Ok((_conn, Err(e)))) => {
                if is_transient(&e) {
                    self.discard(slot.load(Ordering::Relaxed));
                    Err(StoreError::Unavailable(e.to_string()))
                } else {
                    Err(permanent(e))
                }
            }
            Ok(Err(pool)) => Err(StoreError::Unavailable(pool)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                timeout.as_millis()
            ))),
        }
    }
}

/// Errors after which another attempt (on another connection, maybe another node) may work.
fn is_transient(e: &RedisError) -> bool {
    matches!(
        e.code(),
        Some("READONLY" | "MASTERDOWN" | "LOADING" | "TRYAGAIN" | "NOREPLICAS")
    ) || e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
}

fn permanent(e: RedisError) -> StoreError {
    match e.code() {
        Some("NOROOM") => StoreError::NotFound("room".into()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::with_credentials;

    #[test]
    fn credentials_are_added_only_when_missing() {
        assert_eq!(
            with_credentials("redis://h:1/0", Some("u"), Some("p@ss")),
            "redis://u:p%40ss@h:1/0"
        );
        assert_eq!(
            with_credentials("redis://a:b@h:1", Some("u"), Some("p")),
            "redis://a:b@h:1"
        );
        assert_eq!(with_credentials("redis://h:1", None, None), "redis://h:1");
    }
}

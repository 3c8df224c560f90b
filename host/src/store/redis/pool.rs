//! Connections to the current primary, standalone or through Sentinel, and the retry loop that
//! carries a call across a failover: on a dropped connection, `READONLY` (a demoted primary),
//! `MASTERDOWN` or `LOADING`, the connection is discarded (so Sentinel is asked again for the
//! primary) and the call retried with backoff until the retry budget is spent.

use std::future::Future;
use std::time::Duration;

use deadpool_redis::{Pool as SinglePool, PoolConfig, Runtime, Timeouts};
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use tokio::time::Instant;

use super::config::RedisConfig;
use crate::store::StoreError;

/// A pool of connections to the primary.
pub(super) enum Pools {
    Single(SinglePool),
    Sentinel(deadpool_redis::sentinel::Pool),
}

/// One pooled connection.
pub(super) enum Conn {
    Single(deadpool_redis::Connection),
    Sentinel(deadpool_redis::sentinel::Connection),
}

impl Conn {
    /// Drop the connection instead of returning it to the pool.
    fn discard(self) {
        match self {
            Conn::Single(c) => drop(deadpool_redis::Connection::take(c)),
            Conn::Sentinel(c) => drop(deadpool_redis::sentinel::Connection::take(c)),
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

/// The connection pool plus its timeouts.
pub(super) struct Redis {
    pools: Pools,
    timeout: Duration,
    budget: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.pools {
            Pools::Single(_) => "single",
            Pools::Sentinel(_) => "sentinel",
        };
        f.debug_struct("Redis")
            .field("mode", &mode)
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
                let url =
                    with_credentials(url, config.username.as_deref(), config.password.as_deref());
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
                if config.password.is_some() || config.username.is_some() {
                    cfg.node_connection_info =
                        Some(deadpool_redis::sentinel::SentinelNodeConnectionInfo {
                            tls_mode: None,
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
        Ok(Redis {
            pools,
            timeout,
            budget,
        })
    }

    async fn get(&self) -> Result<Conn, String> {
        match &self.pools {
            Pools::Single(p) => p.get().await.map(Conn::Single).map_err(|e| e.to_string()),
            Pools::Sentinel(p) => p.get().await.map(Conn::Sentinel).map_err(|e| e.to_string()),
        }
    }

    /// Run `call` on a connection to the primary, retrying transient failures (see the module
    /// docs) until the budget is spent. `call` may run more than once: it must be idempotent.
    pub(super) async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut(Conn) -> Fut,
        Fut: Future<Output = (Conn, Result<T, RedisError>)>,
    {
        let deadline = Instant::now() + self.budget;
        let mut delay = Duration::from_millis(25);
        loop {
            let last = match tokio::time::timeout(self.timeout, async {
                let conn = self.get().await?;
                Ok::<_, String>(call(conn).await)
            })
            .await
            {
                Ok(Ok((_conn, Ok(value)))) => return Ok(value),
                Ok(Ok((conn, Err(e)))) => {
                    if !is_transient(&e) {
                        return Err(permanent(e));
                    }
                    conn.discard();
                    e.to_string()
                }
                Ok(Err(pool)) => pool,
                Err(_) => format!("no answer within {} ms", self.timeout.as_millis()),
            };
            if Instant::now() + delay > deadline {
                return Err(StoreError::Unavailable(last));
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
        match tokio::time::timeout(timeout, async {
            let conn = self.get().await?;
            Ok::<_, String>(call(conn).await)
        })
        .await
        {
            Ok(Ok((_conn, Ok(v)))) => Ok(v),
            Ok(Ok((conn, Err(e)))) => {
                if is_transient(&e) {
                    conn.discard();
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

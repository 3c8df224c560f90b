//! Plugin key-value state in Redis (`chowk:pstate:<plugin>:<key>`), so limits hold across a
//! fleet of hosts. Plugin calls are synchronous and have millisecond deadlines: each state call
//! is one attempt with a short timeout, run on the given runtime from a blocking thread.

use std::sync::Arc;
use std::time::Duration;

use super::keys;
use super::pool::Redis;
use super::scripts;
use crate::plugins::state::{
    check_batch, check_sizes, PluginState, StateError, StateOp, StateOutcome,
};
use crate::store::StoreError;

/// [`PluginState`] backed by the store's Redis.
#[derive(Debug)]
pub struct RedisPluginState {
    redis: Arc<Redis>,
    handle: tokio::runtime::Handle,
    timeout: Duration,
}

impl RedisPluginState {
    pub(super) fn new(
        redis: Arc<Redis>,
        handle: tokio::runtime::Handle,
        timeout: Duration,
    ) -> Self {
        RedisPluginState {
            redis,
            handle,
            timeout,
        }
    }

    fn block<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StateError> {
        let result = if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::block_in_place(|| self.handle.block_on(fut))
        } else {
            self.handle.block_on(fut)
        };
        result.map_err(|e: StoreError| StateError::Unavailable(e.to_string()))
    }
}

impl PluginState for RedisPluginState {
    fn get(&self, ns: &str, key: &str) -> Result<Option<String>, StateError> {
        check_sizes(key, None)?;
        let k = keys::plugin_state(ns, key);
        self.block(self.redis.once(self.timeout, |mut c| async move {
            let r = redis::cmd("GET").arg(k).query_async(&mut c).await;
            (c, r)
        }))
    }

    fn set(&self, ns: &str, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), StateError> {
        check_sizes(key, Some(value))?;
        let k = keys::plugin_state(ns, key);
        let mut cmd = redis::cmd("SET");
        cmd.arg(k).arg(value);
        if let Some(ttl) = ttl_ms {
            cmd.arg("PX").arg(ttl.max(1));
        }
        self.block(self.redis.once(self.timeout, |mut c| async move {
            let r = cmd.query_async::<()>(&mut c).await;
            (c, r)
        }))
    }

    fn incr(
        &self,
        ns: &str,
        key: &str,
        delta: i64,
        ttl_ms: Option<u64>,
    ) -> Result<i64, StateError> {
        check_sizes(key, None)?;
        let k = keys::plugin_state(ns, key);
        let mut inv = scripts::INCR.key(k);
        inv.arg(delta)
            .arg(ttl_ms.map(|t| t.max(1).to_string()).unwrap_or_default());
        let not_integer = || StateError::NotAnInteger(key.to_owned());
        self.block(self.redis.once(self.timeout, |mut c| async move {
            // The script answers `NOTINTEGER` (an error code, not text to search) when the
            // key holds something else.
            let r = match inv.invoke_async::<i64>(&mut c).await {
                Ok(n) => Ok(Ok(n)),
                Err(e) if e.code() == Some(scripts::NOT_INTEGER) => Ok(Err(not_integer())),
                Err(e) => Err(e),
            };
            (c, r)
        }))?
    }

    fn batch(&self, ns: &str, ops: &[StateOp]) -> Result<Vec<StateOutcome>, StateError> {
        check_batch(ops)?;
        let mut inv = scripts::KV_BATCH.prepare_invoke();
        for op in ops {
            inv.key(keys::plugin_state(ns, op.key()));
            let ttl = |t: &Option<u64>| t.map(|t| t.max(1).to_string()).unwrap_or_default();
            match op {
                StateOp::Get(_) => inv.arg("g").arg("").arg(""),
                StateOp::Set { value, ttl_ms, .. } => inv.arg("s").arg(value).arg(ttl(ttl_ms)),
                StateOp::Incr { delta, ttl_ms, .. } => inv.arg("i").arg(delta).arg(ttl(ttl_ms)),
            };
        }
        let keys: Vec<String> = ops.iter().map(|op| op.key().to_owned()).collect();
        let replies: Vec<Vec<redis::Value>> =
            self.block(self.redis.once(self.timeout, |mut c| async move {
                let r = match inv.invoke_async::<Vec<Vec<redis::Value>>>(&mut c).await {
                    Ok(v) => Ok(Ok(v)),
                    // `NOTINTEGER <index>`: the code says what failed, the detail which operation.
                    Err(e) if e.code() == Some(scripts::NOT_INTEGER) => {
                        let at = e
                            .detail()
                            .and_then(|d| d.trim().parse::<usize>().ok())
                            .and_then(|i| keys.get(i.saturating_sub(1)).cloned())
                            .unwrap_or_default();
                        Ok(Err(StateError::NotAnInteger(at)))
                    }
                    Err(e) => Err(e),
                };
                (c, r)
            }))??;
        replies
            .into_iter()
            .map(|reply| {
                let mut parts = reply.into_iter();
                let kind: String = parts
                    .next()
                    .and_then(|v| redis::from_redis_value(v).ok())
                    .unwrap_or_default();
                let rest = parts.next().unwrap_or(redis::Value::Nil);
                match kind.as_str() {
                    "v" => Ok(StateOutcome::Value(
                        redis::from_redis_value(rest).unwrap_or(None),
                    )),
                    "d" => Ok(StateOutcome::Done),
                    "c" => redis::from_redis_value(rest)
                        .map(StateOutcome::Count)
                        .map_err(|_| StateError::Unavailable("a batch reply out of shape".into())),
                    _ => Err(StateError::Unavailable("a batch reply out of shape".into())),
                }
            })
            .collect()
    }
}

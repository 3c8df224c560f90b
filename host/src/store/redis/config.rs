//! The `[redis]` section of the host config: one endpoint (standalone Redis or an HAProxy
//! front), or Sentinel discovery; credentials; durability and timeouts.

use serde::Deserialize;

/// `[redis]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// One endpoint: `redis://[user:password@]host:port[/db]`.
    #[serde(default)]
    pub url: Option<String>,
    /// Sentinel endpoints (`redis://host:port`), used with `master_name` instead of `url`.
    #[serde(default)]
    pub sentinels: Vec<String>,
    /// The Sentinel master name (e.g. `mymaster`).
    #[serde(default)]
    pub master_name: Option<String>,
    /// ACL user for the data nodes (Sentinel mode, or when `url` has none).
    #[serde(default)]
    pub username: Option<String>,
    /// Password for the data nodes (Sentinel mode, or when `url` has none).
    #[serde(default)]
    pub password: Option<String>,
    /// Sentinel mode: connect to the data nodes over TLS (use `rediss://` sentinel URLs for TLS
    /// to the Sentinels). With `url`, the scheme decides (`rediss://` is TLS). Certificates are
    /// verified against the system trust store.
    #[serde(default)]
    pub tls: bool,
    /// Skip certificate verification (development only).
    #[serde(default)]
    pub tls_insecure: bool,
    /// Replicas that must confirm a message (`WAIT`) before it is acknowledged to the client.
    #[serde(default)]
    pub min_replica_acks: u32,
    /// How long `WAIT` may take, ms.
    #[serde(default = "default_wait")]
    pub replica_ack_timeout_ms: u64,
    /// Timeout of one attempt of one call, ms.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Total time one call may spend retrying across a failover before answering
    /// "unavailable", ms.
    #[serde(default = "default_budget")]
    pub retry_budget_ms: u64,
    /// Timeout of one plugin-state call (no retries), ms. It does not count against the
    /// plugin's deadline (that is the plugin's own CPU time), but the post waits for it.
    #[serde(default = "default_state_timeout")]
    pub state_timeout_ms: u64,
    /// Connections per pool.
    #[serde(default = "default_pool")]
    pub pool_size: usize,
    /// How long a message's `client_id` is remembered for retries, s.
    #[serde(default = "default_client_id_ttl")]
    pub client_id_ttl_s: u64,
}

fn default_wait() -> u64 {
    500
}
fn default_timeout() -> u64 {
    500
}
fn default_budget() -> u64 {
    3_000
}
fn default_state_timeout() -> u64 {
    50
}
fn default_pool() -> usize {
    16
}
fn default_client_id_ttl() -> u64 {
    24 * 3600
}

impl RedisConfig {
    /// A config for one endpoint with every default.
    pub fn url(url: impl Into<String>) -> Self {
        RedisConfig {
            url: Some(url.into()),
            ..Self::sentinel(Vec::new(), "")
        }
    }

    /// A config for Sentinel discovery with every default.
    pub fn sentinel(sentinels: Vec<String>, master_name: &str) -> Self {
        RedisConfig {
            url: None,
            sentinels,
            master_name: (!master_name.is_empty()).then(|| master_name.to_owned()),
            username: None,
            password: None,
            tls: false,
            tls_insecure: false,
            min_replica_acks: 0,
            replica_ack_timeout_ms: default_wait(),
            timeout_ms: default_timeout(),
            retry_budget_ms: default_budget(),
            state_timeout_ms: default_state_timeout(),
            pool_size: default_pool(),
            client_id_ttl_s: default_client_id_ttl(),
        }
    }
}

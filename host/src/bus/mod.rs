//! The message bus, NATS: `[nats]` ([`NatsConfig`]), connecting with auth and TLS, and the
//! [`subjects`] Chowk uses. Shared plumbing of the adapters that speak NATS — the outbound
//! relay (`relay/`) and the inbound ingest and live feed (`ingest/`); the core never sees it.

pub mod signature;
pub mod subjects;

use std::time::Duration;

use serde::Deserialize;

/// `[nats]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// One server, `nats://host:4222`.
    #[serde(default)]
    pub url: Option<String>,
    /// Several servers (instead of `url`).
    #[serde(default)]
    pub servers: Vec<String>,
    /// Token authentication.
    #[serde(default)]
    pub token: Option<String>,
    /// User and password authentication.
    #[serde(default)]
    pub user: Option<String>,
    /// Password for `user`.
    #[serde(default)]
    pub password: Option<String>,
    /// NKey seed authentication.
    #[serde(default)]
    pub nkey: Option<String>,
    /// A `.creds` file (JWT + NKey).
    #[serde(default)]
    pub credentials: Option<std::path::PathBuf>,
    /// Require TLS.
    #[serde(default)]
    pub tls_required: bool,
    /// Also capture `chowk.room.>` in a JetStream stream (`CHOWK_ROOMS`) and publish with
    /// acknowledgements, so late subscribers can replay; `Nats-Msg-Id` deduplicates republished
    /// messages within `duplicate_window_s`.
    #[serde(default)]
    pub jetstream: bool,
    /// JetStream duplicate window, s.
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window_s: u64,
    /// How long one publish batch may take to be confirmed by the server (flush or JetStream
    /// acks), ms.
    #[serde(default = "default_flush_timeout")]
    pub flush_timeout_ms: u64,
    /// The secret relayed messages are signed with (`Chowk-Signature`); default: derived from
    /// `[auth] jwt_secret`, which every host of a fleet shares. Set it to let subscribers
    /// outside the fleet verify without knowing the token secret.
    #[serde(default)]
    pub relay_secret: Option<String>,
}

fn default_flush_timeout() -> u64 {
    1_000
}

fn default_duplicate_window() -> u64 {
    600
}

impl NatsConfig {
    /// A config for one server with every default.
    pub fn url(url: impl Into<String>) -> Self {
        NatsConfig {
            url: Some(url.into()),
            servers: Vec::new(),
            token: None,
            user: None,
            password: None,
            nkey: None,
            credentials: None,
            tls_required: false,
            jetstream: false,
            duplicate_window_s: default_duplicate_window(),
            flush_timeout_ms: default_flush_timeout(),
            relay_secret: None,
        }
    }

    /// Connect. The client keeps reconnecting by itself; the first connection is retried too,
    /// so a host can start while NATS is down.
    pub async fn connect(&self, name: &str) -> Result<async_nats::Client, BusError> {
        let mut opts = async_nats::ConnectOptions::new()
            .name(name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .require_tls(self.tls_required);
        if let Some(token) = &self.token {
            opts = opts.token(token.clone());
        }
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            opts = opts.user_and_password(user.clone(), password.clone());
        }
        if let Some(seed) = &self.nkey {
            opts = opts.nkey(seed.clone());
        }
        if let Some(path) = &self.credentials {
            opts = opts
                .credentials_file(path)
                .await
                .map_err(|e| BusError::Config(format!("credentials {}: {e}", path.display())))?;
        }
        let servers: Vec<String> = match (&self.url, self.servers.is_empty()) {
            (Some(url), true) => vec![url.clone()],
            (None, false) => self.servers.clone(),
            _ => return Err(BusError::Config("set either `url` or `servers`".into())),
        };
        let addrs: Vec<async_nats::ServerAddr> = servers
            .iter()
            .map(|s| s.parse().map_err(|e| BusError::Config(format!("{s}: {e}"))))
            .collect::<Result<_, _>>()?;
        opts.connect(addrs)
            .await
            .map_err(|e| BusError::Nats(e.to_string()))
    }
}

/// Why NATS could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// `[nats]` is wrong.
    #[error("nats config: {0}")]
    Config(String),
    /// NATS refused or did not confirm in time.
    #[error("nats: {0}")]
    Nats(String),
}

/// Whether the server confirmed everything sent so far within a second (a flush waits for a
/// reconnect while NATS is down, and starting a host must not).
pub async fn flushed(client: &async_nats::Client) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), client.flush()).await,
        Ok(Ok(()))
    )
}

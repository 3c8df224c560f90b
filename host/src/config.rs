//! `chowk.toml`, the server's settings: read from a file (every key documented in
//! `chowk.example.toml`), then overridden by `CHOWK_<SECTION>_<KEY>` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bus::NatsConfig;
pub use crate::http::LimitsConfig;
use crate::store::RedisConfig;

/// The sections an environment variable may address (`CHOWK_<SECTION>_<KEY>`).
const SECTIONS: [&str; 6] = ["server", "auth", "plugins", "limits", "redis", "nats"];

/// The whole config. Absent `[redis]`: in-memory store; absent `[nats]`: in-process relay.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[auth]`.
    #[serde(default)]
    pub auth: AuthConfig,
    /// `[plugins]`.
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[redis]`; absent: the in-memory store (one host, nothing persisted).
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// `[nats]`; absent: messages are relayed in-process (SSE on this host only).
    #[serde(default)]
    pub nats: Option<NatsConfig>,
    /// `[bootstrap]`: rooms every host makes sure exist when it starts.
    #[serde(default)]
    pub bootstrap: BootstrapConfig,
}

/// `[bootstrap]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapConfig {
    /// `[[bootstrap.rooms]]`: created at start when missing (an existing room is left as it is).
    #[serde(default)]
    pub rooms: Vec<BootstrapRoom>,
}

/// One `[[bootstrap.rooms]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapRoom {
    /// Room id (`a-z`, `0-9`, `_`, `-`).
    pub id: String,
    /// Display name (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `open` (default) or `members`.
    #[serde(default)]
    pub visibility: crate::store::Visibility,
    /// Messages kept.
    #[serde(default = "default_retention")]
    pub retention: u64,
}

fn default_retention() -> u64 {
    crate::store::model::DEFAULT_RETENTION
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// How long a graceful shutdown waits for in-flight requests, ms.
    pub shutdown_timeout_ms: u64,
    /// Open connections at most (live streams included); more are answered 503 and closed.
    pub max_connections: usize,
    /// Longest wait for a complete request head, from the connection's start or the end of
    /// the previous response (so also how long an idle keep-alive connection stays open), ms.
    pub header_timeout_ms: u64,
    /// Longest wait for a whole request body once its head arrived, ms (408 after it).
    pub body_timeout_ms: u64,
    /// How often a live stream checks again that its caller may still read the room (a
    /// removed member's stream ends within this), ms.
    pub stream_access_check_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_timeout_ms: 10_000,
            max_connections: 10_000,
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            stream_access_check_ms: 5_000,
        }
    }
}

/// `[auth]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret for bearer tokens, at least 32 bytes. Required unless `chowk serve --dev`.
    pub jwt_secret: Option<String>,
    /// Clock skew tolerated on `exp`, s.
    pub leeway_s: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: None,
            leeway_s: 30,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("leeway_s", &self.leeway_s)
            .finish()
    }
}

/// `[plugins]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// The chain manifest; relative paths are relative to the config file's folder.
    pub path: PathBuf,
    /// Reload the chain when the manifest or a component it names changes (file source).
    pub watch: bool,
    /// `file` (default): the manifest at `path`. `nats`: the chain published with
    /// `chowk plugins publish` (needs `[nats]`); `path` is then only the chain used until
    /// something is published.
    pub source: PluginSource,
}

/// Where the chain comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginSource {
    /// `plugins.toml` and the files it names, watched.
    #[default]
    File,
    /// NATS JetStream: KV bucket `chowk_plugins`, object store `chowk_components`.
    Nats,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            path: PathBuf::from("plugins.toml"),
            watch: true,
            source: PluginSource::File,
        }
    }
}

/// Why the config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {error}{}", path.display(), if error.kind() == std::io::ErrorKind::NotFound { " (write one with `chowk init`)" } else { "" })]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, so not also the error's `source`).
        error: std::io::Error,
    },
    /// The TOML (or a value from the environment) is wrong; the message names the key.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file, or "environment".
        origin: String,
        /// What is wrong, with the line for file errors.
        message: String,
    },
}

impl Config {
    /// Read `path` (if any) and apply `CHOWK_*` overrides from `env`. Relative paths in the
    /// file are resolved against its folder.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (text, origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                    path: path.to_owned(),
                    error,
                })?;
                (text, path.display().to_string())
            }
            None => (String::new(), "defaults".to_owned()),
        };
        let mut config = Config::parse(&text, &origin, env)?;
        if let Some(dir) = path.and_then(Path::parent) {
            if config.plugins.path.is_relative() {
                config.plugins.path = dir.join(&config.plugins.path);
            }
        }
        Ok(config)
    }

    /// The config in `text` (named `origin` in errors) with `CHOWK_*` overrides from `env`.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let origin = origin.to_owned();
        let invalid = |origin: String, message: String| ConfigError::Invalid { origin, message };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(origin.clone(), e.to_string()))?;
        let mut from_env = Vec::new();
        for (var, value) in env {
            if let Some((section, key)) = env_key(&var) {
                apply_env(&mut table, &var, section, &key, &value)?;
                from_env.push(var);
            }
        }
        if from_env.is_empty() {
            // Straight from the text, so errors carry line numbers.
            toml::from_str(text).map_err(|e| invalid(origin, e.to_string()))
        } else {
            parse_table(table).map_err(|e| {
                invalid(
                    format!("{origin} with {}", from_env.join(", ")),
                    e.to_string(),
                )
            })
        }
    }

    /// Load with the process environment.
    pub fn from_env_and_file(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load(path, std::env::vars())
    }
}

fn parse_table(table: toml::Table) -> Result<Config, toml::de::Error> {
    toml::Value::Table(table).try_into()
}

/// `CHOWK_REDIS_MIN_REPLICA_ACKS` → (`redis`, `min_replica_acks`). Other variables (such as
/// `CHOWK_LOG`) are not config keys.
fn env_key(var: &str) -> Option<(&'static str, String)> {
    let rest = var.strip_prefix("CHOWK_")?;
    SECTIONS.iter().find_map(|section| {
        let key = rest
            .strip_prefix(&section.to_ascii_uppercase())?
            .strip_prefix('_')?;
        (!key.is_empty()).then(|| (*section, key.to_ascii_lowercase()))
    })
}

/// Set `section.key` from an environment value. The value is read as a TOML value (`1`, `true`,
/// `["a", "b"]`) when that gives a config that deserialises, and as a plain string otherwise,
/// so `CHOWK_AUTH_JWT_SECRET=1234…` stays a string.
fn apply_env(
    table: &mut toml::Table,
    var: &str,
    section: &str,
    key: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let entry = table
        .entry(section.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        return Err(ConfigError::Invalid {
            origin: var.to_owned(),
            message: format!("[{section}] is not a table"),
        });
    };
    let typed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"));
    let string = toml::Value::String(value.to_owned());
    match typed {
        Some(typed) if !matches!(typed, toml::Value::String(_)) => {
            section_table.insert(key.to_owned(), typed);
            let typed_ok = parse_table(table.clone()).is_ok();
            if !typed_ok {
                if let Some(toml::Value::Table(t)) = table.get_mut(section) {
                    t.insert(key.to_owned(), string);
                }
            }
        }
        _ => {
            section_table.insert(key.to_owned(), string);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = Config::load(None, env(&[])).expect("defaults");
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert!(c.redis.is_none() && c.nats.is_none());
        assert_eq!(c.limits.body_bytes, 16 * 1024);
        assert_eq!(c.limits.text_chars, 4_000);
    }

    #[test]
    fn env_overrides_and_creates_sections() {
        let c = Config::load(
            None,
            env(&[
                ("CHOWK_SERVER_LISTEN", "0.0.0.0:9000"),
                ("CHOWK_REDIS_URL", "redis://10.0.0.1:6379"),
                ("CHOWK_REDIS_MIN_REPLICA_ACKS", "1"),
                ("CHOWK_AUTH_JWT_SECRET", "12345678901234567890123456789012"),
                (
                    "CHOWK_NATS_SERVERS",
                    r#"["nats://a:4222", "nats://b:4222"]"#,
                ),
                ("CHOWK_LOG", "debug"),
                ("HOME", "/root"),
            ]),
        )
        .expect("env config");
        assert_eq!(c.server.listen.port(), 9000);
        let redis = c.redis.expect("redis from env");
        assert_eq!(redis.url.as_deref(), Some("redis://10.0.0.1:6379"));
        assert_eq!(redis.min_replica_acks, 1);
        assert_eq!(
            c.auth.jwt_secret.as_deref(),
            Some("12345678901234567890123456789012"),
            "a numeric secret stays a string"
        );
        assert_eq!(c.nats.expect("nats").servers.len(), 2);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::load(None, env(&[("CHOWK_SERVER_LISTN", "x")])).expect_err("typo");
        assert!(e.to_string().contains("listn"), "{e}");
        assert!(e.to_string().contains("CHOWK_SERVER_LISTN"), "{e}");
    }

    #[test]
    fn file_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chowk.toml");
        std::fs::write(
            &path,
            "[plugins]\npath = \"chain.toml\"\n[server]\nlisten = \"127.0.0.1:1\"\n",
        )
        .expect("write");
        let c = Config::load(Some(&path), env(&[])).expect("file");
        assert_eq!(c.plugins.path, dir.path().join("chain.toml"));
        std::fs::write(&path, "[server]\nlisten = 5\n").expect("write");
        let e = Config::load(Some(&path), env(&[])).expect_err("bad type");
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn the_example_documents_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../chowk.example.toml");
        let c = Config::load(Some(&path), env(&[])).expect("chowk.example.toml loads");
        assert_eq!(c.server, ServerConfig::default());
        assert_eq!(c.limits, LimitsConfig::default());
        assert_eq!(c.auth.leeway_s, AuthConfig::default().leeway_s);
        assert_eq!(c.redis, Some(RedisConfig::url("redis://127.0.0.1:6379")));
        assert_eq!(c.nats, Some(NatsConfig::url("nats://127.0.0.1:4222")));
        assert!(c.plugins.path.ends_with("plugins.toml"));
    }

    #[test]
    fn secrets_are_not_logged() {
        let c = AuthConfig {
            jwt_secret: Some("hunter2".into()),
            leeway_s: 0,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

//! `plugins.toml`: the chain's order, thresholds, and each plugin's component, limits, failure
//! policy and config. Parsing is strict: unknown keys, out-of-range limits and duplicate names
//! are errors that name the key (and, for syntax and unknown keys, the line).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ids::is_valid_name;

/// The only manifest format version this host reads.
pub const MANIFEST_VERSION: u32 = 1;
/// Largest per-plugin memory cap, in MiB (also the pooling allocator's per-memory maximum).
pub const MAX_MEMORY_MB: u64 = 256;
/// Largest per-call deadline, in ms.
pub const MAX_DEADLINE_MS: u64 = 10_000;
/// Most assets one plugin may name.
pub const MAX_ASSETS: usize = 16;
/// Largest asset file, in bytes (models and lists, not media).
pub const MAX_ASSET_BYTES: u64 = 16 << 20;

/// A parsed and validated `plugins.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version; must be [`MANIFEST_VERSION`].
    pub version: u32,
    /// Chain-level thresholds.
    #[serde(default)]
    pub chain: ChainSpec,
    /// Plugins in the order they run.
    #[serde(default)]
    pub plugins: Vec<PluginSpec>,
}

/// Thresholds that turn the chain's summed score into an action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainSpec {
    /// A total score at or above this flags the message (stored, held for moderators).
    pub flag_at: f64,
    /// A total score at or above this rejects the message.
    pub reject_at: f64,
}

impl Default for ChainSpec {
    fn default() -> Self {
        ChainSpec {
            flag_at: 5.0,
            reject_at: 10.0,
        }
    }
}

/// One plugin of the chain.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// Unique name, `[a-z0-9_-]{1,64}`; also the namespace of the plugin's state.
    pub name: String,
    /// Path to the component, relative to the manifest's folder.
    pub path: PathBuf,
    /// Rooms the plugin applies to; `"*"` (the default) means every room.
    #[serde(default = "all_rooms")]
    pub rooms: Vec<String>,
    /// `enforce` (default) or `shadow` (evaluated and recorded, never enforced).
    #[serde(default)]
    pub mode: Mode,
    /// What a failure of this plugin means for the message: `allow` (default) or `reject`.
    #[serde(default)]
    pub on_error: OnError,
    /// Deadline of one `check` call, ms (default 10).
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
    /// Deadline of instantiation plus `init`, ms (default 1000).
    #[serde(default = "default_init_deadline")]
    pub init_deadline_ms: u64,
    /// Linear-memory cap per instance, MiB (default 32).
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// Idle initialised instances kept for reuse (default 4).
    #[serde(default = "default_instances")]
    pub instances: usize,
    /// When repeated failures disable the plugin.
    #[serde(default)]
    pub breaker: BreakerSpec,
    /// What the plugin shares across the rooms it applies to: `plugin` (default: one
    /// key-value namespace, instances reused across rooms) or `room` (state namespaced per
    /// room, and an instance serves one room only, so nothing it saw in one room's messages
    /// can reach another's).
    #[serde(default)]
    pub isolation: Isolation,
    /// Read-only files handed to the plugin by name (`assets = { model = "models/sme.bin" }`),
    /// paths relative to the manifest's folder. The plugin reads them through the
    /// `chowk:plugin/assets` import; changing one reloads the chain like changing a component.
    #[serde(default)]
    pub assets: BTreeMap<String, PathBuf>,
    /// The plugin's own configuration, passed to its `init` as JSON.
    #[serde(default)]
    pub config: toml::Table,
}

/// Enforce or only observe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Verdicts count.
    #[default]
    Enforce,
    /// Verdicts are recorded in the trace only.
    Shadow,
}

/// What a plugin shares across rooms.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// One state namespace and instance pool for every room it applies to.
    #[default]
    Plugin,
    /// State and instances per room.
    Room,
}

/// Fail-open or fail-closed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// A failing plugin is skipped (fail-open).
    #[default]
    Allow,
    /// A failing plugin rejects the message (fail-closed).
    Reject,
}

/// Circuit-breaker settings: `failures` failures within `window_ms` disable the plugin for
/// `cooldown_ms`; then one message probes it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSpec {
    /// Failures that trip the breaker.
    pub failures: u32,
    /// Window over which failures are counted, ms.
    pub window_ms: u64,
    /// How long a tripped plugin stays disabled, ms.
    pub cooldown_ms: u64,
}

impl Default for BreakerSpec {
    fn default() -> Self {
        BreakerSpec {
            failures: 5,
            window_ms: 60_000,
            cooldown_ms: 30_000,
        }
    }
}

fn all_rooms() -> Vec<String> {
    vec!["*".into()]
}
fn default_deadline() -> u64 {
    10
}
fn default_init_deadline() -> u64 {
    1_000
}
fn default_memory() -> u64 {
    32
}
fn default_instances() -> usize {
    4
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The I/O error (in the message, so not also the error's `source`).
        error: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type (the message names the line and key).
    #[error("{0}")]
    Syntax(String),
    /// A value outside what the host accepts.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted path of the offending key, e.g. `plugins[1].deadline_ms`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Manifest {
    /// Read and validate a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|error| ManifestError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text)
    }

    /// Parse and validate manifest text.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |key: String, message: String| Err(ManifestError::Invalid { key, message });
        if self.version != MANIFEST_VERSION {
            return invalid(
                "version".into(),
                format!(
                    "this host reads version {MANIFEST_VERSION}, the file says {}",
                    self.version
                ),
            );
        }
        let ChainSpec { flag_at, reject_at } = self.chain;
        if !(flag_at.is_finite() && reject_at.is_finite() && flag_at > 0.0 && flag_at <= reject_at)
        {
            return invalid(
                "chain".into(),
                format!("need 0 < flag_at <= reject_at, got flag_at = {flag_at}, reject_at = {reject_at}"),
            );
        }
        let mut names = HashSet::new();
        for (i, p) in self.plugins.iter().enumerate() {
            let key = |field: &str| format!("plugins[{i}].{field}");
            if !is_valid_name(&p.name) {
                return invalid(
                    key("name"),
                    format!("{:?} must match [a-z0-9_-]{{1,64}}", p.name),
                );
            }
            if !names.insert(p.name.as_str()) {
                return invalid(
                    key("name"),
                    format!("{:?} is used by an earlier plugin", p.name),
                );
            }
            if !(1..=MAX_DEADLINE_MS).contains(&p.deadline_ms) {
                return invalid(
                    key("deadline_ms"),
                    format!("must be 1..={MAX_DEADLINE_MS}, got {}", p.deadline_ms),
                );
            }
            if !(1..=60_000).contains(&p.init_deadline_ms) {
                return invalid(
                    key("init_deadline_ms"),
                    format!("must be 1..=60000, got {}", p.init_deadline_ms),
                );
            }
            if !(1..=MAX_MEMORY_MB).contains(&p.memory_mb) {
                return invalid(
                    key("memory_mb"),
                    format!("must be 1..={MAX_MEMORY_MB}, got {}", p.memory_mb),
                );
            }
            if !(1..=64).contains(&p.instances) {
                return invalid(
                    key("instances"),
                    format!("must be 1..=64, got {}", p.instances),
                );
            }
            if p.breaker.failures == 0 || p.breaker.window_ms == 0 {
                return invalid(
                    key("breaker"),
                    "failures and window_ms must be positive".into(),
                );
            }
            if p.rooms.is_empty() {
                return invalid(
                    key("rooms"),
                    "list at least one room, or \"*\" for all".into(),
                );
            }
            if let Some(bad) = p.rooms.iter().find(|r| *r != "*" && !is_valid_name(r)) {
                return invalid(
                    key("rooms"),
                    format!("{bad:?} is not a room id ([a-z0-9_-]{{1,64}}) or \"*\""),
                );
            }
            if p.assets.len() > MAX_ASSETS {
                return invalid(
                    key("assets"),
                    format!("at most {MAX_ASSETS} assets, got {}", p.assets.len()),
                );
            }
            if let Some(bad) = p.assets.keys().find(|n| !is_valid_name(n)) {
                return invalid(
                    key("assets"),
                    format!("asset name {bad:?} must match [a-z0-9_-]{{1,64}}"),
                );
            }
        }
        Ok(())
    }

    /// Resolve a plugin's component path against the manifest's folder.
    pub fn component_path(base: &Path, spec: &PluginSpec) -> PathBuf {
        resolve(base, &spec.path)
    }

    /// Resolve a plugin's asset paths against the manifest's folder, by asset name.
    pub fn asset_paths<'a>(
        base: &'a Path,
        spec: &'a PluginSpec,
    ) -> impl Iterator<Item = (&'a str, PathBuf)> + 'a {
        spec.assets
            .iter()
            .map(move |(name, path)| (name.as_str(), resolve(base, path)))
    }
}

fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

impl PluginSpec {
    /// Whether this plugin applies to `room`.
    pub fn applies_to(&self, room: &str) -> bool {
        self.rooms.iter().any(|r| r == "*" || r == room)
    }

    /// The config table as the JSON text handed to `init`.
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_manifest_gets_defaults() {
        let m = Manifest::parse("version = 1\n[[plugins]]\nname = \"a\"\npath = \"a.wasm\"\n")
            .expect("valid");
        let p = &m.plugins[0];
        assert_eq!(
            (p.deadline_ms, p.memory_mb, p.mode, p.on_error),
            (10, 32, Mode::Enforce, OnError::Allow)
        );
        assert!(p.applies_to("anything"));
        assert_eq!(p.config_json(), "{}");
        assert_eq!(m.chain, ChainSpec::default());
    }

    #[test]
    fn assets_are_named_and_bounded() {
        let m = Manifest::parse(
            "version = 1\n[[plugins]]\nname = \"a\"\npath = \"a.wasm\"\nassets = { model = \"m.bin\" }\n",
        )
        .expect("valid");
        let paths: Vec<_> = Manifest::asset_paths(Path::new("/x"), &m.plugins[0]).collect();
        assert_eq!(paths, [("model", PathBuf::from("/x/m.bin"))]);
        let err = Manifest::parse(
            "version = 1\n[[plugins]]\nname = \"a\"\npath = \"a.wasm\"\nassets = { \"Bad Name\" = \"m.bin\" }\n",
        )
        .expect_err("refused");
        assert!(err.to_string().starts_with("plugins[0].assets: "), "{err}");
    }

    #[test]
    fn config_table_becomes_json() {
        let m = Manifest::parse(
            "version = 1\n[[plugins]]\nname = \"a\"\npath = \"a.wasm\"\n[plugins.config]\nmax = 3\nwords = [\"x\"]\n",
        )
        .expect("valid");
        let v: serde_json::Value = serde_json::from_str(&m.plugins[0].config_json()).expect("json");
        assert_eq!(v, serde_json::json!({"max": 3, "words": ["x"]}));
    }
}

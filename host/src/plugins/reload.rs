//! Hot reload: build a new chain off the request path and swap it in whole.
//!
//! A [`ChainSource`] is a manifest and the bytes of every component and asset it names (read
//! from files, or fetched from NATS in fleet mode). [`Reloader::apply`] fingerprints it
//! (manifest text plus each component's and asset's SHA-256); an unchanged fingerprint is a
//! no-op. Otherwise it builds the new
//! chain — compiling only components whose hash the engine has not seen, pre-instantiating and
//! calling `init` with the new config — and only when every step succeeded swaps it into the
//! live [`ArcSwap`] with the next generation. Any failure keeps the old chain serving and is
//! kept as [`ReloadStatus::last_error`]. In-flight messages keep the `Arc<Chain>` they loaded,
//! so they finish on the chain they started with; plugin state lives in the shared
//! [`ChainContext`], so it survives reloads of a plugin with the same name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::chain::{Chain, ChainContext, LoadError, PluginLoadError};
use super::files::PluginFiles;
use super::manifest::Manifest;

/// A manifest and the files (component and assets) of every plugin it names, by plugin name.
#[derive(Debug, Clone)]
pub struct ChainSource {
    /// The manifest text.
    pub manifest_text: String,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Each plugin's component and assets, by plugin name.
    pub files: HashMap<String, PluginFiles>,
}

impl ChainSource {
    /// Read `plugins.toml` at `path` and every component and asset it names (paths relative
    /// to it).
    pub fn from_file(path: &Path) -> Result<ChainSource, LoadError> {
        let manifest_text = std::fs::read_to_string(path).map_err(|error| {
            LoadError::Manifest(super::ManifestError::Read {
                path: path.to_owned(),
                error,
            })
        })?;
        let manifest = Manifest::parse(&manifest_text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut files = HashMap::new();
        for spec in &manifest.plugins {
            let read = PluginFiles::read(base, spec).map_err(|reason| LoadError::Plugin {
                plugin: spec.name.clone(),
                reason,
            })?;
            files.insert(spec.name.clone(), read);
        }
        Ok(ChainSource {
            manifest_text,
            manifest,
            files,
        })
    }

    /// The component and asset files a manifest at `path` names (what a file watcher must
    /// watch).
    pub fn watched_paths(path: &Path, manifest: &Manifest) -> Vec<PathBuf> {
        let base = path.parent().unwrap_or(Path::new("."));
        manifest
            .plugins
            .iter()
            .flat_map(|spec| {
                std::iter::once(Manifest::component_path(base, spec))
                    .chain(Manifest::asset_paths(base, spec).map(|(_, p)| p))
            })
            .collect()
    }

    /// SHA-256 over the manifest text and every plugin's component and asset hashes, in chain
    /// order.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.manifest_text.as_bytes());
        for spec in &self.manifest.plugins {
            h.update(spec.name.as_bytes());
            if let Some(files) = self.files.get(&spec.name) {
                h.update(files.content_hash().as_bytes());
            }
        }
        hex::encode(h.finalize())
    }

    /// Build the chain this source describes.
    pub fn build(&self, ctx: &ChainContext, generation: u64) -> Result<Chain, LoadError> {
        Chain::build(ctx, &self.manifest, generation, |spec| {
            self.files
                .get(&spec.name)
                .cloned()
                .ok_or_else(|| PluginLoadError::Compile("component missing from the source".into()))
        })
    }
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum ReloadOutcome {
    /// A new chain is live.
    Swapped {
        /// Its generation.
        generation: u64,
    },
    /// Nothing changed; the live chain stays.
    Unchanged {
        /// The live generation.
        generation: u64,
    },
}

impl std::fmt::Display for ReloadOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadOutcome::Swapped { generation } => {
                write!(f, "new chain live as generation {generation}")
            }
            ReloadOutcome::Unchanged { generation } => {
                write!(f, "nothing changed; generation {generation} stays live")
            }
        }
    }
}

/// A reload that failed; the previous chain stayed live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReloadFailure {
    /// The plugin at fault, when one is.
    pub plugin: Option<String>,
    /// Why.
    pub reason: String,
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// The generation that stayed live.
    pub kept_generation: u64,
    /// In fleet mode, the published revision that could not be loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// Reload history for operators.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ReloadStatus {
    /// Chains swapped in since start.
    pub reloads: u64,
    /// Reloads that failed.
    pub failures: u64,
    /// The most recent failure, cleared by the next successful reload.
    pub last_error: Option<ReloadFailure>,
}

/// Builds and swaps chains for one host.
#[derive(Debug)]
pub struct Reloader {
    ctx: ChainContext,
    live: Arc<ArcSwap<Chain>>,
    /// Serialises reloads and holds the live chain's fingerprint.
    fingerprint: Mutex<String>,
    status: Mutex<ReloadStatus>,
}

impl Reloader {
    /// Load the first chain (generation `generation`) from `source`.
    pub fn start(
        ctx: ChainContext,
        source: &ChainSource,
        generation: u64,
    ) -> Result<Reloader, LoadError> {
        let chain = source.build(&ctx, generation)?;
        Ok(Reloader {
            ctx,
            live: Arc::new(ArcSwap::from_pointee(chain)),
            fingerprint: Mutex::new(source.fingerprint()),
            status: Mutex::default(),
        })
    }

    /// The live chain, swapped whole on reload.
    pub fn live(&self) -> Arc<ArcSwap<Chain>> {
        self.live.clone()
    }

    /// The live chain's generation.
    pub fn generation(&self) -> u64 {
        self.live.load().generation()
    }

    /// Reload history.
    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Read the manifest at `path` and its components, and [`Self::apply`] them with the next
    /// generation. Blocking (file reads, compilation, `init` calls): run it off the async
    /// workers.
    pub fn reload_file(&self, path: &Path) -> Result<ReloadOutcome, ReloadFailure> {
        match ChainSource::from_file(path) {
            Ok(source) => self.apply(&source, None),
            Err(e) => Err(self.failed(&e, None)),
        }
    }

    /// Swap in the chain of `source` if it differs from the live one: as `generation`, or the
    /// live generation + 1. Blocking.
    pub fn apply(
        &self,
        source: &ChainSource,
        generation: Option<u64>,
    ) -> Result<ReloadOutcome, ReloadFailure> {
        let mut fingerprint = self.fingerprint.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.generation();
        // Under the lock, so two reloads racing (a fleet host handling revisions 5 and 4 at
        // once) cannot apply the older one after the newer: generations only grow.
        if generation.is_some_and(|g| g < current) {
            return Ok(ReloadOutcome::Unchanged {
                generation: current,
            });
        }
        let new = source.fingerprint();
        if *fingerprint == new && generation.is_none_or(|g| g == current) {
            // The files are back to what is live: an earlier failure no longer applies.
            self.status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last_error = None;
            return Ok(ReloadOutcome::Unchanged {
                generation: current,
            });
        }
        let revision = generation;
        let generation = revision.unwrap_or(current + 1);
        let chain = source
            .build(&self.ctx, generation)
            .map_err(|e| self.failed(&e, revision))?;
        // The status is updated under its lock while the new chain becomes visible, so a
        // reader that sees the new generation never sees the failure it replaced.
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        self.live.store(Arc::new(chain));
        *fingerprint = new;
        status.reloads += 1;
        status.last_error = None;
        tracing::info!(generation, "plugin chain reloaded");
        Ok(ReloadOutcome::Swapped { generation })
    }

    fn failed(&self, e: &LoadError, revision: Option<u64>) -> ReloadFailure {
        let (plugin, reason) = match e {
            LoadError::Plugin { plugin, reason } => (Some(plugin.clone()), reason.to_string()),
            LoadError::Manifest(m) => (None, m.to_string()),
        };
        self.report_revision(plugin, reason, revision)
    }

    /// Record a reload that failed before a chain could be built (or while building it).
    pub fn report(&self, plugin: Option<String>, reason: String) -> ReloadFailure {
        self.report_revision(plugin, reason, None)
    }

    /// Like [`Reloader::report`], for a published revision (fleet mode).
    pub fn report_revision(
        &self,
        plugin: Option<String>,
        reason: String,
        revision: Option<u64>,
    ) -> ReloadFailure {
        let failure = ReloadFailure {
            plugin,
            reason,
            at_ms: self.ctx.clock.now_ms(),
            kept_generation: self.generation(),
            revision,
        };
        tracing::warn!(plugin = ?failure.plugin, reason = %failure.reason, generation = failure.kept_generation, "plugin chain reload failed; the previous chain stays live");
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.failures += 1;
        status.last_error = Some(failure.clone());
        failure
    }
}

//! Fleet reload over NATS JetStream: `chowk plugins publish` uploads every component and asset
//! to the object store `chowk_components`, named by content hash (`<sha256>.wasm` and
//! `<sha256>.asset`, uploaded once), and the manifest, its paths rewritten to those names, to
//! key `chain` of the KV bucket `chowk_plugins`. Hosts with `[plugins] source = "nats"` load the current entry at start and
//! watch the key; each new revision is fetched (components they already hold are not fetched
//! again) and applied through the [`Reloader`], with the KV revision as the chain generation,
//! so every host of a fleet reports the same generation for the same chain. A host that cannot
//! load a revision keeps its chain and reports the failure.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_nats::jetstream::{self, kv, object_store};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::chain::{ChainContext, LoadError};
use super::files::PluginFiles;
use super::manifest::Manifest;
use super::reload::{ChainSource, ReloadFailure, ReloadOutcome, Reloader};
use super::runtime::{EngineOptions, PluginEngine};
use super::state::MemoryState;
use crate::clock::{Clock, SystemClock};

/// The KV bucket holding the published manifest.
pub const KV_BUCKET: &str = "chowk_plugins";
/// The key of the manifest in [`KV_BUCKET`].
pub const CHAIN_KEY: &str = "chain";
/// The object store holding components by content hash.
pub const OBJECT_BUCKET: &str = "chowk_components";

/// Why publishing or fetching failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The local chain is wrong (it is validated before anything is uploaded).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// JetStream refused or is unreachable.
    #[error("nats: {0}")]
    Nats(String),
    /// A published entry is not usable.
    #[error("published chain: {0}")]
    Published(String),
}

fn nats(e: impl std::fmt::Display) -> FleetError {
    FleetError::Nats(e.to_string())
}

/// What `publish` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// The KV revision, which hosts use as the chain generation.
    pub revision: u64,
    /// Components and assets uploaded now (the others were already there).
    pub uploaded: usize,
    /// Components in the chain.
    pub components: usize,
}

/// The two buckets.
#[derive(Clone)]
pub struct Buckets {
    kv: kv::Store,
    objects: object_store::ObjectStore,
}

impl std::fmt::Debug for Buckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets")
            .field("kv", &KV_BUCKET)
            .field("objects", &OBJECT_BUCKET)
            .finish()
    }
}

impl Buckets {
    /// Open the buckets, creating them if needed.
    pub async fn open(client: &async_nats::Client) -> Result<Buckets, FleetError> {
        let js = jetstream::new(client.clone());
        // The bucket's stream is declared directly, with the KV conventions (what
        // `create_key_value` would make): that call first asks for the account info, which
        // async-nats 0.51 cannot parse from a nats-server 2.9.
        js.get_or_create_stream(jetstream::stream::Config {
            name: format!("KV_{KV_BUCKET}"),
            description: Some("Chowk: the published plugin chain".into()),
            subjects: vec![format!("$KV.{KV_BUCKET}.>")],
            max_messages_per_subject: 10,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| FleetError::Nats(format!("KV bucket {KV_BUCKET}: {e}")))?;
        let kv = js
            .get_key_value(KV_BUCKET)
            .await
            .map_err(|e| FleetError::Nats(format!("KV bucket {KV_BUCKET}: {e}")))?;
        let objects = match js.get_object_store(OBJECT_BUCKET).await {
            Ok(os) => os,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: OBJECT_BUCKET.into(),
                    description: Some("Chowk: plugin components by SHA-256".into()),
                    ..Default::default()
                })
                .await
                .map_err(|e| FleetError::Nats(format!("object store {OBJECT_BUCKET}: {e}")))?,
        };
        Ok(Buckets { kv, objects })
    }
}

/// File extension of a component in the object store.
const COMPONENT_EXT: &str = "wasm";
/// File extension of an asset in the object store.
const ASSET_EXT: &str = "asset";

impl Buckets {
    /// Upload `bytes` as `<sha256>.<ext>` unless it is already there; the name, and whether it
    /// was uploaded now.
    async fn upload(&self, bytes: &[u8], ext: &str) -> Result<(String, bool), FleetError> {
        let name = format!("{}.{ext}", hex::encode(Sha256::digest(bytes)));
        if self.objects.info(&name).await.is_ok() {
            return Ok((name, false));
        }
        self.objects
            .put(name.as_str(), &mut &bytes[..])
            .await
            .map_err(nats)?;
        Ok((name, true))
    }
}

/// Publish the chain of the manifest at `path`: validate it, build it once here exactly as a
/// host would (compile every component, check it against the contract, run `init` with its
/// config and assets), upload missing components and assets, then put the rewritten manifest
/// (the step that hosts react to). A chain that does not build is refused before anything is
/// uploaded, so one bad publish cannot reach the fleet.
pub async fn publish(client: &async_nats::Client, path: &Path) -> Result<Published, FleetError> {
    let source = ChainSource::from_file(path)?;
    let check = source.clone();
    tokio::task::spawn_blocking(move || check_builds(&check))
        .await
        .map_err(|e| FleetError::Published(format!("checking the chain: {e}")))??;
    let buckets = Buckets::open(client).await?;
    let mut table: toml::Table = source
        .manifest_text
        .parse()
        .map_err(|e: toml::de::Error| FleetError::Published(e.to_string()))?;
    let mut uploaded = 0;
    let plugins = table
        .get_mut("plugins")
        .and_then(toml::Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    let mut rewritten = Vec::with_capacity(plugins.len());
    for (spec, mut entry) in source.manifest.plugins.iter().zip(plugins) {
        let files = source
            .files
            .get(&spec.name)
            .ok_or_else(|| FleetError::Published(format!("{}: no component", spec.name)))?;
        let (name, fresh) = buckets.upload(&files.component, COMPONENT_EXT).await?;
        uploaded += usize::from(fresh);
        let mut assets = toml::Table::new();
        for (asset, bytes) in files.assets.iter() {
            let (name, fresh) = buckets.upload(bytes, ASSET_EXT).await?;
            uploaded += usize::from(fresh);
            assets.insert(asset.clone(), toml::Value::String(name));
        }
        if let Some(t) = entry.as_table_mut() {
            t.insert("path".into(), toml::Value::String(name));
            if !assets.is_empty() {
                t.insert("assets".into(), toml::Value::Table(assets));
            }
        }
        rewritten.push(entry);
    }
    table.insert("plugins".into(), toml::Value::Array(rewritten));
    let text = toml::to_string(&table).map_err(|e| FleetError::Published(e.to_string()))?;
    let revision = buckets
        .kv
        .put(CHAIN_KEY, text.into_bytes().into())
        .await
        .map_err(nats)?;
    Ok(Published {
        revision,
        uploaded,
        components: source.manifest.plugins.len(),
    })
}

/// Build a chain source with a throwaway engine and in-memory state: what every host will do.
fn check_builds(source: &ChainSource) -> Result<(), FleetError> {
    let engine = PluginEngine::new(EngineOptions {
        max_instances: 64,
        ..EngineOptions::default()
    })
    .map_err(|e| FleetError::Published(format!("plugin engine: {e}")))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ctx = ChainContext {
        engine: Arc::new(engine),
        state: Arc::new(MemoryState::new(clock.clone())),
        clock,
        max_text_chars: crate::ids::DEFAULT_TEXT_CHARS,
    };
    source.build(&ctx, 0)?;
    Ok(())
}

/// A host's view of the published chain, with the components and assets it has fetched so far.
#[derive(Debug)]
pub struct Fleet {
    buckets: Buckets,
    objects: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl Fleet {
    /// Open the buckets.
    pub async fn connect(client: &async_nats::Client) -> Result<Fleet, FleetError> {
        Ok(Fleet {
            buckets: Buckets::open(client).await?,
            objects: Mutex::default(),
        })
    }

    /// The published chain and its revision, if anything was published.
    pub async fn current(&self) -> Result<Option<(u64, ChainSource)>, FleetError> {
        match self.buckets.kv.entry(CHAIN_KEY).await.map_err(nats)? {
            Some(entry) if entry.operation == kv::Operation::Put => {
                Ok(Some((entry.revision, self.source(&entry.value).await?)))
            }
            _ => Ok(None),
        }
    }

    /// Every published revision that is still kept, newest first, with the chain of each (or
    /// why it could not be fetched): a starting host walks them to the newest one it can load.
    pub async fn revisions(
        &self,
    ) -> Result<Vec<(u64, Result<ChainSource, FleetError>)>, FleetError> {
        let mut history = self.buckets.kv.history(CHAIN_KEY).await.map_err(nats)?;
        let mut entries = Vec::new();
        while let Some(entry) = history.next().await {
            let entry = entry.map_err(nats)?;
            if entry.operation == kv::Operation::Put {
                entries.push((entry.revision, entry.value));
            }
            if entry.delta == 0 {
                break;
            }
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        let mut out = Vec::with_capacity(entries.len());
        for (revision, value) in entries {
            out.push((revision, self.source(&value).await));
        }
        Ok(out)
    }

    /// The chain of one published manifest: its components fetched (or taken from those
    /// already held) and checked against their names.
    async fn source(&self, value: &[u8]) -> Result<ChainSource, FleetError> {
        let manifest_text = String::from_utf8(value.to_vec())
            .map_err(|_| FleetError::Published("manifest is not UTF-8".into()))?;
        let manifest = Manifest::parse(&manifest_text).map_err(LoadError::from)?;
        let mut files = HashMap::new();
        for spec in &manifest.plugins {
            let name = spec.path.to_string_lossy().into_owned();
            let component = self.object(&spec.name, &name, COMPONENT_EXT).await?;
            let mut assets = BTreeMap::new();
            for (asset, path) in &spec.assets {
                let name = path.to_string_lossy().into_owned();
                assets.insert(
                    asset.clone(),
                    self.object(&spec.name, &name, ASSET_EXT).await?,
                );
            }
            files.insert(
                spec.name.clone(),
                PluginFiles {
                    component,
                    assets: Arc::new(assets),
                },
            );
        }
        Ok(ChainSource {
            manifest_text,
            manifest,
            files,
        })
    }

    /// One published object, from those already held or fetched and checked against its name.
    async fn object(
        &self,
        plugin: &str,
        name: &str,
        ext: &str,
    ) -> Result<Arc<Vec<u8>>, FleetError> {
        let held = self
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        if let Some(bytes) = held {
            return Ok(bytes);
        }
        let mut object = self
            .buckets
            .objects
            .get(name)
            .await
            .map_err(|e| FleetError::Published(format!("{plugin}: {name}: {e}")))?;
        let mut bytes = Vec::new();
        object.read_to_end(&mut bytes).await.map_err(nats)?;
        let hash = format!("{}.{ext}", hex::encode(Sha256::digest(&bytes)));
        if hash != name {
            return Err(FleetError::Published(format!(
                "{plugin}: {name} has content {hash}"
            )));
        }
        let bytes = Arc::new(bytes);
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), bytes.clone());
        Ok(bytes)
    }

    /// Fetch the current revision and apply it (admin reload in fleet mode).
    pub async fn reload(&self, reloader: &Arc<Reloader>) -> Result<ReloadOutcome, ReloadFailure> {
        match self.current().await {
            Ok(Some((revision, source))) => apply(reloader, source, revision).await,
            Ok(None) => Ok(ReloadOutcome::Unchanged {
                generation: reloader.generation(),
            }),
            Err(e) => Err(reloader.report(None, e.to_string())),
        }
    }

    /// Apply every new revision of the chain until `shutdown`. The watch starts before the
    /// current entry is read, so no revision falls in between.
    pub async fn spawn_watch(
        self: Arc<Self>,
        reloader: Arc<Reloader>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, FleetError> {
        let mut updates = self.buckets.kv.watch(CHAIN_KEY).await.map_err(nats)?;
        if let Err(e) = self.reload(&reloader).await {
            tracing::warn!(reason = %e.reason, "published plugin chain not loaded");
        }
        Ok(tokio::spawn(async move {
            loop {
                tokio::select! {
                    update = updates.next() => match update {
                        Some(Ok(entry)) if entry.operation == kv::Operation::Put => {
                            let revision = entry.revision;
                            let result = match self.source(&entry.value).await {
                                Ok(source) => apply(&reloader, source, revision).await,
                                Err(e) => Err(reloader.report_revision(None, e.to_string(), Some(revision))),
                            };
                            if let Err(e) = result {
                                tracing::warn!(revision, reason = %e.reason, "published plugin chain not loaded; the previous chain stays live");
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => tracing::warn!(error = %e, "plugin chain watch error"),
                        None => return,
                    },
                    _ = shutdown.cancelled() => return,
                }
            }
        }))
    }
}

async fn apply(
    reloader: &Arc<Reloader>,
    source: ChainSource,
    revision: u64,
) -> Result<ReloadOutcome, ReloadFailure> {
    if revision <= reloader.generation() {
        return Ok(ReloadOutcome::Unchanged {
            generation: reloader.generation(),
        });
    }
    let r = reloader.clone();
    tokio::task::spawn_blocking(move || r.apply(&source, Some(revision)))
        .await
        .unwrap_or_else(|e| Err(reloader.report(None, format!("reload task failed: {e}"))))
}

//! One Chowk host, assembled from its [`Config`]: store, plugin chain, relay (NATS or
//! in-process), NATS ingest, live feed and the HTTP API. [`Server::run`] serves a listener
//! until a shutdown future resolves (mini-redis style, so tests run hosts in-process), then
//! finishes in-flight requests and lets the relay drain once more.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{Authority, KeyError};
use crate::bus::signature::RelayKey;
use crate::bus::BusError;
use crate::chat::Chat;
use crate::clock::{Clock, SystemClock};
use crate::config::{BootstrapRoom, Config, PluginSource};
use crate::http::listener::ConnectionLimits;
use crate::http::{self, AppState};
use crate::ingest::{feed_live_hub, Ingest};
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::plugins::fleet::Fleet;
use crate::plugins::reload::{ChainSource, Reloader};
use crate::plugins::{
    ChainContext, EngineOptions, LoadError, MemoryState, PluginEngine, PluginState,
};
use crate::relay::{Relay, RelayOutbox};
use crate::store::{NewRoom, Store, StoreError};

/// Why a host could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The config cannot work.
    #[error("config: {0}")]
    Config(String),
    /// The auth secret is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The store could not be set up.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The plugin chain did not load.
    #[error("the plugin chain ({path}) did not load: {error}")]
    Chain {
        /// The manifest.
        path: String,
        /// Why (in the message, so not also the error's `source`).
        error: LoadError,
    },
    /// NATS could not be set up.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The plugin files cannot be watched.
    #[error(transparent)]
    Watch(#[from] crate::plugins::watch::WatchError),
    /// The fleet's published chain cannot be reached.
    #[error("fleet plugin source: {0}")]
    Fleet(#[from] crate::plugins::fleet::FleetError),
    /// The listener failed.
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
}

/// What a host needs besides its config.
#[derive(Debug, Clone)]
pub struct Options {
    /// The clock messages are stamped with.
    pub clock: Arc<dyn Clock>,
    /// A plugin engine to share (tests run several hosts on one); `None` makes one.
    pub engine: Option<Arc<PluginEngine>>,
    /// Secret used when the config has none (`chowk serve --dev`).
    pub dev_secret: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            engine: None,
            dev_secret: None,
        }
    }
}

/// A started host: background tasks running, HTTP not yet serving.
#[derive(Debug)]
pub struct Server {
    state: Arc<AppState>,
    background: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    shutdown_timeout: Duration,
    connections: ConnectionLimits,
}

impl Server {
    /// Connect the store and NATS, load the chain, and start the relay, ingest and live feed.
    pub async fn start(config: Config, options: Options) -> Result<Server, ServerError> {
        check_capacity(&config)?;
        let secret = config
            .auth
            .jwt_secret
            .clone()
            .or(options.dev_secret)
            .ok_or_else(|| {
                ServerError::Config(
                    "auth.jwt_secret (or CHOWK_AUTH_JWT_SECRET) is required; `chowk serve --dev` \
                     generates one for a trial"
                        .into(),
                )
            })?;
        let auth = Authority::new(secret.as_bytes(), config.auth.leeway_s)?;
        let relay_secret = match config.nats.as_ref().and_then(|n| n.relay_secret.as_deref()) {
            Some(s) if s.len() < crate::auth::MIN_SECRET_BYTES => {
                return Err(ServerError::Config(format!(
                    "nats.relay_secret must be at least {} bytes",
                    crate::auth::MIN_SECRET_BYTES
                )))
            }
            Some(s) => s,
            None => &secret,
        };
        let relay_key = RelayKey::derive(relay_secret.as_bytes());
        let clock = options.clock;
        let store = Arc::new(Store::open(config.redis.as_ref(), clock.clone())?);
        // A bad room is a config error; an unreachable store is not a reason not to start
        // (`/readyz` reports it): the rooms are then made in the background, once it answers.
        let pending_rooms = match bootstrap_rooms(&store, &config.bootstrap.rooms).await {
            Ok(()) => None,
            Err(ServerError::Store(e)) if e.is_transient() => {
                tracing::warn!(error = %e, "bootstrap rooms not created yet; retrying in the background");
                Some(config.bootstrap.rooms.clone())
            }
            Err(e) => return Err(e),
        };
        // Connections and scripts before the first request. A store that did not answer the
        // bootstrap is not waited for a second time: `/readyz` reports it.
        if pending_rooms.is_none() {
            if let Err(e) = store.warm().await {
                tracing::warn!(error = %e, "could not warm the store's connections");
            }
        }
        let state: Arc<dyn PluginState> = match &*store {
            Store::Redis(redis) => Arc::new(redis.plugin_state(tokio::runtime::Handle::current())),
            Store::Memory(_) => Arc::new(MemoryState::new(clock.clone())),
        };
        let engine = match options.engine {
            Some(engine) => engine,
            None => Arc::new(
                PluginEngine::new(EngineOptions::default())
                    .map_err(|e| ServerError::Config(format!("plugin engine: {e}")))?,
            ),
        };
        let context = ChainContext {
            engine,
            state,
            clock: clock.clone(),
            max_text_chars: config.limits.text_chars,
        };
        let nats = match &config.nats {
            Some(nats) => Some(nats.connect("chowk").await?),
            None => None,
        };
        let fleet = fleet_source(&config, nats.as_ref()).await?;
        let path = config.plugins.path.clone();
        let reloader = first_chain(context, &path, fleet.as_deref()).await?;
        let reloader = Arc::new(reloader);
        let chain = reloader.live();

        let metrics = Metrics::new();
        let live = LiveHub::new();
        let background = CancellationToken::new();
        let mut tasks = Vec::new();
        if let Some(rooms) = pending_rooms {
            let (store, stop) = (store.clone(), background.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    match bootstrap_rooms(&store, &rooms).await {
                        Ok(()) => return,
                        Err(ServerError::Store(e)) if e.is_transient() => {}
                        Err(e) => {
                            tracing::error!(error = %e, "bootstrap rooms not created");
                            return;
                        }
                    }
                }
            }));
        }
        let relay = match (&nats, &config.nats) {
            (Some(client), Some(nats_config)) => Relay::new(
                store.clone(),
                client.clone(),
                nats_config,
                relay_key.clone(),
            ),
            _ => Relay::local(store.clone(), live.clone()),
        }
        .with_metrics(metrics.clone());
        let outbox = RelayOutbox::new(relay.handle());
        let outbox = match &nats {
            Some(client) => {
                let (outbox, task) = outbox.announce_on(client.clone(), background.clone());
                tasks.push(task);
                outbox
            }
            None => outbox,
        };
        let chat = Arc::new(
            Chat::new(
                store,
                chain,
                clock,
                Arc::new(outbox),
                config.limits.text_chars,
            )
            .with_admission(
                config.limits.posts_in_flight,
                config.limits.sender_posts_in_flight,
            )
            .with_metrics(metrics.clone()),
        );
        let stop = background.clone();
        tasks.push(tokio::spawn(
            relay.run(async move { stop.cancelled().await }),
        ));
        if let Some(client) = &nats {
            tasks.push(
                feed_live_hub(
                    live.clone(),
                    client.clone(),
                    relay_key.clone(),
                    metrics.clone(),
                    background.clone(),
                )
                .await?,
            );
            let ingest = Arc::new(Ingest::new(chat.clone(), client.clone()));
            let stop = background.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = ingest.run(async move { stop.cancelled().await }).await {
                    tracing::error!(error = %e, "NATS ingest stopped");
                }
            }));
        }
        match &fleet {
            Some(fleet) => tasks.push(
                fleet
                    .clone()
                    .spawn_watch(reloader.clone(), background.clone())
                    .await?,
            ),
            None if config.plugins.watch => tasks.push(crate::plugins::watch::spawn(
                reloader.clone(),
                path.clone(),
                background.clone(),
            )?),
            None => {}
        }
        let state = Arc::new(AppState {
            chat,
            reloader,
            fleet,
            plugins_path: path,
            auth,
            live,
            metrics,
            limits: config.limits.clone(),
            body_timeout: Duration::from_millis(config.server.body_timeout_ms),
            stream_access_check: Duration::from_millis(config.server.stream_access_check_ms),
            nats,
            shutdown: CancellationToken::new(),
        });
        Ok(Server {
            state,
            background,
            tasks,
            shutdown_timeout: Duration::from_millis(config.server.shutdown_timeout_ms),
            connections: ConnectionLimits {
                max_connections: config.server.max_connections,
                header_timeout: Duration::from_millis(config.server.header_timeout_ms),
            },
        })
    }

    /// What the handlers share.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The API (for in-process requests with `tower::ServiceExt::oneshot`).
    pub fn router(&self) -> Router {
        http::router(self.state.clone())
    }

    /// Serve `listener` until `shutdown` resolves; then stop live streams, finish in-flight
    /// requests (at most `shutdown_timeout_ms`), stop ingest and let the relay drain.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let streams = self.state.shutdown.clone();
        let draining = CancellationToken::new();
        let started_draining = draining.clone();
        let serve = http::listener::serve(
            listener,
            http::router(self.state.clone()),
            self.connections,
            self.state.metrics.clone(),
            async move {
                shutdown.await;
                streams.cancel();
                started_draining.cancel();
            },
        );
        let timeout = self.shutdown_timeout;
        let result = tokio::select! {
            r = serve => r.map_err(ServerError::from),
            _ = async { draining.cancelled().await; tokio::time::sleep(timeout).await } => {
                tracing::warn!("requests still running after the shutdown timeout; stopping anyway");
                Ok(())
            }
        };
        self.stop().await;
        result
    }

    /// Stop the background tasks; the relay publishes what is left first.
    pub async fn stop(self) {
        self.state.shutdown.cancel();
        self.background.cancel();
        for task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                tracing::warn!("a background task did not stop within 10 s");
            }
        }
    }
}

/// The fleet's published chain, with `[plugins] source = "nats"`.
async fn fleet_source(
    config: &Config,
    nats: Option<&async_nats::Client>,
) -> Result<Option<Arc<Fleet>>, ServerError> {
    match (config.plugins.source, nats) {
        (PluginSource::File, _) => Ok(None),
        (PluginSource::Nats, None) => Err(ServerError::Config(
            "[plugins] source = \"nats\" needs a [nats] section".into(),
        )),
        (PluginSource::Nats, Some(client)) => Ok(Some(Arc::new(Fleet::connect(client).await?))),
    }
}

/// The first chain: the newest published revision this host can load (generation = revision),
/// or the manifest at `path` (generation 1; 0 in fleet mode, below every revision). A published
/// revision that cannot be fetched or built is skipped and reported (`reload.last_error`): one
/// bad publish must not stop every restart and every new host of a fleet.
async fn first_chain(
    context: ChainContext,
    path: &std::path::Path,
    fleet: Option<&Fleet>,
) -> Result<Reloader, ServerError> {
    let published = match fleet {
        Some(fleet) => fleet.revisions().await?,
        None => Vec::new(),
    };
    let first = if fleet.is_some() { 0 } else { 1 };
    let file = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut refused: Vec<(u64, Option<String>, String)> = Vec::new();
        let mut started = None;
        for (revision, source) in published {
            let source = match source {
                Ok(source) => source,
                Err(e) => {
                    refused.push((revision, None, e.to_string()));
                    continue;
                }
            };
            match Reloader::start(context.clone(), &source, revision) {
                Ok(reloader) => {
                    started = Some(reloader);
                    break;
                }
                Err(e) => {
                    let plugin = match &e {
                        LoadError::Plugin { plugin, .. } => Some(plugin.clone()),
                        LoadError::Manifest(_) => None,
                    };
                    refused.push((revision, plugin, e.to_string()));
                }
            }
        }
        let reloader = match started {
            Some(r) => r,
            None => Reloader::start(context, &ChainSource::from_file(&file)?, first)?,
        };
        // Oldest first, so the newest refused revision is the one `last_error` shows.
        for (revision, plugin, reason) in refused.into_iter().rev() {
            reloader.report_revision(plugin, reason, Some(revision));
        }
        Ok(reloader)
    })
    .await
    .map_err(|e| ServerError::Config(format!("chain loader: {e}")))?
    .map_err(|error: LoadError| ServerError::Chain {
        path: path.display().to_string(),
        error,
    })
}

/// Create the `[[bootstrap.rooms]]` that do not exist yet.
async fn bootstrap_rooms(store: &Store, rooms: &[BootstrapRoom]) -> Result<(), ServerError> {
    for room in rooms {
        let bad =
            |e: String| ServerError::Config(format!("[[bootstrap.rooms]] {:?}: {e}", room.id));
        let id = crate::ids::RoomId::new(room.id.clone()).map_err(|e| bad(e.to_string()))?;
        let created = store
            .create_room(NewRoom {
                name: room.name.clone().unwrap_or_else(|| room.id.clone()),
                description: room.description.clone(),
                visibility: room.visibility,
                retention: room.retention,
                id,
            })
            .await;
        match created {
            Ok(made) if made.created => tracing::info!(room = %room.id, "bootstrap room created"),
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => {}
            Err(StoreError::Invalid { field, message }) => {
                return Err(bad(format!("{field}: {message}")))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A random secret for `chowk serve --dev` (hex of 32 random bytes).
pub fn random_secret() -> Result<String, ServerError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ServerError::Config(format!("no randomness for a dev secret: {e}")))?;
    Ok(hex::encode(bytes))
}

/// `[server]` and `[limits]` values that would make the host refuse every connection or post.
fn check_capacity(config: &Config) -> Result<(), ServerError> {
    let (server, limits) = (&config.server, &config.limits);
    let zero = [
        ("server.max_connections", server.max_connections as u64),
        ("server.header_timeout_ms", server.header_timeout_ms),
        ("server.body_timeout_ms", server.body_timeout_ms),
        (
            "server.stream_access_check_ms",
            server.stream_access_check_ms,
        ),
        ("limits.posts_in_flight", limits.posts_in_flight as u64),
        (
            "limits.sender_posts_in_flight",
            limits.sender_posts_in_flight as u64,
        ),
    ]
    .into_iter()
    .find(|(_, value)| *value == 0);
    match zero {
        Some((key, _)) => Err(ServerError::Config(format!("{key} must be greater than 0"))),
        None => Ok(()),
    }
}

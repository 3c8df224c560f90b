//! Chowk hosts for API tests: a [`chowk_host::server::Server`] started in-process from a config
//! (in-memory store, or the real Redis/NATS of [`crate::servers`]), tokens for any user and
//! role, requests through `Router::oneshot`, and the same host served on a free port.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chowk_host::auth::{Authority, Role};
use chowk_host::bus::NatsConfig;
use chowk_host::config::Config;
use chowk_host::server::{Options, Server};
use chowk_host::store::RedisConfig;
use http_body_util::BodyExt;
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;

/// The secret every test host signs with.
pub const SECRET: &str = "chowk-tests-secret-0123456789abcdef";

/// The chain test hosts run: a keyword filter rejecting `blocked`, the spam rules (flag at 3.5),
/// and a tight rate limit only in the room `limited` (2 messages per sender per minute).
pub const CHAIN: &str = r#"
version = 1
[chain]
flag_at = 3.5
reject_at = 8.0

[[plugins]]
name = "rate-limit"
path = "{plugins}/rate-limit.wasm"
rooms = ["limited"]
[plugins.config]
per_sender_room = { max = 2, window_ms = 60000 }

[[plugins]]
name = "keyword-filter"
path = "{plugins}/keyword-filter.wasm"
on_error = "reject"
[[plugins.config.lists]]
name = "blocked"
action = "reject"
reason = "That word is not allowed here."
terms = ["blocked"]

[[plugins]]
name = "spam-rules"
path = "{plugins}/spam-rules.wasm"
"#;

/// A message the spam rules flag (score between `flag_at` and `reject_at`).
pub const FLAGGED_TEXT: &str = "Congrats! You won a prize, reply to claim";

/// What a test host runs on.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// `[redis]`; `None`: the in-memory store.
    pub redis: Option<RedisConfig>,
    /// `[nats]`; `None`: the in-process relay.
    pub nats: Option<NatsConfig>,
    /// Chain manifest text (`{plugins}` is replaced by the components' folder); `None`: [`CHAIN`].
    pub chain: Option<String>,
    /// Tweaks to the config before start.
    pub limits: Option<chowk_host::config::LimitsConfig>,
    /// Use this manifest file as it is (instead of writing `chain`).
    pub chain_file: Option<PathBuf>,
    /// `[plugins] watch` (default: true).
    pub watch: Option<bool>,
    /// `[plugins] source` (default: file).
    pub plugin_source: Option<chowk_host::config::PluginSource>,
    /// `[server]` (its `listen` is not used: [`Api::listen`] binds a free port).
    pub server: Option<chowk_host::config::ServerConfig>,
    /// `[auth] leeway_s` (default: the config's).
    pub leeway_s: Option<u64>,
}

/// A started host with its router.
#[derive(Debug)]
pub struct Api {
    /// The host.
    pub server: Server,
    /// Its API.
    pub router: Router,
    authority: Authority,
    _dir: TempDir,
}

/// A response, with the body parsed as JSON when it is JSON (else `Value::String`).
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub json: Value,
}

impl Reply {
    /// The stable error code of an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

/// The config a [`Setup`] makes, with the chain written into `dir`.
pub fn config(setup: &Setup, dir: &TempDir) -> Config {
    let chain_path = match &setup.chain_file {
        Some(path) => path.clone(),
        None => {
            let path: PathBuf = dir.path().join("plugins.toml");
            let chain = setup
                .chain
                .as_deref()
                .unwrap_or(CHAIN)
                .replace("{plugins}", &crate::plugins_dir().display().to_string());
            std::fs::write(&path, chain).expect("write plugins.toml");
            path
        }
    };
    let mut config = Config::default();
    config.auth.jwt_secret = Some(SECRET.into());
    config.plugins.path = chain_path;
    config.plugins.watch = setup.watch.unwrap_or(true);
    config.plugins.source = setup.plugin_source.unwrap_or_default();
    config.redis = setup.redis.clone();
    config.nats = setup.nats.clone();
    if let Some(limits) = &setup.limits {
        config.limits = limits.clone();
    }
    if let Some(server) = &setup.server {
        config.server = server.clone();
    }
    if let Some(leeway) = setup.leeway_s {
        config.auth.leeway_s = leeway;
    }
    config
}

impl Api {
    /// Start a host.
    pub async fn start(setup: Setup) -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config(&setup, &dir);
        let server = Server::start(
            config,
            Options {
                engine: Some(crate::engine()),
                ..Options::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("host starts: {e}"));
        Api {
            router: server.router(),
            server,
            authority: Authority::new(SECRET.as_bytes(), 0).expect("authority"),
            _dir: dir,
        }
    }

    /// A token for `user` with `role`, valid for an hour.
    pub fn token(&self, user: &str, role: Role) -> String {
        self.authority
            .mint(user, role, Duration::from_secs(3600))
            .expect("mint")
    }

    /// Send a request through the router.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            json,
        }
    }

    /// `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    /// Serve on a free port until the returned handle is stopped.
    pub async fn listen(self) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let authority = self.authority.clone();
        let task = tokio::spawn(async move {
            self.server
                .run(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        Running {
            base,
            authority,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

/// A host serving on a real port.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    authority: Authority,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// A token for `user` with `role`.
    pub fn token(&self, user: &str, role: Role) -> String {
        self.token_for(user, role, Duration::from_secs(3600))
    }

    /// A token for `user` with `role`, valid for `ttl`.
    pub fn token_for(&self, user: &str, role: Role, ttl: Duration) -> String {
        self.authority.mint(user, role, ttl).expect("mint")
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Graceful shutdown; waits until the host has stopped.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task ends cleanly");
        }
    }
}

/// Create a room through the API as an admin.
pub async fn create_room(api: &Api, id: &str, visibility: &str) {
    let admin = api.token("root", Role::Admin);
    let reply = api
        .call(
            Method::POST,
            "/v1/rooms",
            Some(&admin),
            Some(serde_json::json!({"id": id, "name": id, "visibility": visibility})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
}

/// The admin plugin report (`GET /v1/admin/plugins`): generation, plugins, reload status.
pub async fn plugin_report(api: &Api) -> Value {
    let admin = api.token("root", Role::Admin);
    api.call(Method::GET, "/v1/admin/plugins", Some(&admin), None)
        .await
        .json
}

/// Poll the plugin report until the host runs `generation` (fails after 10 s); how long it took.
pub async fn wait_generation(api: &Api, generation: u64) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let r = plugin_report(api).await;
        if r["generation"] == generation {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "host never reached generation {generation}: {r}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

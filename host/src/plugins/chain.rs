//! The chain: plugins in configured order, applied to one message. A reject stops the chain,
//! rewrites feed the next plugin, scores add up and the thresholds turn the total into `flag`
//! or `reject`. Failures follow each plugin's `on_error`, shadow plugins are recorded and never
//! enforced, and every outcome carries the decision trace.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::breaker::{Breaker, BreakerStatus};
use super::decision::{Action, Decision, PluginRun, Reason, Rejection, RunOutcome};
use super::files::PluginFiles;
use super::latency::{Latency, Percentiles};
use super::manifest::{ChainSpec, Isolation, Manifest, ManifestError, Mode, OnError, PluginSpec};
use super::runtime::{
    check_contract, wit, ContractError, LoadedPlugin, PluginEngine, PluginFailure, PluginLimits,
};
use super::state::PluginState;
use crate::clock::Clock;

/// A message as the chain judges it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Message id.
    pub id: String,
    /// Room id.
    pub room: String,
    /// Sender's user id.
    pub sender: String,
    /// Text as sent.
    pub text: String,
    /// Receive time, ms since the epoch.
    pub sent_at_ms: u64,
    /// Extra string metadata.
    pub metadata: Vec<(String, String)>,
}

/// Why a chain could not be loaded. The previous chain, if any, stays in service.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `plugins.toml` itself is wrong.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// One plugin could not be loaded.
    #[error("plugin {plugin:?}: {reason}")]
    Plugin {
        /// The plugin's name.
        plugin: String,
        /// What went wrong.
        reason: PluginLoadError,
    },
}

/// Why one plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginLoadError {
    /// The component file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error (in the message, so not also the error's `source`).
        error: std::io::Error,
    },
    /// Not a valid component.
    #[error("{0}")]
    Compile(String),
    /// An asset file exceeds [`super::manifest::MAX_ASSET_BYTES`].
    #[error(
        "asset {name:?} is {bytes} bytes; assets may be at most {} bytes",
        super::manifest::MAX_ASSET_BYTES
    )]
    AssetTooLarge {
        /// The asset's name.
        name: String,
        /// Its size.
        bytes: u64,
    },
    /// Does not fit the contract.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// Could not be linked, instantiated or initialised.
    #[error(transparent)]
    Start(#[from] PluginFailure),
}

/// Call statistics of one plugin.
#[derive(Debug, Default)]
struct Stats {
    calls: AtomicU64,
    failures: AtomicU64,
    latency: Latency,
}

struct ChainPlugin {
    spec: PluginSpec,
    runtime: LoadedPlugin,
    breaker: Breaker,
    stats: Stats,
}

/// A live plugin's state, for operators.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginStatus {
    /// Name.
    pub name: String,
    /// SHA-256 of its component.
    pub hash: String,
    /// Enforce or shadow.
    pub mode: Mode,
    /// Fail-open or fail-closed.
    pub on_error: OnError,
    /// Rooms it applies to.
    pub rooms: Vec<String>,
    /// Per-call deadline, ms.
    pub deadline_ms: u64,
    /// Memory cap, MiB.
    pub memory_mb: u64,
    /// Calls made.
    pub calls: u64,
    /// Calls that failed.
    pub failures: u64,
    /// Circuit breaker state.
    pub breaker: BreakerStatus,
    /// Call latency percentiles, µs (absent before the first call).
    pub latency: Option<Percentiles>,
}

/// What every chain of one host shares: the engine, the plugins' state and the clock.
#[derive(Debug, Clone)]
pub struct ChainContext {
    /// The wasmtime engine (and its compiled-component cache).
    pub engine: Arc<PluginEngine>,
    /// Plugin key-value state; survives chain reloads.
    pub state: Arc<dyn PluginState>,
    /// The clock plugins, state TTLs and breakers follow.
    pub clock: Arc<dyn Clock>,
    /// Longest text a rewrite may produce (`[limits] text_chars`): rewrites obey the rules of
    /// posts, and one that does not is the plugin's failure.
    pub max_text_chars: usize,
}

/// A loaded, immutable chain. Swapping in a new chain means building a new `Chain`.
pub struct Chain {
    generation: u64,
    thresholds: ChainSpec,
    plugins: Vec<ChainPlugin>,
    clock: Arc<dyn Clock>,
    max_text_chars: usize,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("generation", &self.generation)
            .field(
                "plugins",
                &self
                    .plugins
                    .iter()
                    .map(|p| &p.spec.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// Read `plugins.toml` at `path` and load its chain.
    pub fn load_file(ctx: &ChainContext, path: &Path, generation: u64) -> Result<Chain, LoadError> {
        let manifest = Manifest::load(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::load(ctx, &manifest, base, generation)
    }

    /// Load every plugin of a manifest (component paths relative to `base`). Fails as a whole
    /// if any plugin fails.
    pub fn load(
        ctx: &ChainContext,
        manifest: &Manifest,
        base: &Path,
        generation: u64,
    ) -> Result<Chain, LoadError> {
        Self::build(ctx, manifest, generation, |spec| {
            PluginFiles::read(base, spec)
        })
    }

    /// Build a chain whose components' and assets' bytes come from `files` (files, or a fleet's
    /// object store). Compilation is cached by content hash, so unchanged components cost
    /// only instantiation and `init`. Fails as a whole if any plugin fails.
    pub fn build(
        ctx: &ChainContext,
        manifest: &Manifest,
        generation: u64,
        files: impl Fn(&PluginSpec) -> Result<PluginFiles, PluginLoadError>,
    ) -> Result<Chain, LoadError> {
        let engine = &*ctx.engine;
        let mut plugins = Vec::with_capacity(manifest.plugins.len());
        for spec in &manifest.plugins {
            let fail = |reason: PluginLoadError| LoadError::Plugin {
                plugin: spec.name.clone(),
                reason,
            };
            let files = files(spec).map_err(fail)?;
            let (component, hash) = engine
                .compile(&files.component)
                .map_err(|e| fail(PluginLoadError::Compile(e.0)))?;
            check_contract(engine.engine(), &component).map_err(|e| fail(e.into()))?;
            let limits = PluginLimits {
                deadline_ms: spec.deadline_ms,
                init_deadline_ms: spec.init_deadline_ms,
                memory_mb: spec.memory_mb,
                instances: spec.instances,
                per_room: spec.isolation == Isolation::Room,
            };
            let runtime = LoadedPlugin::new(
                engine,
                &spec.name,
                &component,
                hash,
                spec.config_json(),
                limits,
                files.assets,
                ctx.state.clone(),
                ctx.clock.clone(),
            )
            .map_err(|e| fail(e.into()))?;
            plugins.push(ChainPlugin {
                breaker: Breaker::new(spec.breaker),
                spec: spec.clone(),
                runtime,
                stats: Stats::default(),
            });
        }
        Ok(Chain {
            generation,
            thresholds: manifest.chain.clone(),
            plugins,
            clock: ctx.clock.clone(),
            max_text_chars: ctx.max_text_chars,
        })
    }

    /// Whether it has no plugins (every message is allowed as it is).
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// The chain's generation number.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The chain's thresholds.
    pub fn thresholds(&self) -> &ChainSpec {
        &self.thresholds
    }

    /// Every plugin's status, in chain order.
    pub fn status(&self) -> Vec<PluginStatus> {
        let now = self.clock.now_ms();
        self.plugins
            .iter()
            .map(|p| PluginStatus {
                name: p.spec.name.clone(),
                hash: p.runtime.hash().to_owned(),
                mode: p.spec.mode,
                on_error: p.spec.on_error,
                rooms: p.spec.rooms.clone(),
                deadline_ms: p.spec.deadline_ms,
                memory_mb: p.spec.memory_mb,
                calls: p.stats.calls.load(Ordering::Relaxed),
                failures: p.stats.failures.load(Ordering::Relaxed),
                breaker: p.breaker.status(now),
                latency: p.stats.latency.percentiles(),
            })
            .collect()
    }

    /// A rewrite must leave a text that could have been posted.
    fn check_rewrite(&self, verdict: wit::Verdict) -> Result<wit::Verdict, PluginFailure> {
        if let wit::Verdict::Rewrite(r) = &verdict {
            if let Some(problem) = crate::ids::text_problem(&r.text, self.max_text_chars) {
                return Err(PluginFailure::InvalidVerdict(format!(
                    "rewritten text {problem}"
                )));
            }
        }
        Ok(verdict)
    }

    /// Judge one message.
    pub fn evaluate(&self, message: &Message) -> Decision {
        let mut run = Run {
            text: message.text.clone(),
            score: 0.0,
            rewritten: false,
            reasons: Vec::new(),
            trace: Vec::with_capacity(self.plugins.len()),
            rejection: None,
        };
        for plugin in &self.plugins {
            self.run_plugin(plugin, message, &mut run);
            if run.rejection.is_some() {
                break;
            }
        }
        self.decide(run)
    }

    fn run_plugin(&self, plugin: &ChainPlugin, message: &Message, run: &mut Run) {
        let name = &plugin.spec.name;
        let shadow = plugin.spec.mode == Mode::Shadow;
        let mut entry = PluginRun {
            plugin: name.clone(),
            outcome: RunOutcome::Allow,
            shadow,
            elapsed_us: 0,
            points: 0.0,
            error: None,
        };
        if !plugin.spec.applies_to(&message.room) {
            entry.outcome = RunOutcome::Skipped;
            run.trace.push(entry);
            return;
        }
        let now = self.clock.now_ms();
        if let Err(until) = plugin.breaker.admit(now) {
            entry.outcome = RunOutcome::Disabled;
            entry.error = Some(format!("disabled by repeated failures until {until} ms"));
            run.trace.push(entry);
            if !shadow {
                run.plugin_failed(&plugin.spec, "disabled", "disabled after repeated failures");
            }
            return;
        }
        let input = wit::Message {
            id: message.id.clone(),
            room: message.room.clone(),
            sender: message.sender.clone(),
            text: run.text.clone(),
            sent_at: message.sent_at_ms,
            metadata: message.metadata.clone(),
        };
        let started = Instant::now();
        let result = plugin
            .runtime
            .check(&input)
            .and_then(|verdict| self.check_rewrite(verdict));
        entry.elapsed_us = started.elapsed().as_micros() as u64;
        plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
        plugin.stats.latency.record(entry.elapsed_us);
        let verdict = match result {
            Ok(v) => {
                plugin.breaker.success();
                v
            }
            Err(failure) => {
                plugin.stats.failures.fetch_add(1, Ordering::Relaxed);
                let text = failure.to_string();
                if plugin.breaker.failure(self.clock.now_ms(), &text) {
                    tracing::warn!(plugin = %name, error = %text, "plugin disabled by its circuit breaker");
                } else {
                    tracing::debug!(plugin = %name, error = %text, "plugin call failed");
                }
                entry.outcome = RunOutcome::Error;
                entry.error = Some(text.clone());
                run.trace.push(entry);
                if !shadow {
                    run.plugin_failed(&plugin.spec, failure.kind(), &text);
                }
                return;
            }
        };
        let reason = |rule: &str, detail: &str, points: Option<f64>| Reason {
            plugin: name.clone(),
            rule: rule.to_owned(),
            detail: detail.to_owned(),
            points,
        };
        match verdict {
            wit::Verdict::Allow => {}
            wit::Verdict::Score(hits) => {
                entry.outcome = RunOutcome::Score;
                entry.points = hits.iter().map(|h| h.points).sum();
                if !shadow {
                    run.score += entry.points;
                    run.reasons.extend(
                        hits.iter()
                            .map(|h| reason(&h.rule, &h.detail, Some(h.points))),
                    );
                }
            }
            wit::Verdict::Rewrite(r) => {
                entry.outcome = RunOutcome::Rewrite;
                if !shadow {
                    run.reasons.push(reason(&r.rule, &r.detail, None));
                    run.text = r.text;
                    run.rewritten = true;
                }
            }
            wit::Verdict::Reject(r) => {
                entry.outcome = RunOutcome::Reject;
                if !shadow {
                    run.reasons.push(reason(&r.code, &r.reason, None));
                    run.rejection = Some(Rejection {
                        plugin: name.clone(),
                        code: r.code,
                        message: r.reason,
                        retry_after_ms: r.retry_after_ms,
                    });
                }
            }
        }
        run.trace.push(entry);
    }

    fn decide(&self, mut run: Run) -> Decision {
        let ChainSpec { flag_at, reject_at } = self.thresholds;
        let action = if run.rejection.is_some() {
            Action::Reject
        } else if run.score >= reject_at {
            // The sender sees which rules fired (their codes), never the score or the
            // threshold: those would tell a spammer how far to back off. Moderators read both
            // in the decision trace.
            let mut rules: Vec<&str> = run
                .reasons
                .iter()
                .filter(|r| r.points.is_some_and(|p| p > 0.0))
                .map(|r| r.rule.as_str())
                .collect();
            rules.dedup();
            run.rejection = Some(Rejection {
                plugin: "chain".into(),
                code: "spam_score".into(),
                message: format!("this message looks like spam ({})", rules.join(", ")),
                retry_after_ms: None,
            });
            Action::Reject
        } else if run.score >= flag_at {
            Action::Flag
        } else if run.rewritten {
            Action::Rewrite
        } else {
            Action::Allow
        };
        Decision {
            action,
            score: run.score,
            text: run.text,
            reasons: run.reasons,
            rejection: run.rejection,
            generation: self.generation,
            trace: run.trace,
        }
    }
}

/// The state of one evaluation as it moves down the chain.
struct Run {
    text: String,
    score: f64,
    rewritten: bool,
    reasons: Vec<Reason>,
    trace: Vec<PluginRun>,
    rejection: Option<Rejection>,
}

impl Run {
    /// Apply an enforced plugin's `on_error` to a failure.
    fn plugin_failed(&mut self, spec: &PluginSpec, kind: &str, detail: &str) {
        self.reasons.push(Reason {
            plugin: spec.name.clone(),
            rule: format!("plugin_error:{kind}"),
            detail: detail.to_owned(),
            points: None,
        });
        if spec.on_error == OnError::Reject {
            self.rejection = Some(Rejection {
                plugin: spec.name.clone(),
                code: "plugin_error".into(),
                message: "this message could not be checked right now; please try again".into(),
                retry_after_ms: Some(1_000),
            });
        }
    }
}

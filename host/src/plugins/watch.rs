//! Watches `plugins.toml` and every component it names, and reloads the chain when one of them
//! changes. The folders are watched, not the files, so editors that save by writing a temporary
//! file and renaming it over the original work; events are debounced, and the set of watched
//! files is refreshed after every reload (a new manifest may name new components).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::manifest::Manifest;
use super::reload::{ChainSource, Reloader};

/// Quiet time after the last change before reloading (editors write in several steps).
pub const DEBOUNCE: Duration = Duration::from_millis(20);

/// The watcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch the plugin files: {0}")]
pub struct WatchError(String);

/// The files that make up the chain, and the folders to watch for them.
fn watched_files(manifest: &Path) -> (HashSet<PathBuf>, HashSet<PathBuf>) {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let mut files = HashSet::from([absolute(manifest)]);
    if let Ok(m) = Manifest::load(manifest) {
        files.extend(
            ChainSource::watched_paths(manifest, &m)
                .iter()
                .map(|p| absolute(p)),
        );
    }
    let dirs = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_owned))
        .collect();
    (files, dirs)
}

/// Watch the chain's files until `shutdown`, reloading through `reloader` on change.
pub fn spawn(
    reloader: Arc<Reloader>,
    manifest: PathBuf,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, WatchError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let _ = tx.send(event);
    })
    .map_err(|e| WatchError(e.to_string()))?;
    let (mut files, mut dirs) = watched_files(&manifest);
    for dir in &dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| WatchError(format!("{}: {e}", dir.display())))?;
    }
    Ok(tokio::spawn(async move {
        let mut due: Option<Instant> = None;
        loop {
            let wait = due.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                event = rx.recv() => match event {
                    Some(Ok(event)) => {
                        let relevant = !matches!(event.kind, EventKind::Access(_))
                            && event.paths.iter().any(|p| files.contains(p));
                        if relevant {
                            due = Some(Instant::now() + DEBOUNCE);
                        }
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "plugin file watcher error"),
                    None => return,
                },
                _ = tokio::time::sleep_until(wait), if due.is_some() => {
                    due = None;
                    let (r, path) = (reloader.clone(), manifest.clone());
                    let _ = tokio::task::spawn_blocking(move || r.reload_file(&path)).await;
                    let (new_files, new_dirs) = watched_files(&manifest);
                    for dir in new_dirs.difference(&dirs) {
                        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                            tracing::warn!(error = %e, dir = %dir.display(), "cannot watch a plugin folder");
                        }
                    }
                    for dir in dirs.difference(&new_dirs) {
                        let _ = watcher.unwatch(dir);
                    }
                    (files, dirs) = (new_files, new_dirs);
                }
                _ = shutdown.cancelled() => return,
            }
        }
    }))
}

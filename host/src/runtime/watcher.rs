//! Watches the hubs directory: a new file adds a hub, a changed file
//! swaps it, a removed file retires it.
//!
//! A file renamed into place, or closed after a write, is looked at at
//! once: it is complete. Other events (a write still in progress, a
//! create) are debounced per file: the file is looked at only once it
//! has been quiet for [`DEBOUNCE`], so a copy in progress is not read
//! while it grows. A file read too early anyway (a writer pausing longer
//! than that, or closing and reopening it) fails validation and is never
//! published; the write's next event loads the whole file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Runtime, hub_name};

/// Quiet time a file needs before it is (re)loaded.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// Keeps the watch running; dropping it stops watching.
pub struct DirectoryWatch {
    _watcher: notify::RecommendedWatcher,
}

enum Change {
    /// Something happened to a file; `true` when the event says the file
    /// is complete (renamed into or out of place, or closed after a
    /// write), so it is looked at without waiting for quiet.
    File(PathBuf, bool),
    /// The OS dropped events: look at the whole directory again.
    Rescan,
}

/// Starts watching `dir` for `runtime`.
pub fn watch(runtime: Arc<Runtime>, dir: &Path) -> anyhow::Result<DirectoryWatch> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if event.need_rescan() => {
                let _ = tx.send(Change::Rescan);
            }
            Ok(event) => {
                let Some(complete) = completes_the_file(&event.kind) else {
                    return;
                };
                for path in event.paths {
                    // A hub's manifest changing is a change of its hub.
                    let path = match path.extension().is_some_and(|e| e == "toml") {
                        true => path.with_extension("wasm"),
                        false => path,
                    };
                    if hub_name(&path).is_some() {
                        let _ = tx.send(Change::File(path, complete));
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "watching the hubs directory"),
        })
        .context("cannot watch the hubs directory")?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("cannot watch {}", dir.display()))?;
    tokio::spawn(apply(runtime, dir.to_owned(), rx));
    tracing::info!(dir = %dir.display(), "watching for hub changes");
    Ok(DirectoryWatch { _watcher: watcher })
}

async fn apply(runtime: Arc<Runtime>, dir: PathBuf, mut changes: mpsc::UnboundedReceiver<Change>) {
    let mut quiet_since: HashMap<PathBuf, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(DEBOUNCE / 5);
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Some(Change::File(path, true)) => {
                    quiet_since.remove(&path);
                    settle(&runtime, &path).await;
                }
                Some(Change::File(path, false)) => {
                    quiet_since.insert(path, Instant::now());
                }
                Some(Change::Rescan) => {
                    if let Err(error) = runtime.load_dir(&dir).await {
                        tracing::warn!("rescanning the hubs directory: {error:#}");
                    }
                }
                None => return,
            },
            _ = tick.tick() => {
                let ready: Vec<PathBuf> = quiet_since
                    .iter()
                    .filter(|(_, at)| at.elapsed() >= DEBOUNCE)
                    .map(|(path, _)| path.clone())
                    .collect();
                for path in ready {
                    quiet_since.remove(&path);
                    settle(&runtime, &path).await;
                }
            }
        }
    }
}

/// Whether an event leaves its file complete (`Some(true)`: a rename,
/// or a close after writing), only touched on the way (`Some(false)`:
/// debounced) or says nothing about its content (`None`: a read).
fn completes_the_file(kind: &EventKind) -> Option<bool> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(true),
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Name(_)) => Some(true),
        _ => Some(false),
    }
}

/// Brings the runtime in line with one file's current state.
async fn settle(runtime: &Runtime, path: &Path) {
    if path.is_file() {
        // Success and refusal are both logged by `load_file`.
        let _ = runtime.load_file(path).await;
    } else if let Some(name) = hub_name(path) {
        runtime.retire(&name).await;
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, DataChange, RemoveKind, RenameMode};

    use super::*;

    #[test]
    fn renames_and_closes_after_writing_are_acted_on_at_once() {
        let now = [
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
        ];
        for kind in now {
            assert_eq!(completes_the_file(&kind), Some(true), "{kind:?}");
        }
        let debounced = [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Remove(RemoveKind::File),
        ];
        for kind in debounced {
            assert_eq!(completes_the_file(&kind), Some(false), "{kind:?}");
        }
        let ignored = [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
        ];
        for kind in ignored {
            assert_eq!(completes_the_file(&kind), None, "{kind:?}");
        }
    }
}

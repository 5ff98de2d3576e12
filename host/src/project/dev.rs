//! `wasmhub dev`: serve a project's hub and rebuild it on every change.
//!
//! One process: the host serves `hubs/` of the project, and a watcher on
//! the project's sources rebuilds (after 100 ms of quiet, as editors save
//! in bursts) and loads the new file into the running node at once. One
//! line per rebuild says what happened: built and swapped, refused by
//! the host (why), or the compiler's error; in the last two the version
//! serving goes on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::{Project, build};
use crate::config::Config;
use crate::runtime::{Loaded, Runtime};

/// Quiet time after a change before a rebuild.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Builds, serves `config` (whose hubs directory is the project's) on
/// `listen`, and rebuilds on changes until Ctrl-C or SIGTERM.
pub async fn run(
    project: Project,
    config: Config,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    println!(
        "wasmhub dev: {} hub '{}' in {}",
        project.language.name(),
        project.name,
        project.dir.display()
    );
    let first = rebuild(&project, None).await;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(crate::server::serve_until(
        config,
        listen,
        crate::server::shutdown_signal(),
        move |addr, runtime| {
            println!("listening on http://{addr}; clients connect to /hubs/<name>");
            let _ = ready_tx.send(runtime.clone());
        },
    ));
    let runtime = match ready_rx.await {
        Ok(runtime) => runtime,
        // The server failed before listening: its error says why.
        Err(_) => return server.await?,
    };
    if let Some(line) = first {
        println!("{line}");
    }
    let (tx, mut changes) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })
    .context("cannot watch the project")?;
    watcher
        .watch(&project.dir, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", project.dir.display()))?;
    println!("watching {} for changes", project.dir.display());
    let rebuilds = async {
        while let Some(path) = changes.recv().await {
            if !project.is_source(&path) {
                continue;
            }
            // Let the burst of one save settle, then build once.
            loop {
                match tokio::time::timeout(DEBOUNCE, changes.recv()).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if let Some(line) = rebuild(&project, Some(&runtime)).await {
                println!("{line}");
            }
        }
    };
    tokio::select! {
        served = server => served?,
        () = rebuilds => Ok(()),
    }
}

/// Builds the project and, when `runtime` is given, loads the result
/// into it; the line to print.
async fn rebuild(project: &Project, runtime: Option<&Arc<Runtime>>) -> Option<String> {
    let started = Instant::now();
    let building = project.clone();
    let built = match tokio::task::spawn_blocking(move || build(&building)).await {
        Ok(Ok(built)) => built,
        Ok(Err(error)) => {
            // The compiler's lines follow, indented, so the summary stays
            // one line.
            let indented: Vec<String> = error
                .to_string()
                .lines()
                .map(|l| format!("    {l}"))
                .collect();
            return Some(format!(
                "build failed after {} ms (the version serving goes on):\n{}",
                started.elapsed().as_millis(),
                indented.join("\n")
            ));
        }
        Err(error) => return Some(format!("the build panicked: {error}")),
    };
    let built_ms = built.took.as_millis();
    let Some(runtime) = runtime else {
        return Some(format!("built in {built_ms} ms"));
    };
    let loading = Instant::now();
    Some(match runtime.load_file(&built.wasm).await {
        Ok(Loaded::Published(version) | Loaded::Unchanged(version)) => format!(
            "built in {built_ms} ms, swapped in {} ms (serving {}; {} ms in all)",
            loading.elapsed().as_millis(),
            &version.sha256[..12],
            started.elapsed().as_millis()
        ),
        Err(error) => format!(
            "built in {built_ms} ms, refused by the host (the version serving goes on): {error:#}"
        ),
    })
}

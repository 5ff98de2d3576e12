//! Wires the layers together and serves until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::cluster::Cluster;
use crate::cluster::redis::BackplaneOptions;
use crate::config::Config;
use crate::connection::CloseReason;
use crate::connection::Services;
use crate::runtime::{CompileCache, InstanceLimits, Runtime, watcher};
use crate::transport::{self, AppState};

/// Builds the runtime, loads the hubs, binds `listen`, prints
/// `listening on http://IP:PORT` to stdout once serving, and runs until
/// Ctrl-C or SIGTERM; then closes every connection with allowReconnect.
pub async fn serve(config: Config, listen: SocketAddr) -> anyhow::Result<()> {
    serve_until(config, listen, shutdown_signal(), |local, _| {
        println!("listening on http://{local}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    })
    .await
}

/// [`serve`], telling `listening` the bound address and the runtime once
/// serving, and stopping when `shutdown` completes (tests run nodes in
/// one process; `wasmhub dev` loads what it builds).
pub async fn serve_until(
    config: Config,
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
    listening: impl FnOnce(SocketAddr, &Arc<Runtime>),
) -> anyhow::Result<()> {
    if !config.hubs_dir.is_dir() {
        anyhow::bail!(
            "the hubs directory {} does not exist",
            config.hubs_dir.display()
        );
    }
    let metrics = crate::metrics::Metrics::new();
    let cluster = Arc::new(match &config.redis {
        None => Cluster::in_memory(config.node_id.clone()),
        Some(url) => {
            let options = BackplaneOptions {
                url: url.clone(),
                prefix: config.channel_prefix.clone(),
                node_id: config.node_id.clone(),
                heartbeat_interval: config.heartbeat_interval,
                node_timeout: config.node_timeout,
                metrics: metrics.clone(),
            };
            Cluster::with_backplane(options).await?
        }
    });
    let limits = InstanceLimits {
        deadline: config.hub_deadline,
        memory: config.hub_memory,
        max_calls: config.instance_max_calls,
        max_instances: config.max_instances_per_hub,
        max_outbound_message: config.outbound_buffer,
        invoke_timeout: config.invoke_timeout,
        http: config.http.clone(),
    };
    let cache = CompileCache::new(config.compile_cache.clone());
    let runtime = Arc::new(Runtime::new(
        cluster.clone(),
        limits,
        cache,
        config.incremental_compilation,
        metrics.clone(),
    )?);
    let loaded = runtime.load_dir(&config.hubs_dir).await?;
    let _watch = match config.watch {
        true => Some(watcher::watch(runtime.clone(), &config.hubs_dir)?),
        false => None,
    };
    if loaded.is_empty() {
        tracing::warn!(dir = %config.hubs_dir.display(), "no hub loaded yet: /hubs/<name> answers 404 until a hub file is valid");
    }
    let config = Arc::new(config);
    let state = AppState::new(Services {
        runtime,
        cluster: cluster.clone(),
        config: config.clone(),
        open_connections: Default::default(),
        metrics,
    })?;
    let status_publisher = transport::api::status::spawn_publisher(state.clone());
    let open_connections = state.services.open_connections.clone();
    let draining = state.draining.clone();
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    tracing::info!(
        node = %config.node_id,
        hubs = ?loaded,
        backplane = config.redis.is_some(),
        "serving"
    );
    listening(local, &state.services.runtime);

    // Small frames (a Completion, a Ping) must not wait for Nagle's
    // algorithm: without this a reply that follows a message to the same
    // client waits ~40 ms for the peer's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, transport::router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // New clients first: they get 503 and go elsewhere, instead
            // of landing here and being dropped a moment later.
            draining.store(true, std::sync::atomic::Ordering::Release);
            status_publisher.abort();
            tracing::info!("shutting down: refusing new connections, closing the open ones");
            cluster
                .close_all(CloseReason {
                    error: None,
                    allow_reconnect: true,
                })
                .await;
            // Let every connection send its Close and say goodbye to its
            // hub, for a bounded time.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while open_connections.load(std::sync::atomic::Ordering::Acquire) > 0
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            cluster.shutdown().await;
        })
        .await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

//! Runs hubs: loads `<name>.wasm` components, checks them against the
//! hub world, and calls their `handler` exports in warm instances.
//!
//! Loading is validate-then-publish: compile (off the async threads),
//! refuse imports outside what the host grants, type-check against the
//! world (`instantiate_pre`), make one instance within the limits, and
//! only then serve it. A file that fails any step is not served.

pub mod bindings;
pub mod cache;
mod cpu;
mod engine;
mod error;
mod host;
mod http;
mod hub;
mod kv;
pub mod manifest;
mod output;
mod state;
mod streams;
pub mod watcher;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Linker;

pub use bindings::Connection;
pub use error::CallError;
pub use hub::{CallStats, HubVersion, InstanceLimits};
pub use streams::{CallStreams, UploadItem};

use crate::cluster::{Cluster, ConnectionRecord};
use crate::connection::CloseReason;
use crate::events::EventKind;
pub use cache::CompileCache;
use state::{HostState, HubEnv};

/// The static facts of a connection that its hub sees on every call.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    pub id: String,
    pub hub: String,
    pub transport: &'static str,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
}

/// Import namespaces a hub may use; anything else is refused at load.
/// No filesystem or sockets: a hub reaches the world through the host's
/// hub interfaces, and HTTP (`wasi:http` or the hub world's `http`) only
/// where its manifest grants it.
const ALLOWED_IMPORTS: &[&str] = &[
    "wasmhub:hub/",
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:http/",
];

/// A file that was refused, for `/healthz` and the log.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub message: String,
    pub sha256: String,
    pub at: SystemTime,
}

/// What `/healthz` shows of one hub.
#[derive(Clone)]
pub struct HubState {
    pub name: String,
    /// The version serving, if any.
    pub serving: Option<Arc<HubVersion>>,
    /// Why the newest file was refused, while it is the newest.
    pub last_error: Option<LoadError>,
}

/// What a load did.
pub enum Loaded {
    /// A new version serves now (the previous one, if any, drains).
    Published(Arc<HubVersion>),
    /// The file is the one already serving.
    Unchanged(Arc<HubVersion>),
}

/// All hubs of this node.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cluster: Arc<Cluster>,
    /// The host's limits: every hub's defaults and upper bounds.
    limits: InstanceLimits,
    cache: CompileCache,
    /// Lowercase name → the version serving. Replacing an entry is the
    /// atomic swap: calls hold their own `Arc` and finish where they began.
    hubs: RwLock<HashMap<String, Arc<HubVersion>>>,
    /// Lowercase name → why its newest file was refused.
    errors: Mutex<HashMap<String, (String, LoadError)>>,
    /// Lowercase name → held while that hub loads: two loads of one hub
    /// (the watcher's and `wasmhub dev`'s) run one after the other, so the
    /// second finds the first's version and is `Unchanged`.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Shared by every hub: long calls never hold every worker.
    cpu: cpu::CpuSlots,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Runtime {
    /// An engine and linker for the hub world; no hubs yet.
    pub fn new(
        cluster: Arc<Cluster>,
        limits: InstanceLimits,
        cache: CompileCache,
        incremental: bool,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> anyhow::Result<Self> {
        let engine = engine::build(limits.memory, 1000, incremental)?;
        engine::start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // `wasi:http/outgoing-handler`, for hubs built with a wasi:http
        // client; every request goes through `GrantHooks`.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::Hub::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;
        Ok(Self {
            engine,
            linker,
            cluster,
            limits,
            cache,
            hubs: RwLock::new(HashMap::new()),
            errors: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            cpu: cpu::CpuSlots::for_this_machine(),
            metrics,
        })
    }

    /// Loads every hub file in `dir`. A file that fails is logged and
    /// skipped; the others serve. Returns the names loaded.
    pub async fn load_dir(&self, dir: &Path) -> anyhow::Result<Vec<String>> {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the hubs directory {}", dir.display()))?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| hub_name(p).is_some())
            .collect();
        paths.sort();
        let mut loaded = Vec::new();
        for path in paths {
            if let Ok(Loaded::Published(version) | Loaded::Unchanged(version)) =
                self.load_file(&path).await
            {
                loaded.push(version.name.clone());
            }
        }
        Ok(loaded)
    }

    /// Validates one file and, if it passes, makes it the serving version
    /// of the hub named by its stem. A refused file changes nothing but
    /// the hub's `last_error`; the reason is logged.
    pub async fn load_file(&self, path: &Path) -> anyhow::Result<Loaded> {
        let name =
            hub_name(path).with_context(|| format!("{} is not a hub file", path.display()))?;
        let key = crate::names::hub_key(&name);
        let lock = self
            .loading
            .lock()
            .expect("loading lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let _loading = lock.lock().await;
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let started = std::time::Instant::now();
        let settings = manifest::resolve(path, &self.limits).map_err(anyhow::Error::from);
        if let Ok(settings) = &settings
            && let Some(serving) = self
                .hub(&key)
                .filter(|v| v.sha256 == sha256 && v.settings == *settings)
        {
            self.errors.lock().expect("errors lock").remove(&key);
            return Ok(Loaded::Unchanged(serving));
        }
        let validated = match settings {
            Ok(settings) => {
                self.validate(name.clone(), sha256.clone(), bytes, settings)
                    .await
            }
            Err(error) => Err(error),
        };
        match validated {
            Ok((version, cached)) => {
                let version = Arc::new(version);
                let previous = self
                    .hubs
                    .write()
                    .expect("hubs lock")
                    .insert(key.clone(), version.clone());
                self.errors.lock().expect("errors lock").remove(&key);
                if let Some(previous) = &previous {
                    previous.set_serving(false);
                }
                version.set_serving(true);
                let hubs = &self.metrics.hubs;
                hubs.swaps.with_label_values(&[&name, "applied"]).inc();
                hubs.serving(&name, &sha256, previous.as_ref().map(|p| p.sha256.as_str()));
                let replaced = match &previous {
                    Some(previous) => format!("replaces {}", previous.sha256),
                    None => "first version".to_owned(),
                };
                self.metrics
                    .events
                    .record(EventKind::Swap, &name, &sha256, &replaced);
                tracing::info!(
                    hub = %name,
                    sha256 = %sha256,
                    previous = previous.as_ref().map(|p| p.sha256.as_str()).unwrap_or("none"),
                    compiled_from_cache = cached,
                    took = ?started.elapsed(),
                    path = %path.display(),
                    "hub published"
                );
                Ok(Loaded::Published(version))
            }
            Err(error) => {
                let hubs = &self.metrics.hubs;
                hubs.swaps.with_label_values(&[&name, "refused"]).inc();
                let message = format!("{error:#}");
                self.metrics
                    .events
                    .record(EventKind::Refused, &name, &sha256, &message);
                tracing::error!(
                    hub = %name,
                    sha256 = %sha256,
                    path = %path.display(),
                    serving = self.hub(&key).map(|v| v.sha256.clone()).unwrap_or_else(|| "nothing".into()),
                    "hub file refused: {message}"
                );
                let refused = LoadError {
                    message,
                    sha256,
                    at: SystemTime::now(),
                };
                self.errors
                    .lock()
                    .expect("errors lock")
                    .insert(key, (name, refused));
                Err(error)
            }
        }
    }

    /// Stops serving a hub whose file is gone; its clients are closed with
    /// `allowReconnect` (a node that still has the hub may take them).
    pub async fn retire(&self, name: &str) -> bool {
        let key = crate::names::hub_key(name);
        self.errors.lock().expect("errors lock").remove(&key);
        let Some(version) = self.hubs.write().expect("hubs lock").remove(&key) else {
            return false;
        };
        tracing::info!(hub = %version.name, sha256 = %version.sha256, "hub retired: its file is gone");
        version.set_serving(false);
        self.metrics.hubs.retired(&version.name, &version.sha256);
        self.metrics.events.record(
            EventKind::Retired,
            &version.name,
            &version.sha256,
            "its file is gone",
        );
        self.cluster
            .close_hub(
                &version.name,
                CloseReason {
                    error: Some(format!(
                        "The hub '{}' is no longer served here.",
                        version.name
                    )),
                    allow_reconnect: true,
                },
            )
            .await;
        true
    }

    async fn validate(
        &self,
        name: String,
        sha256: String,
        bytes: Vec<u8>,
        settings: manifest::HubSettings,
    ) -> anyhow::Result<(HubVersion, bool)> {
        // The name becomes part of URLs and Redis keys.
        if let Err(reason) = crate::names::check_name(&name) {
            bail!("'{name}' cannot be a hub name: {reason}");
        }
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let hash = sha256.clone();
        let (component, cached) =
            tokio::task::spawn_blocking(move || cache.load(&engine, &hash, &bytes)).await??;
        let refused: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(import, _)| import.to_owned())
            .filter(|import| !ALLOWED_IMPORTS.iter().any(|p| import.starts_with(p)))
            .collect();
        if !refused.is_empty() {
            bail!(
                "the hub imports what this host does not grant: {}",
                refused.join(", ")
            );
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component does not fit the hub world")?;
        let pre = bindings::HubPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export the hub world's handler")?;
        let env = Arc::new(HubEnv {
            hub: name.clone(),
            cluster: self.cluster.clone(),
            invoke_timeout: settings.limits.invoke_timeout,
            max_outbound_message: settings.limits.max_outbound_message,
            grants: settings.grants.clone(),
            http: settings.limits.http.clone(),
            http_client: Default::default(),
            log_budget: Default::default(),
            cpu: self.cpu.clone(),
            metrics: self.metrics.clone(),
        });
        let version = HubVersion::new(name, sha256, self.engine.clone(), pre, env, settings);
        version.smoke_test().await.map_err(|e| {
            anyhow::anyhow!("the hub failed its start-up check (instantiate and init): {e}")
        })?;
        Ok((version, cached))
    }

    /// Every hub this node serves or tried to, sorted by name.
    pub fn hub_states(&self) -> Vec<HubState> {
        let hubs = self.hubs.read().expect("hubs lock");
        let errors = self.errors.lock().expect("errors lock");
        let mut states: Vec<HubState> = hubs
            .iter()
            .map(|(key, version)| HubState {
                name: version.name.clone(),
                serving: Some(version.clone()),
                last_error: errors.get(key).map(|(_, e)| e.clone()),
            })
            .collect();
        for (key, (name, error)) in errors.iter() {
            if !hubs.contains_key(key) {
                states.push(HubState {
                    name: name.clone(),
                    serving: None,
                    last_error: Some(error.clone()),
                });
            }
        }
        states.sort_by(|a, b| a.name.cmp(&b.name));
        states
    }

    /// The serving version of a hub, by case-insensitive name.
    pub fn hub(&self, name: &str) -> Option<Arc<HubVersion>> {
        self.hubs
            .read()
            .expect("hubs lock")
            .get(&crate::names::hub_key(name))
            .cloned()
    }

    /// The record a hub sees for a connection: static facts plus what the
    /// cluster knows now (user, groups, attributes).
    pub fn connection_view(
        context: &ConnectionContext,
        record: Option<&ConnectionRecord>,
    ) -> Connection {
        Connection {
            id: context.id.clone(),
            user: record.and_then(|r| r.user.clone()),
            hub: context.hub.clone(),
            node: record.map(|r| r.node.clone()).unwrap_or_default(),
            transport: context.transport.to_owned(),
            attributes: record
                .map(|r| {
                    r.attributes
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            groups: record
                .map(|r| r.groups.iter().cloned().collect())
                .unwrap_or_default(),
            query: context.query.clone(),
            headers: context.headers.clone(),
        }
    }
}

/// The hub a path in the hubs directory is for: `<name>.wasm`, not
/// hidden. Editor and copy temp files (`.chat.wasm.swp`, `chat.wasm.tmp`,
/// `chat.wasm~`) are not hubs.
pub fn hub_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let stem = file.strip_suffix(".wasm")?;
    (!stem.is_empty() && !stem.starts_with('.')).then(|| stem.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! Runs hubs: loads `<name>.wasm` components, checks them against the
//! hub world, and calls their `handler` exports in warm instances.
//!
//! Loading is validate-then-publish: compile (off the async threads),
//! refuse imports outside what the host grants, type-check against the
//! world (`instantiate_pre`), make one instance within the limits, and
//! only then serve it. A file that fails any step is not served.

pub mod bindings;
mod engine;
mod error;
mod host;
mod hub;
mod state;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

pub use bindings::Connection;
pub use error::CallError;
pub use hub::{HubVersion, InstanceLimits};

use crate::cluster::{Cluster, ConnectionRecord};
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
/// No filesystem, sockets or HTTP: a hub reaches the world through the
/// host's hub interfaces only.
const ALLOWED_IMPORTS: &[&str] = &[
    "wasmhub:hub/",
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
];

/// All hubs of this node.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cluster: Arc<Cluster>,
    limits: InstanceLimits,
    invoke_timeout: Duration,
    hubs: RwLock<HashMap<String, Arc<HubVersion>>>,
}

impl Runtime {
    /// An engine and linker for the hub world; no hubs yet.
    pub fn new(
        cluster: Arc<Cluster>,
        limits: InstanceLimits,
        invoke_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let engine = engine::build(limits.memory, 1000)?;
        engine::start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::Hub::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;
        Ok(Self {
            engine,
            linker,
            cluster,
            limits,
            invoke_timeout,
            hubs: RwLock::new(HashMap::new()),
        })
    }

    /// Loads every `*.wasm` in `dir`. A file that fails is logged and
    /// skipped; the others serve. Returns the names loaded.
    pub async fn load_dir(&self, dir: &Path) -> anyhow::Result<Vec<String>> {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the hubs directory {}", dir.display()))?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        paths.sort();
        let mut loaded = Vec::new();
        for path in paths {
            match self.load_file(&path).await {
                Ok(version) => {
                    tracing::info!(
                        hub = %version.name,
                        sha256 = %version.sha256,
                        path = %path.display(),
                        "hub loaded"
                    );
                    loaded.push(version.name.clone());
                }
                Err(error) => {
                    tracing::error!(path = %path.display(), "hub not loaded: {error:#}");
                }
            }
        }
        Ok(loaded)
    }

    /// Validates one file and publishes it as the hub named by its stem.
    pub async fn load_file(&self, path: &Path) -> anyhow::Result<Arc<HubVersion>> {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .with_context(|| format!("{} has no usable hub name", path.display()))?
            .to_owned();
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let version = Arc::new(self.validate(name.clone(), &bytes).await?);
        self.hubs
            .write()
            .expect("hubs lock")
            .insert(name.to_ascii_lowercase(), version.clone());
        Ok(version)
    }

    async fn validate(&self, name: String, bytes: &[u8]) -> anyhow::Result<HubVersion> {
        let sha256 = hex(&Sha256::digest(bytes));
        let engine = self.engine.clone();
        let owned = bytes.to_vec();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &owned))
            .await?
            .map_err(anyhow::Error::from)
            .context("not a valid WebAssembly component")?;
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
            invoke_timeout: self.invoke_timeout,
        });
        let version = HubVersion::new(
            name,
            sha256,
            self.engine.clone(),
            pre,
            env,
            self.limits.clone(),
        );
        version
            .smoke_test()
            .await
            .map_err(|e| anyhow::anyhow!("the hub failed to start: {e}"))?;
        Ok(version)
    }

    /// The serving version of a hub, by case-insensitive name.
    pub fn hub(&self, name: &str) -> Option<Arc<HubVersion>> {
        self.hubs
            .read()
            .expect("hubs lock")
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// Names of the hubs served, sorted.
    pub fn hub_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .hubs
            .read()
            .expect("hubs lock")
            .values()
            .map(|v| v.name.clone())
            .collect();
        names.sort();
        names
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

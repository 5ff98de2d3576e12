//! The Redis-compatible backplane: the cluster's second backend.
//!
//! Each node keeps its own connections in memory (the authority for
//! them) and mirrors their registrations into Redis, where every node can
//! find every connection. Writes are atomic (MULTI/EXEC) and made only by
//! the owning node; reads are pipelined (an index set, then one MGET).
//! Messages travel on pub/sub: to a node's own inbox when the target is
//! known, on a broadcast channel when every node must resolve a selection
//! itself. Delivery is live traffic, not a durable queue.
//!
//! Commands used, all supported by Redis 6.2+ and Valkey: GET, MGET, SET
//! (PX, NX, GET), DEL, EXISTS, SADD, SREM, SMEMBERS, SRANDMEMBER, SINTER,
//! SCAN, MULTI/EXEC, PUBLISH, SUBSCRIBE, PING.

mod envelope;
mod heartbeat;
mod inbox;
pub mod keys;
mod kv;
mod mirror;
mod owners;
mod status;

pub use kv::RedisKv;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::oneshot;

use super::backend::{Backend, NodeReport, WriteGuard};
use super::memory::MemoryRegistry;
use super::{ClientAnswer, CloseReason, ClusterError, ConnectionRecord, Filter, Selection};
use envelope::{Envelope, WireAnswer, raw};
use keys::Keys;

/// How the backplane is set up.
#[derive(Debug, Clone)]
pub struct BackplaneOptions {
    pub url: String,
    pub prefix: String,
    pub node_id: String,
    pub heartbeat_interval: Duration,
    pub node_timeout: Duration,
    /// Where the backplane counts what it does.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Why the backplane could not be created at all. Redis being down is not
/// one: the node starts degraded and reconnects.
#[derive(Debug, thiserror::Error)]
pub enum BackplaneError {
    #[error("invalid --redis URL: {0}")]
    Url(#[from] redis::RedisError),
    /// Another live process beats under the same node id: the two would
    /// share one inbox and sweep each other's registrations.
    #[error(
        "another live process is node '{node}' on this Redis (its heartbeat keeps changing): give each node its own --node-id"
    )]
    NodeIdInUse { node: String },
}

/// A request of this node waiting for another node's answer.
struct Pending {
    node: String,
    waiter: Waiter,
}

enum Waiter {
    Answers(oneshot::Sender<Vec<WireAnswer>>),
    Group(oneshot::Sender<Option<String>>),
}

/// This node's link to the cluster.
pub struct Backplane {
    options: BackplaneOptions,
    keys: Keys,
    client: redis::Client,
    /// The command link. Replaced when a command times out: redis-rs
    /// reconnects on a dropped socket, not on one that went silent.
    redis: std::sync::RwLock<ConnectionManager>,
    manager_config: ConnectionManagerConfig,
    local: Arc<MemoryRegistry>,
    next_request: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    /// Set when a write failed or Redis lost our data: the next beat
    /// re-registers every local connection.
    needs_resync: AtomicBool,
    /// Orders the registry writes of each connection.
    writes: mirror::WriteLocks,
    /// Other nodes' connections whose owner was looked up.
    owners: owners::Owners,
    /// This process, in the heartbeat's value: tells a predecessor or a
    /// second process with the same node id from this one.
    instance: String,
    stopping: AtomicBool,
    /// Woken by a heartbeat that reached Redis: a subscriber waiting out
    /// its backoff retries at once.
    subscriber_wake: tokio::sync::Notify,
}

fn unavailable(error: redis::RedisError) -> ClusterError {
    ClusterError::Unavailable(format!(
        "the cluster backplane is unreachable ({error}); only this node's connections can be reached"
    ))
}

impl Backplane {
    /// Connects lazily (a Redis that is down at start is retried), cleans
    /// up after a predecessor with the same node id, and starts the inbox
    /// and heartbeat tasks.
    pub async fn start(
        options: BackplaneOptions,
        local: Arc<MemoryRegistry>,
    ) -> Result<Arc<Self>, BackplaneError> {
        // TCP keepalive on every backplane socket: a peer that vanished
        // (a NAT or load balancer forgot the flow) is noticed by the
        // kernel too, not only by the subscriber's PINGs.
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(10))
            .with_interval(Duration::from_secs(5))
            .with_retries(3);
        let info = redis::IntoConnectionInfo::into_connection_info(options.url.as_str())?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_keepalive(keepalive));
        let client = redis::Client::open(info)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let redis = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
        let backplane = Arc::new(Self {
            keys: Keys::new(&options.prefix),
            options,
            client,
            redis: std::sync::RwLock::new(redis),
            manager_config: config,
            local,
            next_request: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            needs_resync: AtomicBool::new(false),
            writes: Default::default(),
            owners: Default::default(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            stopping: AtomicBool::new(false),
            subscriber_wake: tokio::sync::Notify::new(),
        });
        heartbeat::claim_node_id(&backplane).await?;
        let ready = inbox::spawn(backplane.clone());
        // Wait (briefly) for the subscription so early messages are not lost.
        let _ = tokio::time::timeout(Duration::from_secs(5), ready).await;
        // A crashed process with our id may have left registrations: clear
        // them before this node registers anything. If Redis is down now,
        // the first heartbeat that reaches it does this.
        let cleaned = matches!(
            tokio::time::timeout(
                Duration::from_secs(2),
                heartbeat::sweep(&backplane, &backplane.options.node_id)
            )
            .await,
            Ok(Ok(()))
        );
        heartbeat::spawn(backplane.clone(), cleaned);
        Ok(backplane)
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.options.node_id
    }

    fn conn(&self) -> ConnectionManager {
        self.redis.read().expect("redis link lock").clone()
    }

    /// Drops the command link for a new one: after a command timed out,
    /// the socket may be half-open (a NAT or load balancer forgot it),
    /// and redis-rs would wait on it for ever.
    fn renew_command_link(&self) {
        match ConnectionManager::new_lazy_with_config(
            self.client.clone(),
            self.manager_config.clone(),
        ) {
            Ok(fresh) => {
                *self.redis.write().expect("redis link lock") = fresh;
                self.metrics()
                    .reconnects
                    .with_label_values(&["commands"])
                    .inc();
            }
            Err(error) => tracing::warn!(%error, "cannot make a new backplane command link"),
        }
    }

    async fn publish(&self, channel: String, envelope: &Envelope) -> Result<(), ClusterError> {
        let metrics = self.metrics();
        let started = std::time::Instant::now();
        let published = self
            .conn()
            .publish::<_, _, ()>(channel, envelope.to_json())
            .await;
        match published {
            Ok(()) => {
                metrics
                    .publish_seconds
                    .observe(started.elapsed().as_secs_f64());
                metrics
                    .published
                    .with_label_values(&[envelope.kind()])
                    .inc();
                Ok(())
            }
            Err(error) => {
                metrics.publish_failures.inc();
                Err(unavailable(error))
            }
        }
    }

    fn metrics(&self) -> &crate::metrics::BackplaneMetrics {
        &self.options.metrics.backplane
    }

    fn pend(&self, node: &str, waiter: Waiter) -> u64 {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        self.pending.lock().expect("pending").insert(
            request,
            Pending {
                node: node.to_owned(),
                waiter,
            },
        );
        request
    }

    fn unpend(&self, request: u64) {
        self.pending.lock().expect("pending").remove(&request);
    }

    /// Changes a local connection's groups, here and in the registry (for
    /// another node's request).
    pub async fn local_group_change(
        &self,
        hub: &str,
        id: &str,
        group: &str,
        add: bool,
    ) -> Result<(), ClusterError> {
        crate::cluster::change_local_group(&self.local, self, hub, id, group, add).await
    }

    /// The nodes this node waits on for answers.
    fn pending_nodes(&self) -> HashSet<String> {
        self.pending
            .lock()
            .expect("pending")
            .values()
            .map(|p| p.node.clone())
            .collect()
    }

    /// Fails every request waiting on `node`: it was declared dead.
    fn fail_pending_on(&self, node: &str) {
        let mut pending = self.pending.lock().expect("pending");
        let dead: Vec<u64> = pending
            .iter()
            .filter(|(_, p)| p.node == node)
            .map(|(r, _)| *r)
            .collect();
        for request in dead {
            // Dropping the sender wakes the waiter with "declared dead".
            pending.remove(&request);
        }
    }
}

/// The backplane as the cluster's backend.
#[async_trait::async_trait]
impl Backend for Backplane {
    async fn write_lock(&self, id: &str) -> WriteGuard {
        Some(Backplane::write_lock(self, id).await)
    }

    async fn registered(&self, record: &ConnectionRecord) {
        self.register(record).await
    }

    async fn updated(&self, old: &ConnectionRecord, new: &ConnectionRecord) {
        self.update(old, new).await
    }

    async fn unregistered(&self, record: &ConnectionRecord) {
        self.unregister(record).await
    }

    /// The selected connections of the whole cluster, from the registry:
    /// one index read, one MGET. A node that died is in it until it is
    /// swept (node timeout plus one heartbeat at most).
    async fn resolve(&self, selection: &Selection) -> Result<Vec<ConnectionRecord>, ClusterError> {
        let mut conn = self.conn();
        let hub = &selection.hub;
        let ids: Vec<String> = if let Some(id) = selection.connection_id() {
            vec![id.to_owned()]
        } else {
            let mut sets = Vec::new();
            for filter in &selection.filters {
                match filter {
                    Filter::User(u) => sets.push(self.keys.user(hub, u)),
                    Filter::Group(g) => sets.push(self.keys.group(hub, g)),
                    Filter::Attribute(k, _) => sets.push(self.keys.attribute(hub, k)),
                    Filter::Nothing => return Ok(Vec::new()),
                    Filter::Connection(_) => {}
                }
            }
            if sets.is_empty() {
                sets.push(self.keys.hub_connections(hub));
            }
            conn.sinter(sets).await.map_err(unavailable)?
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.connection(id)).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut records: Vec<ConnectionRecord> = values
            .into_iter()
            .flatten()
            .filter_map(|json| serde_json::from_str::<ConnectionRecord>(&json).ok())
            .filter(|r| crate::names::same_hub(&r.hub, hub))
            .filter(|r| selection.matches(&r.id, r.user.as_deref(), &r.groups, &r.attributes))
            .collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }

    /// The node that owns a connection, if it is registered: remembered
    /// after the first lookup (see [`owners`]).
    async fn owner_of(&self, id: &str) -> Result<Option<String>, ClusterError> {
        if let Some(node) = self.owners.get(id) {
            return Ok(Some(node));
        }
        let json: Option<String> = self
            .conn()
            .get(self.keys.connection(id))
            .await
            .map_err(unavailable)?;
        let node = json
            .and_then(|j| serde_json::from_str::<ConnectionRecord>(&j).ok())
            .map(|r| r.node);
        if let Some(node) = node.as_deref().filter(|node| *node != self.node_id()) {
            self.owners.remember(id, node);
        }
        Ok(node)
    }

    /// A send for other nodes: to one node's inbox when `node` is known,
    /// else on the broadcast channel for every node to resolve.
    async fn publish_send(
        &self,
        node: Option<&str>,
        selection: &Selection,
        method: &str,
        args: &str,
    ) -> Result<(), ClusterError> {
        let envelope = Envelope::Send {
            from: self.node_id().to_owned(),
            selection: selection.clone(),
            method: method.to_owned(),
            args: raw(args),
        };
        let channel = match node {
            Some(node) => self.keys.inbox(node),
            None => self.keys.broadcast(),
        };
        self.publish(channel, &envelope).await
    }

    /// Invokes `method` on connections owned by `node` and waits for its
    /// answers. The call fails as soon as the node is declared dead.
    async fn invoke_remote(
        &self,
        node: &str,
        targets: &[ConnectionRecord],
        method: &str,
        args: &str,
        timeout: Duration,
    ) -> Vec<ClientAnswer> {
        let fail_all = |error: String| -> Vec<ClientAnswer> {
            targets
                .iter()
                .map(|t| ClientAnswer {
                    connection_id: t.id.clone(),
                    user: t.user.clone(),
                    value: Err(error.clone()),
                })
                .collect()
        };
        let (tx, rx) = oneshot::channel();
        let request = self.pend(node, Waiter::Answers(tx));
        let envelope = Envelope::Invoke {
            from: self.node_id().to_owned(),
            request,
            hub: targets.first().map(|t| t.hub.clone()).unwrap_or_default(),
            connections: targets.iter().map(|t| t.id.clone()).collect(),
            method: method.to_owned(),
            args: raw(args),
            timeout_ms: timeout.as_millis() as u64,
            trace: crate::telemetry::current(),
        };
        if let Err(e) = self.publish(self.keys.inbox(node), &envelope).await {
            self.unpend(request);
            return fail_all(e.to_string());
        }
        // The owner applies the timeout to each client; allow it time to
        // answer after that.
        let answers = match tokio::time::timeout(timeout + Duration::from_secs(2), rx).await {
            Ok(Ok(answers)) => answers,
            Ok(Err(_)) => {
                return fail_all(format!(
                    "node '{node}' stopped answering and was declared dead"
                ));
            }
            Err(_) => {
                self.unpend(request);
                return fail_all(format!(
                    "node '{node}' did not answer within {}",
                    humantime::format_duration(timeout)
                ));
            }
        };
        let mut by_id: BTreeMap<String, WireAnswer> = answers
            .into_iter()
            .map(|a| (a.connection.clone(), a))
            .collect();
        targets
            .iter()
            .map(|t| {
                let value = match by_id.remove(&t.id) {
                    Some(WireAnswer { error: Some(e), .. }) => Err(e),
                    Some(WireAnswer { result, .. }) => Ok(result
                        .map(|r| r.get().to_owned())
                        .unwrap_or_else(|| "null".to_owned())),
                    None => Err(format!("node '{node}' gave no answer for this client")),
                };
                ClientAnswer {
                    connection_id: t.id.clone(),
                    user: t.user.clone(),
                    value,
                }
            })
            .collect()
    }

    /// Adds or removes a connection owned by `node` to or from a group.
    async fn group_remote(
        &self,
        node: &str,
        hub: &str,
        id: &str,
        group: &str,
        add: bool,
    ) -> Result<(), ClusterError> {
        let (tx, rx) = oneshot::channel();
        let request = self.pend(node, Waiter::Group(tx));
        let envelope = Envelope::Group {
            from: self.node_id().to_owned(),
            request,
            hub: hub.to_owned(),
            connection: id.to_owned(),
            group: group.to_owned(),
            add,
        };
        if let Err(e) = self.publish(self.keys.inbox(node), &envelope).await {
            self.unpend(request);
            return Err(e);
        }
        match tokio::time::timeout(Duration::from_secs(5), rx).await {
            Ok(Ok(None)) => Ok(()),
            Ok(Ok(Some(not_found))) => Err(ClusterError::NotFound(not_found)),
            Ok(Err(_)) => Err(ClusterError::Unavailable(format!(
                "node '{node}' stopped answering and was declared dead"
            ))),
            Err(_) => {
                self.unpend(request);
                Err(ClusterError::Unavailable(format!(
                    "node '{node}' did not confirm the group change"
                )))
            }
        }
    }

    /// One PUBLISH on the broadcast channel: every node closes its own.
    async fn publish_close(
        &self,
        selection: &Selection,
        reason: &CloseReason,
    ) -> Result<(), ClusterError> {
        let envelope = Envelope::Close {
            from: self.node_id().to_owned(),
            selection: selection.clone(),
            error: reason.error.clone(),
            allow_reconnect: reason.allow_reconnect,
        };
        self.publish(self.keys.broadcast(), &envelope).await
    }

    async fn put_status(&self, status: &str) -> Result<(), ClusterError> {
        status::put(self, status).await.map_err(unavailable)
    }

    async fn node_reports(&self) -> Result<Vec<NodeReport>, ClusterError> {
        status::read_all(self).await.map_err(unavailable)
    }

    /// Shares a negotiation so that the WebSocket request may reach any
    /// node (no sticky sessions). The value is `connection_id hub`.
    async fn share_negotiation(
        &self,
        token: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, ClusterError> {
        self.conn()
            .set_options::<_, _, ()>(
                self.keys.negotiated(token),
                value,
                redis::SetOptions::default()
                    .with_expiration(redis::SetExpiry::PX(ttl.as_millis() as u64)),
            )
            .await
            .map(|()| true)
            .map_err(unavailable)
    }

    /// Takes a shared negotiation, once (GET and DEL in one MULTI).
    async fn claim_negotiation(&self, token: &str) -> Result<Option<String>, ClusterError> {
        let key = self.keys.negotiated(token);
        let (value,): (Option<String>,) = redis::pipe()
            .atomic()
            .get(&key)
            .del(&key)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(value)
    }

    /// Leaves the cluster: removes what this node registered and its
    /// heartbeat, so other nodes forget it at once instead of sweeping.
    async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        let node = self.node_id().to_owned();
        let cleaned = async {
            heartbeat::sweep(self, &node).await?;
            let mut pipe = redis::pipe();
            pipe.del(self.keys.heartbeat(&node))
                .ignore()
                .del(self.keys.status(&node))
                .ignore()
                .srem(self.keys.nodes(), &node)
                .ignore();
            pipe.query_async::<()>(&mut self.conn()).await
        };
        if let Err(e) = cleaned.await {
            tracing::warn!(error = %e, "could not remove this node's registrations; other nodes will sweep them");
        }
    }

    /// Stops beating and receiving without removing anything: what a
    /// crashed process leaves behind (for tests of crash recovery).
    fn abandon(&self) {
        self.stopping.store(true, Ordering::Release);
    }
}

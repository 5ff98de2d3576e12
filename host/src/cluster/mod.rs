//! The one routing and presence API, whatever the backend.
//!
//! Hubs (through the runtime) and connections talk to [`Cluster`] only.
//! Every node keeps its own connections in a [`memory::MemoryRegistry`],
//! the authority for them; what spans nodes goes through a
//! [`backend::Backend`]: [`backend::Standalone`] on a single node, the
//! [`redis::Backplane`] on a cluster. The methods are `async` and
//! fallible because a backend may be.

pub mod backend;
pub mod kv;
pub mod memory;
pub mod redis;
pub mod selection;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

pub use crate::connection::handle::{CloseReason, ConnectionEnds, ConnectionHandle, Encoded};
use backend::Backend;
pub use backend::NodeReport;
pub use selection::{Attributes, Filter, Selection};

/// What the registry knows of a connection, everywhere in the cluster.
/// Stored as JSON in the backplane.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionRecord {
    pub id: String,
    pub hub: String,
    pub user: Option<String>,
    pub node: String,
    pub groups: BTreeSet<String>,
    pub attributes: Attributes,
}

/// A user with at least one connection to a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPresence {
    pub user: String,
    pub connections: Vec<String>,
    pub nodes: Vec<String>,
}

/// One client's answer to an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAnswer {
    pub connection_id: String,
    pub user: Option<String>,
    /// Raw JSON result, or the error text.
    pub value: Result<String, String>,
}

/// Why a cluster operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NoClientResponded(String),
    #[error("{0}")]
    Unavailable(String),
}

impl ClusterError {
    pub(crate) fn connection_not_found(id: &str) -> Self {
        ClusterError::NotFound(format!("connection '{id}' does not exist"))
    }
}

/// This node's view of the cluster: its own connections in memory (the
/// authority for them), and, through the backend, everyone else's.
pub struct Cluster {
    node_id: String,
    registry: Arc<memory::MemoryRegistry>,
    backend: Arc<dyn Backend>,
    /// Hubs' key-value stores: in memory alone, on Redis in a cluster.
    kv: Arc<dyn kv::KvStore>,
}

impl Cluster {
    /// A cluster of one node, everything in memory.
    pub fn in_memory(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            registry: Arc::new(memory::MemoryRegistry::default()),
            backend: Arc::new(backend::Standalone),
            kv: Arc::new(kv::MemoryKv::default()),
        }
    }

    /// A node of a cluster that shares a Redis-compatible backplane.
    pub async fn with_backplane(
        options: redis::BackplaneOptions,
    ) -> Result<Self, redis::BackplaneError> {
        let registry = Arc::new(memory::MemoryRegistry::default());
        let node_id = options.node_id.clone();
        let backplane = redis::Backplane::start(options, registry.clone()).await?;
        Ok(Self {
            node_id,
            registry,
            kv: Arc::new(redis::RedisKv::new(backplane.clone())),
            backend: backplane,
        })
    }

    /// The hubs' key-value store (the WIT `kv` interface).
    pub fn kv(&self) -> &Arc<dyn kv::KvStore> {
        &self.kv
    }

    /// The id this node registers its connections under.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Records a new local connection.
    pub async fn register(&self, record: ConnectionRecord, handle: ConnectionHandle) {
        // Every mirrored change of one connection runs under its write
        // lock, so the backend ends at the latest local state (no ghosts).
        let _write = self.backend.write_lock(&record.id).await;
        self.registry.register(record.clone(), handle);
        self.backend.registered(&record).await;
    }

    /// Forgets a local connection; its groups go with it.
    pub async fn unregister(&self, id: &str) -> Option<ConnectionRecord> {
        let _write = self.backend.write_lock(id).await;
        let record = self.registry.unregister(id)?;
        self.backend.unregistered(&record).await;
        Some(record)
    }

    /// Sets the user id of a local connection.
    pub async fn set_user(&self, id: &str, user: Option<String>) -> Result<(), ClusterError> {
        let _write = self.backend.write_lock(id).await;
        let old = self.registry.record(id);
        self.registry.set_user(id, user)?;
        if let (Some(old), Some(new)) = (old, self.registry.record(id)) {
            self.backend.updated(&old, &new).await;
        }
        Ok(())
    }

    /// The user of one of this node's connections.
    pub async fn user_of(&self, id: &str) -> Option<String> {
        self.registry.user_of(id)
    }

    /// This node's record of one of its connections.
    pub async fn record(&self, id: &str) -> Option<ConnectionRecord> {
        self.registry.record(id)
    }

    /// Adds any connection of `hub`, on any node, to a group.
    pub async fn add_to_group(&self, hub: &str, id: &str, group: &str) -> Result<(), ClusterError> {
        self.change_group(hub, id, group, true).await
    }

    /// Removes any connection of `hub`, on any node, from a group.
    pub async fn remove_from_group(
        &self,
        hub: &str,
        id: &str,
        group: &str,
    ) -> Result<(), ClusterError> {
        self.change_group(hub, id, group, false).await
    }

    async fn change_group(
        &self,
        hub: &str,
        id: &str,
        group: &str,
        add: bool,
    ) -> Result<(), ClusterError> {
        if self.registry.contains(id) {
            return change_local_group(&self.registry, self.backend.as_ref(), hub, id, group, add)
                .await;
        }
        match self.backend.owner_of(id).await? {
            Some(node) if node != self.node_id => {
                self.backend.group_remote(&node, hub, id, group, add).await
            }
            _ => Err(ClusterError::connection_not_found(id)),
        }
    }

    /// Fire and forget to every selected connection, on every node. Local
    /// connections get the message serialized once; other nodes get one
    /// message: to the owner's inbox for a single connection, else on the
    /// broadcast channel. Returns how many local connections it was queued
    /// for. While the backplane is unreachable only local connections are
    /// reached (live traffic is not queued) and a warning is logged.
    pub async fn send(
        &self,
        selection: &Selection,
        method: &str,
        args: &str,
    ) -> Result<usize, ClusterError> {
        let (queued, remote) = self.send_reporting(selection, method, args).await;
        if let Err(error) = remote {
            tracing::warn!(%error, "a send reached this node's connections only");
        }
        Ok(queued)
    }

    /// [`Self::send`], saying whether other nodes were reached: the
    /// server API answers 503 when they were not, so a backend can retry.
    pub async fn send_reporting(
        &self,
        selection: &Selection,
        method: &str,
        args: &str,
    ) -> (usize, Result<(), ClusterError>) {
        let message = Encoded::invocation(method, args);
        let mut queued = 0;
        for handle in self.registry.handles_of(selection) {
            if handle.send_encoded(&message) {
                queued += 1;
            }
        }
        let remote = match selection.connection_id() {
            Some(id) if self.registry.contains(id) => Ok(()),
            Some(id) => match self.backend.owner_of(id).await {
                Ok(Some(node)) => {
                    self.backend
                        .publish_send(Some(&node), selection, method, args)
                        .await
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
            None => {
                self.backend
                    .publish_send(None, selection, method, args)
                    .await
            }
        };
        (queued, remote)
    }

    /// The selected connections of the whole cluster, split into this
    /// node's (with handles) and other nodes' (by node).
    async fn targets(
        &self,
        selection: &Selection,
    ) -> Result<
        (
            Vec<(ConnectionRecord, ConnectionHandle)>,
            BTreeMap<String, Vec<ConnectionRecord>>,
        ),
        ClusterError,
    > {
        let local = self.registry.resolve(selection);
        let mut remote: BTreeMap<String, Vec<ConnectionRecord>> = BTreeMap::new();
        let local_only = selection
            .connection_id()
            .is_some_and(|id| self.registry.contains(id));
        if !local_only {
            for record in self.backend.resolve(selection).await? {
                if record.node != self.node_id {
                    remote.entry(record.node.clone()).or_default().push(record);
                }
            }
        }
        Ok((local, remote))
    }

    /// Asks the selected clients one at a time until one answers with a
    /// result: this node's clients first, then other nodes', each in
    /// connection-id order. `timeout` bounds the whole call, not each
    /// client: a client is asked with what is left of it. A client that
    /// did not answer in time may still be running the method when the
    /// next one is asked.
    pub async fn invoke_one(
        &self,
        selection: &Selection,
        method: &str,
        arguments: &str,
        timeout: Duration,
    ) -> Result<ClientAnswer, ClusterError> {
        let mut reasons = Vec::new();
        let (local, remote, degraded) = match self.targets(selection).await {
            Ok((local, remote)) => (local, remote, None),
            // Degraded: this node's clients can still answer.
            Err(error) => (
                self.registry.resolve(selection),
                BTreeMap::new(),
                Some(error),
            ),
        };
        if local.is_empty() && remote.is_empty() && degraded.is_none() {
            return Err(ClusterError::NoClientResponded(
                "no connection is selected".to_owned(),
            ));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        let out_of_time = "the invoke timeout was used up before it was asked";
        for (record, handle) in local {
            if left().is_zero() {
                reasons.push(format!("{}: {out_of_time}", record.id));
                continue;
            }
            let asked = handle.invoke_until(method, arguments, deadline, timeout);
            match crate::telemetry::client_result(method, &record.id, asked).await {
                Ok(value) => {
                    return Ok(ClientAnswer {
                        connection_id: record.id,
                        user: record.user,
                        value: Ok(value),
                    });
                }
                Err(error) => reasons.push(format!("{}: {error}", record.id)),
            }
        }
        let mut remote: Vec<ConnectionRecord> = remote.into_values().flatten().collect();
        remote.sort_by(|a, b| a.id.cmp(&b.id));
        for record in remote {
            if left().is_zero() {
                reasons.push(format!("{}: {out_of_time}", record.id));
                continue;
            }
            let answer = self
                .backend
                .invoke_remote(
                    &record.node,
                    std::slice::from_ref(&record),
                    method,
                    arguments,
                    // Whole milliseconds: the owner names it in errors.
                    Duration::from_millis(left().as_millis() as u64),
                )
                .await
                .pop();
            match answer {
                Some(answer @ ClientAnswer { value: Ok(_), .. }) => return Ok(answer),
                Some(ClientAnswer {
                    value: Err(error), ..
                }) => reasons.push(format!("{}: {error}", record.id)),
                None => {}
            }
        }
        if let Some(ClusterError::Unavailable(why)) = degraded {
            reasons.insert(0, why);
            return Err(ClusterError::Unavailable(reasons.join("; ")));
        }
        Err(ClusterError::NoClientResponded(format!(
            "no client returned a result ({})",
            reasons.join("; ")
        )))
    }

    /// Asks every selected client, on every node, at once; returns every
    /// answer or error, sorted by connection id. Clients of a node that
    /// dies meanwhile get an error naming the node.
    pub async fn invoke_all(
        &self,
        selection: &Selection,
        method: &str,
        arguments: &str,
        timeout: Duration,
    ) -> Result<Vec<ClientAnswer>, ClusterError> {
        let (local, remote) = self.targets(selection).await?;
        let local_calls = join_all(local.into_iter().map(|(record, handle)| async move {
            let asked = handle.invoke(method, arguments, timeout);
            let value = crate::telemetry::client_result(method, &record.id, asked).await;
            ClientAnswer {
                connection_id: record.id,
                user: record.user,
                value,
            }
        }));
        let remote_calls = join_all(remote.iter().map(|(node, records)| {
            self.backend
                .invoke_remote(node, records, method, arguments, timeout)
        }));
        let (mut answers, remote_answers) = tokio::join!(local_calls, remote_calls);
        answers.extend(remote_answers.into_iter().flatten());
        answers.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
        Ok(answers)
    }

    /// Presence: a snapshot of the selected connections on every node,
    /// sorted by id.
    pub async fn connections(
        &self,
        selection: &Selection,
    ) -> Result<Vec<ConnectionRecord>, ClusterError> {
        let (local, remote) = self.targets(selection).await?;
        let mut records: Vec<ConnectionRecord> = local
            .into_iter()
            .map(|(r, _)| r)
            .chain(remote.into_values().flatten())
            .collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }

    /// Presence: whether a user has a connection to `hub` anywhere. A
    /// user connected here is online even while the backplane is away.
    pub async fn is_user_online(&self, hub: &str, user: &str) -> Result<bool, ClusterError> {
        let selection = Selection::all(hub).with(Filter::User(user.to_owned()));
        if !self.registry.handles_of(&selection).is_empty() {
            return Ok(true);
        }
        Ok(!self.connections(&selection).await?.is_empty())
    }

    /// Presence: every user connected to `hub`, sorted by user id.
    pub async fn online_users(&self, hub: &str) -> Result<Vec<UserPresence>, ClusterError> {
        let mut users: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        for record in self.connections(&Selection::all(hub)).await? {
            if let Some(user) = record.user {
                let entry = users.entry(user).or_default();
                entry.0.insert(record.id);
                entry.1.insert(record.node);
            }
        }
        Ok(users
            .into_iter()
            .map(|(user, (connections, nodes))| UserPresence {
                user,
                connections: connections.into_iter().collect(),
                nodes: nodes.into_iter().collect(),
            })
            .collect())
    }

    /// Lets any node accept the WebSocket of a negotiation made here.
    /// True when it was shared (false on one node, or Redis unreachable).
    pub async fn share_negotiation(
        &self,
        token: &str,
        connection_id: &str,
        hub: &str,
        stateful_reconnect: bool,
        ttl: Duration,
    ) -> bool {
        let flag = if stateful_reconnect { " stateful" } else { "" };
        match self
            .backend
            .share_negotiation(token, &format!("{connection_id} {hub}{flag}"), ttl)
            .await
        {
            Ok(shared) => shared,
            Err(error) => {
                tracing::warn!(%error, "negotiation not shared: the WebSocket must reach this node");
                false
            }
        }
    }

    /// Takes a shared negotiation, made on any node, once. `Ok(None)`:
    /// not shared (unknown, used, or never shared, or one node alone).
    /// `Err`: the backplane is unreachable.
    pub async fn claim_negotiation(
        &self,
        token: &str,
    ) -> Result<Option<SharedNegotiation>, ClusterError> {
        Ok(self
            .backend
            .claim_negotiation(token)
            .await?
            .and_then(|value| {
                let mut parts = value.split(' ');
                Some(SharedNegotiation {
                    connection_id: parts.next()?.to_owned(),
                    hub: parts.next()?.to_owned(),
                    stateful_reconnect: parts.next() == Some("stateful"),
                })
            }))
    }

    /// Closes the selected connections on every node (the server API's
    /// disconnect) and returns the ids of those selected, sorted. Other
    /// nodes get one broadcast and close theirs when it arrives.
    pub async fn disconnect(
        &self,
        selection: &Selection,
        reason: CloseReason,
    ) -> Result<Vec<String>, ClusterError> {
        let (mut local, remote) = self.targets(selection).await?;
        // One told to close already is on its way out (until its task
        // ends it is still registered): not disconnected again.
        local.retain(|(_, handle)| !handle.is_closing());
        let mut ids: Vec<String> = local.iter().map(|(record, _)| record.id.clone()).collect();
        for (_, handle) in &local {
            handle.close(reason.clone());
        }
        if !remote.is_empty() {
            self.backend.publish_close(selection, &reason).await?;
            ids.extend(remote.into_values().flatten().map(|record| record.id));
        }
        ids.sort();
        Ok(ids)
    }

    /// Per hub (lowercase), this node's connections, users and groups;
    /// `users_listed` bounds the user ids given.
    pub fn local_summaries(
        &self,
        users_listed: usize,
    ) -> std::collections::HashMap<String, memory::HubSummary> {
        self.registry.summaries(users_listed)
    }

    /// Keeps this node's status where the other nodes can read it.
    pub async fn put_status(&self, status: &str) -> Result<(), ClusterError> {
        self.backend.put_status(status).await
    }

    /// What every other node last said of itself (none on one node).
    pub async fn node_reports(&self) -> Result<Vec<NodeReport>, ClusterError> {
        self.backend.node_reports().await
    }

    /// Closes this node's connections of one hub (its file was removed).
    pub async fn close_hub(&self, hub: &str, reason: CloseReason) {
        for handle in self.registry.handles_of(&Selection::all(hub)) {
            handle.close(reason.clone());
        }
    }

    /// Closes every local connection (shutdown).
    pub async fn close_all(&self, reason: CloseReason) {
        for handle in self.registry.handles() {
            handle.close(reason.clone());
        }
    }

    /// Stops this node's backplane tasks without cleaning up, as a crash
    /// would (for tests).
    pub fn abandon(&self) {
        self.backend.abandon();
    }

    /// Leaves the cluster: removes what is left of this node's
    /// registrations and its heartbeat.
    pub async fn shutdown(&self) {
        self.backend.shutdown().await;
    }
}

/// Changes the groups of a connection this node owns, and mirrors it,
/// under its write lock. Used for this node's own calls and for other
/// nodes' requests (the backplane's inbox).
pub(crate) async fn change_local_group(
    registry: &memory::MemoryRegistry,
    backend: &dyn Backend,
    hub: &str,
    id: &str,
    group: &str,
    add: bool,
) -> Result<(), ClusterError> {
    let _write = backend.write_lock(id).await;
    let old = registry
        .record(id)
        .filter(|r| crate::names::same_hub(&r.hub, hub))
        .ok_or_else(|| ClusterError::connection_not_found(id))?;
    if add {
        registry.add_to_group(hub, id, group)?;
    } else {
        registry.remove_from_group(hub, id, group)?;
    }
    if let Some(new) = registry.record(id) {
        backend.updated(&old, &new).await;
    }
    Ok(())
}

/// A negotiation shared through the backplane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedNegotiation {
    pub connection_id: String,
    /// Lowercase.
    pub hub: String,
    pub stateful_reconnect: bool,
}

#[cfg(test)]
mod tests;

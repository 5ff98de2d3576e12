//! The one routing and presence API, whatever the backend.
//!
//! Hubs (through the runtime) and connections talk to [`Cluster`] only.
//! On a single node the backend is [`memory::MemoryRegistry`]; the Redis
//! backplane becomes a second backend behind the same methods, which is
//! why they are `async` and fallible even where memory never fails.

pub mod local;
pub mod memory;
pub mod selection;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::future::join_all;

pub use local::{ConnectionEnds, ConnectionHandle, Encoded};
pub use selection::{Attributes, Filter, Selection};

/// What the registry knows of a connection, everywhere in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    fn connection_not_found(id: &str) -> Self {
        ClusterError::NotFound(format!("connection '{id}' does not exist"))
    }
}

enum Backend {
    Memory(memory::MemoryRegistry),
}

/// This node's view of the cluster.
pub struct Cluster {
    node_id: String,
    backend: Backend,
}

impl Cluster {
    /// A cluster of one node, everything in memory.
    pub fn in_memory(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            backend: Backend::Memory(memory::MemoryRegistry::default()),
        }
    }

    /// The id this node registers its connections under.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Records a new local connection.
    pub async fn register(&self, record: ConnectionRecord, handle: ConnectionHandle) {
        match &self.backend {
            Backend::Memory(m) => m.register(record, handle),
        }
    }

    /// Forgets a local connection; its groups go with it.
    pub async fn unregister(&self, id: &str) -> Option<ConnectionRecord> {
        match &self.backend {
            Backend::Memory(m) => m.unregister(id),
        }
    }

    /// Sets the user id of a connection.
    pub async fn set_user(&self, id: &str, user: Option<String>) -> Result<(), ClusterError> {
        match &self.backend {
            Backend::Memory(m) => m.set_user(id, user),
        }
    }

    /// The registry's record of one connection.
    pub async fn record(&self, id: &str) -> Option<ConnectionRecord> {
        match &self.backend {
            Backend::Memory(m) => m.record(id),
        }
    }

    /// Adds any connection of `hub` to a group.
    pub async fn add_to_group(&self, hub: &str, id: &str, group: &str) -> Result<(), ClusterError> {
        match &self.backend {
            Backend::Memory(m) => m.add_to_group(hub, id, group),
        }
    }

    /// Removes any connection of `hub` from a group.
    pub async fn remove_from_group(
        &self,
        hub: &str,
        id: &str,
        group: &str,
    ) -> Result<(), ClusterError> {
        match &self.backend {
            Backend::Memory(m) => m.remove_from_group(hub, id, group),
        }
    }

    fn resolve(&self, selection: &Selection) -> Vec<(ConnectionRecord, ConnectionHandle)> {
        match &self.backend {
            Backend::Memory(m) => m.resolve(selection),
        }
    }

    /// Fire and forget to every selected connection; the message is
    /// serialized once. Returns how many connections it was queued for.
    pub async fn send(
        &self,
        selection: &Selection,
        message: &Encoded,
    ) -> Result<usize, ClusterError> {
        let mut queued = 0;
        for (_, handle) in self.resolve(selection) {
            if handle.push(message.json_bytes().clone()) {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Asks the selected clients one at a time, in id order, until one
    /// answers with a result.
    pub async fn invoke_one(
        &self,
        selection: &Selection,
        method: &str,
        arguments: &str,
        timeout: Duration,
    ) -> Result<ClientAnswer, ClusterError> {
        let targets = self.resolve(selection);
        if targets.is_empty() {
            return Err(ClusterError::NoClientResponded(
                "no connection is selected".to_owned(),
            ));
        }
        let mut reasons = Vec::new();
        for (record, handle) in targets {
            match handle.invoke(method, arguments, timeout).await {
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
        Err(ClusterError::NoClientResponded(format!(
            "no client returned a result ({})",
            reasons.join("; ")
        )))
    }

    /// Asks every selected client at once; returns every answer or error,
    /// sorted by connection id.
    pub async fn invoke_all(
        &self,
        selection: &Selection,
        method: &str,
        arguments: &str,
        timeout: Duration,
    ) -> Result<Vec<ClientAnswer>, ClusterError> {
        let calls = self
            .resolve(selection)
            .into_iter()
            .map(|(record, handle)| async move {
                let value = handle.invoke(method, arguments, timeout).await;
                ClientAnswer {
                    connection_id: record.id,
                    user: record.user,
                    value,
                }
            });
        Ok(join_all(calls).await)
    }

    /// Presence: a snapshot of the selected connections, sorted by id.
    pub async fn connections(
        &self,
        selection: &Selection,
    ) -> Result<Vec<ConnectionRecord>, ClusterError> {
        Ok(self
            .resolve(selection)
            .into_iter()
            .map(|(r, _)| r)
            .collect())
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

    /// How many connections this node holds.
    pub async fn local_count(&self) -> usize {
        match &self.backend {
            Backend::Memory(m) => m.handles().len(),
        }
    }

    /// Closes every local connection (shutdown).
    pub async fn close_all(&self, reason: local::CloseReason) {
        let handles = match &self.backend {
            Backend::Memory(m) => m.handles(),
        };
        for handle in handles {
            handle.close(reason.clone());
        }
    }
}

#[cfg(test)]
mod tests;

//! The seam between routing and what spans nodes (socketioxide's
//! `Adapter` is the model).
//!
//! [`super::Cluster`] routes every send, invocation and presence query the
//! same way whatever the backend: this node's connections from its own
//! [`super::memory::MemoryRegistry`] (the authority for them), everything
//! else through a [`Backend`]. [`Standalone`] is one node alone: nothing
//! to mirror, nobody else to ask. [`super::redis::Backplane`] is a node of
//! a cluster sharing a Redis-compatible server.

use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

use super::{ClientAnswer, CloseReason, ClusterError, ConnectionRecord, Selection};

/// What one node last said of itself (its status JSON), as the backend
/// keeps it: other nodes read it for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    pub node: String,
    /// Whether its heartbeat is live.
    pub alive: bool,
    /// Its last status, while not expired.
    pub status: Option<String>,
}

/// Held around a change of a connection's local record and the write that
/// mirrors it, so mirrored writes of one connection land in order. `None`
/// when nothing is mirrored.
pub type WriteGuard = Option<OwnedMutexGuard<()>>;

/// What spans nodes. Every method is about other nodes or about the
/// shared registry; this node's own connections are never looked up here.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Orders the mirrored writes of one connection.
    async fn write_lock(&self, id: &str) -> WriteGuard;
    /// Mirrors a new local connection (its write lock held).
    async fn registered(&self, record: &ConnectionRecord);
    /// Mirrors a change of a local connection's record (its write lock
    /// held, `old` read under it before the change).
    async fn updated(&self, old: &ConnectionRecord, new: &ConnectionRecord);
    /// Mirrors a local connection's end (its write lock held).
    async fn unregistered(&self, record: &ConnectionRecord);

    /// The selected connections of the whole cluster, as registered (this
    /// node's included; the caller skips them).
    async fn resolve(&self, selection: &Selection) -> Result<Vec<ConnectionRecord>, ClusterError>;
    /// The node that owns a connection, if any node registered it.
    async fn owner_of(&self, id: &str) -> Result<Option<String>, ClusterError>;
    /// A fire-and-forget send for other nodes: to `node`'s inbox when it is
    /// known, else for every node to resolve.
    async fn publish_send(
        &self,
        node: Option<&str>,
        selection: &Selection,
        method: &str,
        args: &str,
    ) -> Result<(), ClusterError>;
    /// Invokes `method` on `targets`, all owned by `node`, and returns one
    /// answer per target.
    async fn invoke_remote(
        &self,
        node: &str,
        targets: &[ConnectionRecord],
        method: &str,
        args: &str,
        timeout: Duration,
    ) -> Vec<ClientAnswer>;
    /// Adds or removes a connection owned by `node` to or from a group.
    async fn group_remote(
        &self,
        node: &str,
        hub: &str,
        id: &str,
        group: &str,
        add: bool,
    ) -> Result<(), ClusterError>;

    /// Closes the selected connections of every other node.
    async fn publish_close(
        &self,
        selection: &Selection,
        reason: &CloseReason,
    ) -> Result<(), ClusterError>;

    /// Keeps this node's status (JSON) where other nodes can read it,
    /// until it expires with the node timeout.
    async fn put_status(&self, status: &str) -> Result<(), ClusterError>;
    /// Every other node's last status, by node id.
    async fn node_reports(&self) -> Result<Vec<NodeReport>, ClusterError>;

    /// Shares a negotiation so that any node may accept its WebSocket.
    /// `Ok(false)`: there is no other node to share it with.
    async fn share_negotiation(
        &self,
        token: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, ClusterError>;
    /// Takes a shared negotiation once. `Ok(None)`: not shared (unknown,
    /// used, or there is no other node).
    async fn claim_negotiation(&self, token: &str) -> Result<Option<String>, ClusterError>;

    /// Leaves the cluster: removes what this node registered.
    async fn shutdown(&self);
    /// Stops without cleaning up, as a crash would (for tests).
    fn abandon(&self);
}

/// One node alone: everything lives in this process's memory.
pub struct Standalone;

#[async_trait::async_trait]
impl Backend for Standalone {
    async fn write_lock(&self, _id: &str) -> WriteGuard {
        None
    }

    async fn registered(&self, _record: &ConnectionRecord) {}

    async fn updated(&self, _old: &ConnectionRecord, _new: &ConnectionRecord) {}

    async fn unregistered(&self, _record: &ConnectionRecord) {}

    async fn resolve(&self, _selection: &Selection) -> Result<Vec<ConnectionRecord>, ClusterError> {
        Ok(Vec::new())
    }

    async fn owner_of(&self, _id: &str) -> Result<Option<String>, ClusterError> {
        Ok(None)
    }

    async fn publish_send(
        &self,
        _node: Option<&str>,
        _selection: &Selection,
        _method: &str,
        _args: &str,
    ) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn invoke_remote(
        &self,
        node: &str,
        targets: &[ConnectionRecord],
        _method: &str,
        _args: &str,
        _timeout: Duration,
    ) -> Vec<ClientAnswer> {
        // Never asked: a standalone node resolves no remote connection.
        targets
            .iter()
            .map(|t| ClientAnswer {
                connection_id: t.id.clone(),
                user: t.user.clone(),
                value: Err(format!("node '{node}' is not part of this cluster")),
            })
            .collect()
    }

    async fn group_remote(
        &self,
        _node: &str,
        _hub: &str,
        id: &str,
        _group: &str,
        _add: bool,
    ) -> Result<(), ClusterError> {
        Err(ClusterError::connection_not_found(id))
    }

    async fn publish_close(
        &self,
        _selection: &Selection,
        _reason: &CloseReason,
    ) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn put_status(&self, _status: &str) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn node_reports(&self) -> Result<Vec<NodeReport>, ClusterError> {
        Ok(Vec::new())
    }

    async fn share_negotiation(
        &self,
        _token: &str,
        _value: &str,
        _ttl: Duration,
    ) -> Result<bool, ClusterError> {
        Ok(false)
    }

    async fn claim_negotiation(&self, _token: &str) -> Result<Option<String>, ClusterError> {
        Ok(None)
    }

    async fn shutdown(&self) {}

    fn abandon(&self) {}
}

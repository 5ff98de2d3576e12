//! Every key and channel the backplane uses, in one place.
//!
//! With prefix `P` (`--channel-prefix`, default `wasmhub`):
//!
//! | key / channel | type | holds |
//! |---|---|---|
//! | `P:nodes` | set | ids of nodes that registered |
//! | `P:node:{node}:heartbeat` | string `<process>:<beat>`, expires after node-timeout | liveness |
//! | `P:node:{node}:connections` | set | connection ids the node owns |
//! | `P:node:{node}:inbox` | channel | envelopes for that node only |
//! | `P:node:{node}:status` | string (JSON), expires after node-timeout | what the node says of itself (the dashboard) |
//! | `P:node:{node}:sweeper` | string, expires | the node sweeping that (dead) node |
//! | `P:broadcast` | channel | sends every node resolves locally |
//! | `P:connection:{id}` | string (JSON) | the connection's registration |
//! | `P:negotiated:{token}` | string, expires | a negotiate's connection id and hub |
//! | `P:hub:{hub}:connections` | set | ids of a hub's connections |
//! | `P:hub:{hub}:user:{user}` | set | ids of a user's connections |
//! | `P:hub:{hub}:group:{group}` | set | ids in a group |
//! | `P:hub:{hub}:attribute:{key}` | set | ids having the attribute |
//!
//! Index sets are hints: every read checks the registration itself, so a
//! stale index member (left by an outage) never selects a connection.
//! Hub names and attribute keys are lowercase; users and groups are kept
//! exactly (they compare case-sensitively). Hub names, node ids and the
//! prefix are checked names (no `:`, see [`crate::names`]); users, groups,
//! attribute keys and connection ids are escaped with
//! [`crate::names::key_part`], so no name can make a key collide with
//! another.

use crate::names::{hub_key, key_part};

/// Builds keys under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    pub fn heartbeat(&self, node: &str) -> String {
        format!("{}:node:{node}:heartbeat", self.prefix)
    }

    pub fn node_connections(&self, node: &str) -> String {
        format!("{}:node:{node}:connections", self.prefix)
    }

    /// Where a hub's key-value store keeps its keys: `P:kv:<hub>:` and
    /// then the hub's own key.
    pub fn kv_prefix(&self, hub: &str) -> String {
        format!("{}:kv:{}:", self.prefix, key_part(&hub_key(hub)))
    }

    /// What a node says of itself: hubs, counts, recent events.
    pub fn status(&self, node: &str) -> String {
        format!("{}:node:{node}:status", self.prefix)
    }

    /// The lease of the node sweeping `node` (one sweeper per dead node).
    pub fn sweeper(&self, node: &str) -> String {
        format!("{}:node:{node}:sweeper", self.prefix)
    }

    /// The node a [`Self::node_connections`] key is for.
    pub fn node_of_connections_key<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(&self.prefix)?
            .strip_prefix(":node:")?
            .strip_suffix(":connections")
    }

    pub fn inbox(&self, node: &str) -> String {
        format!("{}:node:{node}:inbox", self.prefix)
    }

    pub fn broadcast(&self) -> String {
        format!("{}:broadcast", self.prefix)
    }

    pub fn connection(&self, id: &str) -> String {
        format!("{}:connection:{}", self.prefix, key_part(id))
    }

    pub fn negotiated(&self, token: &str) -> String {
        format!("{}:negotiated:{token}", self.prefix)
    }

    pub fn hub_connections(&self, hub: &str) -> String {
        format!("{}:hub:{}:connections", self.prefix, hub_key(hub))
    }

    pub fn user(&self, hub: &str, user: &str) -> String {
        format!(
            "{}:hub:{}:user:{}",
            self.prefix,
            hub_key(hub),
            key_part(user)
        )
    }

    pub fn group(&self, hub: &str, group: &str) -> String {
        format!(
            "{}:hub:{}:group:{}",
            self.prefix,
            hub_key(hub),
            key_part(group)
        )
    }

    pub fn attribute(&self, hub: &str, key: &str) -> String {
        format!(
            "{}:hub:{}:attribute:{}",
            self.prefix,
            hub_key(hub),
            key_part(&key.to_ascii_lowercase())
        )
    }

    /// Every index set a registration belongs to.
    pub fn indexes(&self, record: &super::super::ConnectionRecord) -> Vec<String> {
        let hub = &record.hub;
        let mut keys = vec![self.hub_connections(hub)];
        if let Some(user) = &record.user {
            keys.push(self.user(hub, user));
        }
        keys.extend(record.groups.iter().map(|g| self.group(hub, g)));
        keys.extend(record.attributes.keys().map(|k| self.attribute(hub, k)));
        keys
    }
}

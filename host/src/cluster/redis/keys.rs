//! Every key and channel the backplane uses, in one place.
//!
//! With prefix `P` (`--channel-prefix`, default `wasmhub`):
//!
//! | key / channel | type | holds |
//! |---|---|---|
//! | `P:nodes` | set | ids of nodes that registered |
//! | `P:node:{node}:heartbeat` | string, expires after node-timeout | liveness |
//! | `P:node:{node}:connections` | set | connection ids the node owns |
//! | `P:node:{node}:inbox` | channel | envelopes for that node only |
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
//! exactly (they compare case-sensitively).

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

    pub fn inbox(&self, node: &str) -> String {
        format!("{}:node:{node}:inbox", self.prefix)
    }

    pub fn broadcast(&self) -> String {
        format!("{}:broadcast", self.prefix)
    }

    pub fn connection(&self, id: &str) -> String {
        format!("{}:connection:{id}", self.prefix)
    }

    pub fn negotiated(&self, token: &str) -> String {
        format!("{}:negotiated:{token}", self.prefix)
    }

    pub fn hub_connections(&self, hub: &str) -> String {
        format!(
            "{}:hub:{}:connections",
            self.prefix,
            hub.to_ascii_lowercase()
        )
    }

    pub fn user(&self, hub: &str, user: &str) -> String {
        format!(
            "{}:hub:{}:user:{user}",
            self.prefix,
            hub.to_ascii_lowercase()
        )
    }

    pub fn group(&self, hub: &str, group: &str) -> String {
        format!(
            "{}:hub:{}:group:{group}",
            self.prefix,
            hub.to_ascii_lowercase()
        )
    }

    pub fn attribute(&self, hub: &str, key: &str) -> String {
        format!(
            "{}:hub:{}:attribute:{}",
            self.prefix,
            hub.to_ascii_lowercase(),
            key.to_ascii_lowercase()
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

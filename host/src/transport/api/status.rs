//! The cluster's picture for the dashboard (`GET /api/v1/cluster`).
//!
//! Every node publishes a small status of itself (the hubs it serves and
//! their versions, per hub its connections, users and groups, its
//! counters, its recent events) once a second through the backend; any
//! node answers for the whole cluster from those statuses alone (one read
//! of every node's status, no connection record), so a poll costs the
//! same with ten connections or a hundred thousand. Other nodes' numbers
//! are up to a second old. On one node the picture is this node's alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::{ApiError, ok};
use crate::events::{Event, ms_since_epoch as ms, now_ms};
use crate::metrics::HubTotals;
use crate::transport::AppState;

/// How often a node renews its status.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Groups a node lists per hub (the largest first); the count says how
/// many there are in all.
const GROUPS_LISTED: usize = 100;

/// User ids a node lists per hub, so that users on several nodes count
/// once; past it only the count is given, and the cluster's user count
/// is the nodes' counts summed (`usersExact` false).
const USERS_LISTED: usize = 1000;

/// What one node says of itself.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub node: String,
    /// When it was written, ms since the Unix epoch.
    pub at: u64,
    pub started_at: u64,
    pub version: String,
    pub hubs: Vec<HubStatus>,
    pub events: Vec<serde_json::Value>,
}

/// One hub on one node.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubStatus {
    pub name: String,
    /// The version serving; none while only a refused file is there.
    pub sha256: Option<String>,
    pub loaded_at: Option<u64>,
    pub last_error: Option<String>,
    /// This node's connections of the hub.
    pub connections: usize,
    /// Distinct users among them.
    #[serde(default)]
    pub users: usize,
    /// Their ids, when there are at most [`USERS_LISTED`].
    #[serde(default)]
    pub user_ids: Option<Vec<String>>,
    /// The largest groups here and their members here.
    #[serde(default)]
    pub groups: Vec<GroupSize>,
    /// How many groups there are here.
    #[serde(default)]
    pub group_count: usize,
    pub totals: HubTotals,
}

/// A group and its member count.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GroupSize {
    pub name: String,
    pub members: usize,
}

/// This node's status now.
pub fn this_node(app: &AppState) -> NodeStatus {
    let services = &app.services;
    let mut local = services.cluster.local_summaries(USERS_LISTED);
    let mut totals = services.metrics.hub_totals();
    let hubs = services
        .runtime
        .hub_states()
        .into_iter()
        .map(|state| {
            let here = local
                .remove(&crate::names::hub_key(&state.name))
                .unwrap_or_default();
            let group_count = here.groups.len();
            let mut groups = here.groups;
            groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            groups.truncate(GROUPS_LISTED);
            HubStatus {
                connections: here.connections,
                users: here.users,
                user_ids: (here.user_ids.len() == here.users).then_some(here.user_ids),
                groups: groups
                    .into_iter()
                    .map(|(name, members)| GroupSize { name, members })
                    .collect(),
                group_count,
                totals: totals.remove(&state.name).unwrap_or_default(),
                sha256: state.serving.as_ref().map(|v| v.sha256.clone()),
                loaded_at: state.serving.as_ref().map(|v| ms(v.loaded_at)),
                last_error: state.last_error.map(|e| e.message),
                name: state.name,
            }
        })
        .collect();
    let events = services
        .metrics
        .events
        .newest_first()
        .into_iter()
        .map(|e: Event| serde_json::to_value(e).unwrap_or_default())
        .collect();
    NodeStatus {
        node: services.cluster.node_id().to_owned(),
        at: now_ms(),
        started_at: app.started_ms,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        hubs,
        events,
    }
}

/// Publishes this node's status every [`PUBLISH_EVERY`] while the node
/// runs (a no-op on one node); the caller aborts it at shutdown.
pub fn spawn_publisher(app: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if app.services.config.redis.is_none() {
            return;
        }
        let mut ticker = tokio::time::interval(PUBLISH_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let status = serde_json::to_string(&this_node(&app)).unwrap_or_default();
            // Bounded: a silent Redis must not stall the next beat.
            let put = app.services.cluster.put_status(&status);
            match tokio::time::timeout(PUBLISH_EVERY, put).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(%error, "node status not published"),
                Err(_) => tracing::debug!("node status not published in time"),
            }
        }
    })
}

/// `GET /api/v1/cluster`: every node (alive, its last status) and per
/// hub, over the alive nodes: connections per node, users online and
/// groups with member counts.
pub async fn cluster(State(app): State<AppState>) -> Result<Response, ApiError> {
    let cluster = &app.services.cluster;
    let mut statuses = vec![(true, true, this_node(&app))];
    let mut nodes = Vec::new();
    for report in cluster.node_reports().await? {
        let status: Option<NodeStatus> = report
            .status
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        match status {
            Some(status) => statuses.push((report.alive, false, status)),
            None => nodes.push(serde_json::json!({
                "node": report.node,
                "alive": report.alive,
                "self": false,
                "status": null,
            })),
        }
    }
    let hubs = hub_views(
        statuses
            .iter()
            .filter(|(alive, ..)| *alive)
            .map(|(.., s)| s),
    );
    let mut listed: Vec<serde_json::Value> = statuses
        .into_iter()
        .map(|(alive, me, status)| {
            serde_json::json!({ "node": status.node, "alive": alive, "self": me, "status": status })
        })
        .collect();
    listed.extend(nodes);
    Ok(ok(serde_json::json!({
        "node": cluster.node_id(),
        "at": now_ms(),
        "nodes": listed,
        "hubs": hubs,
    })))
}

/// Per hub (named as the first status names it; names compare
/// case-insensitively), what the statuses say together.
fn hub_views<'a>(statuses: impl Iterator<Item = &'a NodeStatus>) -> Vec<serde_json::Value> {
    #[derive(Default)]
    struct View {
        name: String,
        connections: usize,
        by_node: BTreeMap<String, usize>,
        users: BTreeSet<String>,
        users_summed: usize,
        users_exact: bool,
        groups: BTreeMap<String, usize>,
        groups_exact: bool,
    }
    let mut views: BTreeMap<String, View> = BTreeMap::new();
    for status in statuses {
        for hub in &status.hubs {
            let view = views
                .entry(crate::names::hub_key(&hub.name))
                .or_insert_with(|| View {
                    name: hub.name.clone(),
                    users_exact: true,
                    groups_exact: true,
                    ..View::default()
                });
            if hub.connections > 0 {
                view.connections += hub.connections;
                view.by_node.insert(status.node.clone(), hub.connections);
            }
            view.users_summed += hub.users;
            match &hub.user_ids {
                Some(ids) => view.users.extend(ids.iter().cloned()),
                None => view.users_exact = false,
            }
            view.groups_exact &= hub.group_count == hub.groups.len();
            for group in &hub.groups {
                *view.groups.entry(group.name.clone()).or_default() += group.members;
            }
        }
    }
    views
        .into_values()
        .map(|view| {
            let group_count = view.groups.len();
            let mut groups: Vec<(String, usize)> = view.groups.into_iter().collect();
            groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            groups.truncate(GROUPS_LISTED);
            let users = match view.users_exact {
                true => view.users.len(),
                false => view.users_summed,
            };
            serde_json::json!({
                "name": view.name,
                "connections": view.connections,
                "byNode": view.by_node,
                "users": users,
                "usersExact": view.users_exact,
                "groupCount": group_count,
                "groupsExact": view.groups_exact,
                "groups": groups
                    .into_iter()
                    .map(|(name, members)| serde_json::json!({ "name": name, "members": members }))
                    .collect::<Vec<_>>(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(
        node: &str,
        connections: usize,
        users: &[&str],
        listed: bool,
        groups: &[(&str, usize)],
    ) -> NodeStatus {
        NodeStatus {
            node: node.into(),
            at: 0,
            started_at: 0,
            version: "0".into(),
            hubs: vec![HubStatus {
                name: "Chat".into(),
                sha256: Some("ab".into()),
                loaded_at: None,
                last_error: None,
                connections,
                users: users.len(),
                user_ids: listed.then(|| users.iter().map(|u| u.to_string()).collect()),
                groups: groups
                    .iter()
                    .map(|(name, members)| GroupSize {
                        name: name.to_string(),
                        members: *members,
                    })
                    .collect(),
                group_count: groups.len(),
                totals: HubTotals::default(),
            }],
            events: Vec::new(),
        }
    }

    #[test]
    fn nodes_add_up_a_user_on_two_nodes_counts_once() {
        let a = status("a", 3, &["ann", "bo"], true, &[("room", 2), ("ops", 1)]);
        let b = status("b", 2, &["ann"], true, &[("room", 1)]);
        let idle = status("c", 0, &[], true, &[]);
        let views = hub_views([&a, &b, &idle].into_iter());
        assert_eq!(views.len(), 1);
        let view = &views[0];
        assert_eq!(view["connections"], 5);
        assert_eq!(view["byNode"], serde_json::json!({ "a": 3, "b": 2 }));
        assert_eq!(
            (view["users"].clone(), view["usersExact"].clone()),
            (2.into(), true.into())
        );
        assert_eq!(
            view["groups"][0],
            serde_json::json!({ "name": "room", "members": 3 })
        );
        assert_eq!(view["groupCount"], 2);
        // A node past the user list's bound: the counts are summed.
        let big = status("d", 4, &["ann", "x", "y"], false, &[]);
        let views = hub_views([&a, &big].into_iter());
        assert_eq!(
            (views[0]["users"].clone(), views[0]["usersExact"].clone()),
            (5.into(), false.into())
        );
    }
}

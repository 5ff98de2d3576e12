//! The cluster's picture for the dashboard (`GET /api/v1/cluster`).
//!
//! Every node publishes a small status of itself (the hubs it serves and
//! their versions, its connections per hub, its counters, its recent
//! events) once a second through the backend; any node answers for the
//! whole cluster from those statuses and one presence snapshot per hub.
//! On one node the picture is this node's alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::{ApiError, ok};
use crate::cluster::Selection;
use crate::events::{Event, now_ms};
use crate::metrics::HubTotals;
use crate::transport::AppState;

/// How often a node renews its status.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Groups listed per hub (the largest first); the count says how many
/// there are in all.
const GROUPS_LISTED: usize = 100;

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
    pub totals: HubTotals,
}

fn ms(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// This node's status now.
pub fn this_node(app: &AppState) -> NodeStatus {
    let services = &app.services;
    let mut local: BTreeMap<String, usize> = BTreeMap::new();
    for record in services.cluster.local_records() {
        *local.entry(crate::names::hub_key(&record.hub)).or_default() += 1;
    }
    let mut totals = services.metrics.hub_totals();
    let hubs = services
        .runtime
        .hub_states()
        .into_iter()
        .map(|state| HubStatus {
            connections: local
                .get(&crate::names::hub_key(&state.name))
                .copied()
                .unwrap_or(0),
            totals: totals.remove(&state.name).unwrap_or_default(),
            sha256: state.serving.as_ref().map(|v| v.sha256.clone()),
            loaded_at: state.serving.as_ref().map(|v| ms(v.loaded_at)),
            last_error: state.last_error.map(|e| e.message),
            name: state.name,
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
/// hub its connections per node, users online and groups.
pub async fn cluster(State(app): State<AppState>) -> Result<Response, ApiError> {
    let cluster = &app.services.cluster;
    let me = this_node(&app);
    let mut nodes = vec![serde_json::json!({
        "node": me.node,
        "alive": true,
        "self": true,
        "status": me,
    })];
    let mut hub_names: BTreeSet<String> = me.hubs.iter().map(|h| h.name.clone()).collect();
    for report in cluster.node_reports().await? {
        let status: Option<NodeStatus> = report
            .status
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        if let Some(status) = &status {
            hub_names.extend(status.hubs.iter().map(|h| h.name.clone()));
        }
        nodes.push(serde_json::json!({
            "node": report.node,
            "alive": report.alive,
            "self": false,
            "status": status,
        }));
    }
    let mut hubs = Vec::new();
    for name in dedupe_case_insensitive(hub_names) {
        let records = cluster.connections(&Selection::all(name.clone())).await?;
        let mut by_node: BTreeMap<String, usize> = BTreeMap::new();
        let mut users = BTreeSet::new();
        let mut groups: BTreeMap<String, usize> = BTreeMap::new();
        for record in &records {
            *by_node.entry(record.node.clone()).or_default() += 1;
            if let Some(user) = &record.user {
                users.insert(user.clone());
            }
            for group in &record.groups {
                *groups.entry(group.clone()).or_default() += 1;
            }
        }
        let group_count = groups.len();
        let mut groups: Vec<(String, usize)> = groups.into_iter().collect();
        groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        groups.truncate(GROUPS_LISTED);
        hubs.push(serde_json::json!({
            "name": name,
            "connections": records.len(),
            "byNode": by_node,
            "users": users.len(),
            "groupCount": group_count,
            "groups": groups
                .into_iter()
                .map(|(name, members)| serde_json::json!({ "name": name, "members": members }))
                .collect::<Vec<_>>(),
        }));
    }
    Ok(ok(serde_json::json!({
        "node": cluster.node_id(),
        "at": now_ms(),
        "nodes": nodes,
        "hubs": hubs,
    })))
}

/// Hub names compare case-insensitively: one entry per hub, as the
/// first node spelled it.
fn dedupe_case_insensitive(names: BTreeSet<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names
        .into_iter()
        .filter(|name| seen.insert(crate::names::hub_key(name)))
        .collect()
}

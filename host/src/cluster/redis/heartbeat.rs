//! Liveness: every heartbeat interval a node renews its heartbeat key
//! (which expires after the node timeout), sweeps nodes whose key is
//! gone, fails the calls waiting on them, and re-registers its own
//! connections when Redis lost them (a restart, an outage, or being
//! swept while alive). A failed beat is logged and retried; the loop
//! never ends while the node runs.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use redis::AsyncCommands;

use super::Backplane;
use crate::cluster::ConnectionRecord;

/// Starts the heartbeat loop; `predecessor_cleaned` says whether the
/// registrations of an earlier process with this node id are gone.
pub fn spawn(backplane: Arc<Backplane>, predecessor_cleaned: bool) {
    tokio::spawn(async move {
        let mut beaten_before = false;
        let mut predecessor_cleaned = predecessor_cleaned;
        let mut failing = false;
        let mut ticker = tokio::time::interval(backplane.options.heartbeat_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if backplane.stopping.load(Ordering::Acquire) {
                return;
            }
            let outcome = beat(&backplane, &mut beaten_before, &mut predecessor_cleaned).await;
            match (outcome, failing) {
                (Ok(()), true) => {
                    tracing::info!("backplane reachable again");
                    failing = false;
                }
                (Err(error), false) => {
                    tracing::warn!(%error, "backplane heartbeat failed; serving local connections only until Redis answers");
                    backplane.needs_resync.store(true, Ordering::Release);
                    failing = true;
                }
                (Err(_), true) => backplane.needs_resync.store(true, Ordering::Release),
                (Ok(()), false) => {}
            }
        }
    });
}

async fn beat(
    backplane: &Backplane,
    beaten_before: &mut bool,
    predecessor_cleaned: &mut bool,
) -> redis::RedisResult<()> {
    let mut conn = backplane.conn();
    let keys = &backplane.keys;
    let me = backplane.node_id();
    if !*predecessor_cleaned {
        // A crashed process with our id may have left registrations.
        sweep(backplane, me).await?;
        *predecessor_cleaned = true;
        backplane.needs_resync.store(true, Ordering::Release);
    } else if *beaten_before {
        let alive: bool = conn.exists(keys.heartbeat(me)).await?;
        if !alive {
            tracing::warn!(
                "this node's heartbeat vanished (swept, or Redis lost its data): re-registering"
            );
            backplane.needs_resync.store(true, Ordering::Release);
        }
    }
    let timeout_ms = backplane.options.node_timeout.as_millis() as u64;
    let (nodes,): (Vec<String>,) = redis::pipe()
        .set_options(
            keys.heartbeat(me),
            "1",
            redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(timeout_ms)),
        )
        .ignore()
        .sadd(keys.nodes(), me)
        .ignore()
        .smembers(keys.nodes())
        .query_async(&mut conn)
        .await?;
    *beaten_before = true;

    let others: Vec<&String> = nodes.iter().filter(|n| *n != me).collect();
    let mut alive: HashSet<String> = HashSet::from([me.to_owned()]);
    if !others.is_empty() {
        let beats: Vec<Option<String>> = redis::cmd("MGET")
            .arg(others.iter().map(|n| keys.heartbeat(n)).collect::<Vec<_>>())
            .query_async(&mut conn)
            .await?;
        for (node, beat) in others.into_iter().zip(beats) {
            if beat.is_some() {
                alive.insert(node.clone());
            } else {
                let started = std::time::Instant::now();
                sweep(backplane, node).await?;
                tracing::info!(node = %node, took = ?started.elapsed(), "swept a dead node");
            }
        }
    }
    // Calls waiting on a node that is gone fail now, whichever node swept
    // it (it may have left the node set before this beat saw it).
    for node in backplane.pending_nodes() {
        if !alive.contains(&node) {
            backplane.fail_pending_on(&node);
        }
    }
    backplane.subscriber_wake.notify_one();

    if backplane.needs_resync.swap(false, Ordering::AcqRel)
        && let Err(e) = resync(backplane).await
    {
        backplane.needs_resync.store(true, Ordering::Release);
        return Err(e);
    }
    Ok(())
}

/// Removes a node and everything it registered. Idempotent: several
/// nodes may sweep the same dead node at once.
pub(super) async fn sweep(backplane: &Backplane, node: &str) -> redis::RedisResult<()> {
    let mut conn = backplane.conn();
    let keys = &backplane.keys;
    let ids: Vec<String> = conn.smembers(keys.node_connections(node)).await?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    if !ids.is_empty() {
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(ids.iter().map(|id| keys.connection(id)).collect::<Vec<_>>())
            .query_async(&mut conn)
            .await?;
        for (id, value) in ids.iter().zip(values) {
            match value.and_then(|v| serde_json::from_str::<ConnectionRecord>(&v).ok()) {
                // Only what the dead node still owns: a connection id it
                // lost to another node is not touched.
                Some(record) if record.node == node => backplane.add_removal(&mut pipe, &record),
                Some(_) => {}
                None => {
                    pipe.del(keys.connection(id)).ignore();
                }
            }
        }
    }
    pipe.del(keys.node_connections(node)).ignore();
    if node != backplane.node_id() {
        pipe.del(keys.heartbeat(node)).ignore();
        pipe.srem(keys.nodes(), node).ignore();
    }
    pipe.query_async::<()>(&mut conn).await
}

/// Writes every local connection's registration again, and removes the
/// ones whose removal failed while Redis was away.
async fn resync(backplane: &Backplane) -> redis::RedisResult<()> {
    let tombstones = std::mem::take(&mut *backplane.tombstones.lock().expect("tombstones"));
    let records = backplane.local.records();
    let live: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let mut pipe = redis::pipe();
    pipe.atomic();
    for record in tombstones.iter().filter(|r| !live.contains(r.id.as_str())) {
        backplane.add_removal(&mut pipe, record);
    }
    for record in &records {
        backplane.add_registration(&mut pipe, record);
    }
    let outcome = pipe.query_async::<()>(&mut backplane.conn()).await;
    match &outcome {
        Ok(()) => tracing::info!(
            connections = records.len(),
            "re-registered this node's connections"
        ),
        Err(_) => backplane
            .tombstones
            .lock()
            .expect("tombstones")
            .extend(tombstones),
    }
    outcome
}

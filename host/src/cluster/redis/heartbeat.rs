//! Liveness: every heartbeat interval a node renews its heartbeat key
//! (which expires after the node timeout), sweeps nodes whose key is
//! gone, fails the calls waiting on them, and re-registers its own
//! connections when Redis lost them (a restart, an outage, or being
//! swept while alive). A failed beat is logged and retried; the loop
//! never ends while the node runs.
//!
//! - The heartbeat's value names the process (`<instance>:<beat>`), so a
//!   second live process with the same `--node-id` is refused at start
//!   (the value keeps changing) and noticed if it appears later.
//! - One node sweeps a dead node (a lease key, `SET NX`), in batches;
//!   failing to sweep another node never forces this node's own resync.
//! - A janitor scans the node connection sets a little every beat: a
//!   set whose node has no heartbeat is swept, so a registration that
//!   landed after its node's sweep does not live for ever.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::AsyncCommands;

use super::mirror::BATCH;
use super::{Backplane, BackplaneError};

/// Batches one sweep takes at most; what is left goes to the next beat.
const MAX_SWEEP_BATCHES: usize = 200;

/// Keys the janitor looks at per beat (SCAN's COUNT).
const JANITOR_SCAN: usize = 1000;

/// Starts the heartbeat loop; `predecessor_cleaned` says whether the
/// registrations of an earlier process with this node id are gone.
pub fn spawn(backplane: Arc<Backplane>, predecessor_cleaned: bool) {
    tokio::spawn(async move {
        let mut state = BeatState {
            beats: 0,
            predecessor_cleaned,
            janitor_cursor: 0,
        };
        let mut failing = false;
        let mut ticker = tokio::time::interval(backplane.options.heartbeat_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if backplane.stopping.load(Ordering::Acquire) {
                return;
            }
            let outcome = beat(&backplane, &mut state).await;
            if let Err(error) = &outcome
                && error.is_timeout()
            {
                tracing::warn!(
                    "the backplane command link did not answer in time; reconnecting it"
                );
                backplane.renew_command_link();
            }
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

struct BeatState {
    /// Beats that reached Redis.
    beats: u64,
    predecessor_cleaned: bool,
    /// Where the janitor's SCAN goes on.
    janitor_cursor: u64,
}

/// The heartbeat value of this process's `beat`-th beat.
fn beat_value(backplane: &Backplane, beat: u64) -> String {
    format!("{}:{beat}", backplane.instance)
}

/// At start: refuses the node id when another live process beats under
/// it. A heartbeat key left by a crashed predecessor stops changing; one
/// of a live process changes every heartbeat interval, so the key is
/// watched for two intervals. `Ok` also when Redis cannot be asked now
/// (the first beat that reaches it checks again).
pub(super) async fn claim_node_id(backplane: &Backplane) -> Result<(), BackplaneError> {
    let key = backplane.keys.heartbeat(backplane.node_id());
    let read = || async {
        let value: Option<String> = backplane.conn().get(&key).await?;
        redis::RedisResult::Ok(value)
    };
    // No heartbeat yet: take it at once, so that a second process
    // starting at the same moment finds this one's and is refused.
    let taken: redis::RedisResult<Option<String>> = redis::cmd("SET")
        .arg(&key)
        .arg(beat_value(backplane, 0))
        .arg("NX")
        .arg("PX")
        .arg(backplane.options.node_timeout.as_millis() as u64)
        .query_async(&mut backplane.conn())
        .await;
    if !matches!(taken, Ok(None)) {
        return Ok(()); // taken, or Redis cannot be asked now
    }
    let Ok(Some(first)) = read().await else {
        return Ok(());
    };
    let interval = backplane.options.heartbeat_interval;
    let watch_until = tokio::time::Instant::now() + interval * 2 + Duration::from_millis(500);
    while tokio::time::Instant::now() < watch_until {
        tokio::time::sleep(interval / 4).await;
        match read().await {
            Ok(Some(now)) if now != first => {
                return Err(BackplaneError::NodeIdInUse {
                    node: backplane.node_id().to_owned(),
                });
            }
            Ok(None) => return Ok(()),
            _ => {}
        }
    }
    tracing::info!(
        node = %backplane.node_id(),
        "a predecessor with this node id stopped beating: taking over"
    );
    Ok(())
}

async fn beat(backplane: &Backplane, state: &mut BeatState) -> redis::RedisResult<()> {
    let mut conn = backplane.conn();
    let keys = &backplane.keys;
    let me = backplane.node_id();
    if !state.predecessor_cleaned {
        // A crashed process with our id may have left registrations.
        sweep(backplane, me).await?;
        state.predecessor_cleaned = true;
        backplane.needs_resync.store(true, Ordering::Release);
    }
    let timeout_ms = backplane.options.node_timeout.as_millis() as u64;
    let value = beat_value(backplane, state.beats + 1);
    let (previous, nodes): (Option<String>, Vec<String>) = redis::pipe()
        .cmd("SET")
        .arg(keys.heartbeat(me))
        .arg(&value)
        .arg("PX")
        .arg(timeout_ms)
        .arg("GET")
        .sadd(keys.nodes(), me)
        .ignore()
        .smembers(keys.nodes())
        .query_async(&mut conn)
        .await?;
    match previous {
        // Before our first beat, a foreign value is the dead predecessor's.
        Some(previous)
            if state.beats > 0 && !previous.starts_with(&format!("{}:", backplane.instance)) =>
        {
            tracing::error!(
                node = %me,
                "another live process beats as this node id: both lose messages; give each node its own --node-id"
            );
        }
        None if state.beats > 0 => {
            tracing::warn!(
                "this node's heartbeat vanished (swept, or Redis lost its data): re-registering"
            );
            backplane.needs_resync.store(true, Ordering::Release);
        }
        _ => {}
    }
    state.beats += 1;

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
                sweep_dead(backplane, node).await;
            }
        }
    }
    // Calls waiting on a node that is gone fail now, whichever node swept
    // it (it may have left the node set before this beat saw it); its
    // connections' remembered owner goes too.
    backplane.owners.keep_only(&alive);
    backplane.metrics().nodes_alive.set(alive.len() as i64);
    for node in backplane.pending_nodes() {
        if !alive.contains(&node) {
            backplane.fail_pending_on(&node);
        }
    }
    backplane.subscriber_wake.notify_one();

    if backplane.needs_resync.swap(false, Ordering::AcqRel) {
        match backplane.resync().await {
            Ok((written, removed)) => tracing::info!(
                connections = written,
                removed,
                "re-registered this node's connections"
            ),
            Err(e) => {
                backplane.needs_resync.store(true, Ordering::Release);
                return Err(e);
            }
        }
    }
    janitor(backplane, state, &alive).await;
    Ok(())
}

/// Sweeps another node that stopped beating, if this node gets the lease
/// (so that not every node sweeps it at once). Errors are logged: they
/// are about the other node, not this one.
async fn sweep_dead(backplane: &Backplane, node: &str) {
    let lease: redis::RedisResult<Option<String>> = redis::cmd("SET")
        .arg(backplane.keys.sweeper(node))
        .arg(backplane.node_id())
        .arg("NX")
        .arg("PX")
        .arg(backplane.options.node_timeout.as_millis() as u64)
        .query_async(&mut backplane.conn())
        .await;
    match lease {
        Ok(Some(_)) => {}
        Ok(None) => return, // another node sweeps it
        Err(error) => {
            tracing::warn!(node = %node, %error, "could not take the lease to sweep a dead node");
            return;
        }
    }
    let started = std::time::Instant::now();
    match sweep(backplane, node).await {
        Ok(()) => {
            backplane.metrics().sweeps.inc();
            tracing::info!(node = %node, took = ?started.elapsed(), "swept a dead node")
        }
        Err(error) => {
            tracing::warn!(node = %node, %error, "sweeping a dead node failed; it is retried")
        }
    }
}

/// Removes a node and everything it registered, in batches: take some
/// ids of its set, remove their registrations and the ids, until the set
/// is empty. A registration that lands meanwhile stays in the set and is
/// taken by a later batch (the set is never deleted whole). Idempotent.
pub(super) async fn sweep(backplane: &Backplane, node: &str) -> redis::RedisResult<()> {
    let keys = &backplane.keys;
    for _ in 0..MAX_SWEEP_BATCHES {
        let ids: Vec<String> = backplane
            .conn()
            .srandmember_multiple(keys.node_connections(node), BATCH as isize)
            .await?;
        if ids.is_empty() {
            break;
        }
        let ids: Vec<&String> = ids.iter().collect();
        backplane.remove_registrations(&ids, node).await?;
    }
    if node != backplane.node_id() {
        let mut pipe = redis::pipe();
        pipe.del(keys.heartbeat(node))
            .ignore()
            .del(keys.status(node))
            .ignore()
            .srem(keys.nodes(), node)
            .ignore()
            .del(keys.sweeper(node))
            .ignore();
        pipe.query_async::<()>(&mut backplane.conn()).await?;
    }
    Ok(())
}

/// One step of a scan over every node's connection set: a set whose
/// node is neither alive nor listed (its sweep already ran, and a late
/// registration re-created the set) is swept now.
async fn janitor(backplane: &Backplane, state: &mut BeatState, alive: &HashSet<String>) {
    let pattern = backplane.keys.node_connections("*");
    let step: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
        .arg(state.janitor_cursor)
        .arg("MATCH")
        .arg(&pattern)
        .arg("COUNT")
        .arg(JANITOR_SCAN)
        .query_async(&mut backplane.conn())
        .await;
    let Ok((cursor, sets)) = step else { return };
    state.janitor_cursor = cursor;
    for set in sets {
        let Some(node) = backplane.keys.node_of_connections_key(&set) else {
            continue;
        };
        if alive.contains(node) {
            continue;
        }
        let beating: redis::RedisResult<bool> = backplane
            .conn()
            .exists(backplane.keys.heartbeat(node))
            .await;
        if let Ok(false) = beating {
            tracing::info!(node = %node, "found registrations of a node that is gone");
            sweep_dead(backplane, node).await;
        }
    }
}

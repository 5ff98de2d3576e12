//! Broadcast: S subscribers in one room, P publishers sending to the
//! room at a fixed total rate; counts what arrives and how late. On a
//! cluster the subscribers are spread evenly over the nodes, and so are
//! the publishers (the first on the first node): cross-node fan-out
//! through the backplane.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::Cluster;
use crate::idle::open_many;
use crate::paced::{Arrivals, CpuMeter, Pacer, collect};
use crate::server::Binaries;
use crate::wire::{Conn, Dialect, stamp};

const ROOM: &str = "bench";

/// What one broadcast run is.
#[derive(Clone, Copy)]
pub struct BroadcastRun {
    /// 1: one server; more: wasmhub nodes on a private redis-server.
    pub nodes: usize,
    pub subscribers: usize,
    /// Connections that publish, taking turns.
    pub publishers: usize,
    /// Messages per second the publishers send to the room, together.
    pub rate: f64,
    pub duration: Duration,
    pub payload: usize,
}

/// What one broadcast run measured.
pub struct BroadcastResult {
    pub deliveries_per_s: f64,
    /// Share of the deliveries due (subscribers x messages meant to be
    /// sent) that arrived within the grace period.
    pub delivered: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU time over the run, as a share of one core: the servers' (all
    /// nodes and Redis) and the load generator's (near 1.0 it is the
    /// limit).
    pub server_cores: f64,
    pub load_generator_cores: f64,
}

impl BroadcastResult {
    /// The bar of the broadcast goal: at least 99.9 % delivered, p99 at
    /// most 250 ms.
    pub fn sustained(&self) -> bool {
        self.delivered >= 0.999 && self.p99_ms <= 250.0
    }
}

/// How long after the last send late deliveries still count.
const GRACE: Duration = Duration::from_secs(2);

/// Runs one broadcast measurement against a fresh server.
pub async fn run(
    binaries: &Binaries,
    dialect: Dialect,
    run: BroadcastRun,
) -> anyhow::Result<BroadcastResult> {
    let cluster = Cluster::start(binaries, dialect, run.nodes).await?;
    let addrs = cluster.addrs();
    let mut subscribers = Vec::with_capacity(run.subscribers);
    for (n, addr) in addrs.iter().enumerate() {
        // Node n takes its share; the first ones take the remainder.
        let share = run.subscribers / addrs.len() + usize::from(n < run.subscribers % addrs.len());
        subscribers.extend(join_all(open_many(dialect, *addr, share, false).await?).await?);
    }
    let mut publishers = Vec::with_capacity(run.publishers);
    for n in 0..run.publishers.max(1) {
        let addr = addrs[n % addrs.len()];
        publishers.push(Conn::open(dialect, addr, crate::idle::next_source(), false).await?);
    }

    let epoch = Instant::now();
    let planned = (run.rate * run.duration.as_secs_f64()).round() as u64;
    let end = tokio::time::Instant::now() + run.duration + GRACE;
    let arrived = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = subscribers
        .into_iter()
        .map(|conn| {
            let arrivals = Arrivals {
                due: planned,
                end,
                epoch,
                timed_from_us: 0,
            };
            arrivals.spawn(conn.into_subscriber(), arrived.clone())
        })
        .collect();

    let pad = "x".repeat(run.payload);
    let started = Instant::now();
    let cpu = CpuMeter::start(&cluster)?;
    let mut pacer = Pacer::new(run.rate, planned);
    while let Some(batch) = pacer.due().await {
        for n in batch {
            let turn = (n % publishers.len() as u64) as usize;
            let publisher = &mut publishers[turn];
            let sent_us = epoch.elapsed().as_micros() as u64;
            publisher.publish(ROOM, json!(stamp(sent_us, &pad))).await?;
        }
    }
    let mut samples = collect(tasks).await?;
    let elapsed = started.elapsed();
    let (server_cores, load_generator_cores) = cpu.cores(&cluster, elapsed)?;
    for publisher in publishers {
        publisher.close().await;
    }
    cluster.stop().await;
    let due = (planned * run.subscribers as u64).max(1);
    let arrived = arrived.load(Ordering::Relaxed);
    Ok(BroadcastResult {
        deliveries_per_s: arrived as f64 / elapsed.min(run.duration + GRACE).as_secs_f64(),
        delivered: arrived as f64 / due as f64,
        p50_ms: samples.percentile_ms(50.0),
        p99_ms: samples.percentile_ms(99.0),
        server_cores,
        load_generator_cores,
    })
}

/// Joins every connection to the room, 200 at a time.
async fn join_all(conns: Vec<Conn>) -> anyhow::Result<Vec<Conn>> {
    let mut joined = Vec::with_capacity(conns.len());
    let mut conns = conns.into_iter();
    loop {
        let batch: Vec<Conn> = conns.by_ref().take(200).collect();
        if batch.is_empty() {
            return Ok(joined);
        }
        let tasks: Vec<_> = batch
            .into_iter()
            .map(|mut conn| {
                tokio::spawn(async move {
                    conn.join(ROOM).await?;
                    anyhow::Ok(conn)
                })
            })
            .collect();
        for task in tasks {
            joined.push(task.await??);
        }
    }
}

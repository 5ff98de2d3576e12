//! Cross-node whisper: P senders on node A, each whispering to its own
//! partner on node B through the backplane, at a fixed total rate;
//! counts what arrives and how late.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::time::MissedTickBehavior;

use crate::cluster::Cluster;
use crate::idle::open_many;
use crate::server::Binaries;
use crate::stats::Samples;
use crate::wire::{Dialect, stamp};

/// What one whisper run is.
#[derive(Clone, Copy)]
pub struct WhisperRun {
    /// Sender / receiver pairs.
    pub pairs: usize,
    /// Whispers per second, all pairs together.
    pub rate: f64,
    /// How long the timed part lasts (after [`WARMUP`]).
    pub duration: Duration,
    pub payload: usize,
}

/// What one whisper run measured.
pub struct WhisperResult {
    pub whispers_per_s: f64,
    /// Share of the whispers sent that arrived within the grace period.
    pub delivered: f64,
    /// Latency from send to arrival, whispers after the warm-up only.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU over the run as a share of one core: both nodes and Redis.
    pub server_cores: f64,
    pub load_generator_cores: f64,
}

/// Whispers sent in this first stretch count but are not timed: it
/// takes the first instances and backplane subscriptions.
const WARMUP: Duration = Duration::from_secs(1);

/// How long after the last send late whispers still count.
const GRACE: Duration = Duration::from_secs(2);

/// How often the sender tops up to the whispers due by then.
const TICK: Duration = Duration::from_millis(1);

/// Runs one whisper measurement against a fresh two-node cluster.
pub async fn run(
    binaries: &Binaries,
    dialect: Dialect,
    run: WhisperRun,
) -> anyhow::Result<WhisperResult> {
    anyhow::ensure!(run.pairs > 0, "a whisper run needs at least one pair");
    let cluster = Cluster::start(binaries, dialect, 2).await?;
    let addrs = cluster.addrs();
    let mut receivers = open_many(dialect, addrs[1], run.pairs, false).await?;
    let mut ids = Vec::with_capacity(run.pairs);
    for receiver in &mut receivers {
        ids.push(receiver.connection_id().await?);
    }
    let mut senders = open_many(dialect, addrs[0], run.pairs, false).await?;

    let planned = (run.rate * (WARMUP + run.duration).as_secs_f64()).round() as u64;
    let warm_us = WARMUP.as_micros() as u64;
    let end = tokio::time::Instant::now() + WARMUP + run.duration + GRACE;
    let epoch = Instant::now();
    let arrived = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(run.pairs);
    for (i, receiver) in receivers.into_iter().enumerate() {
        // Whisper k goes to pair k % pairs.
        let due = planned / run.pairs as u64 + u64::from((i as u64) < planned % run.pairs as u64);
        let mut conn = receiver.into_subscriber();
        let arrived = arrived.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut stamps = Vec::new();
            let mut count = 0;
            let deadline = tokio::time::sleep_until(end);
            tokio::pin!(deadline);
            while count < due {
                tokio::select! {
                    read = conn.read_stamps(&mut stamps) => read?,
                    () = &mut deadline => break,
                }
                let now_us = epoch.elapsed().as_micros() as u64;
                for sent_us in stamps.drain(..) {
                    if sent_us >= warm_us {
                        samples.push(Duration::from_micros(now_us.saturating_sub(sent_us)));
                    }
                    count += 1;
                }
            }
            arrived.fetch_add(count, Ordering::Relaxed);
            anyhow::Ok(samples)
        }));
    }

    let pad = "x".repeat(run.payload);
    let server_cpu = cluster.cpu_time()?;
    let own_cpu = crate::server::own_cpu_time();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sent = 0u64;
    while sent < planned {
        ticks.tick().await;
        // Catch up to the count due by now: the rate holds even when a
        // tick comes late.
        let due = ((epoch.elapsed().as_secs_f64() * run.rate) as u64).min(planned);
        while sent < due {
            let pair = (sent % run.pairs as u64) as usize;
            let sent_us = epoch.elapsed().as_micros() as u64;
            senders[pair]
                .whisper(&ids[pair], json!(stamp(sent_us, &pad)))
                .await?;
            sent += 1;
        }
    }
    let mut samples = Samples::default();
    for task in tasks {
        samples.extend(task.await??);
    }
    let elapsed = epoch.elapsed();
    let server_cores =
        cluster.cpu_time()?.saturating_sub(server_cpu).as_secs_f64() / elapsed.as_secs_f64();
    let load_generator_cores = crate::server::own_cpu_time()
        .saturating_sub(own_cpu)
        .as_secs_f64()
        / elapsed.as_secs_f64();
    for sender in senders {
        sender.close().await;
    }
    cluster.stop().await;
    let arrived = arrived.load(Ordering::Relaxed);
    Ok(WhisperResult {
        whispers_per_s: arrived as f64 / elapsed.min(WARMUP + run.duration + GRACE).as_secs_f64(),
        delivered: arrived as f64 / planned.max(1) as f64,
        p50_ms: samples.percentile_ms(50.0),
        p99_ms: samples.percentile_ms(99.0),
        server_cores,
        load_generator_cores,
    })
}

//! Cross-node whisper: P senders on node A, each whispering to its own
//! partner on node B through the backplane, at a fixed total rate;
//! counts what arrives and how late.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::Cluster;
use crate::idle::open_many;
use crate::paced::{Arrivals, CpuMeter, Pacer, collect};
use crate::server::Binaries;
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
    let tasks: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(i, receiver)| {
            // Whisper k goes to pair k % pairs.
            let pairs = run.pairs as u64;
            let arrivals = Arrivals {
                due: planned / pairs + u64::from((i as u64) < planned % pairs),
                end,
                epoch,
                timed_from_us: warm_us,
            };
            arrivals.spawn(receiver.into_subscriber(), arrived.clone())
        })
        .collect();

    let pad = "x".repeat(run.payload);
    let cpu = CpuMeter::start(&cluster)?;
    let mut pacer = Pacer::new(run.rate, planned);
    while let Some(batch) = pacer.due().await {
        for n in batch {
            let pair = (n % run.pairs as u64) as usize;
            let sent_us = epoch.elapsed().as_micros() as u64;
            senders[pair]
                .whisper(&ids[pair], json!(stamp(sent_us, &pad)))
                .await?;
        }
    }
    let mut samples = collect(tasks).await?;
    let elapsed = epoch.elapsed();
    let (server_cores, load_generator_cores) = cpu.cores(&cluster, elapsed)?;
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

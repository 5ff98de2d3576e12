//! What the open-loop runs (broadcast, whisper) share: sending at a
//! fixed rate, counting what arrives at raw-reading receivers, and the
//! CPU both sides spent meanwhile.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};

use crate::cluster::Cluster;
use crate::stats::Samples;
use crate::wire::Subscriber;

/// How often a [`Pacer`] tops up to the messages due by then.
const TICK: Duration = Duration::from_millis(1);

/// Hands out message numbers at a fixed rate: each tick, those due by
/// then, so the rate holds at any rate, even when a tick comes late.
pub struct Pacer {
    ticks: Interval,
    started: Instant,
    rate: f64,
    planned: u64,
    sent: u64,
}

impl Pacer {
    /// `planned` messages at `rate` per second, the first one at once.
    pub fn new(rate: f64, planned: u64) -> Pacer {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Pacer {
            ticks,
            started: Instant::now(),
            rate,
            planned,
            sent: 0,
        }
    }

    /// The numbers of the messages to send now; `None` once all are out.
    pub async fn due(&mut self) -> Option<Range<u64>> {
        if self.sent >= self.planned {
            return None;
        }
        self.ticks.tick().await;
        let due = (self.started.elapsed().as_secs_f64() * self.rate) as u64 + 1;
        let batch = self.sent..due.min(self.planned);
        self.sent = batch.end;
        Some(batch)
    }
}

/// One receiver's count, read off its socket until it has `due`
/// messages or `end` passes. Send times (microseconds after `epoch`)
/// before `timed_from_us` count but are not timed.
pub struct Arrivals {
    pub due: u64,
    pub end: tokio::time::Instant,
    pub epoch: Instant,
    pub timed_from_us: u64,
}

impl Arrivals {
    /// Reads on its own task; adds its count to `arrived` and returns
    /// the latencies.
    pub fn spawn(
        self,
        mut conn: Subscriber,
        arrived: Arc<AtomicU64>,
    ) -> JoinHandle<anyhow::Result<Samples>> {
        tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut stamps = Vec::new();
            let mut count = 0;
            // One timer for the whole run, not one per message.
            let deadline = tokio::time::sleep_until(self.end);
            tokio::pin!(deadline);
            while count < self.due {
                tokio::select! {
                    read = conn.read_stamps(&mut stamps) => read?,
                    () = &mut deadline => break,
                }
                let now_us = self.epoch.elapsed().as_micros() as u64;
                for sent_us in stamps.drain(..) {
                    if sent_us >= self.timed_from_us {
                        samples.push(Duration::from_micros(now_us.saturating_sub(sent_us)));
                    }
                    count += 1;
                }
            }
            arrived.fetch_add(count, Ordering::Relaxed);
            Ok(samples)
        })
    }
}

/// Every receiver's latencies, once each has finished.
pub async fn collect(tasks: Vec<JoinHandle<anyhow::Result<Samples>>>) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    for task in tasks {
        samples.extend(task.await??);
    }
    Ok(samples)
}

/// CPU time of the servers and of this process from a starting point.
pub struct CpuMeter {
    server: Duration,
    own: Duration,
}

impl CpuMeter {
    pub fn start(cluster: &Cluster) -> anyhow::Result<CpuMeter> {
        Ok(CpuMeter {
            server: cluster.cpu_time()?,
            own: crate::server::own_cpu_time(),
        })
    }

    /// (servers, load generator) CPU since the start, as shares of one
    /// core over `elapsed`.
    pub fn cores(&self, cluster: &Cluster, elapsed: Duration) -> anyhow::Result<(f64, f64)> {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let server = cluster.cpu_time()?.saturating_sub(self.server);
        let own = crate::server::own_cpu_time().saturating_sub(self.own);
        Ok((server.as_secs_f64() / seconds, own.as_secs_f64() / seconds))
    }
}

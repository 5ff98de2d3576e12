//! Echo: N connections in a closed loop, each sending a payload and
//! waiting for it to come back before sending the next.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::server::{Binaries, Server};
use crate::stats::Samples;
use crate::wire::{Conn, Dialect};

/// What one echo run is.
#[derive(Clone)]
pub struct EchoRun {
    pub connections: usize,
    pub payload: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// More flags for a wasmhub server (tracing on, say).
    pub host_flags: Vec<String>,
}

/// What one echo run measured.
pub struct EchoResult {
    pub round_trips_per_s: f64,
    /// Server CPU time per round trip, microseconds.
    pub cpu_us_per_round_trip: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The load generator's CPU time over the run, as a share of one
    /// core: near 1.0 it, not the server, set the rate.
    pub load_generator_cores: f64,
}

/// Runs one echo measurement against a fresh server.
pub async fn run(
    binaries: &Binaries,
    dialect: Dialect,
    run: EchoRun,
) -> anyhow::Result<EchoResult> {
    let server = Server::start_with(binaries, dialect, &run.host_flags).await?;
    let payload: String = "x".repeat(run.payload);
    let mut conns = Vec::with_capacity(run.connections);
    for _ in 0..run.connections {
        conns.push(Conn::open(dialect, server.addr, crate::idle::next_source(), false).await?);
    }
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for mut conn in conns {
        let payload = payload.clone();
        let (measuring, stop) = (measuring.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let back = conn.echo(&payload).await?;
                anyhow::ensure!(
                    back.as_str() == Some(payload.as_str()),
                    "echo changed the data"
                );
                if measuring.load(Ordering::Relaxed) {
                    samples.push(sent.elapsed());
                }
            }
            conn.close().await;
            anyhow::Ok(samples)
        }));
    }
    tokio::time::sleep(run.warmup).await;
    let cpu_before = server.cpu_time()?;
    let own_before = crate::server::own_cpu_time();
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(run.measure).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let own = crate::server::own_cpu_time().saturating_sub(own_before);
    stop.store(true, Ordering::Relaxed);
    let mut samples = Samples::default();
    for task in tasks {
        let result = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .context("an echo connection hung")??;
        samples.extend(result?);
    }
    server.stop().await;
    let round_trips = samples.len() as f64;
    Ok(EchoResult {
        round_trips_per_s: round_trips / elapsed.as_secs_f64(),
        cpu_us_per_round_trip: cpu.as_secs_f64() * 1e6 / round_trips.max(1.0),
        p50_ms: samples.percentile_ms(50.0),
        p99_ms: samples.percentile_ms(99.0),
        load_generator_cores: own.as_secs_f64() / elapsed.as_secs_f64(),
    })
}

//! Idle: N connections opened as fast as the server takes them, then
//! held; the connection rate and the server's memory per connection.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::server::{Binaries, Server};
use crate::wire::{Conn, Dialect};

/// Connections opened at once.
const IN_FLIGHT: usize = 64;

/// Connections per source address. Every connection of the process
/// takes the next one of 127.0.0.2-251 after this many, so a run seldom
/// searches ports that earlier runs left in TIME_WAIT.
const PER_SOURCE: usize = 5_000;

/// Connections this process has opened so far.
static OPENED: AtomicUsize = AtomicUsize::new(0);

/// The source address for the next connection.
pub fn next_source() -> Ipv4Addr {
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    // Each process starts elsewhere: the last one's TIME_WAITs stay.
    let first = std::process::id() as usize;
    Ipv4Addr::new(127, 0, 0, 2 + ((first + n / PER_SOURCE) % 250) as u8)
}

/// What one idle run measured.
pub struct IdleResult {
    pub connections: usize,
    /// Full connection setups per second (negotiate, WebSocket,
    /// handshake; on-connected has run when the handshake answers).
    pub setups_per_s: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

impl IdleResult {
    /// Server memory per connection, KiB.
    pub fn kib_per_connection(&self) -> f64 {
        self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 / self.connections as f64
    }
}

/// Runs one idle measurement against a fresh server.
pub async fn run(
    binaries: &Binaries,
    dialect: Dialect,
    count: usize,
) -> anyhow::Result<IdleResult> {
    let server = Server::start(binaries, dialect).await?;
    // One connection first, so the hub's first instance is not counted
    // as connection memory.
    let first = Conn::open(dialect, server.addr, next_source(), true).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = server.rss_kib()?;
    let started = Instant::now();
    let conns = open_many(dialect, server.addr, count, true).await?;
    let setups_per_s = count as f64 / started.elapsed().as_secs_f64();
    // Let buffers settle before reading memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after_kib = server.rss_kib()?;
    drop(conns);
    drop(first);
    server.stop().await;
    Ok(IdleResult {
        connections: count,
        setups_per_s,
        rss_before_kib,
        rss_after_kib,
    })
}

/// Opens `count` connections, [`IN_FLIGHT`] at a time, spreading source
/// addresses over 127.0.0.x.
pub async fn open_many(
    dialect: Dialect,
    server: SocketAddr,
    count: usize,
    negotiate: bool,
) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(count);
    let mut next = 0;
    let mut progress = Instant::now();
    while next < count {
        let batch = IN_FLIGHT.min(count - next);
        let tasks: Vec<_> = (0..batch)
            .map(|_| tokio::spawn(Conn::open(dialect, server, next_source(), negotiate)))
            .collect();
        for task in tasks {
            conns.push(task.await??);
        }
        next += batch;
        if progress.elapsed() > Duration::from_secs(2) {
            eprintln!("    {next} / {count} connections open");
            progress = Instant::now();
        }
    }
    Ok(conns)
}

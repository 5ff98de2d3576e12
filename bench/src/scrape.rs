//! Scrape: what one `GET /metrics` costs the server with N connections
//! open (the metrics are per hub, not per connection, so it should not
//! grow with N).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::idle::open_many;
use crate::server::{Binaries, Server};
use crate::wire::Dialect;

/// What one scrape run measured.
pub struct ScrapeResult {
    pub connections: usize,
    pub scrapes: usize,
    /// Wall time per scrape, request to last byte, milliseconds.
    pub ms_per_scrape: f64,
    /// Server CPU per scrape, milliseconds.
    pub cpu_ms_per_scrape: f64,
    /// Size of one exposition.
    pub bytes: usize,
}

/// Opens `connections` idle connections to a fresh wasmhub, then scrapes
/// `/metrics` `scrapes` times, one after the other.
pub async fn run(
    binaries: &Binaries,
    dialect: Dialect,
    connections: usize,
    scrapes: usize,
) -> anyhow::Result<ScrapeResult> {
    if !dialect.is_wasmhub() || scrapes == 0 {
        bail!("scrape needs a wasmhub server and at least one scrape");
    }
    let server = Server::start(binaries, dialect).await?;
    let conns = open_many(dialect, server.addr, connections, false).await?;
    // One scrape first: the first one builds the encoder's buffers.
    let mut bytes = get_metrics(server.addr).await?.len();
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    for _ in 0..scrapes {
        bytes = get_metrics(server.addr).await?.len();
    }
    let elapsed = started.elapsed();
    let cpu = server.cpu_time()?.saturating_sub(cpu_before);
    drop(conns);
    server.stop().await;
    Ok(ScrapeResult {
        connections,
        scrapes,
        ms_per_scrape: elapsed.as_secs_f64() * 1e3 / scrapes as f64,
        cpu_ms_per_scrape: cpu.as_secs_f64() * 1e3 / scrapes as f64,
        bytes,
    })
}

/// One `GET /metrics` over its own HTTP/1.1 connection; the body.
async fn get_metrics(server: SocketAddr) -> anyhow::Result<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await?;
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .context("GET /metrics took over 10 s")??;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("GET /metrics: no HTTP header end")?;
    if !response.starts_with(b"HTTP/1.1 200") {
        bail!(
            "GET /metrics answered {}",
            String::from_utf8_lossy(&response[..split])
        );
    }
    Ok(response[split + 4..].to_vec())
}

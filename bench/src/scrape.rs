//! Scrape: what one `GET /metrics` costs the server with N connections
//! open (the metrics are per hub, not per connection, so it should not
//! grow with N); or one `GET /api/v1/cluster`, the dashboard's poll,
//! which reads every connection record (it grows with N).

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

/// The API key the server is started with when `path` is under /api/.
const KEY: &str = "wasmhub-bench-api-key-0123456789";

/// Opens `connections` idle connections to a fresh wasmhub, then GETs
/// `path` (`/metrics` or an `/api/v1/...` endpoint) `scrapes` times, one
/// after the other.
pub async fn run(
    binaries: &Binaries,
    dialect: Dialect,
    (connections, scrapes): (usize, usize),
    path: &str,
) -> anyhow::Result<ScrapeResult> {
    if !dialect.is_wasmhub() || scrapes == 0 {
        bail!("scrape needs a wasmhub server and at least one scrape");
    }
    let api = path.starts_with("/api/");
    let flags = match api {
        true => vec!["--api-key".to_owned(), KEY.to_owned()],
        false => Vec::new(),
    };
    let server = Server::start_with(binaries, dialect, &flags).await?;
    let conns = open_many(dialect, server.addr, connections, false).await?;
    // One scrape first: the first one builds the encoder's buffers.
    let mut bytes = get(server.addr, path, api).await?.len();
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    for _ in 0..scrapes {
        bytes = get(server.addr, path, api).await?.len();
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

/// One `GET path` over its own HTTP/1.1 connection (with the API key
/// when `api`); the body.
async fn get(server: SocketAddr, path: &str, api: bool) -> anyhow::Result<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await?;
        let key = match api {
            true => format!("Authorization: Bearer {KEY}\r\n"),
            false => String::new(),
        };
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {server}\r\n{key}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .with_context(|| format!("GET {path} took over 10 s"))??;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("GET {path}: no HTTP header end"))?;
    if !response.starts_with(b"HTTP/1.1 200") {
        bail!(
            "GET {path} answered {}",
            String::from_utf8_lossy(&response[..split])
        );
    }
    Ok(response[split + 4..].to_vec())
}

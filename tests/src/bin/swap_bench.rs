//! Hot-reload measurements: a host process watching a private hubs
//! directory.
//!
//! `cargo run -p wasmhub-e2e --release --bin swap_bench` prints, for each
//! example hub built (Rust, JavaScript, Python), the time from a new file landing (renamed into place)
//! until `/healthz` shows it serving, with the compile cache off, with a
//! cold cache and with a warm one; then the host's memory before and after
//! 100 swaps (old versions must be freed). A rename is acted on at once
//! (no debounce). Bounded: fixed counts, every wait a deadline.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};
use wasmhub_e2e::{Host, hubs_dir};

/// `bytes` plus a custom section: same behaviour, different sha256.
fn variant(bytes: &[u8], tag: u32) -> Vec<u8> {
    let name = b"wasmhub-bench";
    let payload = tag.to_le_bytes();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8); // LEB128, < 128
    out.extend_from_slice(&section);
    out
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Renames the file into place and waits until the host serves it.
async fn land(host: &Host, dir: &Path, hub: &str, bytes: &[u8]) -> anyhow::Result<Duration> {
    let staging = dir.join(format!(".{hub}.wasm.partial"));
    std::fs::write(&staging, bytes)?;
    let want = sha256(bytes);
    let started = Instant::now();
    std::fs::rename(&staging, dir.join(format!("{hub}.wasm")))?;
    let client = reqwest::Client::new();
    loop {
        let health: serde_json::Value = client
            .get(format!("http://{}/healthz", host.addr))
            .send()
            .await?
            .json()
            .await?;
        let serving = health["hubs"]
            .as_array()
            .and_then(|hubs| hubs.iter().find(|h| h["name"] == hub))
            .and_then(|h| h["sha256"].as_str())
            .unwrap_or_default()
            .to_owned();
        if serving == want {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("{hub} never served {want}: {health}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn temp_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("wasmhub-swap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn swap_latency(hub: &str) -> anyhow::Result<()> {
    let original = std::fs::read(hubs_dir().join(format!("{hub}.wasm")))
        .with_context(|| format!("{hub}.wasm: run `cargo xtask hubs target/hubs`"))?;
    let kib = original.len() / 1024;
    // Cache off: every swap compiles.
    let dir = temp_dir(&format!("{hub}-off"))?;
    let host = Host::start_in(&dir, &["--compile-cache", "off"]).await?;
    let mut off = Vec::new();
    for tag in 0..5 {
        off.push(land(&host, &dir, hub, &variant(&original, tag)).await?);
    }
    drop(host);
    // Cache on: the first landing of a file compiles and stores, landing
    // it again (a rollback, a restart) loads the stored artifact.
    let dir = temp_dir(&format!("{hub}-on"))?;
    let cache = temp_dir(&format!("{hub}-cache"))?;
    let host = Host::start_in(&dir, &["--compile-cache", cache.to_str().unwrap()]).await?;
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for tag in 10..15 {
        cold.push(land(&host, &dir, hub, &variant(&original, tag)).await?);
    }
    for tag in 10..15 {
        warm.push(land(&host, &dir, hub, &variant(&original, tag)).await?);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "{hub}.wasm ({kib} KiB): file landed -> serving, median of 5: cache off {} ms, cold cache {} ms, warm cache {} ms",
        median(&mut off).as_millis(),
        median(&mut cold).as_millis(),
        median(&mut warm).as_millis()
    );
    Ok(())
}

async fn memory_over_swaps() -> anyhow::Result<()> {
    let original = std::fs::read(hubs_dir().join("testhub.wasm"))?;
    let dir = temp_dir("memory")?;
    std::fs::write(dir.join("testhub.wasm"), &original)?;
    let host = Host::start_in(&dir, &["--compile-cache", "off"]).await?;
    // Warm up: a few swaps so allocator pools and caches reach steady state.
    for tag in 0..5 {
        land(&host, &dir, "testhub", &variant(&original, tag)).await?;
    }
    let before = host.rss_kib().unwrap_or(0);
    for tag in 100..200 {
        land(&host, &dir, "testhub", &variant(&original, tag)).await?;
    }
    let after = host.rss_kib().unwrap_or(0);
    println!(
        "host RSS after 5 swaps {:.1} MiB, after 100 more {:.1} MiB",
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Rust hubs, then the other languages' (the largest) when built.
    for hub in ["chat", "testhub", "chat-js", "chat-py"] {
        if hubs_dir().join(format!("{hub}.wasm")).exists() {
            swap_latency(hub).await?;
        }
    }
    memory_over_swaps().await?;
    Ok(())
}

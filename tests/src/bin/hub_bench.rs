//! Per-language hub cost: the chat hub's cheapest path in every language
//! built (`chat`, `chat-py`, `chat-js` in the hubs directory).
//!
//! `cargo run -p wasmhub-e2e --release --bin hub_bench [CALLS]` starts a
//! host per hub and, over 8 connections each calling `Who("empty")` in a
//! loop (one presence lookup, a JSON answer), prints calls per second
//! through the host, the mean time per call inside the runtime and the
//! part the hub's own code ran (from `/healthz` stats), instances made,
//! and the host's memory before and after CALLS calls (default 100,000).
//! Bounded: a fixed number of calls.

use std::time::Instant;

use serde_json::json;
use wasmhub_e2e::{Host, RawClient, hubs_dir};

const CONNECTIONS: usize = 8;

async fn stats(host: &Host, hub: &str) -> anyhow::Result<serde_json::Value> {
    let health: serde_json::Value = reqwest::get(format!("http://{}/healthz", host.addr))
        .await?
        .json()
        .await?;
    Ok(health["hubs"]
        .as_array()
        .and_then(|hubs| hubs.iter().find(|h| h["name"] == hub))
        .map(|h| h["stats"].clone())
        .unwrap_or_default())
}

async fn bench(hub: &str, calls: usize) -> anyhow::Result<()> {
    let host = Host::start(&["--compile-cache", "off"]).await?;
    let size = std::fs::metadata(hubs_dir().join(format!("{hub}.wasm")))?.len();
    let before = host.rss_kib().unwrap_or(0);
    let mut clients = Vec::new();
    for i in 0..CONNECTIONS {
        clients.push(RawClient::connect(&host.ws_url(hub, &format!("name=bench{i}"))).await?);
    }
    // Warm up, then measure.
    for client in &mut clients {
        client.invoke("w", "Who", json!(["empty"])).await?;
    }
    let per_client = calls / CONNECTIONS;
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                for i in 0..per_client {
                    let done = client
                        .invoke(&i.to_string(), "Who", json!(["empty"]))
                        .await?;
                    anyhow::ensure!(done["result"] == json!([]), "unexpected answer {done}");
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let after = host.rss_kib().unwrap_or(0);
    let stats = stats(&host, hub).await?;
    let done = per_client * CONNECTIONS;
    println!(
        "{hub:8} {:>6} KiB  {:>7.0} calls/s  runtime {:>6.1} us/call (hub code {:>5.1} us)  instances {} ({:.0} us each)  RSS {:.1} -> {:.1} MiB after {done} calls",
        size / 1024,
        done as f64 / elapsed.as_secs_f64(),
        stats["meanCallMicros"].as_f64().unwrap_or(f64::NAN),
        stats["meanGuestMicros"].as_f64().unwrap_or(f64::NAN),
        stats["instancesCreated"],
        stats["meanInstantiateMicros"].as_f64().unwrap_or(f64::NAN),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
    );
    Ok(())
}

/// A call whose caller also receives a message (a room it is in): the
/// message and the Completion leave back to back, which Nagle's algorithm
/// would hold for a delayed ACK (~40 ms) without TCP_NODELAY.
async fn send_to_own_room() -> anyhow::Result<()> {
    let host = Host::start(&["--compile-cache", "off"]).await?;
    let mut client = RawClient::connect(&host.ws_url("chat", "name=echo")).await?;
    client.invoke("j", "Join", json!(["room"])).await?;
    let mut samples = Vec::new();
    for i in 0..1000 {
        let started = Instant::now();
        let done = client
            .invoke(&i.to_string(), "Send", json!(["room", "hi"]))
            .await?;
        anyhow::ensure!(done.get("error").is_none(), "{done}");
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "Send to a room the caller is in (chat): p50 {:.2?}, p99 {:.2?} per call, message and completion",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100]
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    send_to_own_room().await?;
    let calls: usize = std::env::args()
        .nth(1)
        .map(|c| c.parse())
        .transpose()?
        .unwrap_or(100_000);
    for hub in ["chat", "chat-py", "chat-js"] {
        if hubs_dir().join(format!("{hub}.wasm")).exists() {
            bench(hub, calls).await?;
        } else {
            println!("{hub:8} not built (cargo xtask hubs target/hubs)");
        }
    }
    Ok(())
}

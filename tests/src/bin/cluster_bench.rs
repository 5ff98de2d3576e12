//! Cluster measurements: real host processes on a private redis-server.
//!
//! `cargo run -p wasmhub-e2e --release --bin cluster_bench` prints:
//! 1. the latency of a chat Whisper from a client on node A to a client
//!    on node B (p50 / p99 over 1,000 sequential whispers);
//! 2. the Redis commands one invoke-all over 1,000 connections spread on
//!    3 nodes costs (from `INFO commandstats`), and its duration;
//! 3. the time from SIGKILL of a node until presence on another node no
//!    longer lists its users (heartbeat 1 s, node timeout 3 s).
//!
//! Bounded: every loop has a fixed count and every wait a deadline.

use std::time::{Duration, Instant};

use serde_json::json;
use wasmhub_e2e::{Host, RawClient, RedisServer};

async fn node(redis: &RedisServer, id: &str, timing: &[&str]) -> anyhow::Result<Host> {
    let mut args = vec!["--redis", redis.url().leak(), "--node-id"];
    args.push(id.to_owned().leak());
    args.extend_from_slice(timing);
    Host::start(&args).await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn whisper_latency() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    let a = node(&redis, "a", &[]).await?;
    let b = node(&redis, "b", &[]).await?;
    let mut alice = RawClient::connect(&a.ws_url("chat", "name=alice")).await?;
    let mut bob = RawClient::connect(&b.ws_url("chat", "name=bob")).await?;
    let mut samples = Vec::new();
    for i in 0..1050 {
        let started = Instant::now();
        let call = json!({"type": 1, "invocationId": i.to_string(), "target": "Whisper", "arguments": ["bob", i.to_string()]});
        alice.send_text(&format!("{call}\u{1e}")).await?;
        let message = bob.next().await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(
            message["arguments"][0]["text"].as_str() == Some(i.to_string().as_str()),
            "out of order: {message}"
        );
        let done = alice.next().await?;
        anyhow::ensure!(done.get("error").is_none(), "whisper failed: {done}");
        if i >= 50 {
            samples.push(elapsed);
        }
    }
    samples.sort();
    println!(
        "cross-node Whisper, client on A to client on B: p50 {:.2?}, p99 {:.2?} ({} samples)",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.len()
    );
    Ok(())
}

/// A client that answers every invocation with "ok".
fn answering(mut client: RawClient) {
    tokio::spawn(async move {
        while let Ok(record) = client.next().await {
            if record["type"] == 1
                && let Some(id) = record["invocationId"].as_str()
            {
                let reply = json!({"type": 3, "invocationId": id, "result": "ok"});
                if client.send_text(&format!("{reply}\u{1e}")).await.is_err() {
                    return;
                }
            }
        }
    });
}

async fn invoke_all_cost() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    // No heartbeat falls inside the measured call.
    let timing = ["--heartbeat-interval", "60s", "--node-timeout", "180s"];
    let nodes = [
        node(&redis, "a", &timing).await?,
        node(&redis, "b", &timing).await?,
        node(&redis, "c", &timing).await?,
    ];
    for i in 0..1000 {
        let host = &nodes[i % 3];
        let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
        let id = client
            .invoke("id", "GetCallerConnectionId", json!([]))
            .await?["result"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        client
            .invoke("g", "AddToGroup", json!([id, "everyone"]))
            .await?;
        answering(client);
        if (i + 1) % 250 == 0 {
            eprintln!("  {} connections in the group", i + 1);
        }
    }
    let mut asker = RawClient::connect(&nodes[0].ws_url("testhub", "")).await?;
    let before = redis.command_calls()?;
    let started = Instant::now();
    let done = asker
        .invoke("all", "InvokeAllGroup", json!(["everyone", "Question"]))
        .await?;
    let elapsed = started.elapsed();
    let after = redis.command_calls()?;
    let answers = done["result"].as_array().map(Vec::len).unwrap_or(0);
    let ok = done["result"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["value"] == "ok").count())
        .unwrap_or(0);
    let delta: Vec<String> = after
        .iter()
        .filter_map(|(name, calls)| {
            let diff = calls - before.get(name).copied().unwrap_or(0);
            // `info` itself is the measuring call.
            (diff > 0 && name != "info").then(|| format!("{name} {diff}"))
        })
        .collect();
    println!(
        "invoke-all over 1000 connections on 3 nodes: {answers} answers ({ok} ok) in {elapsed:.2?}; Redis commands: {}",
        delta.join(", ")
    );
    Ok(())
}

async fn sweep_time() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    let timing = ["--heartbeat-interval", "1s", "--node-timeout", "3s"];
    let a = node(&redis, "a", &timing).await?;
    let _b = node(&redis, "b", &timing).await?;
    let mut c = node(&redis, "c", &timing).await?;
    let mut watcher = RawClient::connect(&a.ws_url("chat", "name=watcher")).await?;
    let _victim = RawClient::connect(&c.ws_url("chat", "name=victim")).await?;
    let online = watcher.invoke("0", "Online", json!([])).await?;
    anyhow::ensure!(online["result"] == json!(["victim", "watcher"]), "{online}");
    c.kill().await?;
    let killed = Instant::now();
    let mut n = 1;
    loop {
        let online = watcher.invoke(&n.to_string(), "Online", json!([])).await?;
        if online["result"] == json!(["watcher"]) {
            break;
        }
        anyhow::ensure!(killed.elapsed() < Duration::from_secs(30), "never swept");
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "sweep: a SIGKILLed node's users left presence {:.2?} after the kill (bound: node-timeout 3s + heartbeat 1s)",
        killed.elapsed()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    whisper_latency().await?;
    invoke_all_cost().await?;
    sweep_time().await?;
    Ok(())
}

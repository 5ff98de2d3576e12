//! Load tool: the host's memory with N idle connections.
//!
//! `cargo run -p wasmhub-e2e --bin idle_connections -- [COUNT]` starts
//! the host (`WASMHUB_BIN`, default target/debug/wasmhub), reads its
//! resident memory, opens COUNT (default 1000) SignalR connections to the
//! chat hub, each handshaken and registered under its own user, reads the
//! memory again and prints both. Bounded: it stops by itself.

use std::time::Instant;

use wasmhub_e2e::{Host, RawClient};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args()
        .nth(1)
        .map(|c| c.parse())
        .transpose()?
        .unwrap_or(1000);
    let host = Host::start(&[]).await?;
    let before = host.rss_kib().unwrap_or(0);
    let started = Instant::now();
    let mut clients = Vec::with_capacity(count);
    for i in 0..count {
        let url = host.ws_url("chat", &format!("name=user{i}"));
        clients.push(RawClient::connect(&url).await?);
        if (i + 1) % 250 == 0 {
            eprintln!("  {} connections open", i + 1);
        }
    }
    let connect_time = started.elapsed();
    // Every connection has finished on-connected once one of them can ask
    // presence for the full count.
    let online = clients[0]
        .invoke("o", "Online", serde_json::json!([]))
        .await?;
    let users = online["result"].as_array().map(Vec::len).unwrap_or(0);
    let after = host.rss_kib().unwrap_or(0);
    println!("connections: {count} (presence sees {users} users)");
    println!(
        "connect time: {connect_time:.2?} ({:.0} connections/s, one at a time)",
        count as f64 / connect_time.as_secs_f64()
    );
    println!("host RSS before: {:.1} MiB", before as f64 / 1024.0);
    println!(
        "host RSS with {count} idle connections: {:.1} MiB",
        after as f64 / 1024.0
    );
    println!(
        "per connection: {:.1} KiB",
        (after.saturating_sub(before)) as f64 / count as f64
    );
    Ok(())
}

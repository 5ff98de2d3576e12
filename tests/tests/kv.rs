//! Each hub's key-value store (the WIT `kv` interface), through the test
//! hub's Kv* methods: off without the manifest's grant, in memory on one
//! node, and shared by two nodes on a private redis-server.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmhub_e2e::{DEADLINE, Host, HubsDir, RawClient, RedisServer};

const GRANTED: &str = "[grants]\nkv = true\n";

/// Invokes and returns the result, or fails with the error text.
async fn call(client: &mut RawClient, method: &str, args: Value) -> anyhow::Result<Value> {
    let done = client.invoke("k", method, args).await?;
    match done["error"].as_str() {
        Some(error) => anyhow::bail!("{method}: {error}"),
        None => Ok(done["result"].clone()),
    }
}

/// The error text of a call that must fail.
async fn error(client: &mut RawClient, method: &str, args: Value) -> anyhow::Result<String> {
    let done = client.invoke("k", method, args).await?;
    done["error"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("{method} succeeded: {done}"))
}

#[tokio::test]
async fn the_store_is_off_unless_the_manifest_grants_it() -> anyhow::Result<()> {
    let hubs = HubsDir::with_testhub("deadline = \"5s\"\n")?;
    let host = Host::start_in(hubs.path(), &[]).await?;
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let refused = error(&mut client, "KvGet", json!(["a"])).await?;
    assert!(refused.contains("Unauthorized"), "{refused}");
    assert!(
        refused.contains("[grants] kv = true"),
        "says how: {refused}"
    );
    Ok(())
}

#[tokio::test]
async fn one_node_keeps_values_counters_and_expiry_in_memory() -> anyhow::Result<()> {
    let hubs = HubsDir::with_testhub(GRANTED)?;
    let host = Host::start_in(hubs.path(), &[]).await?;
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    assert_eq!(
        call(&mut client, "KvGet", json!(["room:a"])).await?,
        Value::Null
    );
    call(&mut client, "KvSet", json!(["room:a", "[\"hi\"]", null])).await?;
    call(&mut client, "KvSet", json!(["room:b", "2", null])).await?;
    call(&mut client, "KvSet", json!(["other", "3", null])).await?;
    assert_eq!(
        call(&mut client, "KvGet", json!(["room:a"])).await?,
        "[\"hi\"]"
    );
    assert_eq!(
        call(&mut client, "KvKeys", json!(["room:", 10])).await?,
        json!(["room:a", "room:b"])
    );
    assert_eq!(call(&mut client, "KvIncrement", json!(["n", 5])).await?, 5);
    assert_eq!(call(&mut client, "KvIncrement", json!(["n", -2])).await?, 3);
    let bad = error(&mut client, "KvIncrement", json!(["room:a", 1])).await?;
    assert!(
        bad.contains("InvalidArgument") && bad.contains("not a 64-bit integer"),
        "{bad}"
    );
    let long = "k".repeat(1025);
    let bad = error(&mut client, "KvSet", json!([long, "v", null])).await?;
    assert!(bad.contains("at most 1024 bytes"), "{bad}");
    assert_eq!(call(&mut client, "KvDelete", json!(["other"])).await?, true);
    assert_eq!(
        call(&mut client, "KvDelete", json!(["other"])).await?,
        false
    );
    expires(&mut client).await
}

/// A value set with a TTL is gone after it (polled, not slept).
async fn expires(client: &mut RawClient) -> anyhow::Result<()> {
    call(client, "KvSet", json!(["brief", "x", 200])).await?;
    assert_eq!(call(client, "KvGet", json!(["brief"])).await?, "x");
    let deadline = Instant::now() + DEADLINE;
    while call(client, "KvGet", json!(["brief"])).await? != Value::Null {
        anyhow::ensure!(Instant::now() < deadline, "the value never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn two_nodes_on_redis_share_one_store() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    let hubs = HubsDir::with_testhub(GRANTED)?;
    let url = redis.url();
    let node_a = Host::start_in(hubs.path(), &["--redis", &url]).await?;
    let node_b = Host::start_in(hubs.path(), &["--redis", &url]).await?;
    let mut on_a = RawClient::connect(&node_a.ws_url("testhub", "")).await?;
    let mut on_b = RawClient::connect(&node_b.ws_url("testhub", "")).await?;
    call(&mut on_a, "KvSet", json!(["room:x", "from a", null])).await?;
    assert_eq!(call(&mut on_b, "KvGet", json!(["room:x"])).await?, "from a");
    // Glob characters in a prefix are literal.
    call(&mut on_a, "KvSet", json!(["room:*", "star", null])).await?;
    assert_eq!(
        call(&mut on_b, "KvKeys", json!(["room:", 10])).await?,
        json!(["room:*", "room:x"])
    );
    assert_eq!(
        call(&mut on_b, "KvKeys", json!(["room:*", 10])).await?,
        json!(["room:*"])
    );
    // Increments from both nodes add up (Redis's INCRBY).
    for _ in 0..10 {
        call(&mut on_a, "KvIncrement", json!(["count", 1])).await?;
        call(&mut on_b, "KvIncrement", json!(["count", 2])).await?;
    }
    assert_eq!(call(&mut on_a, "KvGet", json!(["count"])).await?, "30");
    let bad = error(&mut on_b, "KvIncrement", json!(["room:x", 1])).await?;
    assert!(bad.contains("not a 64-bit integer"), "{bad}");
    assert_eq!(call(&mut on_b, "KvDelete", json!(["room:x"])).await?, true);
    assert_eq!(
        call(&mut on_a, "KvGet", json!(["room:x"])).await?,
        Value::Null
    );
    expires(&mut on_b).await?;
    // Under the hub's prefix, nowhere else.
    let keys = redis.keys("*")?;
    assert!(
        keys.iter().any(|k| k == "wasmhub:kv:testhub:room:*"),
        "{keys:?}"
    );
    Ok(())
}

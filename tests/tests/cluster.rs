//! Cluster behaviour that needs the raw protocol: real host processes on
//! a private redis-server.

use serde_json::json;
use wasmhub_e2e::{Host, RawClient, RedisServer};

async fn node(redis: &RedisServer, id: &str) -> anyhow::Result<Host> {
    let url = redis.url();
    Host::start(&["--redis", &url, "--node-id", id]).await
}

#[tokio::test]
async fn negotiate_on_one_node_connect_on_another() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    let a = node(&redis, "a").await?;
    let b = node(&redis, "b").await?;
    let negotiated: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "http://{}/hubs/testhub/negotiate?negotiateVersion=1",
            a.addr
        ))
        .send()
        .await?
        .json()
        .await?;
    let token = negotiated["connectionToken"].as_str().unwrap();
    // No sticky session: node b accepts the token node a handed out.
    let mut client = RawClient::connect(&b.ws_url("testhub", &format!("id={token}"))).await?;
    let id = client
        .invoke("1", "GetCallerConnectionId", json!([]))
        .await?;
    assert_eq!(id["result"], negotiated["connectionId"]);
    // A token is used once, on any node.
    for host in [&a, &b] {
        let again = RawClient::open(&host.ws_url("testhub", &format!("id={token}")))
            .await
            .err();
        assert!(format!("{again:?}").contains("404"), "{again:?}");
    }
    Ok(())
}

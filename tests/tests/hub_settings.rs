//! Per-hub settings: a `<name>.toml` beside `<name>.wasm` lowers the
//! host's limits for that hub, is bounded by them, shows in `/healthz`,
//! and is reloaded when it changes (a bad one refused, the old limits
//! kept).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};
use wasmhub_e2e::{DEADLINE, Host, HubsDir, RawClient};

/// The test hub's entry of `/healthz`.
async fn testhub_health(host: &Host) -> anyhow::Result<Value> {
    let health: Value = reqwest::get(format!("http://{}/healthz", host.addr))
        .await?
        .json()
        .await?;
    health["hubs"]
        .as_array()
        .and_then(|hubs| hubs.iter().find(|h| h["name"] == "testhub"))
        .cloned()
        .context("testhub in /healthz")
}

/// Polls `/healthz` until the test hub's entry satisfies `wanted`.
async fn health_until(
    host: &Host,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let hub = testhub_health(host).await?;
        if wanted(&hub) {
            return Ok(hub);
        }
        anyhow::ensure!(Instant::now() < deadline, "never {what}: {hub}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_manifest_sets_a_hubs_limits_within_the_hosts() -> anyhow::Result<()> {
    let hubs = HubsDir::with_testhub(
        "# testhub: tighter than the host\ndeadline = \"1s\"\nmemory = \"16MiB\"\ninstances = 2\nmax-calls = 50\ninvoke-timeout = \"2s\"\n",
    )?;
    let host = Host::start_in(hubs.path(), &["--hub-memory", "64MiB"]).await?;
    let hub = testhub_health(&host).await?;
    assert_eq!(
        hub["limits"],
        json!({"manifest": "testhub.toml", "memoryBytes": 16 << 20, "deadlineMs": 1000,
               "instances": 2, "maxCalls": 50, "invokeTimeoutMs": 2000,
               "httpTimeoutMs": 10_000, "httpMaxResponseBytes": 1 << 20,
               "grants": {"kv": false, "http": []}}),
        "{hub}"
    );

    // The limits are the ones calls run under.
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let spun = client.invoke("1", "SpinForever", json!([])).await?;
    let text = spun["error"].as_str().unwrap_or_default();
    assert!(text.contains("deadline of 1s"), "{spun}");
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let grown = client.invoke("2", "AllocateForever", json!([])).await?;
    let text = grown["error"].as_str().unwrap_or_default();
    assert!(text.contains("memory limit of 16 MiB"), "{grown}");
    // Nobody answers the client result: the hub's own invoke timeout.
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let started = Instant::now();
    let unanswered = client
        .invoke("3", "ClientResult", json!(["Ignored"]))
        .await?;
    let text = unanswered["error"].as_str().unwrap_or_default();
    assert!(text.contains("2s"), "{unanswered}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the host's 15s applied"
    );

    // Above the host's bound: refused, the serving limits stay.
    hubs.write_manifest("deadline = \"10m\"\n")?;
    let hub = health_until(&host, "refused the manifest", |hub| {
        hub["lastError"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("above this host's --hub-deadline of 5s"))
    })
    .await?;
    let message = hub["lastError"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("testhub.toml: deadline:"), "{message}");
    assert_eq!(hub["limits"]["deadlineMs"], 1000, "{hub}");
    // An unknown key is refused too, by name.
    hubs.write_manifest("deadlin = \"2s\"\n")?;
    health_until(&host, "refused the unknown key", |hub| {
        hub["lastError"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown field `deadlin`"))
    })
    .await?;
    // A good edit applies without touching the .wasm.
    hubs.write_manifest("deadline = \"2s\"\n")?;
    let hub = health_until(&host, "applied the edit", |hub| {
        hub["limits"]["deadlineMs"] == 2000 && hub["lastError"].is_null()
    })
    .await?;
    assert_eq!(hub["limits"]["memoryBytes"], 64 << 20, "the host's again");
    // No manifest: the host's limits.
    std::fs::remove_file(hubs.manifest())?;
    health_until(&host, "went back to the host's limits", |hub| {
        hub["limits"]["manifest"].is_null() && hub["limits"]["deadlineMs"] == 5000
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_hub_whose_manifest_is_bad_is_not_served_at_start() -> anyhow::Result<()> {
    let hubs = HubsDir::with_testhub("instances = 1000\n")?;
    let host = Host::start_in(hubs.path(), &[]).await?;
    let hub = testhub_health(&host).await?;
    assert!(hub["sha256"].is_null(), "not serving: {hub}");
    let message = hub["lastError"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("instances: 1000 is above this host's limit of 128"),
        "{message}"
    );
    Ok(())
}

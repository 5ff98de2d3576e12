//! A misbehaving client or hub call hurts only itself.

use serde_json::json;
use wasmhub_e2e::{Host, RawClient};

#[tokio::test]
async fn a_runaway_hub_call_does_not_hold_up_other_connections() -> anyhow::Result<()> {
    let mut host = Host::start(&["--hub-deadline", "3s"]).await?;
    let mut spinner = RawClient::connect(&host.ws_url("testhub", "")).await?;
    spinner
        .send_text("{\"type\":1,\"invocationId\":\"spin\",\"target\":\"SpinForever\",\"arguments\":[]}\u{1e}")
        .await?;
    // While the spin runs, another connection is served many times over.
    let mut other = RawClient::connect(&host.ws_url("testhub", "")).await?;
    for i in 0..20 {
        let done = other
            .invoke(&i.to_string(), "Echo", json!([i.to_string()]))
            .await?;
        assert_eq!(done["result"], i.to_string());
    }
    let spun = spinner.next().await?;
    assert_eq!(
        spun["invocationId"], "spin",
        "the spin ended after the echoes"
    );
    assert!(
        spun["error"]
            .as_str()
            .unwrap()
            .contains("HubTrap: the hub ran past its deadline of 3s"),
        "{spun}"
    );
    // The same connection goes on, and so does the host.
    let done = spinner.invoke("after", "Echo", json!(["alive"])).await?;
    assert_eq!(done["result"], "alive");
    assert!(host.is_running());
    Ok(())
}

#[tokio::test]
async fn a_slow_client_is_closed_instead_of_buffered() -> anyhow::Result<()> {
    let host = Host::start(&["--outbound-buffer", "64KiB", "--max-message-size", "64KiB"]).await?;
    let mut slow = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let joined = slow.invoke("j", "GetCallerConnectionId", json!([])).await?;
    let slow_id = joined["result"].as_str().unwrap().to_owned();
    let mut sender = RawClient::connect(&host.ws_url("testhub", "")).await?;
    sender
        .invoke("g", "AddToGroup", json!([slow_id, "flood"]))
        .await?;
    // The slow client reads nothing while 8 MiB are sent to it: far more
    // than its 64 KiB budget plus what the kernel's socket buffers hold.
    let chunk = "y".repeat(16 << 10);
    for i in 0..512 {
        let done = sender
            .invoke(
                &format!("s{i}"),
                "SendToGroup",
                json!(["flood", "Flood", chunk]),
            )
            .await?;
        assert!(done.get("error").is_none(), "{done}");
    }
    let close = slow.expect_close().await?;
    assert!(
        close["error"]
            .as_str()
            .unwrap_or_default()
            .contains("too slow"),
        "{close}"
    );
    let done = sender.invoke("after", "Echo", json!(["fine"])).await?;
    assert_eq!(done["result"], "fine", "the sender is unaffected");
    Ok(())
}

#[tokio::test]
async fn client_results_and_disconnects_with_a_rust_client() -> anyhow::Result<()> {
    let host = Host::start(&["--invoke-timeout", "60s"]).await?;
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    // The hub asks this client for `Result`; the client answers 42.
    client
        .send_text("{\"type\":1,\"invocationId\":\"c1\",\"target\":\"ClientResult\",\"arguments\":[\"Result\"]}\u{1e}")
        .await?;
    let ask = client.next().await?;
    assert_eq!(ask["type"], 1);
    assert_eq!(ask["target"], "Result");
    let id = ask["invocationId"].as_str().unwrap().to_owned();
    client
        .send_text(&format!(
            "{{\"type\":3,\"invocationId\":\"{id}\",\"result\":42}}\u{1e}"
        ))
        .await?;
    assert_eq!(
        client.next().await?,
        json!({"type": 3, "invocationId": "c1", "result": 42})
    );

    // A second client is asked by the first (via a group invoke-all) and
    // disconnects instead of answering: the call fails at once, long
    // before the 60 s invoke timeout.
    let mut leaver = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let leaver_id = leaver
        .invoke("id", "GetCallerConnectionId", json!([]))
        .await?["result"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .invoke("g", "AddToGroup", json!([leaver_id, "askers"]))
        .await?;
    client
        .send_text("{\"type\":1,\"invocationId\":\"all\",\"target\":\"InvokeAllGroup\",\"arguments\":[\"askers\",\"Question\"]}\u{1e}")
        .await?;
    let question = leaver.next().await?;
    assert_eq!(question["target"], "Question");
    drop(leaver);
    // `next` waits 20 s at most: far less than the 60 s invoke timeout.
    let answers = client.next().await?;
    assert_eq!(answers["invocationId"], "all");
    let entry = &answers["result"][0];
    assert_eq!(entry["connectionId"], leaver_id.as_str());
    assert!(
        entry["error"].as_str().unwrap().contains("disconnected"),
        "{answers}"
    );
    Ok(())
}

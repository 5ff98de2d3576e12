//! The wire protocol and bad input, with a Rust client on a raw WebSocket
//! against the real host process.

use serde_json::json;
use wasmhub_e2e::{Host, RawClient};

async fn echo_works(host: &Host) -> anyhow::Result<()> {
    let mut bystander = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let done = bystander.invoke("1", "Echo", json!(["still here"])).await?;
    assert_eq!(done["result"], "still here");
    Ok(())
}

#[tokio::test]
async fn bad_input_closes_only_that_connection_with_a_clear_error() -> anyhow::Result<()> {
    let host = Host::start(&["--max-message-size", "1KiB"]).await?;
    let mut bystander = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let oversize = format!(
        "{{\"type\":1,\"target\":\"Echo\",\"arguments\":[\"{}\"]}}\u{1e}",
        "x".repeat(2000)
    );
    let cases: Vec<(String, &str)> = vec![
        ("{\"type\":1,\"target\":\u{1e}".into(), "Error reading JSON"),
        ("[1,2,3]\u{1e}".into(), "Expected a JSON Object"),
        (
            "{\"type\":1,\"invocationId\":5,\"target\":\"Echo\",\"arguments\":[]}\u{1e}".into(),
            "Expected 'invocationId' to be of type String.",
        ),
        (
            "{\"type\":1,\"arguments\":[]}\u{1e}".into(),
            "Missing required property 'target'.",
        ),
        (oversize, "The maximum message size of 1024B was exceeded."),
        // A record whose separator never came, then another record.
        (
            "{\"type\":1,\"target\":\"Echo\",\"arguments\":[\"a\"]}{\"type\":6}\u{1e}".into(),
            "Error reading JSON",
        ),
    ];
    for (input, expected) in cases {
        let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
        client.send_text(&input).await?;
        let close = client.expect_close().await?;
        let error = close["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("Connection closed with an error. InvalidDataException: ")
                && error.contains(expected),
            "input {input:.60}: got {close}"
        );
        let done = bystander.invoke("b", "Echo", json!(["ok"])).await?;
        assert_eq!(done["result"], "ok", "the bystander keeps working");
    }
    Ok(())
}

#[tokio::test]
async fn records_may_be_batched_split_and_in_any_key_order() -> anyhow::Result<()> {
    let host = Host::start(&[]).await?;
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    // Two records in one frame, keys in the TypeScript client's order.
    client
        .send_text(concat!(
            "{\"target\":\"Echo\",\"arguments\":[\"one\"],\"invocationId\":\"1\",\"type\":1}\u{1e}",
            "{\"unknown\":{\"x\":[1]},\"arguments\":[\"two\"],\"type\":1,\"target\":\"echo\",\"invocationId\":\"2\"}\u{1e}"
        ))
        .await?;
    let first = client.next().await?;
    let second = client.next().await?;
    assert_eq!(
        (first["invocationId"].clone(), first["result"].clone()),
        (json!("1"), json!("one"))
    );
    assert_eq!(
        (second["invocationId"].clone(), second["result"].clone()),
        (json!("2"), json!("two"))
    );
    // One record across three frames.
    client
        .send_text("{\"type\":1,\"invocationId\":\"3\",")
        .await?;
    client.send_text("\"target\":\"Echo\",\"argum").await?;
    client.send_text("ents\":[\"three\"]}\u{1e}").await?;
    assert_eq!(client.next().await?["result"], "three");
    // Unknown method: a Completion with the .NET text; non-blocking: none.
    client
        .send_text("{\"type\":1,\"target\":\"Nope\",\"arguments\":[]}\u{1e}{\"type\":1,\"invocationId\":\"4\",\"target\":\"Nope\",\"arguments\":[]}\u{1e}")
        .await?;
    let completion = client.next().await?;
    assert_eq!(
        completion,
        json!({"type": 3, "invocationId": "4", "error": "Unknown hub method 'Nope'"})
    );
    // Arity errors carry the ASP.NET text.
    let wrong = client.invoke("5", "Echo", json!([])).await?;
    assert!(
        wrong["error"]
            .as_str()
            .unwrap()
            .contains("Invocation provides 0 argument(s) but target expects 1."),
        "{wrong}"
    );
    Ok(())
}

#[tokio::test]
async fn handshake_errors_and_timeout() -> anyhow::Result<()> {
    let host = Host::start(&["--handshake-timeout", "300ms"]).await?;
    for (handshake, expected) in [
        (
            "{\"protocol\":\"foo\",\"version\":1}\u{1e}",
            "{\"error\":\"The protocol 'foo' is not supported.\"}",
        ),
        (
            "{\"protocol\":\"json\",\"version\":99}\u{1e}",
            "{\"error\":\"The server does not support version 99 of the 'json' protocol.\"}",
        ),
    ] {
        let mut client = RawClient::open(&host.ws_url("testhub", "")).await?;
        client.send_text(handshake).await?;
        assert_eq!(String::from_utf8(client.next_raw().await?)?, expected);
        assert!(
            client.next_raw().await.is_err(),
            "closed after a handshake error"
        );
    }
    let mut silent = RawClient::open(&host.ws_url("testhub", "")).await?;
    assert_eq!(
        String::from_utf8(silent.next_raw().await?)?,
        "{\"error\":\"Handshake was canceled.\"}"
    );
    echo_works(&host).await
}

#[tokio::test]
async fn keep_alive_pings_and_silent_clients_are_closed() -> anyhow::Result<()> {
    let host = Host::start(&["--keep-alive", "200ms", "--client-timeout", "1s"]).await?;
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let ping = client.next_raw().await?;
    assert_eq!(ping, b"{\"type\":6}", "an idle connection gets a Ping");
    let close = client.expect_close().await?;
    assert_eq!(
        close["error"],
        "Server timeout elapsed without receiving a message from the client."
    );
    Ok(())
}

#[tokio::test]
async fn unknown_tokens_and_hubs_are_refused() -> anyhow::Result<()> {
    let host = Host::start(&[]).await?;
    let err = RawClient::open(&host.ws_url("testhub", "id=not-a-token"))
        .await
        .err();
    assert!(format!("{err:?}").contains("404"), "{err:?}");
    let err = RawClient::open(&host.ws_url("nohub", "")).await.err();
    assert!(format!("{err:?}").contains("404"), "{err:?}");
    echo_works(&host).await
}

#[tokio::test]
async fn shutdown_closes_connections_with_allow_reconnect() -> anyhow::Result<()> {
    let mut host = Host::start(&[]).await?;
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    assert_eq!(
        client.invoke("1", "Echo", json!(["x"])).await?["result"],
        "x"
    );
    let status = host.terminate().await?;
    let close = client.expect_close().await?;
    assert_eq!(close, json!({"type": 7, "allowReconnect": true}));
    assert!(status.success(), "exit status {status}");
    Ok(())
}

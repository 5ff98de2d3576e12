//! The host process exports its spans over OTLP/HTTP: a receiver on
//! loopback (it only records what it is sent; the propagation itself is
//! checked in tracing.rs) gets protobuf `ExportTraceServiceRequest`s
//! naming the call and carrying the caller's trace id, at the latest
//! when the host stops (the last batch is flushed at shutdown).

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use wasmhub_e2e::{Host, RawClient};

/// One request the receiver got: its path, content type and body.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// Answers every HTTP/1.1 request 200 and records it (keep-alive).
async fn receiver() -> anyhow::Result<(String, Arc<Mutex<Vec<Received>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut socket = BufReader::new(socket);
                loop {
                    let mut line = String::new();
                    if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                    let (mut length, mut content_type) = (0, String::new());
                    loop {
                        let mut header = String::new();
                        if socket.read_line(&mut header).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        let (name, value) = header.split_once(':').unwrap_or((header, ""));
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            "content-type" => content_type = value.trim().to_owned(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    if socket.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    log.lock().unwrap().push(Received {
                        path,
                        content_type,
                        body,
                    });
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if socket.get_mut().write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((url, received))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn spans_reach_an_otlp_http_collector_by_shutdown() -> anyhow::Result<()> {
    let (url, received) = receiver().await?;
    let mut host = Host::start(&["--otlp-endpoint", &url, "--node-id", "otlp-node"]).await?;
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let invocation = json!({"type": 1, "invocationId": "1", "target": "Echo", "arguments": ["hi"],
        "headers": {"traceparent": format!("00-{trace}-00f067aa0ba902b7-01")}});
    client.send_text(&format!("{invocation}\u{1e}")).await?;
    let done = client.next().await?;
    anyhow::ensure!(done["result"] == "hi", "{done}");
    let status = host.terminate().await?;
    anyhow::ensure!(status.success(), "the host exited with {status}");

    let received = received.lock().unwrap().clone();
    let export = received
        .iter()
        .find(|r| contains(&r.body, b"testhub/Echo"))
        .with_context(|| format!("no export names testhub/Echo: {received:?}"))?;
    assert_eq!(export.path, "/v1/traces");
    assert_eq!(export.content_type, "application/x-protobuf");
    // Trace ids travel as 16 raw bytes; the resource names the node.
    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(
        contains(&export.body, &trace_bytes),
        "the caller's trace id"
    );
    assert!(contains(&export.body, b"otlp-node"), "service.instance.id");
    assert!(contains(&export.body, b"wasmhub"), "service.name");
    Ok(())
}

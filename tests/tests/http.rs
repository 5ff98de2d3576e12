//! Outbound HTTP from hubs (the WIT `http` interface) in Rust, Python,
//! JavaScript and C, and through `wasi:http`, against HTTP servers this test
//! starts on loopback: a granted host answers, over kept connections; another host, a slow
//! server, an oversized body and a hub or host without the grant each
//! fail with a clear error.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::{Value, json};
use wasmhub_e2e::{Host, HubsDir, RawClient, hubs_dir, test_hubs_dir};

/// The hubs under test: the Rust test hub and the fixtures in Python,
/// JavaScript and C.
const HUBS: &[&str] = &["testhub", "http-py", "http-js", "http-c"];

/// A loopback server: `/echo` answers what it got as JSON, `/slow` never
/// answers in time, `/big` is 256 KiB (`/stream-big` too, chunked),
/// `/status/N` answers N, `/redirect` is a 302 to `/echo`, `/peer` the
/// client's address (which tells a kept connection from a new one).
async fn server() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    async fn echo(method: Method, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    Value::String(value.to_str().unwrap_or("?").to_owned()),
                )
            })
            .collect();
        (
            [("x-served-by", "test")],
            axum::Json(json!({
                "method": method.as_str(),
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            })),
        )
    }
    let app =
        Router::new()
            .route("/echo", any(echo))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "late"
                }),
            )
            .route("/big", get(|| async { "x".repeat(256 << 10) }))
            .route(
                "/stream-big",
                get(|| async {
                    // Chunked, no content-length: only counting catches it.
                    let chunks =
                        (0..8).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 32 << 10])));
                    axum::body::Body::from_stream(futures_util::stream::iter(chunks))
                }),
            )
            .route(
                "/status/{code}",
                get(|Path(code): Path<u16>| async move {
                    (
                        StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT),
                        "status",
                    )
                }),
            )
            .route(
                "/redirect",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/echo")]) }),
            )
            .route(
                "/peer",
                get(
                    |ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>| async move {
                        peer.to_string()
                    },
                ),
            );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let task = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

/// A hubs directory with the four hubs granted `granted`, a 3 s
/// timeout and a 64 KiB response cap.
fn hubs_granting(granted: &str) -> anyhow::Result<HubsDir> {
    let manifest = format!(
        "http-timeout = \"3s\"\nhttp-max-response = \"64KiB\"\n\n[grants]\nhttp = [\"{granted}\"]\n"
    );
    let hubs = HubsDir::empty()?;
    hubs.add(&hubs_dir(), "testhub", &manifest)?;
    hubs.add(&test_hubs_dir(), "http-py", &manifest)?;
    hubs.add(&test_hubs_dir(), "http-js", &manifest)?;
    hubs.add(&test_hubs_dir(), "http-c", &manifest)?;
    Ok(hubs)
}

/// `HttpSend` through `hub`: its answer, or the error text.
async fn send(
    client: &mut RawClient,
    method: &str,
    url: &str,
    body: &str,
    timeout_ms: Option<u64>,
) -> anyhow::Result<Result<Value, String>> {
    let args = json!([method, url, [["X-Test", "1"]], body, timeout_ms]);
    let done = client.invoke("h", "HttpSend", args).await?;
    Ok(match done["error"].as_str() {
        Some(error) => Err(error.to_owned()),
        None => Ok(done["result"].clone()),
    })
}

fn header<'a>(answer: &'a Value, name: &str) -> Option<&'a str> {
    answer["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].as_str())
}

#[tokio::test]
async fn a_granted_host_answers_and_everything_else_fails_clearly() -> anyhow::Result<()> {
    let (addr, _server) = server().await?;
    let (other, _other_server) = server().await?;
    let hubs = hubs_granting(&addr)?;
    let host = Host::start_in(hubs.path(), &["--http-allow", "127.0.0.1:*"]).await?;
    for hub in HUBS {
        let mut client = RawClient::connect(&host.ws_url(hub, "")).await?;
        let ok = |result: Result<Value, String>| {
            result.map_err(|error| anyhow::anyhow!("{hub}: {error}"))
        };

        // Allowed: method, headers and a UTF-8 body reach the server; its
        // status, headers and body come back.
        let url = format!("http://{addr}/echo");
        let answer = ok(send(&mut client, "POST", &url, "ping ✓", None).await?)?;
        assert_eq!(answer["status"], 200, "{hub}: {answer}");
        assert_eq!(header(&answer, "x-served-by"), Some("test"), "{hub}");
        let echoed: Value = serde_json::from_str(answer["body"].as_str().unwrap())?;
        assert_eq!(echoed["method"], "POST", "{hub}");
        assert_eq!(echoed["body"], "ping ✓", "{hub}");
        assert_eq!(echoed["headers"]["x-test"], "1", "{hub}");
        assert_eq!(echoed["headers"]["host"], addr.as_str(), "{hub}");
        assert_eq!(echoed["headers"]["content-length"], "8", "{hub}");

        // Connections are kept: of five requests in a row, some go over a
        // connection an earlier one opened (a connection goes back to the
        // pool a moment after its response, so not necessarily all).
        let mut peers = std::collections::BTreeSet::new();
        for _ in 0..5 {
            let peer =
                ok(send(&mut client, "GET", &format!("http://{addr}/peer"), "", None).await?)?;
            peers.insert(peer["body"].as_str().unwrap_or_default().to_owned());
        }
        assert!(
            peers.len() < 5,
            "{hub}: a new connection per request: {peers:?}"
        );

        // Any status is a response; redirects are not followed.
        let missing = ok(send(
            &mut client,
            "GET",
            &format!("http://{addr}/status/404"),
            "",
            None,
        )
        .await?)?;
        assert_eq!(missing["status"], 404, "{hub}");
        let moved = ok(send(
            &mut client,
            "GET",
            &format!("http://{addr}/redirect"),
            "",
            None,
        )
        .await?)?;
        assert_eq!(moved["status"], 302, "{hub}");
        assert_eq!(header(&moved, "location"), Some("/echo"), "{hub}");

        // Another port of the same machine is another host.
        let refused = send(
            &mut client,
            "GET",
            &format!("http://{other}/echo"),
            "",
            None,
        )
        .await?
        .unwrap_err();
        assert!(
            refused.contains("Unauthorized")
                && refused.contains(&format!("grants http to {addr} only")),
            "{hub}: {refused}"
        );
        let refused = send(&mut client, "GET", "ftp://example.com/", "", None)
            .await?
            .unwrap_err();
        assert!(
            refused.contains("InvalidArgument") && refused.contains("not HTTP"),
            "{hub}: {refused}"
        );

        // A slow server runs into the hub's own shorter timeout.
        let started = Instant::now();
        let slow = send(
            &mut client,
            "GET",
            &format!("http://{addr}/slow"),
            "",
            Some(300),
        )
        .await?
        .unwrap_err();
        assert!(
            slow.contains("Timeout") && slow.contains("300ms"),
            "{hub}: {slow}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{hub}: {:?}",
            started.elapsed()
        );

        // A body past the hub's cap is refused, not truncated, whether
        // its length is declared or only counted; a HEAD of it is fine.
        for path in ["/big", "/stream-big"] {
            let big = send(
                &mut client,
                "GET",
                &format!("http://{addr}{path}"),
                "",
                None,
            )
            .await?
            .unwrap_err();
            assert!(
                big.contains("Unavailable") && big.contains("64 KiB"),
                "{hub} {path}: {big}"
            );
        }
        let head = ok(send(&mut client, "HEAD", &format!("http://{addr}/big"), "", None).await?)?;
        assert_eq!(
            (head["status"].as_u64(), head["body"].as_str()),
            (Some(200), Some("")),
            "{hub}"
        );

        // Credentials belong in a header, not the URL.
        let refused = send(
            &mut client,
            "GET",
            &format!("http://user:pw@{addr}/echo"),
            "",
            None,
        )
        .await?
        .unwrap_err();
        assert!(
            refused.contains("InvalidArgument") && refused.contains("user or password"),
            "{hub}: {refused}"
        );
    }

    // Python's urlopen raises HTTPError for a 404, as urllib does.
    let mut python = RawClient::connect(&host.ws_url("http-py", "")).await?;
    let opened = python
        .invoke(
            "o",
            "HttpOpen",
            json!([format!("http://{addr}/status/404")]),
        )
        .await?;
    assert_eq!(opened["result"], json!({ "httpError": 404 }), "{opened}");

    // /healthz shows the grant, /metrics counts the outcomes.
    let base = format!("http://{}", host.addr);
    let health: Value = reqwest::get(format!("{base}/healthz"))
        .await?
        .json()
        .await?;
    let testhub = health["hubs"]
        .as_array()
        .and_then(|hubs| hubs.iter().find(|h| h["name"] == "testhub"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        testhub["limits"]["grants"]["http"],
        json!([addr]),
        "{health}"
    );
    assert_eq!(testhub["limits"]["httpMaxResponseBytes"], 64 << 10);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    for outcome in ["ok", "denied", "invalid", "timeout", "too_large"] {
        let line =
            format!("wasmhub_hub_http_requests_total{{hub=\"testhub\",outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
    Ok(())
}

#[tokio::test]
async fn without_the_grant_or_the_operators_allow_there_is_no_http() -> anyhow::Result<()> {
    let (addr, _server) = server().await?;
    let url = format!("http://{addr}/echo");

    // The manifest grants nothing: the error says what to write.
    let hubs = HubsDir::with_testhub("[grants]\nkv = true\n")?;
    let host = Host::start_in(hubs.path(), &["--http-allow", "*:*"]).await?;
    let mut client = RawClient::connect(&host.ws_url("testhub", "")).await?;
    let refused = send(&mut client, "GET", &url, "", None).await?.unwrap_err();
    assert!(
        refused.contains("Unauthorized") && refused.contains("[grants] http"),
        "{refused}"
    );
    drop(client);
    drop(host);

    // The manifest grants the host, the operator allows none.
    let hubs = hubs_granting(&addr)?;
    let host = Host::start_in(hubs.path(), &[]).await?;
    for hub in HUBS {
        let mut client = RawClient::connect(&host.ws_url(hub, "")).await?;
        let refused = send(&mut client, "GET", &url, "", None).await?.unwrap_err();
        assert!(
            refused.contains("Unauthorized") && refused.contains("--http-allow does not cover"),
            "{hub}: {refused}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_bad_grant_refuses_the_hub_with_the_reason() -> anyhow::Result<()> {
    let hubs = HubsDir::with_testhub("[grants]\nhttp = [\"api.example.com/v1\"]\n")?;
    let host = Host::start_in(hubs.path(), &[]).await?;
    let base = format!("http://{}", host.addr);
    let health: Value = reqwest::get(format!("{base}/healthz"))
        .await?
        .json()
        .await?;
    let text = health.to_string();
    assert!(
        text.contains("grants.http") && text.contains("no path"),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn wasi_http_is_held_to_the_same_grant() -> anyhow::Result<()> {
    let (addr, _server) = server().await?;
    let (other, _other_server) = server().await?;
    let hubs = HubsDir::empty()?;
    let manifest = format!(
        "http-timeout = \"1s\"\nhttp-max-response = \"64KiB\"\n[grants]\nhttp = [\"{addr}\"]\n"
    );
    hubs.add(&test_hubs_dir(), "uses-wasi-http", &manifest)?;
    let host = Host::start_in(hubs.path(), &["--http-allow", "127.0.0.1:*"]).await?;
    let mut client = RawClient::connect(&host.ws_url("uses-wasi-http", "")).await?;
    let mut get = async |authority: &str, path: &str| -> anyhow::Result<Value> {
        let done = client
            .invoke("w", "WasiHttpGet", json!([authority, path]))
            .await?;
        anyhow::ensure!(done["error"].is_null(), "{done}");
        Ok(done["result"].clone())
    };
    let answer = get(&addr, "/echo").await?;
    assert_eq!(answer["status"], 200, "{answer}");
    let echoed: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("null"))?;
    assert_eq!(echoed["method"], "GET", "{answer}");
    assert_eq!(
        echoed["headers"]["host"],
        addr.as_str(),
        "the host adds host: {answer}"
    );
    let refused = get(&other, "/echo").await?;
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or("")
            .contains("HttpRequestDenied"),
        "{refused}"
    );
    for path in ["/big", "/stream-big"] {
        let big = get(&addr, path).await?;
        assert!(
            big["error"]
                .as_str()
                .unwrap_or("")
                .contains("body size exceeds limit"),
            "{path} cut off past the cap: {big}"
        );
    }
    let started = Instant::now();
    let slow = get(&addr, "/slow").await?;
    assert!(
        slow["error"].as_str().unwrap_or("").contains("Timeout"),
        "{slow}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

//! Trace propagation, read from an in-process span exporter: two nodes
//! run in this process on a private redis-server, with the exporter's
//! layer installed, and a raw WebSocket client sends the `headers` the
//! official JavaScript client cannot. One trace must span the caller's
//! context, the hub call on node A and the client result on node B.
//!
//! One test in this file: the tracing subscriber is process-wide.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;
use wasmhub::config::Config;
use wasmhub_e2e::{DEADLINE, RawClient, RedisServer, hubs_dir};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const API_KEY: &str = "trace-test-key-0123456789";

/// A node of the cluster running in this process; stops when dropped.
struct Node {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Node {
    async fn start(id: &str, redis: &RedisServer) -> anyhow::Result<Node> {
        let mut config = Config::new(hubs_dir());
        config.node_id = id.to_owned();
        config.redis = Some(redis.url());
        config.watch = false;
        config.api_keys = vec![API_KEY.to_owned()];
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, listening) = tokio::sync::oneshot::channel();
        let listen: SocketAddr = "127.0.0.1:0".parse()?;
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            let served = wasmhub::server::serve_until(config, listen, shutdown, |addr, _| {
                let _ = bound.send(addr);
            });
            if let Err(error) = served.await {
                eprintln!("node stopped: {error:#}");
            }
        });
        let addr = tokio::time::timeout(wasmhub_e2e::START_DEADLINE, listening)
            .await
            .context("the node did not start listening in time")?
            .context("the node stopped before it was listening")?;
        Ok(Node { addr, _stop: stop })
    }

    fn hub_url(&self) -> String {
        format!("ws://{}/hubs/testhub", self.addr)
    }
}

/// A string attribute of a span.
fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// Polls the exporter until a finished span satisfies `wanted`.
async fn span(
    exporter: &InMemorySpanExporter,
    what: &str,
    wanted: impl Fn(&SpanData) -> bool,
) -> SpanData {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let spans = exporter.get_finished_spans().expect("the exporter's spans");
        if let Some(found) = spans.iter().find(|s| wanted(s)) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no span {what} among {:#?}",
            spans
                .iter()
                .map(|s| (s.name.to_string(), s.span_context.trace_id()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_the_caller_the_hub_call_and_a_remote_client_result() -> anyhow::Result<()>
{
    let exporter = InMemorySpanExporter::default();
    let provider = wasmhub::telemetry::provider_builder("test", 1.0)
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(wasmhub::telemetry::layer(&provider));
    tracing_subscriber::util::SubscriberInitExt::try_init(subscriber)?;

    let redis = RedisServer::start()?;
    let node_a = Node::start("trace-a", &redis).await?;
    let node_b = Node::start("trace-b", &redis).await?;

    // A client of node B, in a group, that answers "Ping" with "pong".
    let mut on_b = RawClient::connect(&node_b.hub_url()).await?;
    let b_id = on_b.invoke("1", "GetCallerConnectionId", json!([])).await?["result"]
        .as_str()
        .context("a connection id")?
        .to_owned();
    let joined = on_b
        .invoke("2", "AddToGroup", json!([b_id, "traced"]))
        .await?;
    anyhow::ensure!(joined["error"].is_null(), "AddToGroup: {joined}");

    let mut on_a = RawClient::connect(&node_a.hub_url()).await?;
    // Not sampled by the caller: joins its choice, nothing is exported.
    let unsampled = json!({"type": 1, "invocationId": "u", "target": "Echo", "arguments": ["quiet"],
        "headers": {"traceparent": format!("00-{TRACE}-{CALLER_SPAN}-00")}});
    on_a.send_text(&format!("{unsampled}\u{1e}")).await?;
    // No headers: a trace of its own.
    let root = on_a.invoke("r", "Echo", json!(["alone"])).await?;
    anyhow::ensure!(root["result"] == "alone", "{root}");
    // The caller's trace, through node A's hub to node B's client.
    let traced = json!({"type": 1, "invocationId": "t", "target": "InvokeAllGroup",
        "arguments": ["traced", "Ping"],
        "headers": {"traceparent": format!("00-{TRACE}-{CALLER_SPAN}-01"), "tracestate": "vendor=1"}});
    on_a.send_text(&format!("{traced}\u{1e}")).await?;
    let asked = on_b.next().await?;
    anyhow::ensure!(asked["type"] == 1 && asked["target"] == "Ping", "{asked}");
    let answer = json!({"type": 3, "invocationId": asked["invocationId"], "result": "pong"});
    on_b.send_text(&format!("{answer}\u{1e}")).await?;
    let done = loop {
        let record = on_a.next().await?;
        if record["invocationId"] == "t" {
            break record;
        }
    };
    anyhow::ensure!(done["result"][0]["value"] == "pong", "{done}");

    let trace = TraceId::from_hex(TRACE)?;
    let call = span(&exporter, "testhub/InvokeAllGroup", |s| {
        s.name == "testhub/InvokeAllGroup"
    })
    .await;
    assert_eq!(call.span_context.trace_id(), trace, "the caller's trace");
    assert_eq!(call.parent_span_id, SpanId::from_hex(CALLER_SPAN)?);
    assert_eq!(call.span_kind, opentelemetry::trace::SpanKind::Server);
    assert_eq!(attribute(&call, "wasmhub.node").as_deref(), Some("trace-a"));
    assert_eq!(
        attribute(&call, "rpc.method").as_deref(),
        Some("InvokeAllGroup")
    );
    assert_eq!(
        call.span_context.trace_state().header(),
        "vendor=1",
        "tracestate carried"
    );
    let remote = span(&exporter, "for node B's clients", |s| {
        attribute(s, "wasmhub.node").as_deref() == Some("trace-b")
            && s.name == "backplane invoke Ping"
    })
    .await;
    assert_eq!(remote.span_context.trace_id(), trace, "node B joined");
    assert_eq!(remote.parent_span_id, call.span_context.span_id());
    assert_eq!(
        attribute(&remote, "wasmhub.from_node").as_deref(),
        Some("trace-a")
    );
    let result = span(&exporter, "client result Ping", |s| {
        s.name == "client result Ping"
    })
    .await;
    assert_eq!(result.span_context.trace_id(), trace);
    assert_eq!(result.parent_span_id, remote.span_context.span_id());
    assert_eq!(attribute(&result, "wasmhub.connection"), Some(b_id.clone()));

    let alone = span(&exporter, "testhub/Echo as a root", |s| {
        s.name == "testhub/Echo" && s.parent_span_id == SpanId::INVALID
    })
    .await;
    assert_ne!(alone.span_context.trace_id(), trace);
    // The unsampled call ran before both on the same connection.
    let spans = exporter.get_finished_spans()?;
    let echoes = spans.iter().filter(|s| s.name == "testhub/Echo").count();
    assert_eq!(echoes, 1, "the caller's not-sampled flag was ignored");

    // The server API joins the backend request's traceparent.
    let backend_span = "b7ad6b7169203331";
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v1/hubs/testhub/invoke/Echo",
            node_a.addr
        ))
        .bearer_auth(API_KEY)
        .header("traceparent", format!("00-{TRACE}-{backend_span}-01"))
        .json(&json!({"arguments": ["from a backend"]}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "{}", response.text().await?);
    let api = span(&exporter, "the API's testhub/Echo", |s| {
        s.name == "testhub/Echo" && attribute(s, "wasmhub.caller").as_deref() == Some("server")
    })
    .await;
    assert_eq!(api.span_context.trace_id(), trace);
    assert_eq!(api.parent_span_id, SpanId::from_hex(backend_span)?);

    // A failed call is marked so.
    let failed = on_a
        .invoke("f", "ThrowException", json!(["on purpose"]))
        .await?;
    anyhow::ensure!(failed["error"].is_string(), "{failed}");
    let thrown = span(&exporter, "testhub/ThrowException", |s| {
        s.name == "testhub/ThrowException"
    })
    .await;
    assert!(
        matches!(&thrown.status, opentelemetry::trace::Status::Error { description } if description.contains("on purpose")),
        "{:?}",
        thrown.status
    );
    Ok(())
}

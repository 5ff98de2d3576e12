//! OpenTelemetry traces, off unless `--otlp-endpoint` names a collector.
//!
//! When on, every client invocation is a span (`<hub>/<method>`, kind
//! server) whose parent is the W3C `traceparent` its SignalR headers
//! carried, so the call joins the caller's trace; a server-API call
//! joins the `traceparent` of its HTTP request. A client result the hub
//! asks for is a span of its own (kind client) under the call's; one
//! asked of a connection on another node carries the trace context in
//! its backplane envelope, and the owner node's spans join the same
//! trace. Spans go to the collector in batches (OTLP over HTTP,
//! protobuf) from a thread of their own; a full batch queue drops spans,
//! never blocks a call.
//!
//! When off, no span is made: the invocation path pays one relaxed load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use crate::protocol::TraceContext;

/// The `tracing` target of every span exported; the exporter's layer
/// sees nothing else (no connection span, no log line).
pub const TARGET: &str = "wasmhub::trace";

/// How long one export to the collector may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The share of new traces kept, as `f64` bits: read before a span is
/// made, so a call that will not be kept costs no span at all.
static SAMPLE: AtomicU64 = AtomicU64::new(0);

/// Whether spans are exported (a layer from [`layer`] is installed).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "--otlp-endpoint {0}: only http:// is supported; send to a local collector or agent, which forwards over TLS"
    )]
    NotHttp(String),
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(String),
}

/// A tracer provider that sends spans to the OTLP/HTTP collector at
/// `endpoint`, an http:// URL (settings check it; `/v1/traces` is added
/// to a URL without a path). `node`
/// is the `service.instance.id`; `sample` the share of new traces kept
/// (a call that joins a caller's trace follows the caller's choice).
pub fn otlp_provider(
    endpoint: &url::Url,
    node: &str,
    sample: f64,
) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    let mut traces = endpoint.clone();
    if traces.path() == "/" || traces.path().is_empty() {
        traces.set_path("/v1/traces");
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .with_headers(Default::default())
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    Ok(provider_builder(node, sample)
        .with_batch_exporter(exporter)
        .build())
}

/// The provider's settings but its exporter (tests add an in-memory one).
pub fn provider_builder(
    node: &str,
    sample: f64,
) -> opentelemetry_sdk::trace::TracerProviderBuilder {
    SAMPLE.store(sample.to_bits(), Ordering::Relaxed);
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("wasmhub")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.instance.id",
            node.to_owned(),
        ))
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            sample,
        ))))
}

/// The `tracing` layer that exports [`TARGET`]'s spans through
/// `provider`. Installing it turns span creation on.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    ENABLED.store(true, Ordering::Relaxed);
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("wasmhub"))
        .with_threads(false)
        .with_location(false)
        .with_tracked_inactivity(false)
        .with_filter(Targets::new().with_target(TARGET, tracing::Level::TRACE))
}

/// The span of one hub call: an invocation of a client, or of the server
/// API (`caller` "server"). Its parent is `parent`, the caller's trace
/// context, when there is a valid one. `None` when tracing is off.
pub fn call_span(
    node: &str,
    hub: &str,
    method: &str,
    caller: &'static str,
    parent: Option<&TraceContext>,
) -> Option<Span> {
    if !enabled() || !kept(parent) {
        return None;
    }
    let span = tracing::info_span!(
        target: TARGET,
        "invoke",
        otel.name = format!("{hub}/{method}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        rpc.system = "signalr",
        rpc.service = hub,
        rpc.method = method,
        wasmhub.node = node,
        wasmhub.caller = caller,
    );
    if let Some(parent) = parent {
        join(&span, parent);
    }
    Some(span)
}

/// Whether a call with this caller context will be kept: the caller's
/// sampled flag when it sent a valid `traceparent` (W3C: the last field's
/// low bit), else a draw at the configured share. The SDK's sampler
/// decides the same; deciding first spares the spans of calls not kept.
fn kept(parent: Option<&TraceContext>) -> bool {
    let flags = parent.and_then(|p| {
        let fields: Vec<&str> = p.traceparent.split('-').collect();
        match fields.as_slice() {
            [version, trace, span, flags, ..]
                if version.len() == 2
                    && *version != "ff"
                    && trace.len() == 32
                    && span.len() == 16
                    && flags.len() == 2 =>
            {
                u8::from_str_radix(flags, 16).ok()
            }
            _ => None,
        }
    });
    match flags {
        Some(flags) => flags & 1 == 1,
        None => rand::random::<f64>() < f64::from_bits(SAMPLE.load(Ordering::Relaxed)),
    }
}

/// The span of the calls another node asked this one to make of its
/// clients (a hub's client result), in the asking call's trace.
pub fn remote_calls_span(node: &str, from: &str, method: &str, parent: &TraceContext) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "client results for another node",
        otel.name = format!("backplane invoke {method}"),
        otel.kind = "consumer",
        rpc.method = method,
        wasmhub.node = node,
        wasmhub.from_node = from,
    );
    join(&span, parent);
    span
}

/// Asks connection `connection` for a client result (`work`) in a span
/// of its own under the current one, marked failed when the client
/// answers with an error or not at all.
pub async fn client_result<F>(method: &str, connection: &str, work: F) -> Result<String, String>
where
    F: Future<Output = Result<String, String>>,
{
    use opentelemetry::trace::TraceContextExt as _;
    // Only inside a kept trace (a call not kept made no span).
    if !enabled() || !Span::current().context().span().span_context().is_sampled() {
        return work.await;
    }
    let span = tracing::info_span!(
        target: TARGET,
        "client result",
        otel.name = format!("client result {method}"),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        rpc.method = method,
        wasmhub.connection = connection,
    );
    traced(Some(span), work).await
}

/// Runs `work` in `span`, when there is one.
pub async fn within<T>(span: Option<Span>, work: impl Future<Output = T>) -> T {
    match span {
        Some(span) => tracing::Instrument::instrument(work, span).await,
        None => work.await,
    }
}

/// Runs `work` in `span`, when there is one, and marks the span failed
/// when `work` fails.
pub async fn traced<T, E: std::fmt::Display>(
    span: Option<Span>,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let Some(span) = span else {
        return work.await;
    };
    let outcome = within(Some(span.clone()), work).await;
    if let Err(error) = &outcome {
        failed(&span, &error.to_string());
    }
    outcome
}

/// Marks the current span (a hub call's) failed, when tracing is on.
pub fn current_failed(why: &dyn std::fmt::Display) {
    if enabled() {
        failed(&Span::current(), &why.to_string());
    }
}

/// Marks `span` failed with `why` (a hub error, a client's error).
pub fn failed(span: &Span, why: &str) {
    span.record("otel.status_code", "error");
    span.record("otel.status_description", why);
}

/// The trace context of the current span, to carry to another node;
/// `None` when tracing is off or no exported span is current.
pub fn current() -> Option<TraceContext> {
    if !enabled() {
        return None;
    }
    let mut carrier = Carrier::default();
    TraceContextPropagator::new().inject_context(&Span::current().context(), &mut carrier);
    TraceContext::from_headers(
        carrier.traceparent.as_deref(),
        carrier.tracestate.as_deref(),
    )
}

/// Sets `span`'s parent to the context in `headers`; an invalid
/// `traceparent` leaves the span a root, as W3C asks.
fn join(span: &Span, headers: &TraceContext) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if let Err(error) = span.set_parent(parent) {
        tracing::debug!(%error, "a span could not join its caller's trace");
    }
}

/// A [`TraceContext`] read as propagation headers.
struct Headers<'a>(&'a TraceContext);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(&self.0.traceparent),
            "tracestate" => self.0.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The two headers a propagator writes.
#[derive(Default)]
struct Carrier {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "traceparent" => self.traceparent = Some(value),
            "tracestate" if !value.is_empty() => self.tracestate = Some(value),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(traceparent: &str) -> TraceContext {
        TraceContext::from_headers(Some(traceparent), None).unwrap()
    }

    #[test]
    fn a_caller_context_decides_by_its_sampled_flag_else_by_the_share() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";
        assert!(kept(Some(&parent(&format!("00-{id}-01")))));
        assert!(kept(Some(&parent(&format!("00-{id}-03")))));
        assert!(!kept(Some(&parent(&format!("00-{id}-00")))));
        // Not a valid context: a new trace, kept at the share.
        SAMPLE.store(0.0f64.to_bits(), Ordering::Relaxed);
        assert!(!kept(Some(&parent("garbage"))));
        assert!(!kept(Some(&parent(&format!("ff-{id}-01")))));
        assert!(!kept(None));
        SAMPLE.store(1.0f64.to_bits(), Ordering::Relaxed);
        assert!(kept(None));
        assert!(kept(Some(&parent("00-short-01"))));
    }
}

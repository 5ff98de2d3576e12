//! Prometheus metrics, served at `GET /metrics` in the text exposition
//! format.
//!
//! Names carry the `wasmhub_` prefix and base units (seconds, bytes).
//! Label sets stay bounded: hub names come from the hubs directory (the
//! operator's), method names are kept for the first [`METHODS_PER_HUB`]
//! methods of a hub that exist (a method the hub does not have is
//! `_unknown`, later ones `_other`), and never is a connection id or a
//! user a label. The hot paths hold their counters per connection
//! ([`ConnectionMetrics`]), so a message costs atomic adds, not a label
//! lookup.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::events::RecentEvents;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Distinct method labels one hub gets at most.
pub const METHODS_PER_HUB: usize = 64;

/// Invocation latency buckets, seconds: a warm Rust hub call is a few
/// microseconds, a call waiting on clients' results can take seconds.
const INVOCATION_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Why a connection ended, as the `reason` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent a Close message.
    ClientClosed,
    /// The socket ended without one.
    Dropped,
    /// The server closed it (shutdown, hub retired, slow client, refusal).
    ServerClosed,
    /// Nothing came from the client for the client timeout.
    TimedOut,
    TokenExpired,
    ProtocolError,
    /// The hub's on-connected refused it.
    Refused,
}

impl CloseReason {
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::Dropped => "dropped",
            CloseReason::ServerClosed => "server_closed",
            CloseReason::TimedOut => "timed_out",
            CloseReason::TokenExpired => "token_expired",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::Refused => "refused",
        }
    }
}

/// The host's metrics, one set per process.
pub struct Metrics {
    // (Debug by hand below: the families have none.)
    registry: Registry,
    connections: IntGaugeVec,
    opened: IntCounterVec,
    closed: IntCounterVec,
    received_messages: IntCounterVec,
    received_bytes: IntCounterVec,
    sent_messages: IntCounterVec,
    sent_bytes: IntCounterVec,
    invocations: IntCounterVec,
    invocation_seconds: HistogramVec,
    invocation_errors: IntCounterVec,
    outbound_queued: IntGaugeVec,
    slow_closes: IntCounterVec,
    client_results: IntCounterVec,
    api_requests: IntCounterVec,
    /// The hub runtime's families.
    pub hubs: HubMetrics,
    /// The Redis backplane's families (they stay empty on one node).
    pub backplane: BackplaneMetrics,
    /// Per hub, the methods that have a label of their own.
    methods: Mutex<HashMap<String, HashSet<String>>>,
    /// Recent swaps, refusals, traps and failed calls (the dashboard's).
    pub events: RecentEvents,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        fn counters(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
            let family = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(family.clone()))
                .expect("metric registered once");
            family
        }
        fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
            let family = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(family.clone()))
                .expect("metric registered once");
            family
        }
        let connections = IntGaugeVec::new(
            Opts::new("wasmhub_connections", "Connections open now."),
            &["hub", "transport"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(connections.clone()))
            .expect("metric registered once");
        let invocation_seconds = HistogramVec::new(
            HistogramOpts::new(
                "wasmhub_invocation_duration_seconds",
                "Time from an invocation's start to its result, in seconds.",
            )
            .buckets(INVOCATION_BUCKETS.to_vec()),
            &["hub", "method"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(invocation_seconds.clone()))
            .expect("metric registered once");
        Arc::new(Metrics {
            connections,
            opened: counters(
                &registry,
                "wasmhub_connections_opened_total",
                "Connections whose handshake was answered (a refusal by the hub's on-connected then closes one with reason refused).",
                &["hub", "transport"],
            ),
            closed: counters(
                &registry,
                "wasmhub_connections_closed_total",
                "Accepted connections that ended, by why.",
                &["hub", "reason"],
            ),
            received_messages: counters(
                &registry,
                "wasmhub_messages_received_total",
                "Hub protocol messages received from clients (pings included).",
                &["hub"],
            ),
            received_bytes: counters(
                &registry,
                "wasmhub_received_bytes_total",
                "Bytes of hub protocol messages received from clients, framing included (separator or length prefix).",
                &["hub"],
            ),
            sent_messages: counters(
                &registry,
                "wasmhub_messages_sent_total",
                "Hub protocol messages written to clients (pings included).",
                &["hub"],
            ),
            sent_bytes: counters(
                &registry,
                "wasmhub_sent_bytes_total",
                "Bytes of hub protocol messages written to clients, framing included (separator or length prefix).",
                &["hub"],
            ),
            invocations: counters(
                &registry,
                "wasmhub_invocations_total",
                "Client invocations of hub methods that ran (refused ones not included).",
                &["hub", "method"],
            ),
            invocation_seconds,
            invocation_errors: counters(
                &registry,
                "wasmhub_invocation_errors_total",
                "Invocations that ended in an error, by the error's kind.",
                &["hub", "method", "kind"],
            ),
            outbound_queued: gauges(
                &registry,
                "wasmhub_outbound_queued_bytes",
                "Bytes queued for clients and not yet written, all connections of a hub together.",
                &["hub"],
            ),
            slow_closes: counters(
                &registry,
                "wasmhub_slow_client_closes_total",
                "Connections closed for not keeping up: queue_full (more than outbound-buffer waiting) or write_timeout (a write took longer than write-timeout).",
                &["hub", "reason"],
            ),
            api_requests: counters(
                &registry,
                "wasmhub_api_requests_total",
                "Server API requests by endpoint (the route, e.g. /api/v1/hubs/{hub}/send) and status code.",
                &["endpoint", "status"],
            ),
            client_results: counters(
                &registry,
                "wasmhub_client_results_total",
                "Client results a hub asked of clients of this node (outcome asked), and how each ask ended: answered, error (the client's handler threw), timed_out, disconnected.",
                &["hub", "outcome"],
            ),
            hubs: HubMetrics {
                instances_created: counters(
                    &registry,
                    "wasmhub_hub_instances_created_total",
                    "Hub instances made (instantiate and init), failed ones included.",
                    &["hub"],
                ),
                instances_warm: gauges(
                    &registry,
                    "wasmhub_hub_instances_warm",
                    "Warm hub instances waiting for a call, of the version serving.",
                    &["hub"],
                ),
                instances_recycled: counters(
                    &registry,
                    "wasmhub_hub_instances_recycled_total",
                    "Instances dropped after a call, by why: max_calls (instance-max-calls reached), memory (grew past half the cap), trap (the call trapped), pool_full.",
                    &["hub", "reason"],
                ),
                traps: counters(
                    &registry,
                    "wasmhub_hub_traps_total",
                    "Hub calls that trapped, by kind: deadline, memory, panic, other.",
                    &["hub", "kind"],
                ),
                swaps: counters(
                    &registry,
                    "wasmhub_hub_swaps_total",
                    "Hub files loaded: applied (a new version serves) or refused (the old one keeps serving).",
                    &["hub", "result"],
                ),
                http_requests: counters(
                    &registry,
                    "wasmhub_hub_http_requests_total",
                    "Outbound HTTP requests of hubs, by outcome: ok (any status), denied (no grant or --http-allow), invalid, timeout, too_large, failed.",
                    &["hub", "outcome"],
                ),
                serving: gauges(
                    &registry,
                    "wasmhub_hub_serving_info",
                    "1 for the version each hub serves, by the sha256 of its file.",
                    &["hub", "sha256"],
                ),
            },
            backplane: BackplaneMetrics {
                published: counters(
                    &registry,
                    "wasmhub_backplane_published_total",
                    "Messages this node published on the backplane, by kind (send, invoke, answers, group, group_done).",
                    &["kind"],
                ),
                publish_failures: counters(
                    &registry,
                    "wasmhub_backplane_publish_failures_total",
                    "Publishes that did not reach Redis.",
                    &[],
                )
                .with_label_values::<&str>(&[]),
                received: counters(
                    &registry,
                    "wasmhub_backplane_received_total",
                    "Messages this node received from the backplane, by kind.",
                    &["kind"],
                ),
                dropped: counters(
                    &registry,
                    "wasmhub_backplane_dropped_total",
                    "Received messages dropped because the subscriber's queue was full.",
                    &[],
                )
                .with_label_values::<&str>(&[]),
                queue_bytes: gauges(
                    &registry,
                    "wasmhub_backplane_queue_bytes",
                    "Bytes of received backplane messages waiting to be handled.",
                    &[],
                )
                .with_label_values::<&str>(&[]),
                publish_seconds: {
                    let family = HistogramVec::new(
                        HistogramOpts::new(
                            "wasmhub_backplane_publish_duration_seconds",
                            "Round trip of one PUBLISH to Redis, in seconds.",
                        )
                        .buckets(INVOCATION_BUCKETS.to_vec()),
                        &[],
                    )
                    .expect("valid metric");
                    registry
                        .register(Box::new(family.clone()))
                        .expect("metric registered once");
                    family.with_label_values::<&str>(&[])
                },
                reconnects: counters(
                    &registry,
                    "wasmhub_backplane_reconnects_total",
                    "Backplane links made anew: subscription (after it was lost) or commands (after a command timed out).",
                    &["link"],
                ),
                sweeps: counters(
                    &registry,
                    "wasmhub_backplane_sweeps_total",
                    "Dead nodes whose registrations this node removed.",
                    &[],
                )
                .with_label_values::<&str>(&[]),
                nodes_alive: gauges(
                    &registry,
                    "wasmhub_backplane_nodes_alive",
                    "Nodes with a live heartbeat at this node's last beat, itself included.",
                    &[],
                )
                .with_label_values::<&str>(&[]),
            },
            registry,
            methods: Mutex::default(),
            events: RecentEvents::default(),
        })
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec fails only on an invalid family, which
        // `new` cannot make.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Counts one server API request; `endpoint` is its route template
    /// (a bounded set), never the path with names in it.
    pub fn api_request(&self, endpoint: &str, status: u16) {
        self.api_requests
            .with_label_values(&[endpoint, &status.to_string()])
            .inc();
    }

    /// Per hub, this node's totals since start (the dashboard's rates).
    pub fn hub_totals(&self) -> std::collections::BTreeMap<String, HubTotals> {
        let mut totals: std::collections::BTreeMap<String, HubTotals> = Default::default();
        for family in self.registry.gather() {
            let field: fn(&mut HubTotals) -> &mut u64 = match family.name() {
                "wasmhub_messages_received_total" => |t| &mut t.messages_in,
                "wasmhub_messages_sent_total" => |t| &mut t.messages_out,
                "wasmhub_invocations_total" => |t| &mut t.invocations,
                "wasmhub_invocation_errors_total" => |t| &mut t.errors,
                _ => continue,
            };
            for metric in family.get_metric() {
                let Some(hub) = metric.get_label().iter().find(|l| l.name() == "hub") else {
                    continue;
                };
                let entry = totals.entry(hub.value().to_owned()).or_default();
                *field(entry) += metric.get_counter().get_value() as u64;
            }
        }
        totals
    }

    /// Counts a connection accepted on `hub` over `transport`; the
    /// returned counters go with it until [`ConnectionMetrics::closed`].
    pub fn connection_opened(self: &Arc<Self>, hub: &str, transport: &str) -> ConnectionMetrics {
        self.opened.with_label_values(&[hub, transport]).inc();
        let open = self.connections.with_label_values(&[hub, transport]);
        open.inc();
        ConnectionMetrics {
            metrics: self.clone(),
            hub: hub.to_owned(),
            open,
            counted_closed: AtomicBool::new(false),
            received_messages: self.received_messages.with_label_values(&[hub]),
            received_bytes: self.received_bytes.with_label_values(&[hub]),
            sent_messages: self.sent_messages.with_label_values(&[hub]),
            sent_bytes: self.sent_bytes.with_label_values(&[hub]),
            queued: self.outbound_queued.with_label_values(&[hub]),
            methods: Mutex::default(),
        }
    }

    /// Counts one invocation of `method` on `hub` that took `took`;
    /// `error_kind` is the error's kind when it failed (`MethodNotFound`,
    /// `HubTrap`, ...).
    pub fn invocation(&self, hub: &str, method: &str, took: Duration, error_kind: Option<&str>) {
        let method = self.method_label(hub, method, error_kind);
        self.invocations.with_label_values(&[hub, method]).inc();
        self.invocation_seconds
            .with_label_values(&[hub, method])
            .observe(took.as_secs_f64());
        if let Some(kind) = error_kind {
            self.invocation_errors
                .with_label_values(&[hub, method, kind])
                .inc();
        }
    }

    /// The label for `method`: its own name while the hub has room for
    /// one more, `_unknown` for a method the hub does not have.
    fn method_label<'a>(&self, hub: &str, method: &'a str, error_kind: Option<&str>) -> &'a str {
        if error_kind == Some("MethodNotFound") {
            return "_unknown";
        }
        let mut methods = self.methods.lock().expect("method labels");
        if !methods.contains_key(hub) {
            methods.insert(hub.to_owned(), HashSet::new());
        }
        let Some(known) = methods.get_mut(hub) else {
            return "_other";
        };
        if known.contains(method) {
            return method;
        }
        if known.len() < METHODS_PER_HUB {
            known.insert(method.to_owned());
            return method;
        }
        "_other"
    }
}

/// One hub's counters on this node, summed over methods.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubTotals {
    pub messages_in: u64,
    pub messages_out: u64,
    pub invocations: u64,
    pub errors: u64,
}

/// The backplane's metrics.
pub struct BackplaneMetrics {
    pub published: IntCounterVec,
    pub publish_failures: IntCounter,
    pub received: IntCounterVec,
    pub dropped: IntCounter,
    pub queue_bytes: IntGauge,
    pub publish_seconds: Histogram,
    pub reconnects: IntCounterVec,
    pub sweeps: IntCounter,
    pub nodes_alive: IntGauge,
}

/// The hub runtime's metrics: instances, traps, swaps.
pub struct HubMetrics {
    pub instances_created: IntCounterVec,
    pub instances_warm: IntGaugeVec,
    pub instances_recycled: IntCounterVec,
    pub traps: IntCounterVec,
    pub swaps: IntCounterVec,
    pub http_requests: IntCounterVec,
    serving: IntGaugeVec,
}

impl HubMetrics {
    /// `sha256` now serves `hub` (in place of `previous`, if any).
    pub fn serving(&self, hub: &str, sha256: &str, previous: Option<&str>) {
        if let Some(previous) = previous {
            let _ = self.serving.remove_label_values(&[hub, previous]);
        }
        self.serving.with_label_values(&[hub, sha256]).set(1);
    }

    /// `hub` is served no more.
    pub fn retired(&self, hub: &str, sha256: &str) {
        let _ = self.serving.remove_label_values(&[hub, sha256]);
        let _ = self.instances_warm.remove_label_values(&[hub]);
    }
}

/// One connection's counters, taken once when it opens. Dropped without
/// [`ConnectionMetrics::closed`] (a task that panicked), it still leaves
/// the open-connections gauge.
pub struct ConnectionMetrics {
    metrics: Arc<Metrics>,
    hub: String,
    open: IntGauge,
    counted_closed: AtomicBool,
    received_messages: IntCounter,
    received_bytes: IntCounter,
    sent_messages: IntCounter,
    sent_bytes: IntCounter,
    queued: IntGauge,
    /// The counters of the methods this connection called, so a call
    /// costs no label lookup (a connection calls a handful of methods).
    methods: Mutex<Vec<(String, MethodMetrics)>>,
}

/// One method's invocation counter and histogram.
struct MethodMetrics {
    calls: IntCounter,
    seconds: Histogram,
}

/// Methods a connection keeps counters of; calls of others take the
/// label lookup.
const METHODS_PER_CONNECTION: usize = 16;

impl ConnectionMetrics {
    /// A message of `len` bytes came from the client.
    pub fn received(&self, len: usize) {
        self.received_messages.inc();
        self.received_bytes.inc_by(len as u64);
    }

    /// `messages` messages, `len` bytes in all, went to the client.
    pub fn sent(&self, messages: u64, len: usize) {
        self.sent_messages.inc_by(messages);
        self.sent_bytes.inc_by(len as u64);
    }

    /// Counts one invocation of `method` by this connection that took
    /// `took`; `error_kind` as in [`Metrics::invocation`].
    pub fn invocation(&self, method: &str, took: Duration, error_kind: Option<&str>) {
        if error_kind.is_some() {
            return self.metrics.invocation(&self.hub, method, took, error_kind);
        }
        let mut methods = self.methods.lock().expect("method counters");
        if let Some((_, counters)) = methods.iter().find(|(name, _)| name == method) {
            counters.calls.inc();
            counters.seconds.observe(took.as_secs_f64());
            return;
        }
        if methods.len() >= METHODS_PER_CONNECTION {
            drop(methods);
            return self.metrics.invocation(&self.hub, method, took, None);
        }
        let label = self.metrics.method_label(&self.hub, method, None);
        let counters = MethodMetrics {
            calls: self
                .metrics
                .invocations
                .with_label_values(&[&self.hub, label]),
            seconds: self
                .metrics
                .invocation_seconds
                .with_label_values(&[&self.hub, label]),
        };
        counters.calls.inc();
        counters.seconds.observe(took.as_secs_f64());
        methods.push((method.to_owned(), counters));
    }

    /// Keeps a failed invocation among the node's recent events.
    pub fn failed(&self, method: &str, text: &str) {
        self.metrics
            .events
            .record(crate::events::EventKind::Error, &self.hub, method, text);
    }

    /// A client result was asked of this client (`asked`), or the ask
    /// ended: `answered`, `error` (the client's handler threw),
    /// `timed_out`, `disconnected`.
    pub fn client_result(&self, outcome: &'static str) {
        self.metrics
            .client_results
            .with_label_values(&[self.hub.as_str(), outcome])
            .inc();
    }

    /// `len` bytes joined (positive) or left (negative) the outbound queue.
    pub fn queued(&self, len: i64) {
        self.queued.add(len);
    }

    /// The connection is closed for not keeping up (`queue_full` or
    /// `write_timeout`).
    pub fn slow_close(&self, reason: &'static str) {
        self.metrics
            .slow_closes
            .with_label_values(&[self.hub.as_str(), reason])
            .inc();
    }

    /// The connection ended for `reason` (counted once).
    pub fn closed(&self, reason: CloseReason) {
        if self.counted_closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.open.dec();
        self.metrics
            .closed
            .with_label_values(&[self.hub.as_str(), reason.label()])
            .inc();
    }
}

impl Drop for ConnectionMetrics {
    fn drop(&mut self) {
        if !self.counted_closed.load(Ordering::Acquire) {
            self.open.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_capped_per_hub_and_unknown_methods_share_one() {
        let metrics = Metrics::new();
        let ms = Duration::from_millis(1);
        for n in 0..METHODS_PER_HUB + 5 {
            metrics.invocation("chat", &format!("M{n}"), ms, None);
        }
        metrics.invocation("chat", "M0", ms, None);
        metrics.invocation("chat", "Nope", ms, Some("MethodNotFound"));
        let text = metrics.render();
        assert!(text.contains(r#"wasmhub_invocations_total{hub="chat",method="M0"} 2"#));
        assert!(text.contains(r#"wasmhub_invocations_total{hub="chat",method="_other"} 5"#));
        assert!(text.contains(
            r#"wasmhub_invocation_errors_total{hub="chat",kind="MethodNotFound",method="_unknown"} 1"#
        ));
        assert!(!text.contains("Nope"));
    }

    #[test]
    fn a_connection_counts_while_open_and_its_close_reason_after() {
        let metrics = Metrics::new();
        let connection = metrics.connection_opened("chat", "WebSockets");
        connection.received(10);
        connection.sent(2, 30);
        for _ in 0..3 {
            connection.invocation("Echo", Duration::from_micros(5), None);
        }
        connection.invocation("Echo", Duration::from_micros(5), Some("HubException"));
        assert!(
            metrics
                .render()
                .contains(r#"wasmhub_connections{hub="chat",transport="WebSockets"} 1"#)
        );
        connection.closed(CloseReason::Dropped);
        let text = metrics.render();
        assert!(text.contains(r#"wasmhub_connections{hub="chat",transport="WebSockets"} 0"#));
        assert!(
            text.contains(r#"wasmhub_connections_closed_total{hub="chat",reason="dropped"} 1"#)
        );
        assert!(text.contains(r#"wasmhub_received_bytes_total{hub="chat"} 10"#));
        assert!(text.contains(r#"wasmhub_sent_bytes_total{hub="chat"} 30"#));
        assert!(text.contains(r#"wasmhub_invocations_total{hub="chat",method="Echo"} 4"#));
        assert!(
            text.contains(
                r#"wasmhub_invocation_duration_seconds_count{hub="chat",method="Echo"} 4"#
            )
        );
        assert!(text.contains(
            r#"wasmhub_invocation_errors_total{hub="chat",kind="HubException",method="Echo"} 1"#
        ));
        // The dashboard's totals read the same families.
        let totals = &metrics.hub_totals()["chat"];
        assert_eq!(
            (
                totals.messages_in,
                totals.messages_out,
                totals.invocations,
                totals.errors
            ),
            (1, 2, 4, 1)
        );
    }
}

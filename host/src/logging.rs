//! The host's log: text lines for people (the default), or one JSON
//! object a line for log pipelines (`--log-format json`).
//!
//! A JSON line is flat: `timestamp`, `level`, `target`, `message`, the
//! event's own fields, the fields of every span it happened in (a
//! connection's `hub`, `connection` and `transport`), and `node`, so a
//! pipeline filters on `connection = "..."` without knowing which span
//! carried it. Hub log lines add `method` for calls that are invocations.

use std::fmt;

use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Keys every line has; fields of these names are renamed.
const RESERVED: &[&str] = &["timestamp", "level", "target", "node"];

/// The filter when `RUST_LOG` sets none.
const DEFAULT_FILTER: &str = "info,wasmtime=warn,cranelift=warn";

/// Installs the process's log, to stderr, filtered by `RUST_LOG`, and
/// the trace exporter's layer when `traces` is given. The filter is the
/// log's alone: traces are exported whatever `RUST_LOG` says, and their
/// spans are not log context (a hub's lines name their method anyway).
pub fn init(format: LogFormat, node: &str, traces: Option<&SdkTracerProvider>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| DEFAULT_FILTER.into())
        .add_directive(
            format!("{}=off", crate::telemetry::TARGET)
                .parse()
                .expect("a valid directive"),
        );
    match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_filter(filter),
            )
            .with(traces.map(crate::telemetry::layer))
            .init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                SpanFieldsLayer
                    .and_then(
                        tracing_subscriber::fmt::layer()
                            .event_format(JsonLines {
                                node: node.to_owned(),
                            })
                            .with_writer(std::io::stderr),
                    )
                    .with_filter(filter),
            )
            .with(traces.map(crate::telemetry::layer))
            .init(),
    }
}

/// A span's fields as JSON values, kept in its extensions when it is made.
struct SpanFields(Map<String, Value>);

/// Records every new span's fields for [`JsonLines`].
struct SpanFieldsLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanFieldsLayer {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = JsonVisitor::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }
}

/// Formats an event as one flat JSON object.
struct JsonLines {
    node: String,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            humantime::format_rfc3339_micros(std::time::SystemTime::now())
                .to_string()
                .into(),
        );
        let meta = event.metadata();
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        line.insert("node".into(), self.node.clone().into());
        // Outer spans first, so an inner span's field wins; a field named
        // like a key of the line's own (a sweep's `node`, the dead one)
        // keeps its value under `field.<name>`.
        let mut add = |name: String, value: Value| {
            let name = match RESERVED.contains(&name.as_str()) {
                true => format!("field.{name}"),
                false => name,
            };
            line.insert(name, value);
        };
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (name, value) in &fields.0 {
                        add(name.clone(), value.clone());
                    }
                }
            }
        }
        let mut fields = JsonVisitor::default();
        event.record(&mut fields);
        for (name, value) in fields.0 {
            add(name, value);
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects fields as JSON: numbers and booleans as such, the rest as text.
#[derive(Default)]
struct JsonVisitor(Map<String, Value>);

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// `log-format` values.
pub fn parse_format(text: &str) -> Result<LogFormat, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!(
            "'{text}' is not a log format: expected text or json"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_json_line_is_flat_with_the_node_and_the_span_fields() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::registry().with(SpanFieldsLayer).with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonLines {
                    node: "node-a".into(),
                })
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("connection", hub = "chat", connection = "c1");
            let _in = span.enter();
            tracing::warn!(
                method = "Send",
                took_ms = 3u64,
                node = "node-z",
                "slow call"
            );
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: BTreeMap<String, Value> = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(line["node"], "node-a");
        assert_eq!(line["field.node"], "node-z");
        assert_eq!(line["hub"], "chat");
        assert_eq!(line["connection"], "c1");
        assert_eq!(line["method"], "Send");
        assert_eq!(line["took_ms"], 3);
        assert_eq!(line["message"], "slow call");
        assert_eq!(line["level"], "WARN");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn formats_parse() {
        assert_eq!(parse_format("JSON"), Ok(LogFormat::Json));
        assert_eq!(parse_format("text"), Ok(LogFormat::Text));
        assert!(parse_format("xml").unwrap_err().contains("text or json"));
    }
}

//! Sending, invoking and disconnecting as the server:
//! `POST /api/v1/hubs/{hub}/send`, `.../invoke/{method}`, `.../disconnect`.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{ApiError, Body, body, non_empty, ok, served};
use crate::cluster::{CloseReason, Filter, Selection};
use crate::protocol::TraceContext;
use crate::runtime::CallError;
use crate::runtime::bindings::HubError;
use crate::transport::AppState;

/// Which connections of a hub: every condition given must hold; none
/// given is every connection (the WIT `selector`, as JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default, deserialize_with = "super::given")]
    connection: Option<String>,
    #[serde(default, deserialize_with = "super::given")]
    user: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    /// Key to a value pattern (`*`, `?` wildcards), or null for any value.
    #[serde(default)]
    attributes: BTreeMap<String, Option<String>>,
    #[serde(default)]
    excluding: Vec<String>,
}

impl Selector {
    /// The selection on `hub`, or 400 naming an empty name.
    fn selection(self, hub: &str) -> Result<Selection, ApiError> {
        let mut selection = Selection::all(hub);
        if let Some(id) = self.connection {
            non_empty("to.connection", &id)?;
            selection = selection.with(Filter::Connection(id));
        }
        if let Some(user) = self.user {
            non_empty("to.user", &user)?;
            selection = selection.with(Filter::User(user));
        }
        for (index, group) in self.groups.into_iter().enumerate() {
            non_empty(&format!("to.groups[{index}]"), &group)?;
            selection = selection.with(Filter::Group(group));
        }
        for (key, pattern) in self.attributes {
            if key.is_empty() {
                return Err(ApiError::bad_field(
                    "to.attributes",
                    "an attribute key must not be empty",
                ));
            }
            selection = selection.with(Filter::Attribute(key, pattern));
        }
        Ok(selection.except(self.excluding))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    #[serde(default)]
    to: Selector,
    method: String,
    #[serde(default = "no_arguments")]
    arguments: Box<RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeRequest {
    #[serde(default = "no_arguments")]
    arguments: Box<RawValue>,
}

fn no_arguments() -> Box<RawValue> {
    RawValue::from_string("[]".to_owned()).expect("[] is JSON")
}

/// Arguments must be a JSON array.
fn check_arguments(arguments: &RawValue) -> Result<(), ApiError> {
    if arguments.get().trim_start().starts_with('[') {
        Ok(())
    } else {
        Err(ApiError::bad_field(
            "arguments",
            "arguments must be a JSON array",
        ))
    }
}

/// `POST /api/v1/hubs/{hub}/send`: fire and forget to every selected
/// connection of the cluster. Answers how many of this node's
/// connections it was queued for (other nodes' get it through the
/// backplane).
pub async fn send(
    State(app): State<AppState>,
    Path(hub): Path<String>,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let version = served(&app, &hub)?;
    let request: SendRequest = body(&bytes)?;
    non_empty("method", &request.method)?;
    check_arguments(&request.arguments)?;
    // As for a hub's send: a message no connection could take is refused.
    let size = crate::connection::handle::invocation_size(&request.method, request.arguments.get());
    let budget = app.services.config.outbound_buffer;
    if size > budget {
        return Err(ApiError::bad_field(
            "arguments",
            format!(
                "the message ({}) is larger than a connection may have waiting (--outbound-buffer {})",
                crate::config::format_bytes(size),
                crate::config::format_bytes(budget)
            ),
        ));
    }
    let selection = request.to.selection(&version.name)?;
    let (queued, remote) = app
        .services
        .cluster
        .send_reporting(&selection, &request.method, request.arguments.get())
        .await;
    if let Err(error) = remote {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("queued for {queued} connections of this node only: {error}"),
        ));
    }
    Ok(ok(serde_json::json!({ "queuedOnThisNode": queued })))
}

/// `POST /api/v1/hubs/{hub}/invoke/{method}`: runs the hub's method as
/// the server (the hub sees the server caller: an empty id, no user) and
/// answers its result.
pub async fn invoke(
    State(app): State<AppState>,
    Path((hub, method)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let version = served(&app, &hub)?;
    non_empty("method", &method)?;
    let request: InvokeRequest = body(&bytes)?;
    check_arguments(&request.arguments)?;
    let started = Instant::now();
    let call = version.invoke_from_server(&method, request.arguments.get());
    // In the backend's trace, if its request carried a W3C context.
    let span = crate::telemetry::enabled()
        .then(|| {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            let trace = TraceContext::from_headers(header("traceparent"), header("tracestate"));
            crate::telemetry::call_span(
                app.services.cluster.node_id(),
                &version.name,
                &method,
                "server",
                trace.as_ref(),
            )
        })
        .flatten();
    let outcome = crate::telemetry::traced(span, call).await;
    app.services.metrics.invocation(
        &version.name,
        &method,
        started.elapsed(),
        outcome.as_ref().err().map(CallError::kind),
    );
    match outcome {
        Ok(result) => {
            let result = RawValue::from_string(result).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "hub-error",
                    format!("the hub returned invalid JSON ({e})"),
                )
            })?;
            Ok(ok(serde_json::json!({ "result": result })))
        }
        Err(error) => {
            // A trap is among the recent events already (the runtime's).
            if let CallError::Hub(_) = error {
                let text = error.to_string();
                let events = &app.services.metrics.events;
                events.record(
                    crate::events::EventKind::Error,
                    &version.name,
                    &method,
                    &text,
                );
            }
            Err(call_error(error))
        }
    }
}

/// A failed hub call as an HTTP answer; the code is the hub error's kind.
fn call_error(error: CallError) -> ApiError {
    let text = error.to_string();
    let (status, code) = match &error {
        CallError::Hub(hub) => match hub {
            HubError::MethodNotFound(_) => (StatusCode::NOT_FOUND, "method-not-found"),
            HubError::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "invalid-argument"),
            HubError::WrongInvocation(_) => (StatusCode::BAD_REQUEST, "wrong-invocation"),
            HubError::Unauthorized(_) => (StatusCode::FORBIDDEN, "unauthorized"),
            HubError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            HubError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            HubError::NoClientResponded(_) => (StatusCode::BAD_GATEWAY, "no-client-responded"),
            HubError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            HubError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "hub-error"),
        },
        CallError::Trap(_) => (StatusCode::INTERNAL_SERVER_ERROR, "hub-trap"),
    };
    let error = ApiError::new(status, code, text);
    match code {
        "invalid-argument" => ApiError {
            field: Some("arguments".to_owned()),
            ..error
        },
        _ => error,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DisconnectRequest {
    #[serde(default, deserialize_with = "super::given")]
    connection: Option<String>,
    #[serde(default, deserialize_with = "super::given")]
    user: Option<String>,
    /// The Close message's error text, shown to the client.
    #[serde(default, deserialize_with = "super::given")]
    reason: Option<String>,
    #[serde(default)]
    allow_reconnect: bool,
}

/// `POST /api/v1/hubs/{hub}/disconnect`: closes a connection, or every
/// connection of a user, wherever it is; answers the ids closed.
pub async fn disconnect(
    State(app): State<AppState>,
    Path(hub): Path<String>,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let version = served(&app, &hub)?;
    let request: DisconnectRequest = body(&bytes)?;
    let selection = Selection::all(version.name.clone());
    let selection = match (request.connection, request.user) {
        (Some(id), None) => {
            non_empty("connection", &id)?;
            selection.with(Filter::Connection(id))
        }
        (None, Some(user)) => {
            non_empty("user", &user)?;
            selection.with(Filter::User(user))
        }
        _ => {
            return Err(ApiError::bad_field(
                "connection",
                "give exactly one of connection and user",
            ));
        }
    };
    let reason = CloseReason {
        error: request.reason.filter(|r| !r.is_empty()),
        allow_reconnect: request.allow_reconnect,
    };
    let closed = app.services.cluster.disconnect(&selection, reason).await?;
    if closed.is_empty()
        && let Some(id) = selection.connection_id()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("connection '{id}' does not exist"),
        ));
    }
    Ok(ok(serde_json::json!({ "disconnected": closed })))
}

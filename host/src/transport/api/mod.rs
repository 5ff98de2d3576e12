//! The server API for backends: HTTP + JSON under `/api/v1`, opened by
//! an API key (`--api-key`, `--api-key-file`); without a key it is off
//! (404). Described by the OpenAPI 3 document at `/api/v1/openapi.json`,
//! which is public: it holds no data.
//!
//! What a backend can do ([`messages`], [`presence`]): send to a
//! selection of a hub's connections, invoke a hub method as the server,
//! the six presence snapshots, group changes, disconnects; all of them
//! cluster-wide, through the same [`crate::cluster::Cluster`] the hubs
//! use. [`status`] is the cluster's picture for the dashboard.
//!
//! Every error is JSON, `{"error": {"code", "message", "field"?}}`, with
//! 400 for bad input (naming the field), 401 without a valid key, 404 for
//! an unknown hub, method or connection.

pub mod keys;
mod messages;
mod presence;
pub mod status;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::cluster::ClusterError;
use crate::runtime::HubVersion;

/// The OpenAPI document, as served.
const OPENAPI: &str = include_str!("openapi.json");

/// The API's routes under `/api/v1` (state: [`AppState`]); the key
/// check wraps every endpoint but the OpenAPI document.
pub fn routes(state: AppState) -> Router<AppState> {
    let checked = Router::new()
        .route("/hubs/{hub}/send", post(messages::send))
        .route("/hubs/{hub}/invoke/{method}", post(messages::invoke))
        .route("/hubs/{hub}/disconnect", post(messages::disconnect))
        .route("/hubs/{hub}/connections", get(presence::connections))
        .route("/hubs/{hub}/users", get(presence::online_users))
        .route("/hubs/{hub}/users/{user}", get(presence::is_user_online))
        .route(
            "/hubs/{hub}/users/{user}/connections",
            get(presence::connections_by_user),
        )
        .route(
            "/hubs/{hub}/groups/{group}/connections",
            get(presence::connections_in_group),
        )
        .route(
            "/hubs/{hub}/attributes/{key}/connections",
            get(presence::connections_by_attribute),
        )
        .route(
            "/hubs/{hub}/groups/{group}/connections/{connection}",
            put(presence::add_connection).delete(presence::remove_connection),
        )
        .route(
            "/hubs/{hub}/groups/{group}/users/{user}",
            put(presence::add_user).delete(presence::remove_user),
        )
        .route("/cluster", get(status::cluster))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_key,
        ));
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .merge(checked)
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn_with_state(state, count_request));
    Router::new().nest("/api/v1", api)
}

/// Counts every API request by its route template and status (an
/// unknown path is `other`, so a client cannot mint labels).
async fn count_request(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "other".to_owned());
    let response = next.run(request).await;
    app.services
        .metrics
        .api_request(&endpoint, response.status().as_u16());
    response
}

async fn openapi(State(app): State<AppState>) -> Response {
    if app.api_keys.is_none() {
        return ApiError::api_off().into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn unknown_route(State(app): State<AppState>) -> ApiError {
    if app.api_keys.is_none() {
        return ApiError::api_off();
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such endpoint: see /api/v1/openapi.json",
    )
}

/// 404 while the API is off, 401 without a valid key; nothing about the
/// key presented is logged.
async fn require_key(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(keys) = app.api_keys.as_ref() else {
        return ApiError::api_off().into_response();
    };
    if let Err(refusal) = keys.check(request.headers()) {
        tracing::debug!(path = %request.uri().path(), ?refusal, "server API request refused");
        let message = match refusal {
            keys::Refusal::Missing => {
                "an API key is required: send Authorization: Bearer <key> or X-Api-Key: <key>"
            }
            keys::Refusal::Wrong => "the API key is not valid",
        };
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    next.run(request).await
}

/// An error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// 400 naming the field at fault.
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid-argument", message)
        }
    }

    fn api_off() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "api-off",
            "the server API is off: start the host with --api-key",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            error["field"] = field.into();
        }
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "error": error }).to_string(),
        )
            .into_response()
    }
}

impl From<ClusterError> for ApiError {
    fn from(error: ClusterError) -> Self {
        match error {
            ClusterError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not-found", m),
            ClusterError::NoClientResponded(m) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "no-client-responded", m)
            }
            ClusterError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            }
        }
    }
}

/// A JSON 200 answer.
fn ok(body: serde_json::Value) -> Response {
    super::json(body.to_string())
}

/// The serving version of `hub`, or 404.
fn served(app: &AppState, hub: &str) -> Result<Arc<HubVersion>, ApiError> {
    app.services.runtime.hub(hub).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "hub-not-found",
            format!("no hub named '{hub}' is served here"),
        )
    })
}

/// A request body, read within the API's limit; a body too large or cut
/// short is a JSON error like every other.
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(request, state)
            .await
            .map(Body)
            .map_err(|rejection| {
                let code = match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => "too-large",
                    _ => "invalid-argument",
                };
                ApiError::new(rejection.status(), code, rejection.body_text())
            })
    }
}

/// The largest body the API reads: a message as large as a connection
/// may have waiting, with room for the request around it.
pub fn body_limit(config: &crate::config::Config) -> usize {
    config.outbound_buffer + (64 << 10)
}

/// Parses a JSON body into `T`; an empty body is `{}`. A bad body is a
/// 400 naming the field (`to.groups[1]`), from the path serde took.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut json = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut json) {
        Ok(value) => {
            // Nothing may follow the one JSON value.
            json.end().map_err(|e| {
                ApiError::bad_field("", format!("the body is not one JSON value: {e}"))
            })?;
            Ok(value)
        }
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let field = if path == "." { String::new() } else { path };
            // serde names a missing or unknown field in the message only.
            let field = match (field.is_empty(), backticked(&inner.to_string())) {
                (true, Some(named)) => named,
                _ => field,
            };
            Err(ApiError::bad_field(
                field,
                format!("bad request body: {inner}"),
            ))
        }
    }
}

/// An optional field that, when present, must be a string: `null` is
/// refused like any other wrong type, so a body means one thing (use
/// with `#[serde(default, deserialize_with = "given")]`).
fn given<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    <String as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// The first `name` in serde's "missing field `name`" style messages.
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// A path segment that must name something.
fn non_empty(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::bad_field(
            field,
            format!("{field} must not be empty"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        method: String,
        #[serde(default)]
        to: Option<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(default)]
        groups: Vec<String>,
    }

    fn field_of(text: &str) -> Option<String> {
        body::<Probe>(text.as_bytes()).err().and_then(|e| e.field)
    }

    #[test]
    fn a_bad_body_names_its_field() {
        assert!(body::<Probe>(br#"{"method":"Send"}"#).is_ok());
        assert_eq!(field_of("{}").as_deref(), Some("method"));
        assert_eq!(field_of(r#"{"method":1}"#).as_deref(), Some("method"));
        assert_eq!(
            field_of(r#"{"method":"a","to":{"groups":["x",2]}}"#).as_deref(),
            Some("to.groups[1]")
        );
        assert_eq!(
            field_of(r#"{"method":"a","nope":1}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(field_of(r#"{"method":"a"} {}"#).as_deref(), Some(""));
        assert!(field_of("not json").is_some());
    }
}

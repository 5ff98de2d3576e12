//! HTTP: negotiate, the WebSocket transport, health and static files.
//!
//! Routes:
//! - `POST /hubs/{hub}/negotiate`: versions 0 and 1, bearer token checked;
//! - `GET /hubs/{hub}[?id=token]`: WebSocket upgrade; without `id` a new
//!   connection is made on the spot (skipNegotiation);
//! - `GET /healthz`: the hubs this node serves;
//! - everything else: the `--web` directory, when there is one.

pub mod auth;
pub mod negotiated;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::services::{ServeDir, ServeFile};

use crate::cluster::Attributes;
use crate::connection::{self, ConnectionSetup, Services};
use crate::protocol::negotiate;
use crate::runtime::ConnectionContext;
use negotiated::{Negotiated, NegotiatedConnections, random_id};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub negotiated: Arc<NegotiatedConnections>,
    /// Token checks, when identity is configured.
    pub verifier: Option<Arc<auth::Verifier>>,
    /// Set when the node begins to shut down: new negotiates and
    /// connections get 503, so clients reconnect elsewhere.
    pub draining: Arc<AtomicBool>,
}

impl AppState {
    /// The handlers' state; fails only on a token key that does not parse.
    pub fn new(services: Services) -> anyhow::Result<Self> {
        let verifier = match &services.config.jwt {
            Some(jwt) => Some(Arc::new(auth::Verifier::new(jwt)?)),
            None => None,
        };
        Ok(Self {
            services,
            negotiated: Arc::new(NegotiatedConnections::default()),
            verifier,
            draining: Arc::new(AtomicBool::new(false)),
        })
    }

    fn verifier(&self) -> Option<&auth::Verifier> {
        self.verifier.as_deref()
    }

    /// 503 while shutting down, before anything else is looked at.
    fn refuse_when_draining(&self) -> Option<Response> {
        self.draining.load(Ordering::Acquire).then(|| {
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "This node is shutting down: connect again to reach another node.",
            )
        })
    }
}

/// The host's routes.
pub fn router(state: AppState) -> Router {
    let web_dir = state.services.config.web_dir.clone();
    let mut router = Router::new()
        .route("/hubs/{hub}/negotiate", post(negotiate_handler))
        .route("/hubs/{hub}", get(connect_handler))
        .route("/healthz", get(health_handler))
        .with_state(state);
    if let Some(dir) = web_dir {
        router = router
            .route_service("/chat", ServeFile::new(dir.join("index.html")))
            .fallback_service(ServeDir::new(dir));
    }
    router
}

type Pairs = Vec<(String, String)>;

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.to_owned(),
    )
        .into_response()
}

fn json(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn unauthorized(error: auth::AuthError) -> Response {
    tracing::debug!(%error, "unauthorized");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "Unauthorized",
    )
        .into_response()
}

fn hub_not_found(hub: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        &format!("No hub named '{hub}' is served here."),
    )
}

async fn negotiate_handler(
    State(app): State<AppState>,
    Path(hub): Path<String>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = app.refuse_when_draining() {
        return refused;
    }
    if app.services.runtime.hub(&hub).is_none() {
        return hub_not_found(&hub);
    }
    let requested = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("negotiateVersion"))
        .map(|(_, v)| v.as_str());
    let version = match negotiate::version(requested) {
        Ok(v) => v,
        Err(error) => return json(negotiate::error(&error)),
    };
    if let Err(error) = auth::authenticate(app.verifier(), &headers, &query) {
        return unauthorized(error);
    }
    let connection_id = random_id();
    let token = if version == 0 {
        connection_id.clone()
    } else {
        random_id()
    };
    let hub = hub.to_ascii_lowercase();
    let shared = app
        .services
        .cluster
        .share_negotiation(&token, &connection_id, &hub, negotiated::EXPIRY)
        .await;
    app.negotiated.insert(
        token.clone(),
        Negotiated {
            connection_id: connection_id.clone(),
            hub,
            shared,
        },
    );
    json(negotiate::response(version, &connection_id, &token))
}

async fn connect_handler(
    State(app): State<AppState>,
    Path(hub): Path<String>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    if let Some(refused) = app.refuse_when_draining() {
        return refused;
    }
    let Some(version) = app.services.runtime.hub(&hub) else {
        return hub_not_found(&hub);
    };
    let Ok(upgrade) = upgrade else {
        return text(
            StatusCode::BAD_REQUEST,
            "This endpoint speaks the WebSocket transport only: connect with a SignalR client.",
        );
    };
    let identity = match auth::authenticate(app.verifier(), &headers, &query) {
        Ok(identity) => identity,
        Err(error) => return unauthorized(error),
    };
    let connection_id = match query.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")) {
        None => random_id(),
        Some((_, token)) => {
            // With a backplane the shared copy is the authority (a token is
            // used once, on any node); the local one covers a negotiation
            // made while the backplane was unreachable, or no backplane.
            let here = app.negotiated.take(token);
            let claimed = match app.services.cluster.claim_negotiation(token).await {
                Ok(Some(shared)) => Some(shared),
                // Shared and already used (on any node): refused.
                Ok(None) if here.as_ref().is_some_and(|n| n.shared) => None,
                Ok(None) | Err(_) => here.map(|n| (n.connection_id, n.hub)),
            };
            match claimed {
                Some((id, negotiated_hub)) if negotiated_hub == hub.to_ascii_lowercase() => id,
                _ => return text(StatusCode::NOT_FOUND, "No Connection with that ID"),
            }
        }
    };
    // A claim replaces a client-chosen attribute of the same key: a
    // client cannot add `?@role=admin` to a token that says `role=user`.
    let mut attributes = attributes_of(&query, &headers);
    attributes.extend(identity.claims);
    let setup = ConnectionSetup {
        context: ConnectionContext {
            id: connection_id,
            hub: version.name.clone(),
            transport: "WebSockets",
            query: query
                .into_iter()
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case("id") && !k.eq_ignore_ascii_case("access_token")
                })
                .collect(),
            headers: headers
                .iter()
                .filter(|(name, _)| *name != header::AUTHORIZATION && *name != header::COOKIE)
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
        },
        user: identity.user,
        attributes,
        expires: identity.expires,
    };
    let services = app.services.clone();
    // Frames may carry several records; a frame far larger than one
    // record may be is refused by the WebSocket layer itself.
    let frame_limit = (services.config.max_message_size * 4).max(64 << 10);
    upgrade
        // tungstenite reserves 128 KiB per socket by default: most of an
        // idle connection's memory. Reads grow the buffer when needed.
        .read_buffer_size(8 << 10)
        .max_message_size(frame_limit)
        .max_frame_size(frame_limit)
        .on_upgrade(move |socket| connection::serve(socket, setup, services))
}

/// SignalARRR's convention: `@name` query parameters and `#name`
/// headers are attributes, read once at connect. Keys are lowercase.
fn attributes_of(query: &[(String, String)], headers: &HeaderMap) -> Attributes {
    let mut attributes = Attributes::new();
    for (key, value) in query {
        if let Some(name) = key.strip_prefix('@').filter(|n| !n.is_empty()) {
            attributes
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(value.clone());
        }
    }
    for (name, value) in headers {
        if let (Some(name), Ok(value)) = (name.as_str().strip_prefix('#'), value.to_str())
            && !name.is_empty()
        {
            attributes
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(value.to_owned());
        }
    }
    attributes
}

/// Counters of the serving version since it was loaded.
fn stats_json(stats: &crate::runtime::CallStats) -> serde_json::Value {
    use std::sync::atomic::Ordering::Relaxed;
    let calls = stats.calls.load(Relaxed);
    let mean = |nanos: u64| (calls > 0).then(|| nanos as f64 / calls as f64 / 1000.0);
    let made = stats.instances.load(Relaxed);
    let mean_instantiate =
        (made > 0).then(|| stats.instantiate_nanos.load(Relaxed) as f64 / made as f64 / 1000.0);
    serde_json::json!({
        "calls": calls,
        "traps": stats.traps.load(Relaxed),
        "instancesCreated": stats.instances.load(Relaxed),
        "meanInstantiateMicros": mean_instantiate,
        "meanCallMicros": mean(stats.call_nanos.load(Relaxed)),
        "meanGuestMicros": mean(stats.guest_nanos.load(Relaxed)),
    })
}

/// `GET /healthz`: per hub, the file serving (sha256, when loaded) and
/// why the newest file was refused, if it was.
async fn health_handler(State(app): State<AppState>) -> Response {
    let rfc3339 = |t| humantime::format_rfc3339_seconds(t).to_string();
    let hubs: Vec<serde_json::Value> = app
        .services
        .runtime
        .hub_states()
        .into_iter()
        .map(|state| {
            let mut hub = serde_json::json!({
                "name": state.name,
                "sha256": state.serving.as_ref().map(|v| v.sha256.clone()),
                "loadedAt": state.serving.as_ref().map(|v| rfc3339(v.loaded_at)),
            });
            if let Some(version) = &state.serving {
                hub["stats"] = stats_json(&version.stats);
            }
            if let Some(error) = state.last_error {
                hub["lastError"] = serde_json::json!({
                    "message": error.message,
                    "sha256": error.sha256,
                    "at": rfc3339(error.at),
                });
            }
            hub
        })
        .collect();
    json(
        serde_json::json!({
            "status": "ok",
            "node": app.services.cluster.node_id(),
            "hubs": hubs,
        })
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_come_from_prefixed_query_and_headers() {
        let query = vec![
            ("@Role".to_string(), "admin".to_string()),
            ("@role".to_string(), "ops".to_string()),
            ("name".to_string(), "x".to_string()),
            ("@".to_string(), "empty".to_string()),
        ];
        let mut headers = HeaderMap::new();
        headers.insert("#tenant", "acme".parse().unwrap());
        headers.insert("x-other", "no".parse().unwrap());
        let attributes = attributes_of(&query, &headers);
        assert_eq!(
            attributes["role"],
            vec!["admin".to_string(), "ops".to_string()]
        );
        assert_eq!(attributes["tenant"], vec!["acme".to_string()]);
        assert_eq!(attributes.len(), 2);
    }
}

//! HTTP: negotiate, the three transports, CORS, health and static files.
//!
//! Routes:
//! - `POST /hubs/{hub}/negotiate`: versions 0 and 1, bearer token checked
//!   ([`negotiate`]);
//! - `GET | POST | DELETE /hubs/{hub}`: WebSockets, Server-Sent Events
//!   and long polling ([`connect`]);
//! - `GET /healthz`: the hubs this node serves ([`health`]);
//! - `GET /metrics`: Prometheus metrics ([`metrics`]);
//! - `/api/v1/...`: the server API for backends, behind API keys
//!   ([`api`]);
//! - `GET /dashboard`: the live cluster page, on with the API
//!   ([`dashboard`]);
//! - everything else: the `--web` directory, when there is one.
//!
//! Every route passes the [`cors`] layer.

pub mod api;
pub mod auth;
mod connect;
mod cors;
mod dashboard;
mod health;
pub mod http_connection;
mod long_polling;
mod metrics;
mod negotiate;
pub mod negotiated;
mod sse;
mod websocket;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::services::{ServeDir, ServeFile};

use crate::connection::Services;
use http_connection::HttpConnections;
use negotiated::NegotiatedConnections;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub negotiated: Arc<NegotiatedConnections>,
    /// Connections on Server-Sent Events and long polling, by token.
    pub http_connections: Arc<HttpConnections>,
    /// WebSocket connections that take a reconnect, by token.
    pub reconnects: Arc<websocket::Reconnects>,
    /// Token checks, when identity is configured.
    pub verifier: Option<Arc<auth::Verifier>>,
    /// Set when the node begins to shut down: new negotiates and
    /// connections get 503, so clients reconnect elsewhere.
    pub draining: Arc<AtomicBool>,
    /// The keys of the server API; none: the API and dashboard are off.
    pub api_keys: Option<Arc<api::keys::ApiKeys>>,
    /// When this process began serving, ms since the Unix epoch.
    pub started_ms: u64,
}

impl AppState {
    /// The handlers' state; fails only on a token key that does not parse.
    pub fn new(services: Services) -> anyhow::Result<Self> {
        let verifier = match &services.config.jwt {
            Some(jwt) => Some(Arc::new(auth::Verifier::new(jwt)?)),
            None => None,
        };
        let api_keys = api::keys::ApiKeys::new(&services.config.api_keys).map(Arc::new);
        Ok(Self {
            services,
            negotiated: Arc::new(NegotiatedConnections::default()),
            http_connections: Arc::new(HttpConnections::default()),
            reconnects: Arc::new(websocket::Reconnects::default()),
            api_keys,
            verifier,
            draining: Arc::new(AtomicBool::new(false)),
            started_ms: crate::events::now_ms(),
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

/// The largest chunk a client may send at once (a WebSocket frame or
/// message, a POST body): several records may share one, but not many
/// more than fit in one record.
fn chunk_limit(config: &crate::config::Config) -> usize {
    (config.max_message_size * 4).max(64 << 10)
}

/// The host's routes.
pub fn router(state: AppState) -> Router {
    let web_dir = state.services.config.web_dir.clone();
    let post_limit = axum::extract::DefaultBodyLimit::max(chunk_limit(&state.services.config));
    let mut router = Router::new()
        .route("/hubs/{hub}/negotiate", post(negotiate::negotiate_handler))
        .route(
            "/hubs/{hub}",
            get(connect::get_handler)
                .post(connect::post_handler)
                .delete(connect::delete_handler)
                .layer(post_limit),
        )
        .route("/healthz", get(health::health_handler))
        .route("/metrics", get(metrics::metrics_handler))
        .route("/dashboard", get(dashboard::dashboard_handler))
        .merge(
            api::routes(state.clone()).layer(axum::extract::DefaultBodyLimit::max(
                api::body_limit(&state.services.config),
            )),
        );
    if let Some(dir) = web_dir {
        router = router
            .route_service("/chat", ServeFile::new(dir.join("index.html")))
            .fallback_service(ServeDir::new(dir));
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::layer,
        ))
        .with_state(state)
}

/// Query parameters, in order, repeated keys kept.
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

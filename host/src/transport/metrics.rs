//! `GET /metrics`: the node's Prometheus metrics ([`crate::metrics`]).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The text exposition format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics_handler(State(app): State<AppState>) -> Response {
    let body = app.services.metrics.render();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

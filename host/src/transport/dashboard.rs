//! `GET /dashboard`: a live picture of the cluster in one page.
//!
//! The page is static (no build step, no outside scripts); it asks for an
//! API key, keeps it in the tab's session storage, and polls
//! `GET /api/v1/cluster` once a second with it. So the dashboard is on
//! exactly when the server API is, behind the same keys; the page itself
//! holds no data.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, text};

const PAGE: &str = include_str!("dashboard.html");

pub async fn dashboard_handler(State(app): State<AppState>) -> Response {
    if app.api_keys.is_none() {
        return text(
            StatusCode::NOT_FOUND,
            "The dashboard is off: start the host with --api-key to turn on the server API and the dashboard.",
        );
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

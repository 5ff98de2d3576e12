//! Browsers on other origins: CORS for negotiate and the HTTP
//! transports, and the same list checked on WebSocket upgrades (browsers
//! apply no CORS to WebSockets, so the server must).
//!
//! The default is same origin only: a page served by this host (`--web`)
//! connects; a page from anywhere else is refused until its origin is
//! listed with `--cors-origin` (repeatable; `*` allows any origin, for
//! development). Allowed origins are echoed with
//! `Access-Control-Allow-Credentials: true`, because the SignalR client
//! sends credentials (cookies, the Authorization header) by default.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, text};

/// Whether `origin` (`scheme://host[:port]`) is in the allowed list.
pub fn allows(allowed: &[String], origin: &str) -> bool {
    allowed
        .iter()
        .any(|entry| entry == "*" || entry.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// True when `origin` names the host the request was sent to.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| host.eq_ignore_ascii_case(authority))
}

fn refused(origin: &str) -> Response {
    text(
        StatusCode::FORBIDDEN,
        &format!(
            "The origin '{origin}' is not allowed: start the host with --cors-origin {origin}."
        ),
    )
}

/// 403 for a WebSocket upgrade from a page on an origin not allowed.
/// Clients outside browsers send no Origin (or their own host's).
pub fn refuse_socket_origin(app: &AppState, headers: &HeaderMap) -> Option<Response> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    if same_origin(origin, headers) || allows(&app.services.config.cors_origins, origin) {
        return None;
    }
    tracing::debug!(origin, "refused a WebSocket from an origin not allowed");
    Some(refused(origin))
}

/// The middleware: answers preflights, and marks answers to allowed
/// origins so the browser hands them to the page.
pub async fn layer(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(origin) = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(request).await;
    };
    let allowed = allows(&app.services.config.cors_origins, &origin);
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        if !allowed {
            return refused(&origin);
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        if let Some(asked) = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        mark(headers, &origin);
        return response;
    }
    let mut response = next.run(request).await;
    if allowed {
        mark(response.headers_mut(), &origin);
    }
    response
}

fn mark(headers: &mut HeaderMap, origin: &str) {
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly_or_by_star() {
        let list = vec!["http://127.0.0.1:8080".to_owned()];
        assert!(allows(&list, "http://127.0.0.1:8080"));
        assert!(!allows(&list, "http://127.0.0.1:8081"));
        assert!(!allows(&list, "https://127.0.0.1:8080"));
        assert!(!allows(&[], "http://127.0.0.1:8080"));
        assert!(allows(&["*".to_owned()], "http://evil.example"));
    }

    #[test]
    fn same_origin_is_the_host_header() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:5000".parse().unwrap());
        assert!(same_origin("http://127.0.0.1:5000", &headers));
        assert!(!same_origin("http://127.0.0.1:5001", &headers));
    }
}

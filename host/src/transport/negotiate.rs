//! `POST /hubs/<hub>/negotiate`: a connection id and a secret token for
//! the transport request that follows, and the transports on offer.
//! The token is shared through the backplane, so the transport request
//! may reach any node (for WebSockets; the HTTP transports then stay on
//! the node that took it, see `http_connection.rs`).

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::negotiated::{self, Negotiated, random_id};
use super::{AppState, Pairs, auth, hub_not_found, json, unauthorized};
use crate::protocol::negotiate;

/// Answers a negotiate.
pub async fn negotiate_handler(
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
    let asked_stateful = query.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("useStatefulReconnect") && v.eq_ignore_ascii_case("true")
    });
    let stateful_reconnect = asked_stateful && app.services.config.stateful_reconnect;
    let shared = app
        .services
        .cluster
        .share_negotiation(
            &token,
            &connection_id,
            &hub,
            stateful_reconnect,
            negotiated::EXPIRY,
        )
        .await;
    app.negotiated.insert(
        token.clone(),
        Negotiated {
            connection_id: connection_id.clone(),
            hub,
            shared,
            stateful_reconnect,
        },
    );
    json(negotiate::response(
        version,
        &connection_id,
        &token,
        negotiate::ALL_TRANSPORTS,
        stateful_reconnect,
    ))
}

//! `GET | POST | DELETE /hubs/<hub>`: where a negotiated connection
//! starts on one of the three transports, and where the HTTP transports'
//! later requests land (routing rules of `HttpConnectionDispatcher.cs`):
//! - `GET` with a WebSocket upgrade: the WebSocket transport; without
//!   `id` a connection is made on the spot (skipNegotiation);
//! - `GET ?id=` with `Accept: text/event-stream`: Server-Sent Events;
//! - any other `GET ?id=`: long polling (the first one starts it, later
//!   ones are polls);
//! - `POST ?id=`: a client's messages on an HTTP transport;
//! - `DELETE ?id=`: a long-polling client ends its connection.

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::http_connection::{HttpConnection, Parts, PostRefused};
use super::{AppState, Pairs, auth, hub_not_found, long_polling, sse, text, websocket};
use crate::cluster::Attributes;
use crate::connection::{self, Carrier, ConnectionSetup, TransportKind};
use crate::runtime::ConnectionContext;

/// How long a POST may wait for the connection to take its body.
const POST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn token_of(query: &Pairs) -> Option<&str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("id"))
        .map(|(_, v)| v.as_str())
}

fn no_connection() -> Response {
    text(StatusCode::NOT_FOUND, "No Connection with that ID")
}

fn id_required() -> Response {
    text(StatusCode::BAD_REQUEST, "Connection ID required")
}

/// `GET /hubs/<hub>`.
pub async fn get_handler(
    State(app): State<AppState>,
    Path(hub): Path<String>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // While draining, new connections are refused (503) but the requests
    // of live ones (polls, a stateful reconnect) still get their answers,
    // the Close message with allowReconnect among them.
    if app.services.runtime.hub(&hub).is_none() {
        return hub_not_found(&hub);
    }
    let identity = match auth::authenticate(app.verifier(), &headers, &query) {
        Ok(identity) => identity,
        Err(error) => return super::unauthorized(error),
    };
    let token = token_of(&query).map(str::to_owned);
    if let Ok(upgrade) = upgrade {
        if let Some(refused) = super::cors::refuse_socket_origin(&app, &headers) {
            return refused;
        }
        // The client reconnecting after a drop (stateful reconnect).
        if let Some(token) = &token
            && let Some(waiting) = app.reconnects.get(token, &hub)
        {
            return websocket::reconnect(upgrade, waiting, &app.services);
        }
        if let Some(refused) = app.refuse_when_draining() {
            return refused;
        }
        let (setup, stateful) = match start(
            &app,
            &hub,
            token.as_deref(),
            (&query, &headers, identity),
            TransportKind::WebSockets,
        )
        .await
        {
            Ok(started) => started,
            Err(refused) => return refused,
        };
        let reconnects = token
            .filter(|_| stateful)
            .map(|token| (token, hub.to_ascii_lowercase(), app.reconnects.clone()));
        return websocket::upgrade(upgrade, setup, app.services.clone(), reconnects);
    }
    let Some(token) = token else {
        return id_required();
    };
    if let Some(existing) = app.http_connections.get(&token) {
        if existing.hub != hub.to_ascii_lowercase() {
            return no_connection();
        }
        return match existing.kind {
            TransportKind::LongPolling => {
                long_polling::poll(existing, app.services.config.poll_timeout).await
            }
            _ => text(
                StatusCode::CONFLICT,
                "Another request is already active for this connection.",
            ),
        };
    }
    let wants_events = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if let Some(refused) = app.refuse_when_draining() {
        return refused;
    }
    let kind = match wants_events {
        true => TransportKind::ServerSentEvents,
        false => TransportKind::LongPolling,
    };
    // Stateful reconnect is for WebSockets only (as in ASP.NET Core).
    let (setup, _) = match start(&app, &hub, Some(&token), (&query, &headers, identity), kind).await
    {
        Ok(started) => started,
        Err(refused) => return refused,
    };
    let Parts {
        connection,
        inbound,
        frames,
    } = HttpConnection::open(
        kind,
        hub.to_ascii_lowercase(),
        app.services.config.disconnect_timeout,
    );
    app.http_connections.insert(&token, connection.clone());
    match kind {
        TransportKind::ServerSentEvents => {
            let (events_tx, events_rx) =
                tokio::sync::mpsc::channel(super::http_connection::FRAMES_WAITING);
            drop(frames);
            spawn_connection(
                &app,
                token,
                Carrier {
                    kind,
                    inbound,
                    outbound: sse::EventsOutbound(Some(events_tx)),
                    reconnects: None,
                },
                setup,
            );
            sse::response(connection, events_rx)
        }
        _ => {
            spawn_connection(
                &app,
                token,
                Carrier {
                    kind,
                    inbound,
                    outbound: long_polling::PollOutbound(Some(frames)),
                    reconnects: None,
                },
                setup,
            );
            long_polling::started()
        }
    }
}

/// Runs the connection task of an HTTP transport; when it ends, the
/// token is forgotten after a grace period in which the client's last
/// polls and its DELETE still get their 204 and 202.
fn spawn_connection<I: connection::Inbound, O: connection::Outbound>(
    app: &AppState,
    token: String,
    carrier: Carrier<I, O>,
    setup: ConnectionSetup,
) {
    let services = app.services.clone();
    let table = app.http_connections.clone();
    tokio::spawn(async move {
        connection::serve(carrier, setup, services).await;
        if let Some(connection) = table.get(&token) {
            connection.end();
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        table.remove(&token);
    });
}

/// `POST /hubs/<hub>?id=`: a client's messages on an HTTP transport.
pub async fn post_handler(
    State(app): State<AppState>,
    Path(hub): Path<String>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(error) = auth::authenticate(app.verifier(), &headers, &query) {
        return super::unauthorized(error);
    }
    let Some(token) = token_of(&query) else {
        return id_required();
    };
    let Some(connection) = app.http_connections.get(token) else {
        return no_connection();
    };
    if connection.hub != hub.to_ascii_lowercase() {
        return no_connection();
    }
    match connection.post(body, POST_WAIT).await {
        Ok(()) => text(StatusCode::OK, ""),
        Err(PostRefused::Busy) => text(
            StatusCode::CONFLICT,
            "Another message is being sent on this connection.",
        ),
        Err(PostRefused::Gone) => no_connection(),
    }
}

/// `DELETE /hubs/<hub>?id=`: a long-polling client ends its connection.
pub async fn delete_handler(
    State(app): State<AppState>,
    Path(hub): Path<String>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Response {
    if let Err(error) = auth::authenticate(app.verifier(), &headers, &query) {
        return super::unauthorized(error);
    }
    let Some(token) = token_of(&query) else {
        return id_required();
    };
    let Some(connection) = app.http_connections.get(token) else {
        return no_connection();
    };
    if connection.hub != hub.to_ascii_lowercase() {
        return no_connection();
    }
    if connection.kind != TransportKind::LongPolling {
        return text(
            StatusCode::BAD_REQUEST,
            "Cannot terminate this connection using the DELETE endpoint.",
        );
    }
    connection.end_by_client();
    text(StatusCode::ACCEPTED, "")
}

/// Claims the negotiation behind `token` (or makes a connection on the
/// spot when there is none, WebSockets only) and gathers what the
/// connection task needs to know about its client. The flag says whether
/// the client negotiated stateful reconnect.
async fn start(
    app: &AppState,
    hub: &str,
    token: Option<&str>,
    (query, headers, identity): (&Pairs, &HeaderMap, auth::Identity),
    kind: TransportKind,
) -> Result<(ConnectionSetup, bool), Response> {
    let version = app
        .services
        .runtime
        .hub(hub)
        .ok_or_else(|| hub_not_found(hub))?;
    let claimed = match token {
        None => Claimed {
            connection_id: super::negotiated::random_id(),
            stateful_reconnect: false,
        },
        Some(token) => claim(app, token, hub).await.ok_or_else(no_connection)?,
    };
    // A claim replaces a client-chosen attribute of the same key: a
    // client cannot add `?@role=admin` to a token that says `role=user`.
    let mut attributes = attributes_of(query, headers);
    attributes.extend(identity.claims);
    let setup = ConnectionSetup {
        context: ConnectionContext {
            id: claimed.connection_id,
            hub: version.name.clone(),
            transport: kind.name(),
            query: query
                .iter()
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case("id") && !k.eq_ignore_ascii_case("access_token")
                })
                .cloned()
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
    Ok((setup, claimed.stateful_reconnect))
}

/// A negotiation, claimed by the transport request that presents it.
struct Claimed {
    connection_id: String,
    stateful_reconnect: bool,
}

/// The negotiation for `token` on `hub`, used up. With a backplane the
/// shared copy is the authority (a token is used once, on any node); the
/// local one covers a negotiation made while the backplane was
/// unreachable, or no backplane.
async fn claim(app: &AppState, token: &str, hub: &str) -> Option<Claimed> {
    let here = app.negotiated.take(token);
    let claimed = match app.services.cluster.claim_negotiation(token).await {
        Ok(Some(shared)) => Some((shared.connection_id, shared.hub, shared.stateful_reconnect)),
        // Shared and already used (on any node): refused.
        Ok(None) if here.as_ref().is_some_and(|n| n.shared) => None,
        Ok(None) | Err(_) => here.map(|n| (n.connection_id, n.hub, n.stateful_reconnect)),
    };
    match claimed {
        Some((connection_id, negotiated_hub, stateful_reconnect))
            if negotiated_hub == hub.to_ascii_lowercase() =>
        {
            Some(Claimed {
                connection_id,
                stateful_reconnect,
            })
        }
        _ => None,
    }
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

//! Presence snapshots and group changes, cluster-wide: the six queries
//! of the WIT `presence` interface and the `groups` interface, for
//! backends.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::{ApiError, non_empty, ok, served};
use crate::cluster::{ConnectionRecord, Filter, Selection};
use crate::transport::AppState;

/// One connection as presence shows it (the WIT `connection-info`).
fn info(record: ConnectionRecord) -> serde_json::Value {
    serde_json::json!({
        "id": record.id,
        "user": record.user,
        "node": record.node,
        "groups": record.groups,
        "attributes": record.attributes,
    })
}

async fn snapshot(app: &AppState, selection: Selection) -> Result<Response, ApiError> {
    let records = app.services.cluster.connections(&selection).await?;
    let connections: Vec<_> = records.into_iter().map(info).collect();
    Ok(ok(serde_json::json!({ "connections": connections })))
}

/// `GET /api/v1/hubs/{hub}/connections`: every connection of the hub.
pub async fn connections(
    State(app): State<AppState>,
    Path(hub): Path<String>,
) -> Result<Response, ApiError> {
    let version = served(&app, &hub)?;
    snapshot(&app, Selection::all(version.name.clone())).await
}

/// `GET /api/v1/hubs/{hub}/users/{user}/connections`.
pub async fn connections_by_user(
    State(app): State<AppState>,
    Path((hub, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let version = served(&app, &hub)?;
    non_empty("user", &user)?;
    snapshot(
        &app,
        Selection::all(version.name.clone()).with(Filter::User(user)),
    )
    .await
}

/// `GET /api/v1/hubs/{hub}/groups/{group}/connections`.
pub async fn connections_in_group(
    State(app): State<AppState>,
    Path((hub, group)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let version = served(&app, &hub)?;
    non_empty("group", &group)?;
    snapshot(
        &app,
        Selection::all(version.name.clone()).with(Filter::Group(group)),
    )
    .await
}

/// `GET /api/v1/hubs/{hub}/attributes/{key}/connections[?value=PATTERN]`:
/// connections having attribute `key`, with a value matching the pattern
/// (`*`, `?` wildcards) when one is given.
pub async fn connections_by_attribute(
    State(app): State<AppState>,
    Path((hub, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let version = served(&app, &hub)?;
    non_empty("key", &key)?;
    let value = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "value")
        .map(|(_, value)| value.into_owned());
    let filter = Filter::Attribute(key, value);
    snapshot(&app, Selection::all(version.name.clone()).with(filter)).await
}

/// `GET /api/v1/hubs/{hub}/users`: every user online, with their
/// connections and nodes.
pub async fn online_users(
    State(app): State<AppState>,
    Path(hub): Path<String>,
) -> Result<Response, ApiError> {
    let version = served(&app, &hub)?;
    let users = app.services.cluster.online_users(&version.name).await?;
    let users: Vec<_> = users
        .into_iter()
        .map(|u| {
            serde_json::json!({ "user": u.user, "connections": u.connections, "nodes": u.nodes })
        })
        .collect();
    Ok(ok(serde_json::json!({ "users": users })))
}

/// `GET /api/v1/hubs/{hub}/users/{user}`: whether the user is online.
pub async fn is_user_online(
    State(app): State<AppState>,
    Path((hub, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let version = served(&app, &hub)?;
    non_empty("user", &user)?;
    let online = app
        .services
        .cluster
        .is_user_online(&version.name, &user)
        .await?;
    Ok(ok(serde_json::json!({ "user": user, "online": online })))
}

/// `PUT /api/v1/hubs/{hub}/groups/{group}/connections/{connection}`.
pub async fn add_connection(
    State(app): State<AppState>,
    Path((hub, group, connection)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    change_connection(&app, (&hub, &group, &connection), true).await
}

/// `DELETE /api/v1/hubs/{hub}/groups/{group}/connections/{connection}`.
pub async fn remove_connection(
    State(app): State<AppState>,
    Path((hub, group, connection)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    change_connection(&app, (&hub, &group, &connection), false).await
}

async fn change_connection(
    app: &AppState,
    (hub, group, connection): (&str, &str, &str),
    add: bool,
) -> Result<Response, ApiError> {
    let version = served(app, hub)?;
    non_empty("group", group)?;
    non_empty("connection", connection)?;
    let cluster = &app.services.cluster;
    if add {
        cluster
            .add_to_group(&version.name, connection, group)
            .await?;
    } else {
        cluster
            .remove_from_group(&version.name, connection, group)
            .await?;
    }
    Ok(ok(
        serde_json::json!({ "group": group, "connections": [connection] }),
    ))
}

/// `PUT /api/v1/hubs/{hub}/groups/{group}/users/{user}`: every
/// connection of the user joins the group (none online: none changed).
pub async fn add_user(
    State(app): State<AppState>,
    Path((hub, group, user)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    change_user(&app, (&hub, &group, &user), true).await
}

/// `DELETE /api/v1/hubs/{hub}/groups/{group}/users/{user}`.
pub async fn remove_user(
    State(app): State<AppState>,
    Path((hub, group, user)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    change_user(&app, (&hub, &group, &user), false).await
}

async fn change_user(
    app: &AppState,
    (hub, group, user): (&str, &str, &str),
    add: bool,
) -> Result<Response, ApiError> {
    let version = served(app, hub)?;
    non_empty("group", group)?;
    non_empty("user", user)?;
    let cluster = &app.services.cluster;
    let selection = Selection::all(version.name.clone()).with(Filter::User(user.to_owned()));
    let mut changed = Vec::new();
    for record in cluster.connections(&selection).await? {
        let outcome = if add {
            cluster.add_to_group(&version.name, &record.id, group).await
        } else {
            cluster
                .remove_from_group(&version.name, &record.id, group)
                .await
        };
        match outcome {
            Ok(()) => changed.push(record.id),
            // Gone between the snapshot and the change: nothing to do.
            Err(crate::cluster::ClusterError::NotFound(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(ok(
        serde_json::json!({ "group": group, "connections": changed }),
    ))
}

//! `GET /healthz`: what this node serves, per hub.

use axum::extract::State;
use axum::response::Response;

use super::{AppState, json};

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

/// What the serving version got: the host's limits lowered by the hub's
/// manifest, and which file that was (its name, or null).
fn limits_json(version: &crate::runtime::HubVersion) -> serde_json::Value {
    let limits = version.limits();
    serde_json::json!({
        "manifest": version.settings.manifest.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy()),
        "memoryBytes": limits.memory,
        "deadlineMs": limits.deadline.as_millis() as u64,
        "instances": limits.max_instances,
        "maxCalls": limits.max_calls,
        "invokeTimeoutMs": limits.invoke_timeout.as_millis() as u64,
        "httpTimeoutMs": limits.http.timeout.as_millis() as u64,
        "httpMaxResponseBytes": limits.http.max_response,
        "grants": {
            "kv": version.settings.grants.kv,
            "http": version.settings.grants.http.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        },
    })
}

/// `GET /healthz`: per hub, the file serving (sha256, when loaded), the
/// limits it runs under, and why the newest file was refused, if it was.
pub async fn health_handler(State(app): State<AppState>) -> Response {
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
                hub["limits"] = limits_json(version);
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

//! The hub's own key-value store, shared by every node of the cluster.
//!
//! Needs the grant in the hub's manifest (`<name>.toml` beside the
//! `.wasm`: `[grants] kv = true`); without it every call is
//! `Unauthorized`. Values are text; [`get_json`] and [`set_json`] keep
//! serde values as JSON.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::HubError;
use crate::bindings::wasmhub::hub::kv as wit;

/// The value of `key`; `None` when it is absent or expired.
pub fn get(key: &str) -> Result<Option<String>, HubError> {
    Ok(wit::get(key)?)
}

/// Sets `key` to `value`, for ever (any expiry is cleared).
pub fn set(key: &str, value: &str) -> Result<(), HubError> {
    Ok(wit::set(key, value, None)?)
}

/// Sets `key` to `value`; it expires after `ttl`.
pub fn set_with_ttl(key: &str, value: &str, ttl: Duration) -> Result<(), HubError> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    Ok(wit::set(key, value, Some(ms))?)
}

/// Removes `key`; whether it was there.
pub fn delete(key: &str) -> Result<bool, HubError> {
    Ok(wit::delete(key)?)
}

/// Adds `by` to the integer at `key` (0 when absent); the sum. Atomic
/// across the cluster: a counter many nodes bump.
pub fn increment(key: &str, by: i64) -> Result<i64, HubError> {
    Ok(wit::increment(key, by)?)
}

/// The keys that start with `prefix`, sorted, at most `limit` (the host
/// returns 1000 at most).
pub fn keys(prefix: &str, limit: u32) -> Result<Vec<String>, HubError> {
    Ok(wit::keys(prefix, limit)?)
}

/// The value of `key` read as JSON into `T`.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, HubError> {
    match get(key)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            HubError::internal(format!(
                "the value of '{key}' is not the JSON expected: {e}"
            ))
        }),
    }
}

/// Sets `key` to `value` as JSON, for ever.
pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), HubError> {
    let text = serde_json::to_string(value)
        .map_err(|e| HubError::internal(format!("cannot encode the value of '{key}': {e}")))?;
    set(key, &text)
}

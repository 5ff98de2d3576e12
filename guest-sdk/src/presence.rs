//! Snapshots of who is connected to this hub. Results are sorted.

use crate::HubError;
use crate::bindings::wasmhub::hub::presence as wit;

pub use crate::bindings::wasmhub::hub::types::{ConnectionInfo, UserPresence};

/// Every connection of this hub.
pub fn connections() -> Result<Vec<ConnectionInfo>, HubError> {
    Ok(wit::connections()?)
}

/// Every connection of `user`.
pub fn connections_by_user(user: &str) -> Result<Vec<ConnectionInfo>, HubError> {
    Ok(wit::connections_by_user(user)?)
}

/// Every connection in `group`.
pub fn connections_in_group(group: &str) -> Result<Vec<ConnectionInfo>, HubError> {
    Ok(wit::connections_in_group(group)?)
}

/// Every connection with the attribute `key` (matching `value` if given,
/// `*` and `?` being wildcards).
pub fn connections_by_attribute(
    key: &str,
    value: Option<&str>,
) -> Result<Vec<ConnectionInfo>, HubError> {
    Ok(wit::connections_by_attribute(key, value)?)
}

/// Every user with at least one connection, with where they are connected.
pub fn online_users() -> Result<Vec<UserPresence>, HubError> {
    Ok(wit::online_users()?)
}

/// Whether `user` has at least one connection to this hub.
pub fn is_user_online(user: &str) -> Result<bool, HubError> {
    Ok(wit::is_user_online(user)?)
}

//! Group membership of any connection of this hub.

use crate::HubError;
use crate::bindings::wasmhub::hub::groups as wit;

/// Puts a connection into `group`; `NotFound` when the connection does not
/// exist.
pub fn add(connection_id: &str, group: &str) -> Result<(), HubError> {
    Ok(wit::add(connection_id, group)?)
}

/// Takes a connection out of `group`; not being in it is not an error.
pub fn remove(connection_id: &str, group: &str) -> Result<(), HubError> {
    Ok(wit::remove(connection_id, group)?)
}

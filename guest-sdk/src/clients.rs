//! Sending to clients and asking them for results.
//!
//! Start from [`all`], [`caller`], [`connection`], [`with_user`],
//! [`with_group`] or [`with_attribute`], narrow the [`Selection`], then
//! [`send`](Selection::send), [`invoke_one`](Selection::invoke_one) or
//! [`invoke_all`](Selection::invoke_all).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::HubError;
use crate::bindings::wasmhub::hub::clients as wit;
use crate::bindings::wasmhub::hub::types::ClientResult as WitClientResult;

/// Every connection of this hub.
pub fn all() -> Selection {
    Selection::new(wit::all())
}

/// The connection whose call is running (empty outside a call).
pub fn caller() -> Selection {
    Selection::new(wit::caller())
}

/// One connection, by id.
pub fn connection(id: &str) -> Selection {
    Selection::new(wit::connection(id))
}

/// Every connection of `user`.
pub fn with_user(user: &str) -> Selection {
    Selection::new(wit::with_user(user))
}

/// Every connection in `group`.
pub fn with_group(group: &str) -> Selection {
    Selection::new(wit::with_group(group))
}

/// Every connection with the attribute `key` (any value when `value` is
/// `None`, else one matching it, `*` and `?` being wildcards).
pub fn with_attribute(key: &str, value: Option<&str>) -> Selection {
    Selection::new(wit::with_attribute(key, value))
}

/// A set of this hub's connections, resolved by the host when used.
///
/// Each narrowing step returns a new selection; a timeout set with
/// [`Selection::timeout`] applies to its invokes.
#[derive(Debug)]
pub struct Selection {
    inner: wit::Selection,
    timeout: Option<Duration>,
}

impl Selection {
    fn new(inner: wit::Selection) -> Self {
        Self {
            inner,
            timeout: None,
        }
    }

    /// Keeps the timeout while replacing the host's selection.
    fn narrowed(self, inner: wit::Selection) -> Self {
        Self {
            inner,
            timeout: self.timeout,
        }
    }

    /// Only connections of this user.
    pub fn with_user(self, user: &str) -> Self {
        let inner = self.inner.with_user(user);
        self.narrowed(inner)
    }

    /// Only connections in this group.
    pub fn with_group(self, group: &str) -> Self {
        let inner = self.inner.with_group(group);
        self.narrowed(inner)
    }

    /// Only connections with the attribute `key` (matching `value` if given).
    pub fn with_attribute(self, key: &str, value: Option<&str>) -> Self {
        let inner = self.inner.with_attribute(key, value);
        self.narrowed(inner)
    }

    /// Without these connections (typically `&[ctx.connection_id()]`).
    pub fn except<S: AsRef<str>>(self, connection_ids: &[S]) -> Self {
        let ids: Vec<String> = connection_ids
            .iter()
            .map(|id| id.as_ref().to_string())
            .collect();
        let inner = self.inner.except(&ids);
        self.narrowed(inner)
    }

    /// How long an invoke waits for each client; the host's default when
    /// not set. Longer than `u32::MAX` milliseconds is cut to that.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fire and forget: calls `method` on every selected client. `args` is
    /// the argument list, a tuple such as `(a, b)` or `(a,)`; `()` means
    /// none. Nothing selected is not an error.
    pub fn send(&self, method: &str, args: impl Serialize) -> Result<(), HubError> {
        let args = encode_args(&args)?;
        Ok(self.inner.send(method, &args)?)
    }

    /// Calls `method` on one selected client at a time until one answers,
    /// and returns that answer read as `T`. `NoClientResponded` when none
    /// did; its message says why each failed.
    pub fn invoke_one<T: DeserializeOwned>(
        &self,
        method: &str,
        args: impl Serialize,
    ) -> Result<ClientResult<T>, HubError> {
        let args = encode_args(&args)?;
        let result = self.inner.invoke_one(method, &args, self.timeout_ms())?;
        Ok(ClientResult::from_wit(result))
    }

    /// Calls `method` on every selected client at once and returns each
    /// one's answer (read as `T`) or error.
    pub fn invoke_all<T: DeserializeOwned>(
        &self,
        method: &str,
        args: impl Serialize,
    ) -> Result<Vec<ClientResult<T>>, HubError> {
        let args = encode_args(&args)?;
        let results = self.inner.invoke_all(method, &args, self.timeout_ms())?;
        Ok(results.into_iter().map(ClientResult::from_wit).collect())
    }

    /// The ids of the selected connections, sorted.
    pub fn connection_ids(&self) -> Result<Vec<String>, HubError> {
        Ok(self.inner.connection_ids()?)
    }

    fn timeout_ms(&self) -> Option<u32> {
        self.timeout
            .map(|timeout| u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX))
    }
}

/// What one client answered to an invoke.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientResult<T> {
    /// The connection that answered (or failed).
    pub connection_id: String,
    /// That connection's user, if it has one.
    pub user: Option<String>,
    /// The answer, or why there is none: what the client's handler threw,
    /// a timeout, a disconnect, or an answer that does not fit `T`.
    pub value: Result<T, String>,
}

impl<T: DeserializeOwned> ClientResult<T> {
    /// Reads the client's JSON answer as `T`; one that does not fit becomes
    /// that client's error rather than failing the whole call.
    pub(crate) fn from_wit(result: WitClientResult) -> Self {
        let value = result.value.and_then(|json| {
            serde_json::from_str(&json).map_err(|error| {
                format!("the client's result does not have the expected type: {error}")
            })
        });
        Self {
            connection_id: result.connection_id,
            user: result.user,
            value,
        }
    }
}

/// Encodes a send/invoke argument list: it must serialize to a JSON array,
/// except `()` (JSON `null`), which means no arguments.
pub(crate) fn encode_args(args: &impl Serialize) -> Result<String, HubError> {
    let json = serde_json::to_string(args)
        .map_err(|error| HubError::internal(format!("the arguments are not JSON: {error}")))?;
    if json == "null" {
        Ok("[]".to_string())
    } else if json.starts_with('[') {
        Ok(json)
    } else {
        Err(HubError::invalid_argument(format!(
            "the arguments must serialize to a JSON array (use a tuple such as `(value,)`), not {json}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_encode_as_arrays() {
        assert_eq!(encode_args(&("a", 1)).unwrap(), r#"["a",1]"#);
        assert_eq!(encode_args(&("a",)).unwrap(), r#"["a"]"#);
        assert_eq!(encode_args(&()).unwrap(), "[]");
        assert_eq!(encode_args(&vec![1, 2]).unwrap(), "[1,2]");
    }

    #[test]
    fn non_arrays_are_refused() {
        let error = encode_args(&"just a string").unwrap_err();
        assert!(matches!(error, HubError::InvalidArgument(_)), "{error:?}");
    }

    fn wit_result(value: Result<&str, &str>) -> WitClientResult {
        WitClientResult {
            connection_id: "c1".into(),
            user: Some("bob".into()),
            value: value.map(str::to_string).map_err(str::to_string),
        }
    }

    #[test]
    fn answers_are_read_as_the_expected_type() {
        let result = ClientResult::<u32>::from_wit(wit_result(Ok("42")));
        assert_eq!(result.value, Ok(42));
        assert_eq!(result.connection_id, "c1");
        assert_eq!(result.user.as_deref(), Some("bob"));
    }

    #[test]
    fn client_errors_and_misfits_are_per_client_errors() {
        let failed = ClientResult::<u32>::from_wit(wit_result(Err("Error: from callback")));
        assert_eq!(failed.value, Err("Error: from callback".to_string()));
        let misfit = ClientResult::<u32>::from_wit(wit_result(Ok("\"text\"")));
        let error = misfit.value.unwrap_err();
        assert!(error.contains("expected type"), "{error}");
    }
}

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
use crate::bindings::wasmhub::hub::types::{ClientResult as WitClientResult, Selector};

/// Every connection of this hub.
pub fn all() -> Selection {
    Selection::default()
}

/// The connection whose call is running (empty outside a call).
pub fn caller() -> Selection {
    // No connection has an empty id: outside a call this selects nobody.
    connection(&crate::hub::current_caller().unwrap_or_default())
}

/// One connection, by id.
pub fn connection(id: &str) -> Selection {
    let mut selection = Selection::default();
    selection.selector.connection = Some(id.to_string());
    selection
}

/// Every connection of `user`.
pub fn with_user(user: &str) -> Selection {
    all().with_user(user)
}

/// Every connection in `group`.
pub fn with_group(group: &str) -> Selection {
    all().with_group(group)
}

/// Every connection with the attribute `key` (any value when `value` is
/// `None`, else one matching it, `*` and `?` being wildcards).
pub fn with_attribute(key: &str, value: Option<&str>) -> Selection {
    all().with_attribute(key, value)
}

/// A set of this hub's connections, resolved by the host when used.
///
/// Narrowing happens in the hub's memory (no host call); a timeout set
/// with [`Selection::timeout`] applies to its invokes.
#[derive(Debug, Clone)]
pub struct Selection {
    selector: Selector,
    timeout: Option<Duration>,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            selector: Selector {
                connection: None,
                user: None,
                groups: Vec::new(),
                attributes: Vec::new(),
                excluding: Vec::new(),
            },
            timeout: None,
        }
    }
}

impl Selection {
    /// Only connections of this user. A second user selects nobody (a
    /// connection has one user), as the host resolves it.
    pub fn with_user(mut self, user: &str) -> Self {
        match &self.selector.user {
            Some(existing) if existing != user => {
                // Keep both conditions: connection "" matches nobody.
                self.selector.connection = Some(String::new());
            }
            _ => self.selector.user = Some(user.to_string()),
        }
        self
    }

    /// Only connections in this group (and every group named before).
    pub fn with_group(mut self, group: &str) -> Self {
        self.selector.groups.push(group.to_string());
        self
    }

    /// Only connections with the attribute `key` (matching `value` if given).
    pub fn with_attribute(mut self, key: &str, value: Option<&str>) -> Self {
        self.selector
            .attributes
            .push((key.to_string(), value.map(str::to_string)));
        self
    }

    /// Without these connections (typically `&[ctx.connection_id()]`).
    pub fn except<S: AsRef<str>>(mut self, connection_ids: &[S]) -> Self {
        self.selector
            .excluding
            .extend(connection_ids.iter().map(|id| id.as_ref().to_string()));
        self
    }

    /// How long an invoke waits, for the whole call (`invoke_one` asks its
    /// clients within it); the host's default when not set, and never
    /// longer than the host's `--invoke-timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fire and forget: calls `method` on every selected client. `args` is
    /// the argument list, a tuple such as `(a, b)` or `(a,)`; `()` means
    /// none. Nothing selected is not an error.
    pub fn send(&self, method: &str, args: impl Serialize) -> Result<(), HubError> {
        let args = encode_args(&args)?;
        Ok(wit::send(&self.selector, method, &args)?)
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
        let result = wit::invoke_one(&self.selector, method, &args, self.timeout_ms())?;
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
        let results = wit::invoke_all(&self.selector, method, &args, self.timeout_ms())?;
        Ok(results.into_iter().map(ClientResult::from_wit).collect())
    }

    /// The ids of the selected connections, sorted.
    pub fn connection_ids(&self) -> Result<Vec<String>, HubError> {
        Ok(wit::connection_ids(&self.selector)?)
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
    fn narrowing_builds_one_selector() {
        let selection = with_group("room")
            .with_user("bob")
            .with_attribute("role", Some("adm*"))
            .with_group("vip")
            .except(&["c9"]);
        let s = &selection.selector;
        assert_eq!(s.user.as_deref(), Some("bob"));
        assert_eq!(s.groups, ["room", "vip"]);
        assert_eq!(
            s.attributes,
            [("role".to_string(), Some("adm*".to_string()))]
        );
        assert_eq!(s.excluding, ["c9"]);
        assert_eq!(s.connection, None);
        let nobody = with_user("a").with_user("b");
        assert_eq!(nobody.selector.connection.as_deref(), Some(""));
    }

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

//! [`Context`]: who is calling, as the host described the connection.

use std::cell::OnceCell;

use crate::bindings::wasmhub::hub::types::{Caller, Connection};

/// The connection a hub call is about, with lookups that follow the
/// contract's naming rules so that hubs do not have to.
///
/// An `invoke` brings only the caller's id and user; the rest (query,
/// headers, attributes, groups, transport) is fetched from the host the
/// first time a method needs it, once per call.
#[derive(Debug, Clone)]
pub struct Context {
    id: String,
    user: Option<String>,
    details: OnceCell<Connection>,
}

impl Context {
    /// Wraps a whole WIT `connection` record (what `on-connected` gets);
    /// also lets hub authors build one in their own unit tests.
    pub fn new(conn: Connection) -> Self {
        Self {
            id: conn.id.clone(),
            user: conn.user.clone(),
            details: OnceCell::from(conn),
        }
    }

    /// The caller of an `invoke`: details come later, if asked for.
    pub(crate) fn from_caller(caller: Caller) -> Self {
        Self {
            id: caller.id,
            user: caller.user,
            details: OnceCell::new(),
        }
    }

    fn details(&self) -> &Connection {
        self.details.get_or_init(|| {
            fetch_details().unwrap_or_else(|| Connection {
                id: self.id.clone(),
                user: self.user.clone(),
                hub: String::new(),
                node: String::new(),
                transport: String::new(),
                attributes: Vec::new(),
                groups: Vec::new(),
                query: Vec::new(),
                headers: Vec::new(),
            })
        })
    }

    /// The public connection id, to address this connection later.
    pub fn connection_id(&self) -> &str {
        &self.id
    }

    /// Upload stream `index` of the running call (0-based, in the order
    /// the client attached them), read item by item; see [`crate::streams`].
    pub fn upload<T: serde::de::DeserializeOwned>(&self, index: u32) -> crate::streams::Upload<T> {
        crate::streams::Upload::new(index)
    }

    /// How many upload streams the client attached to the running call.
    pub fn upload_count(&self) -> u32 {
        crate::streams::upload_count()
    }

    /// The user id (a JWT's `sub`, or what `on_connected` chose), if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The hub's name, as in `/hubs/<name>`.
    pub fn hub(&self) -> &str {
        &self.details().hub
    }

    /// The id of the node that owns the connection.
    pub fn node(&self) -> &str {
        &self.details().node
    }

    /// The transport name, e.g. `WebSockets`.
    pub fn transport(&self) -> &str {
        &self.details().transport
    }

    /// A query parameter of the connect request. An exact name wins;
    /// otherwise names compare ASCII case-insensitively, as in ASP.NET.
    pub fn query(&self, name: &str) -> Option<&str> {
        lookup(&self.details().query, name)
    }

    /// A header of the connect request, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.details()
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first value of an attribute (key case-insensitive), for the
    /// common case of a single-valued attribute.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes(key).first().map(String::as_str)
    }

    /// Every value of an attribute (key case-insensitive); empty when the
    /// connection does not have it.
    pub fn attributes(&self, key: &str) -> &[String] {
        self.details()
            .attributes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, values)| values.as_slice())
            .unwrap_or(&[])
    }

    /// Every attribute with its values, keys lowercase, as the host sent them.
    pub fn all_attributes(&self) -> &[(String, Vec<String>)] {
        &self.details().attributes
    }

    /// The groups the connection is in, sorted (as of the first lookup).
    pub fn groups(&self) -> &[String] {
        &self.details().groups
    }

    /// The raw WIT record, for anything the helpers do not cover.
    pub fn connection(&self) -> &Connection {
        self.details()
    }
}

impl From<Connection> for Context {
    fn from(conn: Connection) -> Self {
        Self::new(conn)
    }
}

/// Asks the host for the caller's whole record.
#[cfg(target_arch = "wasm32")]
fn fetch_details() -> Option<Connection> {
    crate::bindings::wasmhub::hub::caller::details()
}

/// Off wasm (unit tests) there is no host to ask.
#[cfg(not(target_arch = "wasm32"))]
fn fetch_details() -> Option<Connection> {
    None
}

/// Finds `name` in name/value pairs: exact first, then ASCII case-insensitive.
fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .or_else(|| pairs.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)))
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A connection with a little of everything, for tests across the crate.
    pub(crate) fn sample() -> Context {
        Context::new(Connection {
            id: "c1".into(),
            user: Some("alice".into()),
            hub: "chat".into(),
            node: "n1".into(),
            transport: "WebSockets".into(),
            attributes: vec![("role".into(), vec!["admin".into(), "dev".into()])],
            groups: vec!["lobby".into()],
            query: vec![
                ("name".into(), "alice".into()),
                ("Name".into(), "other".into()),
            ],
            headers: vec![("x-custom".into(), "42".into())],
        })
    }

    #[test]
    fn a_caller_has_its_id_and_user_before_any_lookup() {
        let ctx = Context::from_caller(Caller {
            id: "c2".into(),
            user: Some("bob".into()),
        });
        assert_eq!(ctx.connection_id(), "c2");
        assert_eq!(ctx.user(), Some("bob"));
        assert_eq!(ctx.query("x"), None, "no host off wasm: empty details");
    }

    #[test]
    fn lookups_follow_the_naming_rules() {
        let ctx = sample();
        assert_eq!(ctx.connection_id(), "c1");
        assert_eq!(ctx.user(), Some("alice"));
        assert_eq!(ctx.query("Name"), Some("other"));
        assert_eq!(ctx.query("NAME"), Some("alice"));
        assert_eq!(ctx.query("missing"), None);
        assert_eq!(ctx.header("X-Custom"), Some("42"));
        assert_eq!(ctx.attribute("ROLE"), Some("admin"));
        assert_eq!(ctx.attributes("role"), ["admin", "dev"]);
        assert!(ctx.attributes("none").is_empty());
        assert_eq!(ctx.groups(), ["lobby"]);
    }
}

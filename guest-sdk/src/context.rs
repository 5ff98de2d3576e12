//! [`Context`]: who is calling, as the host described the connection.

use crate::bindings::wasmhub::hub::types::Connection;

/// The connection a hub call is about, with lookups that follow the
/// contract's naming rules so that hubs do not have to.
#[derive(Debug, Clone)]
pub struct Context {
    conn: Connection,
}

impl Context {
    /// Wraps a WIT `connection` record; also lets hub authors build one in
    /// their own unit tests.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// The public connection id, to address this connection later.
    pub fn connection_id(&self) -> &str {
        &self.conn.id
    }

    /// The user id (a JWT's `sub`, or what `on_connected` chose), if any.
    pub fn user(&self) -> Option<&str> {
        self.conn.user.as_deref()
    }

    /// The hub's name, as in `/hubs/<name>`.
    pub fn hub(&self) -> &str {
        &self.conn.hub
    }

    /// The id of the node that owns the connection.
    pub fn node(&self) -> &str {
        &self.conn.node
    }

    /// The transport name, e.g. `WebSockets`.
    pub fn transport(&self) -> &str {
        &self.conn.transport
    }

    /// A query parameter of the connect request. An exact name wins;
    /// otherwise names compare ASCII case-insensitively, as in ASP.NET.
    pub fn query(&self, name: &str) -> Option<&str> {
        lookup(&self.conn.query, name)
    }

    /// A header of the connect request, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.conn
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
        self.conn
            .attributes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, values)| values.as_slice())
            .unwrap_or(&[])
    }

    /// Every attribute with its values, keys lowercase, as the host sent them.
    pub fn all_attributes(&self) -> &[(String, Vec<String>)] {
        &self.conn.attributes
    }

    /// The groups the connection was in when the call started, sorted.
    pub fn groups(&self) -> &[String] {
        &self.conn.groups
    }

    /// The raw WIT record, for anything the helpers do not cover.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl From<Connection> for Context {
    fn from(conn: Connection) -> Self {
        Self::new(conn)
    }
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

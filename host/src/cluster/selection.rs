//! A set of connections, described step by step and resolved on use.
//!
//! This is the host side of the WIT `clients.selection` resource, and the
//! one way every backend is asked "which connections?". Names compare one
//! way everywhere: ids, users and groups exactly; attribute keys and
//! values ASCII case-insensitively, values with `*` / `?` wildcards.

use std::collections::BTreeMap;

/// Attributes of a connection: lowercase key to its values.
pub type Attributes = BTreeMap<String, Vec<String>>;

/// One narrowing step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Filter {
    /// Exactly this connection.
    Connection(String),
    User(String),
    Group(String),
    /// Has attribute `key` (lowercase), with a value matching the pattern
    /// when there is one.
    Attribute(String, Option<String>),
    /// Nothing at all (`caller()` outside a call).
    Nothing,
}

/// Which connections of one hub a send, invoke or query is for. It
/// travels between nodes as JSON (a broadcast send carries it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    pub hub: String,
    pub filters: Vec<Filter>,
    pub except: Vec<String>,
}

impl Selection {
    /// Every connection of `hub`.
    pub fn all(hub: impl Into<String>) -> Self {
        Self {
            hub: hub.into(),
            filters: Vec::new(),
            except: Vec::new(),
        }
    }

    /// This selection narrowed by one more filter.
    pub fn with(&self, filter: Filter) -> Self {
        let mut next = self.clone();
        next.filters.push(match filter {
            Filter::Attribute(key, value) => Filter::Attribute(key.to_ascii_lowercase(), value),
            other => other,
        });
        next
    }

    /// This selection without the given connections.
    pub fn except(&self, ids: impl IntoIterator<Item = String>) -> Self {
        let mut next = self.clone();
        next.except.extend(ids);
        next
    }

    /// The connection this selection names directly, if any: lets a
    /// backend look up one entry instead of scanning.
    pub fn connection_id(&self) -> Option<&str> {
        self.filters.iter().find_map(|f| match f {
            Filter::Connection(id) => Some(id.as_str()),
            _ => None,
        })
    }

    /// The first user filter, for an index lookup.
    pub fn user(&self) -> Option<&str> {
        self.filters.iter().find_map(|f| match f {
            Filter::User(u) => Some(u.as_str()),
            _ => None,
        })
    }

    /// The first group filter, for an index lookup.
    pub fn group(&self) -> Option<&str> {
        self.filters.iter().find_map(|f| match f {
            Filter::Group(g) => Some(g.as_str()),
            _ => None,
        })
    }

    /// Whether a connection with these facts is selected.
    pub fn matches(
        &self,
        id: &str,
        user: Option<&str>,
        groups: &std::collections::BTreeSet<String>,
        attributes: &Attributes,
    ) -> bool {
        if self.except.iter().any(|e| e == id) {
            return false;
        }
        self.filters.iter().all(|filter| match filter {
            Filter::Connection(c) => c == id,
            Filter::User(u) => user == Some(u.as_str()),
            Filter::Group(g) => groups.contains(g),
            Filter::Attribute(key, value) => match attributes.get(key) {
                None => false,
                Some(values) => match value {
                    None => true,
                    Some(pattern) => values.iter().any(|v| wildcard_match(pattern, v)),
                },
            },
            Filter::Nothing => false,
        })
    }
}

/// Case-insensitive (ASCII) match with `*` for any run of characters and
/// `?` for exactly one.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let v: Vec<char> = value.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Greedy matching with backtracking to the last `*`: linear in practice.
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn wildcards_and_case() {
        assert!(wildcard_match("admin", "Admin"));
        assert!(wildcard_match("ad*", "administrator"));
        assert!(wildcard_match("*tor", "administrator"));
        assert!(wildcard_match("a?min", "admin"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(!wildcard_match("admin", "admins"));
        assert!(!wildcard_match("?", ""));
    }

    #[test]
    fn filters_combine() {
        let groups: BTreeSet<String> = ["room".to_string()].into();
        let mut attributes = Attributes::new();
        attributes.insert("role".into(), vec!["Admin".into()]);
        let sel = Selection::all("chat")
            .with(Filter::User("alice".into()))
            .with(Filter::Group("room".into()))
            .with(Filter::Attribute("ROLE".into(), Some("ad*".into())));
        assert!(sel.matches("c1", Some("alice"), &groups, &attributes));
        assert!(!sel.matches("c1", Some("bob"), &groups, &attributes));
        assert!(!sel.matches("c1", Some("alice"), &BTreeSet::new(), &attributes));
        assert!(
            !sel.except(["c1".to_string()])
                .matches("c1", Some("alice"), &groups, &attributes)
        );
        assert!(!Selection::all("chat").with(Filter::Nothing).matches(
            "c1",
            None,
            &groups,
            &attributes
        ));
        assert!(
            Selection::all("chat")
                .with(Filter::Attribute("role".into(), None))
                .matches("c1", None, &groups, &attributes)
        );
    }
}

//! Which node owns a connection, remembered after the first lookup.
//!
//! A connection never moves: its owner is fixed for its whole life, so
//! a remembered owner cannot be wrong while the connection lives. Once
//! it has closed, a message sent to its old owner is dropped there as
//! for any unknown id, the same outcome as a fresh lookup that finds
//! nothing. A whisper to another node thus costs one Redis command (the
//! PUBLISH), not two in a row. Entries of a node declared dead are
//! forgotten; a full table starts over (bounded memory; a lost entry
//! costs one lookup).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Owners remembered at most; about 100 bytes each.
const CAPACITY: usize = 16_384;

/// Connection id -> owning node, for connections of other nodes.
#[derive(Default)]
pub struct Owners {
    by_connection: Mutex<HashMap<String, String>>,
}

impl Owners {
    /// The remembered owner of `id`, if any.
    pub fn get(&self, id: &str) -> Option<String> {
        self.by_connection.lock().expect("owners").get(id).cloned()
    }

    /// Remembers that `node` owns `id`.
    pub fn remember(&self, id: &str, node: &str) {
        let mut by_connection = self.by_connection.lock().expect("owners");
        if by_connection.len() >= CAPACITY {
            by_connection.clear();
        }
        by_connection.insert(id.to_owned(), node.to_owned());
    }

    /// Forgets every connection of a node not in `alive`: it was
    /// declared dead (or swept by another node).
    pub fn keep_only(&self, alive: &HashSet<String>) {
        self.by_connection
            .lock()
            .expect("owners")
            .retain(|_, owner| alive.contains(owner));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_owners_forgets_dead_nodes_and_stays_bounded() {
        let owners = Owners::default();
        owners.remember("c1", "a");
        owners.remember("c2", "b");
        assert_eq!(owners.get("c1").as_deref(), Some("a"));
        owners.keep_only(&HashSet::from(["b".to_owned()]));
        assert_eq!(owners.get("c1"), None);
        assert_eq!(owners.get("c2").as_deref(), Some("b"));
        for n in 0..CAPACITY + 10 {
            owners.remember(&format!("x{n}"), "b");
        }
        assert!(owners.by_connection.lock().unwrap().len() <= CAPACITY);
    }
}

//! The in-memory backend: every connection, user, group and attribute of
//! this node in indexed maps. It is the whole registry on a single node.
//! Indexes are keyed by [`hub_key`]: hub names compare case-insensitively.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::selection::Selection;
use super::{ClusterError, ConnectionRecord};
use crate::connection::ConnectionHandle;
use crate::names::{hub_key, same_hub};

/// Connections by id, with indexes by hub, by user and by group.
#[derive(Default)]
pub struct MemoryRegistry {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    connections: HashMap<String, Entry>,
    by_hub: HashMap<String, BTreeSet<String>>,
    by_user: HashMap<(String, String), BTreeSet<String>>,
    by_group: HashMap<(String, String), BTreeSet<String>>,
}

/// One hub on this node, for the node's status.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HubSummary {
    pub connections: usize,
    /// Distinct users.
    pub users: usize,
    /// Some of them (up to the limit asked), in no order.
    pub user_ids: Vec<String>,
    /// Every group and its member count, in no order.
    pub groups: Vec<(String, usize)>,
}

struct Entry {
    record: ConnectionRecord,
    handle: ConnectionHandle,
}

fn index_insert<K: Eq + std::hash::Hash>(
    index: &mut HashMap<K, BTreeSet<String>>,
    key: K,
    id: &str,
) {
    index.entry(key).or_default().insert(id.to_owned());
}

fn index_remove<K: Eq + std::hash::Hash>(
    index: &mut HashMap<K, BTreeSet<String>>,
    key: &K,
    id: &str,
) {
    if let Some(ids) = index.get_mut(key) {
        ids.remove(id);
        if ids.is_empty() {
            index.remove(key);
        }
    }
}

impl MemoryRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("registry lock")
    }

    /// Adds a connection (replacing one with the same id).
    pub fn register(&self, record: ConnectionRecord, handle: ConnectionHandle) {
        let mut state = self.lock();
        if state.connections.contains_key(&record.id) {
            Self::remove_locked(&mut state, &record.id.clone());
        }
        let id = record.id.clone();
        index_insert(&mut state.by_hub, hub_key(&record.hub), &id);
        if let Some(user) = &record.user {
            index_insert(
                &mut state.by_user,
                (hub_key(&record.hub), user.clone()),
                &id,
            );
        }
        for group in &record.groups {
            index_insert(
                &mut state.by_group,
                (hub_key(&record.hub), group.clone()),
                &id,
            );
        }
        state.connections.insert(id, Entry { record, handle });
    }

    /// Removes a connection and returns what it was.
    pub fn unregister(&self, id: &str) -> Option<ConnectionRecord> {
        Self::remove_locked(&mut self.lock(), id)
    }

    fn remove_locked(state: &mut State, id: &str) -> Option<ConnectionRecord> {
        let entry = state.connections.remove(id)?;
        let record = entry.record;
        index_remove(&mut state.by_hub, &hub_key(&record.hub), id);
        if let Some(user) = &record.user {
            index_remove(
                &mut state.by_user,
                &(hub_key(&record.hub), user.clone()),
                id,
            );
        }
        for group in &record.groups {
            index_remove(
                &mut state.by_group,
                &(hub_key(&record.hub), group.clone()),
                id,
            );
        }
        Some(record)
    }

    /// Changes a connection's user id.
    pub fn set_user(&self, id: &str, user: Option<String>) -> Result<(), ClusterError> {
        let mut state = self.lock();
        let state = &mut *state;
        let entry = state
            .connections
            .get_mut(id)
            .ok_or_else(|| ClusterError::connection_not_found(id))?;
        let hub = hub_key(&entry.record.hub);
        if let Some(old) = entry.record.user.take() {
            index_remove(&mut state.by_user, &(hub.clone(), old), id);
        }
        if let Some(new) = &user {
            index_insert(&mut state.by_user, (hub, new.clone()), id);
        }
        entry.record.user = user;
        Ok(())
    }

    /// Puts a connection of `hub` into `group`.
    pub fn add_to_group(&self, hub: &str, id: &str, group: &str) -> Result<(), ClusterError> {
        let mut state = self.lock();
        let state = &mut *state;
        let entry = state
            .connections
            .get_mut(id)
            .filter(|e| same_hub(&e.record.hub, hub))
            .ok_or_else(|| ClusterError::connection_not_found(id))?;
        entry.record.groups.insert(group.to_owned());
        index_insert(&mut state.by_group, (hub_key(hub), group.to_owned()), id);
        Ok(())
    }

    /// Takes a connection of `hub` out of `group`.
    pub fn remove_from_group(&self, hub: &str, id: &str, group: &str) -> Result<(), ClusterError> {
        let mut state = self.lock();
        let state = &mut *state;
        let entry = state
            .connections
            .get_mut(id)
            .filter(|e| same_hub(&e.record.hub, hub))
            .ok_or_else(|| ClusterError::connection_not_found(id))?;
        entry.record.groups.remove(group);
        index_remove(&mut state.by_group, &(hub_key(hub), group.to_owned()), id);
        Ok(())
    }

    /// One connection's user (cheaper than its whole record).
    pub fn user_of(&self, id: &str) -> Option<String> {
        self.lock().connections.get(id)?.record.user.clone()
    }

    /// One connection's record.
    pub fn record(&self, id: &str) -> Option<ConnectionRecord> {
        self.lock().connections.get(id).map(|e| e.record.clone())
    }

    /// Every connection's record (to register them all again).
    pub fn records(&self) -> Vec<ConnectionRecord> {
        self.lock()
            .connections
            .values()
            .map(|e| e.record.clone())
            .collect()
    }

    /// Per hub (by [`hub_key`]): its connections, users and groups here,
    /// read from the indexes (no record is copied).
    pub fn summaries(&self, users_listed: usize) -> HashMap<String, HubSummary> {
        let state = self.lock();
        let mut out: HashMap<String, HubSummary> = state
            .by_hub
            .iter()
            .map(|(hub, ids)| {
                let summary = HubSummary {
                    connections: ids.len(),
                    ..HubSummary::default()
                };
                (hub.clone(), summary)
            })
            .collect();
        for ((hub, user), _) in state.by_user.iter() {
            let Some(summary) = out.get_mut(hub) else {
                continue;
            };
            summary.users += 1;
            if summary.user_ids.len() < users_listed {
                summary.user_ids.push(user.clone());
            }
        }
        for ((hub, group), ids) in state.by_group.iter() {
            if let Some(summary) = out.get_mut(hub) {
                summary.groups.push((group.clone(), ids.len()));
            }
        }
        out
    }

    /// Every connection's handle (to close them all at shutdown).
    pub fn handles(&self) -> Vec<ConnectionHandle> {
        self.lock()
            .connections
            .values()
            .map(|e| e.handle.clone())
            .collect()
    }

    /// Whether a connection is registered here.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().connections.contains_key(id)
    }

    /// The selected connections, sorted by id, with their handles.
    pub fn resolve(&self, selection: &Selection) -> Vec<(ConnectionRecord, ConnectionHandle)> {
        let state = self.lock();
        let mut out: Vec<(ConnectionRecord, ConnectionHandle)> = Self::matching(&state, selection)
            .map(|e| (e.record.clone(), e.handle.clone()))
            .collect();
        out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        out
    }

    /// Only the handles of the selected connections, in no order: what a
    /// fan-out needs, without copying records (strings, groups,
    /// attributes) or sorting under the lock.
    pub fn handles_of(&self, selection: &Selection) -> Vec<ConnectionHandle> {
        let state = self.lock();
        Self::matching(&state, selection)
            .map(|e| e.handle.clone())
            .collect()
    }

    /// The selected entries, found from the narrowest index the selection
    /// names: a group costs its members, not the hub.
    fn matching<'a>(state: &'a State, selection: &'a Selection) -> impl Iterator<Item = &'a Entry> {
        let hub = hub_key(&selection.hub);
        let candidates: Box<dyn Iterator<Item = &'a String> + 'a> =
            if let Some(id) = selection.connection_id() {
                Box::new(
                    state
                        .connections
                        .get_key_value(id)
                        .map(|(k, _)| k)
                        .into_iter(),
                )
            } else if let Some(user) = selection.user() {
                Box::new(
                    state
                        .by_user
                        .get(&(hub.clone(), user.to_owned()))
                        .into_iter()
                        .flatten(),
                )
            } else if let Some(group) = selection.group() {
                Box::new(
                    state
                        .by_group
                        .get(&(hub.clone(), group.to_owned()))
                        .into_iter()
                        .flatten(),
                )
            } else {
                Box::new(state.by_hub.get(&hub).into_iter().flatten())
            };
        candidates
            .filter_map(|id| state.connections.get(id))
            .filter(move |e| {
                let r = &e.record;
                same_hub(&r.hub, &hub)
                    && selection.matches(&r.id, r.user.as_deref(), &r.groups, &r.attributes)
            })
    }
}

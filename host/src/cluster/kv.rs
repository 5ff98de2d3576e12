//! Each hub's key-value store (the WIT `kv` interface): one seam, two
//! stores, like the backend. [`MemoryKv`] serves a node alone;
//! [`super::redis::RedisKv`] keeps the keys on the backplane's server, so
//! every node of a cluster sees the same values.
//!
//! Hubs are kept apart by their lowercase name; the checks on keys and
//! values (sizes, the `keys` limit) are made here, once, for both.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest key, in bytes.
pub const KEY_MAX: usize = 1024;
/// Longest value, in bytes.
pub const VALUE_MAX: usize = 1 << 20;
/// Most keys one `keys` call returns.
pub const LIST_MAX: u32 = 1000;
/// Most keys, and bytes of keys and values, one hub keeps in a node's
/// memory store: a hub that forgets to delete cannot take the node's
/// memory.
pub const MEMORY_KEYS_PER_HUB: usize = 100_000;
pub const MEMORY_BYTES_PER_HUB: usize = 64 << 20;

/// Why a store call failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KvError {
    /// The hub asked for something the store refuses (a bad key, a value
    /// that is not an integer).
    #[error("{0}")]
    Invalid(String),
    /// The store cannot take more.
    #[error("{0}")]
    Full(String),
    /// The shared server cannot be reached.
    #[error("{0}")]
    Unavailable(String),
}

/// What every store does, for one hub at a time (`hub` is its lowercase
/// name).
#[async_trait::async_trait]
pub trait KvStore: Send + Sync {
    async fn get(&self, hub: &str, key: &str) -> Result<Option<String>, KvError>;
    async fn set(
        &self,
        hub: &str,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), KvError>;
    async fn delete(&self, hub: &str, key: &str) -> Result<bool, KvError>;
    async fn increment(&self, hub: &str, key: &str, by: i64) -> Result<i64, KvError>;
    /// Sorted keys starting with `prefix`, at most `limit`.
    async fn keys(&self, hub: &str, prefix: &str, limit: usize) -> Result<Vec<String>, KvError>;
}

/// A key a hub may use: not empty, at most [`KEY_MAX`] bytes.
pub fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() {
        return Err(KvError::Invalid("a key must not be empty".to_owned()));
    }
    if key.len() > KEY_MAX {
        return Err(KvError::Invalid(format!(
            "a key is at most {KEY_MAX} bytes; this one has {}",
            key.len()
        )));
    }
    Ok(())
}

/// A value a hub may store: at most [`VALUE_MAX`] bytes.
pub fn check_value(value: &str) -> Result<(), KvError> {
    if value.len() > VALUE_MAX {
        return Err(KvError::Invalid(format!(
            "a value is at most {} ; this one has {} bytes",
            crate::config::format_bytes(VALUE_MAX),
            value.len()
        )));
    }
    Ok(())
}

/// Longest expiry: ten years (a larger one is almost surely a unit
/// mistake, and past it deadlines overflow).
pub const TTL_MAX: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// An expiry a hub may ask for: more than 0, at most [`TTL_MAX`].
pub fn check_ttl(ttl: Option<Duration>) -> Result<(), KvError> {
    match ttl {
        Some(ttl) if ttl.is_zero() => Err(KvError::Invalid(
            "a time to live must be longer than 0 ms".to_owned(),
        )),
        Some(ttl) if ttl > TTL_MAX => Err(KvError::Invalid(format!(
            "a time to live is at most {} ms (ten years)",
            TTL_MAX.as_millis()
        ))),
        _ => Ok(()),
    }
}

/// The error for a value `increment` cannot add to.
pub fn not_an_integer(key: &str) -> KvError {
    KvError::Invalid(format!("the value of '{key}' is not a 64-bit integer"))
}

/// The error for a sum past 64 bits.
pub fn overflow(key: &str) -> KvError {
    KvError::Invalid(format!("incrementing '{key}' overflows 64 bits"))
}

/// An integer written as Redis writes and reads them: no `+`, no
/// leading zeros, no `-0` (so both stores accept the same values).
fn strict_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    canonical.then(|| text.parse().ok()).flatten()
}

struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// The store of a node alone. Expired entries are dropped when touched
/// and when a hub's store is full.
#[derive(Default)]
pub struct MemoryKv {
    hubs: Mutex<HashMap<String, HubEntries>>,
}

/// One hub's entries, and the bytes of their keys and values.
#[derive(Default)]
struct HubEntries {
    entries: BTreeMap<String, Entry>,
    bytes: usize,
}

impl HubEntries {
    fn insert(&mut self, key: &str, entry: Entry) {
        self.bytes += key.len() + entry.value.len();
        if let Some(old) = self.entries.insert(key.to_owned(), entry) {
            self.bytes -= key.len() + old.value.len();
        }
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let old = self.entries.remove(key)?;
        self.bytes -= key.len() + old.value.len();
        Some(old)
    }

    /// Room for `key` to hold `value_len` bytes, dropping expired entries
    /// first if need be.
    fn make_room(&mut self, key: &str, value_len: usize) -> Result<(), KvError> {
        let fits = |this: &Self| {
            let old = this
                .entries
                .get(key)
                .map_or(0, |e| key.len() + e.value.len());
            let keys = this.entries.len() + usize::from(old == 0);
            keys <= MEMORY_KEYS_PER_HUB
                && this.bytes - old + key.len() + value_len <= MEMORY_BYTES_PER_HUB
        };
        if fits(self) {
            return Ok(());
        }
        let now = Instant::now();
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, entry)| !entry.live(now))
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            self.remove(&key);
        }
        if fits(self) {
            return Ok(());
        }
        Err(KvError::Full(format!(
            "this hub's store on this node holds its most ({MEMORY_KEYS_PER_HUB} keys, {}): delete some first",
            crate::config::format_bytes(MEMORY_BYTES_PER_HUB)
        )))
    }
}

impl MemoryKv {
    fn with_hub<T>(&self, hub: &str, work: impl FnOnce(&mut HubEntries) -> T) -> T {
        let mut hubs = self.hubs.lock().expect("kv lock");
        work(hubs.entry(hub.to_owned()).or_default())
    }
}

#[async_trait::async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, hub: &str, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        Ok(self.with_hub(hub, |store| match store.entries.get(key) {
            Some(entry) if entry.live(now) => Some(entry.value.clone()),
            Some(_) => {
                store.remove(key);
                None
            }
            None => None,
        }))
    }

    async fn set(
        &self,
        hub: &str,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let expires = ttl.map(|ttl| Instant::now() + ttl);
        self.with_hub(hub, |store| {
            store.make_room(key, value.len())?;
            store.insert(
                key,
                Entry {
                    value: value.to_owned(),
                    expires,
                },
            );
            Ok(())
        })
    }

    async fn delete(&self, hub: &str, key: &str) -> Result<bool, KvError> {
        let now = Instant::now();
        Ok(self.with_hub(hub, |store| {
            store.remove(key).is_some_and(|entry| entry.live(now))
        }))
    }

    async fn increment(&self, hub: &str, key: &str, by: i64) -> Result<i64, KvError> {
        let now = Instant::now();
        self.with_hub(hub, |store| {
            let (current, expires) = match store.entries.get(key) {
                Some(entry) if entry.live(now) => (
                    strict_integer(&entry.value).ok_or_else(|| not_an_integer(key))?,
                    entry.expires,
                ),
                _ => (0, None),
            };
            let sum = current.checked_add(by).ok_or_else(|| overflow(key))?;
            let value = sum.to_string();
            store.make_room(key, value.len())?;
            // As Redis's INCRBY: the expiry, if any, stays.
            store.insert(key, Entry { value, expires });
            Ok(sum)
        })
    }

    async fn keys(&self, hub: &str, prefix: &str, limit: usize) -> Result<Vec<String>, KvError> {
        let now = Instant::now();
        Ok(self.with_hub(hub, |store| {
            store
                .entries
                .range(prefix.to_owned()..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .filter(|(_, entry)| entry.live(now))
                .map(|(key, _)| key.clone())
                .take(limit)
                .collect()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_keeps_hubs_apart_and_honours_expiry() {
        let kv = MemoryKv::default();
        kv.set("chat", "room:a", "1", None).await.unwrap();
        kv.set("chat", "room:b", "2", Some(Duration::from_millis(30)))
            .await
            .unwrap();
        kv.set("chat", "other", "3", None).await.unwrap();
        assert_eq!(
            kv.get("chat", "room:a").await.unwrap().as_deref(),
            Some("1")
        );
        assert_eq!(
            kv.get("games", "room:a").await.unwrap(),
            None,
            "another hub's"
        );
        assert_eq!(
            kv.keys("chat", "room:", 10).await.unwrap(),
            ["room:a", "room:b"]
        );
        assert_eq!(kv.keys("chat", "room:", 1).await.unwrap(), ["room:a"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(kv.get("chat", "room:b").await.unwrap(), None, "expired");
        assert_eq!(kv.keys("chat", "", 10).await.unwrap(), ["other", "room:a"]);
        assert!(kv.delete("chat", "other").await.unwrap());
        assert!(!kv.delete("chat", "other").await.unwrap());
    }

    #[tokio::test]
    async fn increment_counts_from_zero_and_refuses_what_is_not_an_integer() {
        let kv = MemoryKv::default();
        assert_eq!(kv.increment("h", "n", 5).await.unwrap(), 5);
        assert_eq!(kv.increment("h", "n", -7).await.unwrap(), -2);
        kv.set("h", "text", "hello", None).await.unwrap();
        assert_eq!(
            kv.increment("h", "text", 1).await,
            Err(not_an_integer("text"))
        );
        kv.set("h", "big", &i64::MAX.to_string(), None)
            .await
            .unwrap();
        assert_eq!(kv.increment("h", "big", 1).await, Err(overflow("big")));
    }

    #[tokio::test]
    async fn a_hub_has_a_byte_budget_on_a_node() {
        let kv = MemoryKv::default();
        let big = "v".repeat(VALUE_MAX);
        let fits = MEMORY_BYTES_PER_HUB / (VALUE_MAX + 8);
        for i in 0..fits {
            kv.set("h", &format!("k{i:05}"), &big, None).await.unwrap();
        }
        let full = kv.set("h", "one-more", &big, None).await.unwrap_err();
        assert!(matches!(full, KvError::Full(_)), "{full:?}");
        // Replacing a value in place still fits; another hub has its own.
        kv.set("h", "k00000", "small", None).await.unwrap();
        kv.set("other", "k", &big, None).await.unwrap();
        assert!(kv.delete("h", "k00001").await.unwrap());
        kv.set("h", "one-more", &big, None).await.unwrap();
    }

    #[test]
    fn keys_and_values_are_bounded() {
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(KEY_MAX)).is_ok());
        assert!(check_key(&"k".repeat(KEY_MAX + 1)).is_err());
        assert!(check_value(&"v".repeat(VALUE_MAX + 1)).is_err());
        assert!(check_ttl(Some(Duration::ZERO)).is_err());
        assert!(check_ttl(Some(Duration::from_millis(u64::MAX))).is_err());
        assert!(check_ttl(Some(TTL_MAX)).is_ok());
        assert!(check_ttl(None).is_ok());
    }
}

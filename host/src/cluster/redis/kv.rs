//! Each hub's key-value store on the backplane's server: a hub's key `k`
//! is `P:kv:<hub>:k`, one Redis string, so every node sees the same value
//! and `increment` is Redis's atomic INCRBY.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;

use super::Backplane;
use crate::cluster::kv::{KvError, KvStore, not_an_integer, overflow};

/// Matches `keys` collects, at most, before it sorts and cuts to the
/// limit, and SCAN rounds it makes (of about 1,000 keys each): a SCAN
/// walks the whole keyspace, so its work is bounded here. Past either,
/// the answer is the sorted part found (documented).
const SCANNED_MAX: usize = 10_000;
const SCAN_ROUNDS_MAX: usize = 100;

/// The store of a cluster node.
pub struct RedisKv {
    backplane: Arc<Backplane>,
}

impl RedisKv {
    pub fn new(backplane: Arc<Backplane>) -> Self {
        Self { backplane }
    }

    fn key(&self, hub: &str, key: &str) -> String {
        format!("{}{key}", self.backplane.keys.kv_prefix(hub))
    }
}

/// A Redis error as the hub sees it: out of memory is a full store, a
/// refused command a refusal, anything else an unreachable store.
fn unavailable(error: redis::RedisError) -> KvError {
    match error.code() {
        Some("OOM") => KvError::Full(format!("the key-value store is full ({error})")),
        Some(_) => KvError::Unavailable(format!("the key-value store refused the call ({error})")),
        None => KvError::Unavailable(format!("the key-value store is unreachable ({error})")),
    }
}

/// `text` as a SCAN MATCH pattern that matches only itself.
fn glob_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait::async_trait]
impl KvStore for RedisKv {
    async fn get(&self, hub: &str, key: &str) -> Result<Option<String>, KvError> {
        self.backplane
            .conn()
            .get(self.key(hub, key))
            .await
            .map_err(unavailable)
    }

    async fn set(
        &self,
        hub: &str,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let mut options = redis::SetOptions::default();
        if let Some(ttl) = ttl {
            // PX 0 is refused: the shortest expiry is 1 ms.
            let ms = (ttl.as_millis() as u64).max(1);
            options = options.with_expiration(redis::SetExpiry::PX(ms));
        }
        self.backplane
            .conn()
            .set_options(self.key(hub, key), value, options)
            .await
            .map_err(unavailable)
    }

    async fn delete(&self, hub: &str, key: &str) -> Result<bool, KvError> {
        let removed: u64 = self
            .backplane
            .conn()
            .del(self.key(hub, key))
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }

    async fn increment(&self, hub: &str, key: &str, by: i64) -> Result<i64, KvError> {
        self.backplane
            .conn()
            .incr(self.key(hub, key), by)
            .await
            .map_err(|error| match error.detail() {
                Some(detail) if detail.contains("overflow") => overflow(key),
                Some(detail) if detail.contains("not an integer") => not_an_integer(key),
                _ => unavailable(error),
            })
    }

    async fn keys(&self, hub: &str, prefix: &str, limit: usize) -> Result<Vec<String>, KvError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let base = self.backplane.keys.kv_prefix(hub);
        let pattern = format!("{}{}*", glob_literal(&base), glob_literal(prefix));
        let mut conn = self.backplane.conn();
        let mut found: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        for _ in 0..SCAN_ROUNDS_MAX {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            found.extend(
                batch
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&base).map(str::to_owned)),
            );
            cursor = next;
            if cursor == 0 || found.len() >= SCANNED_MAX {
                break;
            }
        }
        if cursor != 0 {
            tracing::debug!(
                hub,
                prefix,
                "kv keys: the scan stopped at its bound; the answer is partial"
            );
        }
        found.sort();
        found.dedup();
        found.truncate(limit);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_characters_match_only_themselves() {
        assert_eq!(super::glob_literal("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}

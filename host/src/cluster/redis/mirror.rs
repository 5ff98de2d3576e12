//! Mirroring this node's registrations into Redis, in order, per
//! connection.
//!
//! Every write for one connection (register, a user or group change,
//! unregister, a resync of it) takes that connection's write lock before
//! it reads or changes the local record, and holds it until its MULTI is
//! answered. So the last write to land is always the latest state: an
//! update that loses a race with the unregister finds the connection gone
//! and writes nothing, instead of re-creating a ghost registration that
//! nothing would remove. Locks are striped (a fixed table, no per-id
//! state to clean up); only a resync holds several, always in ascending
//! order, so no two writers wait on each other in a cycle.
//!
//! A resync re-registers every local connection and reconciles: whatever
//! Redis lists as this node's that this node does not hold is removed.
//! Both run in bounded batches, so a node with 100,000 connections never
//! sends one giant MULTI under the command timeout.

use std::collections::{BTreeSet, HashSet};
use std::hash::{Hash, Hasher};

use redis::AsyncCommands;
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::Backplane;
use crate::cluster::ConnectionRecord;

/// Connections written in one MULTI by a resync or a sweep.
pub const BATCH: usize = 500;

/// Striped write locks, one stripe per connection id's hash.
pub struct WriteLocks {
    stripes: Vec<Arc<Mutex<()>>>,
}

const STRIPES: usize = 1024;

impl Default for WriteLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
        }
    }
}

impl WriteLocks {
    fn stripe(id: &str) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        (hasher.finish() % STRIPES as u64) as usize
    }

    /// The write lock of one connection.
    pub async fn lock(&self, id: &str) -> OwnedMutexGuard<()> {
        self.stripes[Self::stripe(id)].clone().lock_owned().await
    }

    /// The write locks of several connections, taken in ascending stripe
    /// order (each stripe once).
    async fn lock_all<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Vec<OwnedMutexGuard<()>> {
        let stripes: BTreeSet<usize> = ids.map(Self::stripe).collect();
        let mut guards = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            guards.push(self.stripes[stripe].clone().lock_owned().await);
        }
        guards
    }
}

impl Backplane {
    /// The write lock of one connection: held around a change of its
    /// local record and the write that mirrors it.
    pub async fn write_lock(&self, id: &str) -> OwnedMutexGuard<()> {
        self.writes.lock(id).await
    }

    /// Adds the writes that register `record` to a MULTI pipeline.
    pub(super) fn add_registration(&self, pipe: &mut redis::Pipeline, record: &ConnectionRecord) {
        let json = serde_json::to_string(record).expect("records serialize");
        pipe.set(self.keys.connection(&record.id), json).ignore();
        for index in self.keys.indexes(record) {
            pipe.sadd(index, &record.id).ignore();
        }
        pipe.sadd(self.keys.node_connections(&record.node), &record.id)
            .ignore();
    }

    /// Adds the writes that remove `record` to a MULTI pipeline.
    pub(super) fn add_removal(&self, pipe: &mut redis::Pipeline, record: &ConnectionRecord) {
        pipe.del(self.keys.connection(&record.id)).ignore();
        for index in self.keys.indexes(record) {
            pipe.srem(index, &record.id).ignore();
        }
        pipe.srem(self.keys.node_connections(&record.node), &record.id)
            .ignore();
    }

    async fn run(&self, pipe: &redis::Pipeline) -> redis::RedisResult<()> {
        pipe.query_async::<()>(&mut self.conn()).await
    }

    fn write_failed(&self, what: &str, error: &redis::RedisError) {
        tracing::warn!(%error, "backplane {what} failed; will re-register when Redis answers");
        self.needs_resync
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Mirrors a new local connection. Call with its write lock held.
    pub async fn register(&self, record: &ConnectionRecord) {
        let mut pipe = redis::pipe();
        pipe.atomic();
        self.add_registration(&mut pipe, record);
        if let Err(e) = self.run(&pipe).await {
            self.write_failed("registration", &e);
        }
    }

    /// Mirrors a change of a local connection's record. Call with its
    /// write lock held, `old` read under it before the change.
    pub async fn update(&self, old: &ConnectionRecord, new: &ConnectionRecord) {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let kept: HashSet<String> = self.keys.indexes(new).into_iter().collect();
        for index in self.keys.indexes(old) {
            if !kept.contains(&index) {
                pipe.srem(index, &old.id).ignore();
            }
        }
        self.add_registration(&mut pipe, new);
        if let Err(e) = self.run(&pipe).await {
            self.write_failed("update", &e);
        }
    }

    /// Removes a local connection's registration. Call with its write
    /// lock held. A removal that fails is redone by the next resync,
    /// which removes whatever this node no longer holds.
    pub async fn unregister(&self, record: &ConnectionRecord) {
        let mut pipe = redis::pipe();
        pipe.atomic();
        self.add_removal(&mut pipe, record);
        if let Err(e) = self.run(&pipe).await {
            self.write_failed("removal", &e);
        }
    }

    /// Writes every local connection's registration again, then removes
    /// what Redis lists as this node's that it does not hold (a removal
    /// that failed while Redis was away, or any leftover). In batches of
    /// [`BATCH`], each under its connections' write locks.
    pub(super) async fn resync(&self) -> redis::RedisResult<(usize, usize)> {
        let mut ids: Vec<String> = self.local.records().into_iter().map(|r| r.id).collect();
        ids.sort();
        let mut written = 0;
        for batch in ids.chunks(BATCH) {
            let _locks = self.writes.lock_all(batch.iter().map(String::as_str)).await;
            let mut pipe = redis::pipe();
            pipe.atomic();
            for id in batch {
                // Read again under the lock: it may have left meanwhile.
                if let Some(record) = self.local.record(id) {
                    self.add_registration(&mut pipe, &record);
                    written += 1;
                }
            }
            self.run(&pipe).await?;
        }
        let removed = self.reconcile().await?;
        Ok((written, removed))
    }

    /// Removes registrations Redis lists for this node that this node
    /// does not hold. Returns how many.
    async fn reconcile(&self) -> redis::RedisResult<usize> {
        let mut conn = self.conn();
        let listed: Vec<String> = conn
            .smembers(self.keys.node_connections(self.node_id()))
            .await?;
        let extra: Vec<String> = listed
            .into_iter()
            .filter(|id| !self.local.contains(id))
            .collect();
        let mut removed = 0;
        for batch in extra.chunks(BATCH) {
            let _locks = self.writes.lock_all(batch.iter().map(String::as_str)).await;
            // Registered meanwhile (under its lock): not an extra after all.
            let gone: Vec<&String> = batch.iter().filter(|id| !self.local.contains(id)).collect();
            if gone.is_empty() {
                continue;
            }
            removed += self.remove_registrations(&gone, self.node_id()).await?;
        }
        if removed > 0 {
            tracing::info!(
                removed,
                "removed registrations of connections this node no longer holds"
            );
        }
        Ok(removed)
    }

    /// Removes the registrations of `ids` that `node` still owns (a
    /// connection id another node took over is left alone), and takes the
    /// ids out of `node`'s set. One MGET and one MULTI.
    pub(super) async fn remove_registrations(
        &self,
        ids: &[&String],
        node: &str,
    ) -> redis::RedisResult<usize> {
        let mut conn = self.conn();
        let keys: Vec<String> = ids.iter().map(|id| self.keys.connection(id)).collect();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut removed = 0;
        for (id, value) in ids.iter().zip(values) {
            match value.and_then(|v| serde_json::from_str::<ConnectionRecord>(&v).ok()) {
                Some(record) if record.node == node => {
                    self.add_removal(&mut pipe, &record);
                    removed += 1;
                }
                Some(_) => {}
                None => {
                    pipe.del(self.keys.connection(id)).ignore();
                }
            }
            pipe.srem(self.keys.node_connections(node), id.as_str())
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(removed)
    }
}

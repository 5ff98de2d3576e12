//! The host side of the WIT `kv` interface: each hub's own key-value
//! store ([`crate::cluster::kv`]), behind the manifest's `kv` grant.
//! Time spent waiting on the store is not charged to the hub's deadline.

use std::sync::Arc;
use std::time::Duration;

use super::bindings::HubError;
use super::bindings::wasmhub::hub::kv;
use super::state::HostState;
use crate::cluster::kv::{KvError, KvStore, LIST_MAX, check_key, check_ttl, check_value};

type Host<T> = wasmtime::Result<T>;

impl From<KvError> for HubError {
    fn from(error: KvError) -> Self {
        match error {
            KvError::Invalid(m) => HubError::InvalidArgument(m),
            KvError::Full(m) | KvError::Unavailable(m) => HubError::Unavailable(m),
        }
    }
}

impl HostState {
    /// The hub's lowercase name and its store, when its manifest grants
    /// one and `key` is one it may use.
    fn kv_for(&self, key: Option<&str>) -> Result<(String, Arc<dyn KvStore>), HubError> {
        if !self.env.grants.kv {
            return Err(HubError::Unauthorized(format!(
                "the hub '{}' has no key-value store: grant it in its manifest ({}.toml beside {}.wasm) with [grants] kv = true",
                self.env.hub, self.env.hub, self.env.hub
            )));
        }
        if let Some(key) = key {
            check_key(key)?;
        }
        Ok((
            crate::names::hub_key(&self.env.hub),
            self.env.cluster.kv().clone(),
        ))
    }
}

/// The store and hub for a call, or the call's error at once.
macro_rules! store_for {
    ($state:expr, $key:expr) => {
        match $state.kv_for($key) {
            Ok(found) => found,
            Err(error) => return Ok(Err(error)),
        }
    };
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Host<Result<Option<String>, HubError>> {
        let (hub, store) = store_for!(self, Some(&key));
        Ok(self
            .waiting(store.get(&hub, &key))
            .await
            .map_err(HubError::from))
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    ) -> Host<Result<(), HubError>> {
        let (hub, store) = store_for!(self, Some(&key));
        let ttl = ttl_ms.map(Duration::from_millis);
        if let Err(e) = check_value(&value).and_then(|()| check_ttl(ttl)) {
            return Ok(Err(e.into()));
        }
        Ok(self
            .waiting(store.set(&hub, &key, &value, ttl))
            .await
            .map_err(HubError::from))
    }

    async fn delete(&mut self, key: String) -> Host<Result<bool, HubError>> {
        let (hub, store) = store_for!(self, Some(&key));
        Ok(self
            .waiting(store.delete(&hub, &key))
            .await
            .map_err(HubError::from))
    }

    async fn increment(&mut self, key: String, by: i64) -> Host<Result<i64, HubError>> {
        let (hub, store) = store_for!(self, Some(&key));
        Ok(self
            .waiting(store.increment(&hub, &key, by))
            .await
            .map_err(HubError::from))
    }

    async fn keys(&mut self, prefix: String, limit: u32) -> Host<Result<Vec<String>, HubError>> {
        let (hub, store) = store_for!(self, None);
        let limit = limit.min(LIST_MAX) as usize;
        Ok(self
            .waiting(store.keys(&hub, &prefix, limit))
            .await
            .map_err(HubError::from))
    }
}

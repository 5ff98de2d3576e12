//! The host side of the WIT `kv` interface: each hub's own key-value
//! store ([`crate::cluster::kv`]), behind the manifest's `kv` grant.
//! Time spent waiting on the store is not charged to the hub's deadline.

use std::time::Duration;

use super::bindings::HubError;
use super::bindings::wasmhub::hub::kv;
use super::state::HostState;
use crate::cluster::kv::{KvError, LIST_MAX, check_key, check_value};

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
    /// The hub's lowercase name, when its manifest grants the store.
    fn kv_hub(&self) -> Result<String, HubError> {
        if !self.env.grants.kv {
            return Err(HubError::Unauthorized(format!(
                "the hub '{}' has no key-value store: grant it in its manifest ({}.toml beside {}.wasm) with [grants] kv = true",
                self.env.hub, self.env.hub, self.env.hub
            )));
        }
        Ok(crate::names::hub_key(&self.env.hub))
    }
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Host<Result<Option<String>, HubError>> {
        let hub = match self.kv_hub() {
            Ok(hub) => hub,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = check_key(&key) {
            return Ok(Err(e.into()));
        }
        let store = self.env.cluster.kv().clone();
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
        let hub = match self.kv_hub() {
            Ok(hub) => hub,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = check_key(&key).and_then(|()| check_value(&value)) {
            return Ok(Err(e.into()));
        }
        let store = self.env.cluster.kv().clone();
        let ttl = ttl_ms.map(Duration::from_millis);
        Ok(self
            .waiting(store.set(&hub, &key, &value, ttl))
            .await
            .map_err(HubError::from))
    }

    async fn delete(&mut self, key: String) -> Host<Result<bool, HubError>> {
        let hub = match self.kv_hub() {
            Ok(hub) => hub,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = check_key(&key) {
            return Ok(Err(e.into()));
        }
        let store = self.env.cluster.kv().clone();
        Ok(self
            .waiting(store.delete(&hub, &key))
            .await
            .map_err(HubError::from))
    }

    async fn increment(&mut self, key: String, by: i64) -> Host<Result<i64, HubError>> {
        let hub = match self.kv_hub() {
            Ok(hub) => hub,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = check_key(&key) {
            return Ok(Err(e.into()));
        }
        let store = self.env.cluster.kv().clone();
        Ok(self
            .waiting(store.increment(&hub, &key, by))
            .await
            .map_err(HubError::from))
    }

    async fn keys(&mut self, prefix: String, limit: u32) -> Host<Result<Vec<String>, HubError>> {
        let hub = match self.kv_hub() {
            Ok(hub) => hub,
            Err(e) => return Ok(Err(e)),
        };
        let store = self.env.cluster.kv().clone();
        let limit = limit.min(LIST_MAX) as usize;
        Ok(self
            .waiting(store.keys(&hub, &prefix, limit))
            .await
            .map_err(HubError::from))
    }
}

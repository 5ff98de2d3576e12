//! The one wasmtime engine of the process, configured as measured in
//! `shared/reference/wasm-host.md`: concurrency support off (4.5x cheaper
//! calls with sync WIT), epoch interruption for per-call deadlines, and
//! the pooling allocator for cheap instantiation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::{CacheStore, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of hub deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine. Falls back to on-demand allocation when the
/// machine refuses the pooling allocator's virtual memory reservation.
/// With `incremental`, Cranelift keeps every function it compiled and
/// reuses it when a new version of a hub holds the same function: a
/// rebuilt Python or JavaScript hub (an interpreter and a little code)
/// then compiles in a fraction of the time (`wasmhub dev`).
pub fn build(hub_memory: usize, total_instances: u32, incremental: bool) -> anyhow::Result<Engine> {
    let mut config = base_config();
    if incremental {
        config.enable_incremental_compilation(Arc::new(FunctionCache::default()))?;
    }
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(total_instances)
        .total_core_instances(total_instances * 4)
        .total_memories(total_instances * 2)
        .total_tables(total_instances * 2)
        .total_stacks(total_instances)
        .max_memory_size(hub_memory)
        .max_core_instances_per_component(200)
        .max_memories_per_component(32)
        .max_tables_per_component(64)
        .table_elements(100_000)
        // A freed slot stays "warm" (affine to its module) without keeping
        // its pages: after many hub swaps, slots of versions long gone
        // must not hold memory.
        .max_unused_warm_slots(32)
        .linear_memory_keep_resident(0)
        .table_keep_resident(0);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            tracing::warn!(%error, "pooling allocator unavailable; instantiating on demand");
            let mut config = base_config();
            if incremental {
                config.enable_incremental_compilation(Arc::new(FunctionCache::default()))?;
            }
            Ok(Engine::new(&config)?)
        }
    }
}

/// Bytes of compiled functions [`FunctionCache`] keeps, at most; past it,
/// new functions are compiled but not kept.
const FUNCTION_CACHE_BYTES: usize = 512 << 20;

/// Cranelift's incremental cache, in memory for the process's life.
#[derive(Debug, Default)]
struct FunctionCache {
    entries: Mutex<Functions>,
}

/// Compiled functions by Cranelift's key, and their bytes.
#[derive(Debug, Default)]
struct Functions {
    by_key: HashMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let entries = self.entries.lock().expect("function cache lock");
        entries
            .by_key
            .get(key)
            .map(|value| Cow::Owned(value.clone()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let mut entries = self.entries.lock().expect("function cache lock");
        let size = key.len() + value.len();
        if entries.bytes + size > FUNCTION_CACHE_BYTES {
            return false;
        }
        entries.bytes += size;
        entries.by_key.insert(key.to_vec(), value);
        true
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.concurrency_support(false);
    config.epoch_interruption(true);
    config.max_wasm_stack(512 << 10);
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread of its
/// own, so deadlines fire even when every tokio worker runs a hub.
pub fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("wasmhub-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_cache_keeps_what_fits_and_no_more() {
        let cache = FunctionCache::default();
        assert!(cache.insert(b"a", vec![1; 10]));
        assert_eq!(cache.get(b"a").as_deref(), Some(&[1u8; 10][..]));
        assert!(cache.get(b"b").is_none());
        assert!(!cache.insert(b"big", vec![0; FUNCTION_CACHE_BYTES]));
        assert!(cache.get(b"big").is_none());
    }
}

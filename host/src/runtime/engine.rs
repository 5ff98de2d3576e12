//! The one wasmtime engine of the process, configured as measured in
//! `shared/reference/wasm-host.md`: concurrency support off (4.5x cheaper
//! calls with sync WIT), epoch interruption for per-call deadlines, and
//! the pooling allocator for cheap instantiation.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of hub deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine. Falls back to on-demand allocation when the
/// machine refuses the pooling allocator's virtual memory reservation.
pub fn build(hub_memory: usize, total_instances: u32) -> anyhow::Result<Engine> {
    let mut config = base_config();
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
            Ok(Engine::new(&base_config())?)
        }
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

//! What one store (one hub instance) carries: WASI's sandboxed context,
//! the resource table, its memory limit, its printed output, and the facts
//! of the call it is serving right now.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::ConnectionContext;
use super::cpu::{CpuSlots, CpuTurn};
use super::output::GuestOutput;
use crate::cluster::Cluster;

/// Facts shared by every instance of one hub.
pub struct HubEnv {
    pub hub: String,
    pub cluster: Arc<Cluster>,
    /// Default wait for a client result when the hub names none, and the
    /// longest it may name (this version's).
    pub invoke_timeout: Duration,
    /// Largest message (method name and arguments) a hub may send.
    pub max_outbound_message: usize,
    /// What its manifest grants (its key-value store, HTTP hosts).
    pub grants: super::manifest::Grants,
    /// Its outbound HTTP bounds: the operator's hosts, its timeout and
    /// response cap.
    pub http: crate::outbound::HttpLimits,
    /// Its WIT `http` requests' client, whose pool lives with the version.
    pub http_client: crate::outbound::Client,
    /// Keeps one hub from flooding the host's log.
    pub log_budget: LogBudget,
    /// The node-wide CPU slots long calls run in.
    pub cpu: CpuSlots,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Log lines one hub version may write per second; more are dropped and
/// counted, and the count is logged once the next second begins.
pub const LOG_LINES_PER_SECOND: u32 = 100;

/// A once-per-second window of hub log lines.
#[derive(Default)]
pub struct LogBudget {
    window: Mutex<LogWindow>,
}

#[derive(Default)]
struct LogWindow {
    started: Option<Instant>,
    lines: u32,
    dropped: u64,
}

impl LogBudget {
    /// Whether one more line of `hub` may be written now; the first line
    /// of a second after lines were dropped also logs their count.
    pub fn admit(&self, hub: &str) -> bool {
        let (allowed, dropped) = self.take();
        if dropped > 0 {
            tracing::warn!(target: "hub", hub, dropped, "hub log lines dropped: more than {LOG_LINES_PER_SECOND} a second");
        }
        allowed
    }

    /// Whether one more line may be written now, and how many lines were
    /// dropped in the window that just ended (to report once).
    fn take(&self) -> (bool, u64) {
        let mut window = self.window.lock().expect("log budget lock");
        let now = Instant::now();
        let mut dropped_before = 0;
        if window
            .started
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            dropped_before = std::mem::take(&mut window.dropped);
            window.started = Some(now);
            window.lines = 0;
        }
        if window.lines < LOG_LINES_PER_SECOND {
            window.lines += 1;
            (true, dropped_before)
        } else {
            window.dropped += 1;
            (false, dropped_before)
        }
    }
}

/// The call an instance is serving.
pub struct CallContext {
    /// The connection whose call this is (`caller.details()`).
    pub caller: Option<Arc<ConnectionContext>>,
    /// For logs: `invoke:Send`, `on-connected`, ...
    pub what: String,
    started: Instant,
    /// Time spent awaiting host imports, which is not the hub's to pay.
    host_wait: Duration,
    budget: Duration,
    /// Its item sink, uploads and cancellation (empty for most calls).
    pub streams: super::streams::CallStreams,
}

impl CallContext {
    pub fn new(caller: Option<Arc<ConnectionContext>>, what: String, budget: Duration) -> Self {
        Self {
            caller,
            what,
            started: Instant::now(),
            host_wait: Duration::ZERO,
            budget,
            streams: Default::default(),
        }
    }

    /// Time since the call began, and the part the hub itself ran (not
    /// awaiting the host).
    pub fn elapsed(&self) -> (Duration, Duration) {
        let total = self.started.elapsed();
        (total, total.saturating_sub(self.host_wait))
    }

    /// The hub's own running time allowed for this call.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// True while the hub's own running time is within its budget.
    fn within_budget(&self) -> bool {
        self.started.elapsed().saturating_sub(self.host_wait) < self.budget
    }
}

/// The data of a hub's store.
pub struct HostState {
    wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    /// What it printed (`output.rs`).
    pub output: GuestOutput,
    pub env: Arc<HubEnv>,
    pub call: Option<CallContext>,
    /// Set when the epoch callback stopped the hub for running too long.
    pub deadline_hit: bool,
    /// This instance's turn on a CPU slot, while a call runs long.
    pub cpu_turn: CpuTurn,
    /// `wasi:http`'s state, and the hooks that hold its requests to the
    /// hub's grant (`http.rs`).
    pub http_ctx: wasmtime_wasi_http::WasiHttpCtx,
    pub http_hooks: super::http::GrantHooks,
}

impl HostState {
    pub fn new(env: Arc<HubEnv>, memory_limit: usize) -> Self {
        let output = GuestOutput::new(env.clone());
        // No filesystem, no network, no environment, no stdin: a hub sees
        // only its world's imports and a clock and randomness.
        let wasi = WasiCtx::builder()
            .stdout(output.stdout())
            .stderr(output.stderr())
            .build();
        Self {
            wasi,
            http_ctx: Default::default(),
            http_hooks: super::http::GrantHooks::new(env.clone()),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_limit),
            output,
            env,
            call: None,
            deadline_hit: false,
            cpu_turn: CpuTurn::default(),
        }
    }

    /// The epoch callback's verdict at every tick: stop the hub (past its
    /// deadline), or let it run one more tick once it has a CPU slot
    /// (see `cpu.rs`). Time spent waiting for slots is the host's.
    pub fn next_tick(&mut self) -> wasmtime::UpdateDeadline {
        let waited = self.cpu_turn.take_waited();
        self.add_host_wait(waited);
        if !self.call.as_ref().is_none_or(CallContext::within_budget) {
            self.deadline_hit = true;
            self.cpu_turn.release();
            return wasmtime::UpdateDeadline::Interrupt;
        }
        // A short call that merely straddles a tick runs on without
        // queueing behind the long ones.
        let ran = self.call.as_ref().map(|c| c.elapsed().1);
        if ran.is_some_and(|ran| ran < super::engine::EPOCH_TICK) {
            return wasmtime::UpdateDeadline::Continue(1);
        }
        wasmtime::UpdateDeadline::YieldCustom(1, self.cpu_turn.next_tick(&self.env.cpu))
    }

    /// Accounts time spent in a host import that awaited something.
    pub fn add_host_wait(&mut self, waited: Duration) {
        if let Some(call) = self.call.as_mut() {
            call.host_wait += waited;
        }
    }

    /// The connection whose call is running.
    pub fn caller(&self) -> Option<&Arc<ConnectionContext>> {
        self.call.as_ref().and_then(|c| c.caller.as_ref())
    }
}

impl wasmtime_wasi_http::WasiHttpView for HostState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps a store's linear memory, all of its memories together (a
/// component may declare several); remembers whether the cap was hit and
/// how large memory has grown (for recycling warm instances).
pub struct MemoryLimiter {
    limit: usize,
    /// Bytes of every memory of the instance together.
    total: usize,
    pub peak: usize,
    pub exceeded: bool,
    /// Table elements of every table together.
    table_elements: usize,
}

/// Table elements one instance may hold, all tables together.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            total: 0,
            peak: 0,
            exceeded: false,
            table_elements: 0,
        }
    }
}

impl MemoryLimiter {
    /// The cap, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        // Memories are created with `current == 0` and only grow, so the
        // running sum is every memory's size.
        let total = self.total - current.min(self.total) + desired;
        if total > self.limit {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "the hub exceeded its memory limit of {}",
                crate::config::format_bytes(self.limit)
            ));
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        let total = self.table_elements - current.min(self.table_elements) + desired;
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = total;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_cap_holds_for_all_memories_of_an_instance_together() {
        let mut limiter = MemoryLimiter::new(10 << 20);
        // Two memories of 4 MiB each fit...
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(limiter.peak, 8 << 20);
        // ...a third does not, though it alone is under the cap.
        assert!(limiter.memory_growing(0, 4 << 20, None).is_err());
        assert!(limiter.exceeded);
        // Growing one of them counts only the growth.
        let mut limiter = MemoryLimiter::new(10 << 20);
        limiter.memory_growing(0, 4 << 20, None).unwrap();
        limiter.memory_growing(0, 2 << 20, None).unwrap();
        assert!(limiter.memory_growing(4 << 20, 8 << 20, None).unwrap());
        assert_eq!(limiter.peak, 10 << 20);
        assert!(limiter.memory_growing(2 << 20, 3 << 20, None).is_err());
    }

    #[test]
    fn table_elements_are_capped_per_instance() {
        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(limiter.table_growing(0, 600_000, None).unwrap());
        assert!(!limiter.table_growing(0, 600_000, None).unwrap());
        assert!(limiter.table_growing(600_000, 1_000_000, None).unwrap());
    }
}

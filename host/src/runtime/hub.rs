//! One loaded version of a hub and the warm instances that serve it.
//!
//! Each call checks out an instance (a store plus the instantiated hub),
//! serves exactly one call on it, and returns it to the pool unless the
//! call trapped, the instance served its quota of calls, or its memory
//! grew past half the cap: linear memory never shrinks, so recycling is
//! how a long-lived instance gives it back. A trap costs only that call.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Engine, Store};

use super::ConnectionContext;
use super::bindings::{Accepted, Caller, Connection, Hub, HubError, HubPre};
use super::error::CallError;
use super::state::{CallContext, HostState, HubEnv};
use super::streams::CallStreams;

/// Limits every instance of a hub runs under: the host's flags, lowered
/// by the hub's manifest (`manifest.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceLimits {
    pub deadline: Duration,
    pub memory: usize,
    pub max_calls: u32,
    pub max_instances: usize,
    /// Largest message a hub may send: what one connection may have
    /// waiting (`--outbound-buffer`). A larger one is the hub's error,
    /// not a close of every recipient.
    pub max_outbound_message: usize,
    /// Default wait for a client result when the hub names none, and the
    /// longest it may name.
    pub invoke_timeout: Duration,
    /// Outbound HTTP: the operator's hosts, and the hub's timeout and
    /// response cap.
    pub http: crate::outbound::HttpLimits,
}

/// What a version has done, for `/healthz` and benchmarks.
#[derive(Default)]
pub struct CallStats {
    pub calls: AtomicU64,
    pub traps: AtomicU64,
    pub instances: AtomicU64,
    /// Time spent making instances (instantiate and `init`).
    pub instantiate_nanos: AtomicU64,
    /// Wall time of calls, host imports included.
    pub call_nanos: AtomicU64,
    /// The part of it the hub's own code ran.
    pub guest_nanos: AtomicU64,
}

/// The start-up check's call name; not counted in the stats.
const SMOKE: &str = "load";

/// Idle warm instances kept per version.
const MAX_IDLE: usize = 16;

/// A hub's compiled, type-checked code and its instance pool.
pub struct HubVersion {
    pub name: String,
    /// Hex sha256 of the `.wasm` file.
    pub sha256: String,
    pub loaded_at: SystemTime,
    engine: Engine,
    pre: HubPre<HostState>,
    env: Arc<HubEnv>,
    limits: InstanceLimits,
    /// Its limits, grants and the manifest they came from.
    pub settings: super::manifest::HubSettings,
    idle: Mutex<Vec<Warm>>,
    running: Arc<Semaphore>,
    pub stats: CallStats,
    /// Whether this version serves now (its warm instances are the
    /// gauge's); set by the runtime's swap and retire.
    serving: AtomicBool,
}

struct Warm {
    store: Store<HostState>,
    hub: Hub,
    calls: u32,
}

/// A checked-out instance; the permit bounds instances running at once.
struct Lease {
    warm: Warm,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    /// Gives the call its streams (items, uploads, cancellation).
    fn set_streams(&mut self, streams: CallStreams) {
        if let Some(call) = self.warm.store.data_mut().call.as_mut() {
            call.streams = streams;
        }
    }
}

impl HubVersion {
    pub(super) fn new(
        name: String,
        sha256: String,
        engine: Engine,
        pre: HubPre<HostState>,
        env: Arc<HubEnv>,
        settings: super::manifest::HubSettings,
    ) -> Self {
        let limits = settings.limits.clone();
        let running = Arc::new(Semaphore::new(limits.max_instances));
        Self {
            name,
            sha256,
            loaded_at: SystemTime::now(),
            engine,
            pre,
            env,
            limits,
            settings,
            idle: Mutex::new(Vec::new()),
            running,
            stats: CallStats::default(),
            serving: AtomicBool::new(false),
        }
    }

    /// The limits this version's instances run under.
    pub fn limits(&self) -> &InstanceLimits {
        &self.limits
    }

    /// Marks this version as the one serving its hub, or no more.
    pub(super) fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::Relaxed);
        if serving {
            let warm = self.idle.lock().expect("idle lock").len();
            self.warm_gauge(warm);
        }
    }

    fn metrics(&self) -> &crate::metrics::HubMetrics {
        &self.env.metrics.hubs
    }

    /// Sets the warm-instances gauge, for the version serving only (an
    /// old version still finishing its calls does not count).
    fn warm_gauge(&self, warm: usize) {
        if self.serving.load(Ordering::Relaxed) {
            self.metrics()
                .instances_warm
                .with_label_values(&[&self.name])
                .set(warm as i64);
        }
    }

    async fn instantiate(&self) -> Result<Warm, CallError> {
        let started = std::time::Instant::now();
        let made = self.instantiate_and_init().await;
        self.stats.instances.fetch_add(1, Ordering::Relaxed);
        self.metrics()
            .instances_created
            .with_label_values(&[&self.name])
            .inc();
        self.stats
            .instantiate_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        made
    }

    async fn instantiate_and_init(&self) -> Result<Warm, CallError> {
        let mut store = Store::new(
            &self.engine,
            HostState::new(self.env.clone(), self.limits.memory),
        );
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|mut ctx| Ok(ctx.data_mut().next_tick()));
        store.set_epoch_deadline(1);
        // The component's start functions run inside instantiation: a
        // looping one must hit the deadline like any call.
        store.data_mut().call = Some(CallContext::new(
            None,
            "instantiate".into(),
            self.limits.deadline,
        ));
        let hub = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| classify(&store, &e))?;
        // `init` runs under the same deadline and memory cap as a call.
        store.data_mut().call = Some(CallContext::new(None, "init".into(), self.limits.deadline));
        match hub.wasmhub_hub_handler().call_init(&mut store).await {
            Ok(Ok(())) => Ok(Warm {
                store,
                hub,
                calls: 0,
            }),
            Ok(Err(error)) => Err(CallError::Hub(error)),
            Err(trap) => Err(classify(&store, &trap)),
        }
    }

    async fn checkout(
        &self,
        caller: Option<&Arc<ConnectionContext>>,
        what: String,
    ) -> Result<Lease, CallError> {
        // Every instance busy (long streams, say) for a whole deadline: the
        // call is refused rather than left waiting without end.
        let permit =
            tokio::time::timeout(self.limits.deadline, self.running.clone().acquire_owned())
                .await
                .map_err(|_| {
                    CallError::Hub(HubError::Unavailable(format!(
                        "all {} instances of the hub are busy",
                        self.limits.max_instances
                    )))
                })?
                .map_err(|_| CallError::Trap("the hub is shutting down".into()))?;
        let idle = {
            let mut idle = self.idle.lock().expect("idle lock");
            let warm = idle.pop();
            self.warm_gauge(idle.len());
            warm
        };
        let mut warm = match idle {
            Some(warm) => warm,
            None => self.instantiate().await?,
        };
        let state = warm.store.data_mut();
        state.call = Some(CallContext::new(
            caller.cloned(),
            what,
            self.limits.deadline,
        ));
        state.deadline_hit = false;
        state.output.begin_call(caller);
        warm.store.set_epoch_deadline(1);
        Ok(Lease {
            warm,
            _permit: permit,
        })
    }

    fn finish<T>(&self, lease: Lease, outcome: wasmtime::Result<T>) -> Result<T, CallError> {
        let mut warm = lease.warm;
        // A call that ran long holds a CPU slot until it ends.
        warm.store.data().cpu_turn.release();
        if let Some(call) = warm.store.data().call.as_ref().filter(|c| c.what != SMOKE) {
            let (total, guest) = call.elapsed();
            self.stats.calls.fetch_add(1, Ordering::Relaxed);
            self.stats
                .call_nanos
                .fetch_add(total.as_nanos() as u64, Ordering::Relaxed);
            self.stats
                .guest_nanos
                .fetch_add(guest.as_nanos() as u64, Ordering::Relaxed);
        }
        match outcome {
            Ok(value) => {
                warm.store.data_mut().call = None;
                warm.calls += 1;
                let peak = warm.store.data().limiter.peak;
                let recycled = if warm.calls >= self.limits.max_calls {
                    Some("max_calls")
                } else if peak > self.limits.memory / 2 {
                    Some("memory")
                } else {
                    let mut idle = self.idle.lock().expect("idle lock");
                    let full = idle.len() >= MAX_IDLE;
                    if !full {
                        idle.push(warm);
                        self.warm_gauge(idle.len());
                    }
                    full.then_some("pool_full")
                };
                if let Some(reason) = recycled {
                    self.metrics()
                        .instances_recycled
                        .with_label_values(&[&self.name, reason])
                        .inc();
                }
                Ok(value)
            }
            Err(error) => {
                self.stats.traps.fetch_add(1, Ordering::Relaxed);
                let metrics = self.metrics();
                metrics
                    .traps
                    .with_label_values(&[&self.name, trap_kind(&warm.store)])
                    .inc();
                metrics
                    .instances_recycled
                    .with_label_values(&[&self.name, "trap"])
                    .inc();
                let failure = classify(&warm.store, &error);
                let call = warm.store.data().call.as_ref().map(|c| c.what.clone());
                self.env.metrics.events.record(
                    crate::events::EventKind::Trap,
                    &self.name,
                    call.as_deref().unwrap_or("call"),
                    &failure.to_string(),
                );
                tracing::warn!(hub = %self.name, call, %failure, "hub call trapped; instance discarded");
                Err(failure)
            }
        }
    }

    /// Runs `on-connected`. `Ok(Some(user))` sets the connection's user.
    pub async fn on_connected(
        &self,
        context: &Arc<ConnectionContext>,
        conn: &Connection,
    ) -> Result<Option<String>, CallError> {
        let mut lease = self.checkout(Some(context), "on-connected".into()).await?;
        let Warm { store, hub, .. } = &mut lease.warm;
        let outcome = hub
            .wasmhub_hub_handler()
            .call_on_connected(store, conn)
            .await;
        let accepted: Result<Accepted, HubError> = self.finish(lease, outcome)?;
        accepted.map(|a| a.user).map_err(CallError::Hub)
    }

    /// Runs `on-disconnected`; failures are only logged by the caller.
    pub async fn on_disconnected(
        &self,
        conn: &Connection,
        error: Option<&str>,
    ) -> Result<(), CallError> {
        let mut lease = self.checkout(None, "on-disconnected".into()).await?;
        let Warm { store, hub, .. } = &mut lease.warm;
        let outcome = hub
            .wasmhub_hub_handler()
            .call_on_disconnected(store, conn, error)
            .await;
        self.finish(lease, outcome)
    }

    /// Runs `invoke` for the caller `context` (whose user is `user`), with
    /// the upload streams and cancellation in `streams`; the result is
    /// checked to be valid JSON text.
    pub async fn invoke(
        &self,
        context: &Arc<ConnectionContext>,
        user: Option<String>,
        call: (&str, &str),
        streams: CallStreams,
    ) -> Result<String, CallError> {
        let caller = Caller {
            id: context.id.clone(),
            user,
        };
        self.invoke_as(Some(context), caller, call, streams).await
    }

    /// Runs `invoke` for the server API: the hub sees the server caller
    /// (an empty id and no user) and `caller.details()` is none.
    pub async fn invoke_from_server(&self, method: &str, args: &str) -> Result<String, CallError> {
        let caller = Caller {
            id: String::new(),
            user: None,
        };
        self.invoke_as(None, caller, (method, args), CallStreams::default())
            .await
    }

    async fn invoke_as(
        &self,
        context: Option<&Arc<ConnectionContext>>,
        caller: Caller,
        (method, args): (&str, &str),
        streams: CallStreams,
    ) -> Result<String, CallError> {
        let mut lease = self.checkout(context, format!("invoke:{method}")).await?;
        lease.set_streams(streams);
        let Warm { store, hub, .. } = &mut lease.warm;
        let outcome = hub
            .wasmhub_hub_handler()
            .call_invoke(store, &caller, method, &args.to_owned())
            .await;
        let result = self.finish(lease, outcome)?.map_err(CallError::Hub)?;
        match serde_json::from_str::<&serde_json::value::RawValue>(&result) {
            Ok(_) => Ok(result),
            Err(e) => Err(CallError::Hub(HubError::Internal(format!(
                "the hub returned invalid JSON ({e})"
            )))),
        }
    }

    /// Runs `invoke-stream`: the hub sends its items into `streams.items`
    /// and returns when the stream is complete.
    pub async fn invoke_stream(
        &self,
        context: &Arc<ConnectionContext>,
        user: Option<String>,
        (method, args): (&str, &str),
        streams: CallStreams,
    ) -> Result<(), CallError> {
        let mut lease = self
            .checkout(Some(context), format!("stream:{method}"))
            .await?;
        lease.set_streams(streams);
        let caller = Caller {
            id: context.id.clone(),
            user,
        };
        let Warm { store, hub, .. } = &mut lease.warm;
        let outcome = hub
            .wasmhub_hub_handler()
            .call_invoke_stream(store, &caller, method, &args.to_owned())
            .await;
        self.finish(lease, outcome)?.map_err(CallError::Hub)
    }

    /// Makes one instance and keeps it warm: proves the component can be
    /// instantiated within its limits before it is published.
    pub(super) async fn smoke_test(&self) -> Result<(), CallError> {
        let lease = self.checkout(None, SMOKE.into()).await?;
        self.finish(lease, Ok(()))
    }
}

/// Names why a call trapped, most specific reason first.
/// The `kind` label of a trap, as [`classify`] tells them apart.
fn trap_kind(store: &Store<HostState>) -> &'static str {
    let state = store.data();
    if state.deadline_hit {
        "deadline"
    } else if state.limiter.exceeded {
        "memory"
    } else if state.output.panic_message().is_some() {
        "panic"
    } else {
        "other"
    }
}

fn classify(store: &Store<HostState>, error: &wasmtime::Error) -> CallError {
    let state = store.data();
    if state.deadline_hit {
        return CallError::Trap(format!(
            "the hub ran past its deadline of {}",
            humantime::format_duration(deadline_of(state))
        ));
    }
    if state.limiter.exceeded {
        return CallError::Trap(format!(
            "the hub exceeded its memory limit of {}",
            crate::config::format_bytes(state.limiter.limit())
        ));
    }
    if let Some(panic) = state.output.panic_message() {
        return CallError::Trap(format!("the hub {panic}"));
    }
    let root = error.root_cause().to_string();
    let text = error.to_string();
    CallError::Trap(if root == text {
        text
    } else {
        format!("{text}: {root}")
    })
}

fn deadline_of(state: &HostState) -> Duration {
    state
        .call
        .as_ref()
        .map(CallContext::budget)
        .unwrap_or_default()
}

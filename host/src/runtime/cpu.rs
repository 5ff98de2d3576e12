//! Sharing the CPU between hub calls and the host's own tasks.
//!
//! Hub code runs on the same tokio workers as sockets and heartbeats.
//! Most calls take microseconds and never notice; a call still running at
//! an epoch tick (every 10 ms) is a long one, and from then on it runs one
//! tick at a time, each time after taking one of a few CPU slots: one
//! fewer than the workers (at least one). So long calls, of any hub, never
//! hold every worker: the rest keep serving other hubs' calls, sockets
//! and the heartbeat. Slots are handed out in order (a fair semaphore),
//! and the time a call waits for one is not charged to its deadline.
//!
//! A call shorter than one tick that merely straddles one runs on without
//! a slot. Measured with `tests/node/fairness.mjs` (README): with 2
//! workers and 16 spinning calls, another hub's call took p50 304 ms / p99
//! 362 ms before, 0.8 ms / 5 ms with slots.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The node-wide slots long hub calls run in.
#[derive(Clone)]
pub struct CpuSlots {
    slots: Arc<Semaphore>,
}

impl CpuSlots {
    /// Slots for a runtime with `workers` threads: all but one of them.
    pub fn for_workers(workers: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(workers.saturating_sub(1).max(1))),
        }
    }

    /// The slots for this process's tokio runtime (one worker per core).
    pub fn for_this_machine() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        Self::for_workers(workers)
    }
}

/// One store's turn on a CPU slot.
#[derive(Default, Clone)]
pub struct CpuTurn {
    state: Arc<Mutex<Turn>>,
}

#[derive(Default)]
struct Turn {
    /// The slot held while the call runs its current tick.
    permit: Option<OwnedSemaphorePermit>,
    /// Time spent waiting for slots since last asked.
    waited: Duration,
}

impl CpuTurn {
    /// Gives the slot back and returns a future that waits for the next
    /// one: what the epoch callback yields with.
    pub fn next_tick(&self, slots: &CpuSlots) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.release();
        let state = self.state.clone();
        let slots = slots.slots.clone();
        Box::pin(async move {
            let started = Instant::now();
            let permit = slots.acquire_owned().await.ok();
            let mut turn = state.lock().expect("cpu turn lock");
            turn.permit = permit;
            turn.waited += started.elapsed();
        })
    }

    /// Time waited for slots since the last call of this.
    pub fn take_waited(&self) -> Duration {
        std::mem::take(&mut self.state.lock().expect("cpu turn lock").waited)
    }

    /// Gives the slot back (the call ended).
    pub fn release(&self) {
        self.state.lock().expect("cpu turn lock").permit = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slot_fewer_than_workers_and_at_least_one() {
        assert_eq!(CpuSlots::for_workers(1).slots.available_permits(), 1);
        assert_eq!(CpuSlots::for_workers(2).slots.available_permits(), 1);
        assert_eq!(CpuSlots::for_workers(8).slots.available_permits(), 7);
    }

    #[tokio::test]
    async fn a_turn_holds_one_slot_and_counts_its_wait() {
        let slots = CpuSlots::for_workers(2);
        let (a, b) = (CpuTurn::default(), CpuTurn::default());
        a.next_tick(&slots).await;
        assert_eq!(slots.slots.available_permits(), 0);
        // b waits until a gives its slot back.
        let waiting = tokio::spawn({
            let (b, slots) = (b.clone(), slots.clone());
            async move { b.next_tick(&slots).await }
        });
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "b ran while a held the only slot");
        a.release();
        waiting.await.unwrap();
        assert!(b.take_waited() > Duration::ZERO);
        assert_eq!(b.take_waited(), Duration::ZERO);
        b.release();
        assert_eq!(slots.slots.available_permits(), 1);
    }
}

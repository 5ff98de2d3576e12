//! Runs one connection's invocations one at a time, in arrival order,
//! as ASP.NET Core does by default (`MaximumParallelInvocationsPerClient`
//! 1). It is a task of its own so that the reader keeps reading while a
//! hub waits for this very client's answer to a client-result call
//! (which would deadlock a single loop).
//!
//! The queue between them is bounded in bytes, not in count, and the
//! reader never waits for it: a client may pipeline hundreds of small
//! calls, and one over the budget is refused at once as `Busy`, so the
//! reader always sees Completions, Pings and Close.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use super::ConnectionHandle;
use crate::cluster::Cluster;
use crate::protocol::message::Outcome;
use crate::runtime::{CallError, CallStreams, ConnectionContext, Runtime};

/// One invocation waiting to run.
pub struct Invocation {
    pub invocation_id: Option<String>,
    pub target: String,
    pub arguments: String,
}

impl Invocation {
    /// What it holds in the queue, for the budget.
    fn size(&self) -> usize {
        self.target.len()
            + self.arguments.len()
            + self.invocation_id.as_ref().map_or(0, String::len)
    }
}

/// Bytes of invocations that may wait, in records of the largest size a
/// client may send: 32 of them (1 MiB with the default 32 KiB).
pub const QUEUED_RECORDS: usize = 32;

/// The reader's end of the queue.
pub struct Queue {
    tx: mpsc::UnboundedSender<Invocation>,
    queued: Arc<AtomicUsize>,
    budget: usize,
}

/// Why an invocation was not queued.
pub enum Refused {
    /// The queue holds its budget of bytes; the invocation is handed back.
    Busy(Invocation),
    /// The invoker is gone (the connection is ending).
    Closed,
}

impl Queue {
    /// A queue holding at most `budget` bytes of waiting invocations, and
    /// the invoker's end of it.
    pub fn new(budget: usize) -> (Self, Waiting) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let waiting = Waiting {
            rx,
            queued: queued.clone(),
        };
        (Self { tx, queued, budget }, waiting)
    }

    /// Queues an invocation, or refuses it without waiting.
    pub fn offer(&self, invocation: Invocation) -> Result<(), Refused> {
        let size = invocation.size();
        if self.queued.load(Ordering::Acquire) + size > self.budget {
            return Err(Refused::Busy(invocation));
        }
        self.queued.fetch_add(size, Ordering::AcqRel);
        self.tx.send(invocation).map_err(|_| Refused::Closed)
    }

    /// The budget, for the refusal text.
    pub fn budget(&self) -> usize {
        self.budget
    }
}

/// The invoker's end of the queue.
pub struct Waiting {
    rx: mpsc::UnboundedReceiver<Invocation>,
    queued: Arc<AtomicUsize>,
}

impl Waiting {
    async fn next(&mut self) -> Option<Invocation> {
        let invocation = self.rx.recv().await?;
        self.queued.fetch_sub(invocation.size(), Ordering::AcqRel);
        Some(invocation)
    }
}

/// Runs invocations until the queue closes.
pub async fn run(
    mut queue: Waiting,
    runtime: Arc<Runtime>,
    cluster: Arc<Cluster>,
    context: Arc<ConnectionContext>,
    handle: ConnectionHandle,
) {
    while let Some(invocation) = queue.next().await {
        // Nobody would read the answer, and a hub call is not free.
        if handle.is_closing() {
            continue;
        }
        let outcome = invoke(&runtime, &cluster, &context, &invocation).await;
        let Some(id) = invocation.invocation_id else {
            if let Err(error) = outcome {
                tracing::debug!(connection = %context.id, target = %invocation.target, %error, "non-blocking invocation failed");
            }
            continue;
        };
        let outcome = match outcome {
            Ok(result) => Outcome::Result(result),
            Err(error) => Outcome::Error(error.completion_text(&invocation.target)),
        };
        handle.complete_invocation(id, outcome);
    }
}

async fn invoke(
    runtime: &Runtime,
    cluster: &Cluster,
    context: &Arc<ConnectionContext>,
    invocation: &Invocation,
) -> Result<String, CallError> {
    // The version serving now: a swapped hub takes the next call.
    let Some(hub) = runtime.hub(&context.hub) else {
        return Err(CallError::Trap(format!(
            "the hub '{}' is not served any more",
            context.hub
        )));
    };
    let user = cluster.user_of(&context.id).await;
    let call = (invocation.target.as_str(), invocation.arguments.as_str());
    hub.invoke(context, user, call, CallStreams::default())
        .await
}

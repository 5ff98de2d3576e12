//! Runs one connection's invocations one at a time, in arrival order,
//! as ASP.NET Core does by default (`MaximumParallelInvocationsPerClient`
//! 1).
//!
//! It is not a task of its own: the read loop polls the running call
//! ([`Invoker::drive`]) beside the socket, so the reader keeps reading
//! while a hub waits for this very client's answer to a client-result
//! call, and a call costs no hop between tasks and no queue allocated up
//! front (an idle connection holds an empty `VecDeque` and no future).
//!
//! The queue is bounded in bytes, not in count, and the reader never
//! waits for it: a client may pipeline hundreds of small calls, and one
//! over the budget is refused at once as `Busy`, so the reader always
//! sees Completions, Pings and Close.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::streaming::Shared;
use crate::protocol::TraceContext;
use crate::protocol::message::Outcome;
use crate::runtime::{CallError, CallStreams};

/// One invocation waiting to run.
pub struct Invocation {
    pub invocation_id: Option<String>,
    pub target: String,
    pub arguments: String,
    /// The caller's trace context, from the invocation's headers.
    pub trace: Option<TraceContext>,
}

impl Invocation {
    /// What it holds in the queue, for the budget.
    fn size(&self) -> usize {
        self.target.len()
            + self.arguments.len()
            + self.invocation_id.as_ref().map_or(0, String::len)
            + self.trace.as_ref().map_or(0, |t| {
                t.traceparent.len() + t.tracestate.as_ref().map_or(0, String::len)
            })
    }
}

/// Bytes of invocations that may wait, in records of the largest size a
/// client may send: 32 of them (1 MiB with the default 32 KiB).
pub const QUEUED_RECORDS: usize = 32;

/// A call in progress: the hub call and the Completion it sends.
type Running = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The invocations of one connection: the one running and those waiting.
pub struct Invoker {
    shared: Arc<Shared>,
    waiting: VecDeque<Invocation>,
    waiting_bytes: usize,
    budget: usize,
    running: Option<Running>,
}

impl Invoker {
    /// An invoker whose waiting invocations hold at most `budget` bytes.
    pub fn new(shared: Arc<Shared>, budget: usize) -> Self {
        Self {
            shared,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            budget,
            running: None,
        }
    }

    /// Queues an invocation, or refuses it at once (the client gets a
    /// `Busy` Completion) when the queue holds its budget.
    pub fn offer(&mut self, invocation: Invocation) {
        let size = invocation.size();
        if self.waiting_bytes + size > self.budget {
            self.refuse_busy(invocation);
            return;
        }
        self.waiting_bytes += size;
        self.waiting.push_back(invocation);
    }

    /// Runs the current call and every one queued behind it, and then
    /// waits for ever: the read loop polls it beside the socket, and
    /// calls it again after it queued more. Dropping it between polls
    /// loses nothing: the running call stays here.
    pub async fn drive(&mut self) -> Infallible {
        loop {
            if let Some(running) = self.running.as_mut() {
                running.await;
                self.running = None;
                continue;
            }
            let Some(invocation) = self.waiting.pop_front() else {
                return std::future::pending().await;
            };
            self.waiting_bytes -= invocation.size();
            // Nobody would read the answer, and a hub call is not free.
            if self.shared.handle.is_closing() {
                continue;
            }
            let span = crate::telemetry::call_span(
                self.shared.cluster.node_id(),
                &self.shared.context.hub,
                &invocation.target,
                "client",
                invocation.trace.as_ref(),
            );
            let call = run(self.shared.clone(), invocation);
            self.running = Some(Box::pin(crate::telemetry::within(span, call)));
        }
    }

    /// Runs `work` while driving the calls (an upload item that waits for
    /// its hub, a wait for the client to reconnect).
    pub async fn alongside<T>(&mut self, work: impl Future<Output = T>) -> T {
        tokio::select! {
            biased;
            out = work => out,
            never = self.drive() => match never {},
        }
    }

    /// The reader is done: waiting invocations are dropped, the running
    /// call gets `bound` to end before it is dropped.
    pub async fn finish(mut self, bound: Duration) {
        self.waiting.clear();
        let Some(running) = self.running.take() else {
            return;
        };
        if tokio::time::timeout(bound, running).await.is_err() {
            tracing::debug!(connection = %self.shared.context.id, "a call overran its bound after the client left and was dropped");
        }
    }

    /// An invocation beyond the queue's bound: refused at once, so the
    /// client learns it and the reader goes on reading.
    fn refuse_busy(&self, refused: Invocation) {
        match refused.invocation_id {
            Some(id) => {
                let why = format!(
                    "An unexpected error occurred invoking '{}' on the server. Busy: this connection's invocations waiting to run already hold {}.",
                    refused.target,
                    crate::config::format_bytes(self.budget)
                );
                self.shared
                    .handle
                    .complete_invocation(id, Outcome::Error(why));
            }
            None => {
                tracing::debug!(connection = %self.shared.context.id, target = %refused.target, "dropped a non-blocking invocation: queue full")
            }
        }
    }
}

/// Runs one invocation and sends its Completion (none for a `send()`).
async fn run(shared: Arc<Shared>, invocation: Invocation) {
    let started = std::time::Instant::now();
    let outcome = invoke(&shared, &invocation).await;
    shared.metrics.invocation(
        &invocation.target,
        started.elapsed(),
        outcome.as_ref().err().map(CallError::kind),
    );
    if let Err(error) = &outcome {
        crate::telemetry::current_failed(error);
    }
    // A trap is among the recent events already (the runtime's).
    if let Err(error @ CallError::Hub(_)) = &outcome {
        shared
            .metrics
            .failed(&invocation.target, &error.to_string());
    }
    let Some(id) = invocation.invocation_id else {
        if let Err(error) = outcome {
            tracing::debug!(connection = %shared.context.id, target = %invocation.target, %error, "non-blocking invocation failed");
        }
        return;
    };
    let outcome = match outcome {
        Ok(result) => Outcome::Result(result),
        Err(error) => Outcome::Error(error.completion_text(&invocation.target)),
    };
    shared.handle.complete_invocation(id, outcome);
}

async fn invoke(shared: &Shared, invocation: &Invocation) -> Result<String, CallError> {
    let context = &shared.context;
    // The version serving now: a swapped hub takes the next call.
    let Some(hub) = shared.runtime.hub(&context.hub) else {
        return Err(CallError::Trap(format!(
            "the hub '{}' is not served any more",
            context.hub
        )));
    };
    let user = shared.cluster.user_of(&context.id).await;
    let call = (invocation.target.as_str(), invocation.arguments.as_str());
    hub.invoke(context, user, call, CallStreams::default())
        .await
}

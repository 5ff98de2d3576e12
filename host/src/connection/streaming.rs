//! A connection's streaming calls: `stream()` invocations and calls that
//! carry upload streams. Each runs as a task of its own, outside the
//! one-at-a-time rule of plain invocations (as in ASP.NET Core), so a
//! stream that runs for minutes does not hold up the client's other
//! calls.
//!
//! Everything is bounded: calls running at once per connection, upload
//! items waiting for the hub (10 per stream, ASP.NET Core's
//! `StreamBufferCapacity`), items waiting for the client (the stream waits
//! while the connection's queue is over half its budget). A CancelInvocation
//! or the client leaving cancels the call: the hub sees it in
//! `streams.is-cancelled`, `send-item` and `sleep`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::ConnectionHandle;
use crate::cluster::Cluster;
use crate::protocol::TraceContext;
use crate::protocol::message::{Outcome, ServerMessage};
use crate::runtime::{CallError, CallStreams, ConnectionContext, Runtime, UploadItem};

/// Streaming calls one connection may run at once.
pub const MAX_CALLS: usize = 32;

/// Upload streams one call may carry.
pub const MAX_UPLOADS_PER_CALL: usize = 16;

/// Upload items that may wait for the hub, per stream.
const UPLOAD_ITEMS_WAITING: usize = 10;

/// Items a streaming method may have sent ahead of the connection queue.
const ITEMS_WAITING: usize = 8;

/// A call that streams or takes uploads.
pub struct Call {
    /// `None` for a non-blocking `send()` with uploads.
    pub invocation_id: Option<String>,
    pub target: String,
    pub arguments: String,
    pub stream_ids: Vec<String>,
    /// A StreamInvocation (its items go back as StreamItems).
    pub streaming: bool,
    /// The caller's trace context, from the invocation's headers.
    pub trace: Option<TraceContext>,
}

/// What every call of the connection shares, plain and streaming.
pub struct Shared {
    pub runtime: Arc<Runtime>,
    pub cluster: Arc<Cluster>,
    pub context: Arc<ConnectionContext>,
    pub handle: ConnectionHandle,
    pub metrics: Arc<crate::metrics::ConnectionMetrics>,
    /// How long the reader waits for a hub to take an upload item.
    pub upload_wait: Duration,
}

/// The streaming calls of one connection, as the reader sees them.
pub struct Streaming {
    shared: Arc<Shared>,
    /// Cancellation of the calls that have an invocation id.
    cancels: HashMap<String, watch::Sender<bool>>,
    /// Every call's cancellation, to cancel all when the client goes.
    all: Vec<watch::Sender<bool>>,
    /// Upload streams by the client's stream id.
    uploads: HashMap<String, (mpsc::Sender<UploadItem>, watch::Sender<bool>)>,
    tasks: JoinSet<()>,
}

impl Streaming {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            cancels: HashMap::new(),
            all: Vec::new(),
            uploads: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Starts a call, or answers at once why it cannot start.
    pub fn start(&mut self, call: Call) {
        while self.tasks.try_join_next().is_some() {}
        self.cancels.retain(|_, cancel| !cancel.is_closed());
        self.all.retain(|cancel| !cancel.is_closed());
        self.uploads.retain(|_, (items, _)| !items.is_closed());
        let refuse = |shared: &Shared, id: &Option<String>, text: String| {
            if let Some(id) = id {
                shared
                    .handle
                    .complete_invocation(id.clone(), Outcome::Error(text));
            }
        };
        if let Some(id) = &call.invocation_id
            && self.cancels.contains_key(id)
        {
            refuse(
                &self.shared,
                &call.invocation_id,
                format!("Invocation ID '{id}' is already in use."),
            );
            return;
        }
        if call.stream_ids.len() > MAX_UPLOADS_PER_CALL {
            let text = format!(
                "An unexpected error occurred invoking '{}' on the server. InvalidArgument: a call may carry at most {MAX_UPLOADS_PER_CALL} upload streams.",
                call.target
            );
            refuse(&self.shared, &call.invocation_id, text);
            return;
        }
        if let Some(taken) = call
            .stream_ids
            .iter()
            .find(|id| self.uploads.contains_key(*id))
        {
            let text = format!("Stream ID '{taken}' is already in use.");
            refuse(&self.shared, &call.invocation_id, text);
            return;
        }
        if self.tasks.len() >= MAX_CALLS {
            let text = format!(
                "An unexpected error occurred invoking '{}' on the server. Busy: this connection already runs {MAX_CALLS} streaming calls.",
                call.target
            );
            refuse(&self.shared, &call.invocation_id, text);
            return;
        }
        let (cancel, cancelled) = watch::channel(false);
        let mut uploads = Vec::with_capacity(call.stream_ids.len());
        for stream_id in &call.stream_ids {
            let (tx, rx) = mpsc::channel(UPLOAD_ITEMS_WAITING);
            self.uploads.insert(stream_id.clone(), (tx, cancel.clone()));
            uploads.push(rx);
        }
        if let Some(id) = &call.invocation_id {
            self.cancels.insert(id.clone(), cancel.clone());
        }
        self.all.push(cancel);
        let streams = CallStreams {
            items: None,
            uploads,
            cancelled: Some(cancelled),
        };
        // In the connection's span (its lines name the connection), and
        // inside it the call's when traces are on: the log layer does not
        // see the call's span, so the connection's must be entered too.
        let span = crate::telemetry::call_span(
            self.shared.cluster.node_id(),
            &self.shared.context.hub,
            &call.target,
            "client",
            call.trace.as_ref(),
        );
        let call = run(self.shared.clone(), call, streams);
        let call = crate::telemetry::within(span, call);
        self.tasks.spawn(tracing::Instrument::instrument(
            call,
            tracing::Span::current(),
        ));
    }

    /// True when `stream_id` is one of the client's open uploads.
    pub fn is_upload(&self, stream_id: &str) -> bool {
        self.uploads.contains_key(stream_id)
    }

    /// An upload item: waits (bounded) while the hub is behind; a hub
    /// that takes none for that long has its call cancelled.
    pub async fn upload_item(&mut self, stream_id: &str, item: UploadItem) {
        let Some((items, cancel)) = self.uploads.get(stream_id) else {
            // Unknown or finished streams are ignored, as in ASP.NET Core.
            return;
        };
        let sent = tokio::time::timeout(self.shared.upload_wait, items.send(item)).await;
        match sent {
            Ok(Ok(())) => {}
            // The call ended: it reads no more.
            Ok(Err(_)) => {
                self.uploads.remove(stream_id);
            }
            Err(_) => {
                tracing::warn!(connection = %self.shared.context.id, stream_id, "a hub took no upload item for the upload wait; its call is cancelled");
                cancel.send_replace(true);
                self.uploads.remove(stream_id);
            }
        }
    }

    /// The client completed an upload (with an error, or not).
    pub async fn end_upload(&mut self, stream_id: &str, result: Result<String, String>) {
        if let Err(error) = result {
            self.upload_item(stream_id, Err(error)).await;
        }
        // Dropping the sender is the end of the stream.
        self.uploads.remove(stream_id);
    }

    /// A CancelInvocation: unknown ids are ignored.
    pub fn cancel(&mut self, invocation_id: &str) {
        if let Some(cancel) = self.cancels.remove(invocation_id) {
            cancel.send_replace(true);
        }
    }

    /// The client is gone: every call is cancelled.
    pub fn cancel_all(&mut self) {
        for cancel in self.all.drain(..) {
            cancel.send_replace(true);
        }
        self.cancels.clear();
        self.uploads.clear();
    }

    /// Gives the (cancelled) calls `bound` to return before they are
    /// aborted.
    pub async fn finish(mut self, bound: Duration) {
        self.cancel_all();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(bound, all).await.is_err() {
            tracing::debug!("streaming calls overran their bound and were aborted");
            self.tasks.abort_all();
        }
    }
}

/// Runs one call and sends its Completion (not for a `send()`).
async fn run(shared: Arc<Shared>, call: Call, mut streams: CallStreams) {
    let cancelled = streams.cancelled.clone();
    let Some(hub) = shared.runtime.hub(&shared.context.hub) else {
        if let Some(id) = call.invocation_id {
            let error = CallError::Trap(format!(
                "the hub '{}' is not served any more",
                shared.context.hub
            ));
            crate::telemetry::current_failed(&error);
            shared
                .handle
                .complete_invocation(id, Outcome::Error(error.completion_text(&call.target)));
        }
        return;
    };
    let started = std::time::Instant::now();
    let user = shared.cluster.user_of(&shared.context.id).await;
    let target = call.target.as_str();
    // Counted when the call ends: a stream's duration is the whole stream.
    let count = |error: Option<&CallError>| {
        shared
            .metrics
            .invocation(target, started.elapsed(), error.map(CallError::kind));
        if let Some(error) = error {
            crate::telemetry::current_failed(error);
        }
        if let Some(error @ CallError::Hub(_)) = error {
            shared.metrics.failed(target, &error.to_string());
        }
    };
    if !call.streaming {
        let outcome = hub
            .invoke(&shared.context, user, (target, &call.arguments), streams)
            .await;
        count(outcome.as_ref().err());
        let Some(id) = call.invocation_id else { return };
        let outcome = match outcome {
            Ok(result) => Outcome::Result(result),
            Err(error) => Outcome::Error(error.completion_text(target)),
        };
        shared.handle.complete_invocation(id, outcome);
        return;
    }
    let id = call.invocation_id.unwrap_or_default();
    let (items_tx, mut items) = mpsc::channel(ITEMS_WAITING);
    streams.items = Some(items_tx);
    let running = hub.invoke_stream(&shared.context, user, (target, &call.arguments), streams);
    tokio::pin!(running);
    let mut sent_any = false;
    let forward = |item: String, sent_any: &mut bool| {
        *sent_any = true;
        shared.handle.send(&ServerMessage::StreamItem {
            invocation_id: id.clone(),
            item,
        });
    };
    let outcome = loop {
        tokio::select! {
            biased;
            outcome = &mut running => break outcome,
            Some(item) = items.recv() => {
                shared.handle.room().await;
                forward(item, &mut sent_any);
            }
        }
    };
    while let Ok(item) = items.try_recv() {
        forward(item, &mut sent_any);
    }
    let was_cancelled = cancelled.as_ref().is_some_and(|c| *c.borrow());
    count(outcome.as_ref().err().filter(|_| !was_cancelled));
    let outcome = match outcome {
        // A cancelled stream ends without an error (ASP.NET Core).
        Ok(()) => Outcome::Void,
        Err(_) if was_cancelled => Outcome::Void,
        Err(error) => Outcome::Error(error.stream_text(target, sent_any)),
    };
    shared.handle.complete_invocation(id, outcome);
}

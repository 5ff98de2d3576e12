//! Receives envelopes: this node's inbox and the broadcast channel, on a
//! subscription that reconnects with backoff when Redis goes away.
//!
//! A subscription can die silently: a NAT or load balancer that drops an
//! idle flow, or a partition, leaves a socket that delivers nothing and
//! reports no error, while the heartbeat (its own connection) stays
//! green. So the subscriber PINGs Redis on its own connection every
//! heartbeat interval and reconnects when no PONG comes back in time:
//! a deaf node hears again within about two heartbeat intervals.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio::sync::{mpsc, oneshot};

use super::envelope::{Envelope, WireAnswer, raw};
use super::{Backplane, Waiter};
use crate::cluster::{CloseReason, Filter, Selection};
use crate::connection::Encoded;

/// Bytes of envelopes received and not yet handled. redis-rs buffers
/// without a bound; the subscriber moves each message into this queue at
/// once, so a node that cannot keep up drops (and counts) messages
/// instead of growing without limit.
pub const QUEUE_BYTES: usize = 64 << 20;

/// Starts the subscriber and its handler; the receiver fires once it is
/// subscribed.
pub fn spawn(backplane: Arc<Backplane>) -> oneshot::Receiver<()> {
    let (ready, ready_rx) = oneshot::channel();
    let (tx, mut received) = mpsc::unbounded_channel::<(Envelope, usize)>();
    let queued = Arc::new(AtomicUsize::new(0));
    let queue = Queue {
        tx,
        queued: queued.clone(),
        backplane: backplane.clone(),
    };
    let handler = backplane.clone();
    tokio::spawn(async move {
        while let Some((envelope, size)) = received.recv().await {
            queued.fetch_sub(size, Ordering::AcqRel);
            handler.metrics().queue_bytes.sub(size as i64);
            handle(&handler, envelope);
        }
    });
    tokio::spawn(run(backplane, ready, queue));
    ready_rx
}

/// The subscriber's end of the queue to the handler.
struct Queue {
    tx: mpsc::UnboundedSender<(Envelope, usize)>,
    queued: Arc<AtomicUsize>,
    /// Where the queue's depth and the messages are counted.
    backplane: Arc<Backplane>,
}

impl Queue {
    /// Queues an envelope of `size` bytes; false when the queue is full.
    fn offer(&self, envelope: Envelope, size: usize) -> bool {
        let metrics = self.backplane.metrics();
        metrics.received.with_label_values(&[envelope.kind()]).inc();
        if self.queued.load(Ordering::Acquire) + size > QUEUE_BYTES {
            metrics.dropped.inc();
            return false;
        }
        self.queued.fetch_add(size, Ordering::AcqRel);
        metrics.queue_bytes.add(size as i64);
        self.tx.send((envelope, size)).is_ok()
    }
}

/// Counts messages dropped because the queue was full; logs at most once
/// a second.
struct Dropped {
    count: u64,
    logged: Option<tokio::time::Instant>,
}

impl Dropped {
    fn one(&mut self) {
        self.count += 1;
        let now = tokio::time::Instant::now();
        if self
            .logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(
                dropped = self.count,
                queue_bytes = QUEUE_BYTES,
                "the backplane subscriber is behind: messages dropped"
            );
            self.logged = Some(now);
        }
    }
}

async fn run(backplane: Arc<Backplane>, ready: oneshot::Sender<()>, queue: Queue) {
    let mut dropped = Dropped {
        count: 0,
        logged: None,
    };
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    let channels = [
        backplane.keys.inbox(backplane.node_id()),
        backplane.keys.broadcast(),
    ];
    while !backplane.stopping.load(Ordering::Acquire) {
        let subscribed = async {
            let mut pubsub = backplane.client.get_async_pubsub().await?;
            for channel in &channels {
                pubsub.subscribe(channel).await?;
            }
            redis::RedisResult::Ok(pubsub)
        };
        let pubsub = match tokio::time::timeout(Duration::from_secs(3), subscribed).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(error)) => {
                tracing::warn!(%error, retry_in = ?backoff, "backplane subscription failed");
                wait(&backplane, &mut backoff).await;
                continue;
            }
            Err(_) => {
                tracing::warn!(retry_in = ?backoff, "backplane subscription timed out");
                wait(&backplane, &mut backoff).await;
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        tracing::info!(node = %backplane.node_id(), "backplane subscribed");
        match ready.take() {
            Some(ready) => {
                let _ = ready.send(());
            }
            None => backplane
                .metrics()
                .reconnects
                .with_label_values(&["subscription"])
                .inc(),
        }
        let (mut sink, mut messages) = pubsub.split();
        let every = backplane.options.heartbeat_interval;
        let answer_within = every.max(Duration::from_secs(1));
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let lost = loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => match serde_json::from_slice::<Envelope>(message.get_payload_bytes()) {
                        Ok(envelope) => {
                            if !queue.offer(envelope, message.get_payload_bytes().len()) {
                                dropped.one();
                            }
                        }
                        Err(error) => tracing::warn!(%error, "ignored a malformed backplane message"),
                    },
                    None => break "the subscription ended",
                },
                _ = ping.tick() => {
                    if backplane.stopping.load(Ordering::Acquire) {
                        return;
                    }
                    match tokio::time::timeout(answer_within, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => break "PING on the subscription failed",
                        Err(_) => break "no PONG on the subscription in time",
                    }
                }
            }
        };
        if !backplane.stopping.load(Ordering::Acquire) {
            tracing::warn!(why = lost, "backplane subscription lost; reconnecting");
        }
    }
}

/// Backs off before the next attempt, unless a heartbeat shows Redis is
/// back first (then messages are not lost for the rest of the backoff).
async fn wait(backplane: &Backplane, backoff: &mut Duration) {
    tokio::select! {
        _ = tokio::time::sleep(*backoff) => {}
        _ = backplane.subscriber_wake.notified() => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(2));
}

/// Acts on one envelope. Work that waits (invoking clients) runs in a
/// task of its own so the subscription keeps flowing.
fn handle(backplane: &Arc<Backplane>, envelope: Envelope) {
    match envelope {
        Envelope::Send {
            from,
            selection,
            method,
            args,
        } => {
            // This node delivered to its own connections already.
            if from == backplane.node_id() {
                return;
            }
            let message = Encoded::invocation(&method, args.get());
            for handle in backplane.local.handles_of(&selection) {
                handle.send_encoded(&message);
            }
        }
        Envelope::Invoke {
            from,
            request,
            hub,
            connections,
            method,
            args,
            timeout_ms,
            trace,
        } => {
            let backplane = backplane.clone();
            let span = match (&trace, crate::telemetry::enabled()) {
                (Some(parent), true) => {
                    crate::telemetry::remote_calls_span(backplane.node_id(), &from, &method, parent)
                }
                _ => tracing::Span::none(),
            };
            let calls = async move {
                let timeout = Duration::from_millis(timeout_ms);
                let calls = connections.into_iter().map(|id| {
                    let selection =
                        Selection::all(hub.clone()).with(Filter::Connection(id.clone()));
                    let target = backplane.local.resolve(&selection).into_iter().next();
                    let (method, args) = (&method, args.get());
                    async move {
                        let Some((record, handle)) = target else {
                            return WireAnswer {
                                connection: id.clone(),
                                user: None,
                                result: None,
                                error: Some(format!("connection '{id}' is not connected any more")),
                            };
                        };
                        let asked = handle.invoke(method, args, timeout);
                        let outcome = crate::telemetry::client_result(method, &id, asked).await;
                        WireAnswer {
                            connection: id,
                            user: record.user,
                            result: outcome.as_ref().ok().map(|r| raw(r)),
                            error: outcome.err(),
                        }
                    }
                });
                let answers = join_all(calls).await;
                let reply = Envelope::Answers { request, answers };
                if let Err(error) = backplane.publish(backplane.keys.inbox(&from), &reply).await {
                    tracing::warn!(%error, "could not answer an invocation from node {from}");
                }
            };
            tokio::spawn(tracing::Instrument::instrument(calls, span));
        }
        Envelope::Answers { request, answers } => {
            if let Some(pending) = backplane.pending.lock().expect("pending").remove(&request)
                && let Waiter::Answers(tx) = pending.waiter
            {
                let _ = tx.send(answers);
            }
        }
        Envelope::Group {
            from,
            request,
            hub,
            connection,
            group,
            add,
        } => {
            let backplane = backplane.clone();
            tokio::spawn(async move {
                let outcome = backplane
                    .local_group_change(&hub, &connection, &group, add)
                    .await;
                let reply = Envelope::GroupDone {
                    request,
                    not_found: outcome.err().map(|e| e.to_string()),
                };
                if let Err(error) = backplane.publish(backplane.keys.inbox(&from), &reply).await {
                    tracing::warn!(%error, "could not confirm a group change to node {from}");
                }
            });
        }
        Envelope::GroupDone { request, not_found } => {
            if let Some(pending) = backplane.pending.lock().expect("pending").remove(&request)
                && let Waiter::Group(tx) = pending.waiter
            {
                let _ = tx.send(not_found);
            }
        }
        Envelope::Close {
            from,
            selection,
            error,
            allow_reconnect,
        } => {
            // The sender closed its own connections already.
            if from == backplane.node_id() {
                return;
            }
            let reason = CloseReason {
                error,
                allow_reconnect,
            };
            for handle in backplane.local.handles_of(&selection) {
                handle.close(reason.clone());
            }
        }
    }
}

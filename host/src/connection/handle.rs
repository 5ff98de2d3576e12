//! How the rest of the host reaches a connection this node owns: a bounded outbound queue
//! and the table of client results it is waiting for.
//!
//! The connection task holds the receiving ends; the cluster holds a
//! [`ConnectionHandle`] and never blocks on a slow client: a queue over
//! its byte budget closes that connection instead of growing memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::sync::OnceLock;

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use super::outbound_queue::{OutboundQueue, QueuedFrames};

use crate::metrics::ConnectionMetrics;
use crate::protocol::handshake::HubProtocol;
use crate::protocol::message::{Outcome, ServerMessage};

/// A server message shared by many recipients, encoded at most once per
/// protocol in use among them, when the first recipient of that protocol
/// takes it.
#[derive(Debug)]
pub struct Encoded {
    message: ServerMessage,
    json: OnceLock<Bytes>,
    messagepack: OnceLock<Bytes>,
}

/// What an invocation of `method` with `args` (a JSON array) counts
/// against a connection's outbound budget: the frame adds
/// `{"type":1,"target":"","arguments":}` and an id, under 64 bytes.
pub fn invocation_size(method: &str, args: &str) -> usize {
    method.len() + args.len() + 64
}

impl Encoded {
    /// A non-blocking invocation of `target` with a JSON array of args.
    pub fn invocation(target: &str, arguments: &str) -> Self {
        Self::new(ServerMessage::Invocation {
            invocation_id: None,
            target: target.to_owned(),
            arguments: arguments.to_owned(),
        })
    }

    /// Any message, not yet encoded.
    pub fn new(message: ServerMessage) -> Self {
        Self {
            message,
            json: OnceLock::new(),
            messagepack: OnceLock::new(),
        }
    }

    /// The record in `protocol`, encoded on first use.
    pub fn bytes(&self, protocol: HubProtocol) -> &Bytes {
        let slot = match protocol {
            HubProtocol::Json => &self.json,
            HubProtocol::MessagePack => &self.messagepack,
        };
        slot.get_or_init(|| protocol.encode(&self.message).into())
    }
}

/// One frame waiting in a connection's outbound queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Bytes,
    /// Counts for stateful reconnect (Invocation, StreamItem, Completion):
    /// kept until the client acknowledges it, replayed after a reconnect.
    pub trackable: bool,
}

/// Why a connection is being closed by the server side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub error: Option<String>,
    pub allow_reconnect: bool,
}

/// The cluster's handle on a local connection.
#[derive(Clone)]
pub struct ConnectionHandle {
    inner: Arc<Inner>,
}

struct Inner {
    /// The protocol the client chose at its handshake.
    protocol: HubProtocol,
    frames: Arc<OutboundQueue>,
    queued_bytes: AtomicUsize,
    budget: usize,
    /// Wakes streams waiting for the client to drain its queue.
    drained: tokio::sync::Notify,
    /// How many wait on `drained` (the writer notifies only then).
    waiting_for_room: AtomicUsize,
    close: watch::Sender<Option<CloseReason>>,
    next_invocation: AtomicU64,
    /// `None` once the client is gone: later calls fail at once.
    pending: Mutex<Option<PendingResults>>,
    /// Where queued bytes and slow-client closes are counted, once the
    /// connection is accepted.
    metrics: OnceLock<Arc<ConnectionMetrics>>,
}

impl Drop for Inner {
    /// Frames never written leave the queued-bytes gauge with the queue.
    fn drop(&mut self) {
        if let Some(metrics) = self.metrics.get() {
            metrics.queued(-(*self.queued_bytes.get_mut() as i64));
        }
    }
}

/// Client-result calls waiting for a Completion, by invocation id.
type PendingResults = HashMap<String, oneshot::Sender<Result<String, String>>>;

/// The connection task's ends of a [`ConnectionHandle`].
pub struct ConnectionEnds {
    /// Frames to write, in order.
    pub outbound: QueuedFrames,
    /// Becomes `Some` when the server decides to close the connection.
    pub close: watch::Receiver<Option<CloseReason>>,
}

/// Text of the error a pending client result gets when its client leaves.
pub const DISCONNECTED: &str = "the client disconnected before answering";

impl ConnectionHandle {
    /// A handle for a client speaking `protocol`, whose queue may hold
    /// `budget` bytes not yet written.
    pub fn new(budget: usize, protocol: HubProtocol) -> (Self, ConnectionEnds) {
        let (frames, outbound) = OutboundQueue::new();
        let (close, close_rx) = watch::channel(None);
        let handle = Self {
            inner: Arc::new(Inner {
                protocol,
                frames,
                queued_bytes: AtomicUsize::new(0),
                budget,
                drained: tokio::sync::Notify::new(),
                waiting_for_room: AtomicUsize::new(0),
                close,
                next_invocation: AtomicU64::new(0),
                pending: Mutex::new(Some(HashMap::new())),
                metrics: OnceLock::new(),
            }),
        };
        (
            handle,
            ConnectionEnds {
                outbound,
                close: close_rx,
            },
        )
    }

    /// The protocol the client speaks.
    pub fn protocol(&self) -> HubProtocol {
        self.inner.protocol
    }

    /// Encodes and queues a message for this client alone.
    pub fn send(&self, message: &ServerMessage) -> bool {
        self.queue(Frame {
            bytes: self.inner.protocol.encode(message).into(),
            trackable: message.is_trackable(),
        })
    }

    /// Queues a message shared with other recipients.
    pub fn send_encoded(&self, message: &Encoded) -> bool {
        self.queue(Frame {
            bytes: message.bytes(self.inner.protocol).clone(),
            trackable: message.message.is_trackable(),
        })
    }

    /// A Completion for one of the client's invocations.
    pub fn complete_invocation(&self, invocation_id: String, outcome: Outcome) -> bool {
        self.send(&ServerMessage::Completion {
            invocation_id,
            outcome,
        })
    }

    /// Queues bytes already encoded in the client's protocol that are not
    /// a hub message (the handshake answer).
    pub fn push(&self, bytes: Bytes) -> bool {
        self.queue(Frame {
            bytes,
            trackable: false,
        })
    }

    /// Counts this connection's queued bytes and slow-client close into
    /// `metrics` from now on (set once, before the first frame).
    pub fn count_into(&self, metrics: Arc<ConnectionMetrics>) {
        let _ = self.inner.metrics.set(metrics);
    }

    /// Queues a frame. Returns false when the connection is closing or
    /// its client is too slow (then it is told to close).
    fn queue(&self, frame: Frame) -> bool {
        let len = frame.bytes.len();
        let before = self.inner.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before + len > self.inner.budget {
            self.inner.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            if let Some(metrics) = self.inner.metrics.get()
                && self.close_reason().is_none()
            {
                metrics.slow_close("queue_full");
            }
            self.close(CloseReason {
                error: Some(format!(
                    "The client is too slow: more than {} bytes were waiting to be sent to it.",
                    self.inner.budget
                )),
                allow_reconnect: true,
            });
            return false;
        }
        if self.inner.frames.push(frame).is_err() {
            self.inner.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        if let Some(metrics) = self.inner.metrics.get() {
            metrics.queued(len as i64);
        }
        true
    }

    /// The writer calls this after a frame went out.
    pub fn written(&self, len: usize) {
        self.inner.queued_bytes.fetch_sub(len, Ordering::AcqRel);
        if let Some(metrics) = self.inner.metrics.get() {
            metrics.queued(-(len as i64));
        }
        if self.inner.waiting_for_room.load(Ordering::Acquire) > 0 {
            self.inner.drained.notify_waiters();
        }
    }

    /// Waits until at most half the outbound budget is queued: how a
    /// stream keeps pace with its client instead of overrunning it.
    pub async fn room(&self) {
        /// Counts this waiter while it waits, even if its future is dropped.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.inner.waiting_for_room.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.inner.waiting_for_room);
        loop {
            let drained = self.inner.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.inner.queued_bytes.load(Ordering::Acquire) <= self.inner.budget / 2
                || self.is_closing()
            {
                break;
            }
            drained.await;
        }
    }

    /// Asks the connection task to close (first reason wins).
    pub fn close(&self, reason: CloseReason) {
        self.inner.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// True once the server decided to close this connection (or the
    /// client left): queued invocations are then dropped, not run.
    pub fn is_closing(&self) -> bool {
        self.inner.close.borrow().is_some()
    }

    /// Why the server is closing this connection, once it is.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.close.borrow().clone()
    }

    /// Another watcher of the close signal (the reader's).
    pub fn subscribe_close(&self) -> watch::Receiver<Option<CloseReason>> {
        self.inner.close.subscribe()
    }

    /// Invokes `target` on this client and waits for its Completion, up to
    /// `timeout`. The error is the client's own text or why it never came.
    pub async fn invoke(
        &self,
        target: &str,
        arguments: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.invoke_until(target, arguments, deadline, timeout)
            .await
    }

    /// [`Self::invoke`], waiting until `deadline`: part of a call that
    /// asks several clients within one timeout (`total`, named in the
    /// error text).
    pub async fn invoke_until(
        &self,
        target: &str,
        arguments: &str,
        deadline: tokio::time::Instant,
        total: Duration,
    ) -> Result<String, String> {
        let id = self
            .inner
            .next_invocation
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.inner.pending.lock().expect("pending lock");
            match pending.as_mut() {
                Some(map) => map.insert(id.clone(), tx),
                None => return Err(DISCONNECTED.to_owned()),
            };
        }
        let invocation = ServerMessage::Invocation {
            invocation_id: Some(id.clone()),
            target: target.to_owned(),
            arguments: arguments.to_owned(),
        };
        if !self.send(&invocation) {
            self.forget(&id);
            return Err(DISCONNECTED.to_owned());
        }
        let metrics = self.inner.metrics.get();
        if let Some(metrics) = metrics {
            metrics.client_result("asked");
        }
        let (outcome, answer) = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(Ok(result))) => ("answered", Ok(result)),
            Ok(Ok(Err(error))) => ("error", Err(error)),
            Ok(Err(_)) => ("disconnected", Err(DISCONNECTED.to_owned())),
            Err(_) => {
                self.forget(&id);
                let why = format!(
                    "the client did not answer within {}",
                    humantime::format_duration(total)
                );
                ("timed_out", Err(why))
            }
        };
        if let Some(metrics) = metrics {
            metrics.client_result(outcome);
        }
        answer
    }

    fn forget(&self, id: &str) {
        if let Some(map) = self.inner.pending.lock().expect("pending lock").as_mut() {
            map.remove(id);
        }
    }

    /// Routes a client's Completion to the call waiting for it. Unknown ids
    /// (late answers after a timeout) are ignored, as .NET does.
    pub fn complete(&self, invocation_id: &str, result: Result<String, String>) -> bool {
        let waiter = self
            .inner
            .pending
            .lock()
            .expect("pending lock")
            .as_mut()
            .and_then(|map| map.remove(invocation_id));
        match waiter {
            Some(tx) => tx.send(result).is_ok(),
            None => false,
        }
    }

    /// The connection is gone: every pending call fails now, later ones at
    /// once. Dropping the senders wakes the waiters with [`DISCONNECTED`].
    pub fn disconnected(&self) {
        self.inner.pending.lock().expect("pending lock").take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_closes_instead_of_growing() {
        let (handle, mut ends) = ConnectionHandle::new(10, HubProtocol::Json);
        assert!(handle.push(Bytes::from_static(b"12345")));
        assert!(handle.push(Bytes::from_static(b"12345")));
        assert!(!handle.push(Bytes::from_static(b"1")));
        let reason = ends.close.borrow_and_update().clone().unwrap();
        assert!(reason.error.unwrap().contains("too slow"));
        assert_eq!(
            ends.outbound.recv().await.bytes,
            Bytes::from_static(b"12345")
        );
        handle.written(5);
        assert!(handle.push(Bytes::from_static(b"1")));
    }

    #[tokio::test]
    async fn a_completion_answers_the_pending_call() {
        let (handle, mut ends) = ConnectionHandle::new(1 << 20, HubProtocol::Json);
        let h = handle.clone();
        let call =
            tokio::spawn(async move { h.invoke("Result", "[]", Duration::from_secs(5)).await });
        let frame = ends.outbound.recv().await;
        assert!(frame.trackable);
        assert_eq!(
            &frame.bytes[..],
            b"{\"type\":1,\"invocationId\":\"0\",\"target\":\"Result\",\"arguments\":[]}\x1e"
        );
        assert!(handle.complete("0", Ok("10".into())));
        assert_eq!(call.await.unwrap(), Ok("10".into()));
        assert!(!handle.complete("0", Ok("11".into())), "answered only once");
    }

    #[tokio::test]
    async fn a_disconnect_fails_pending_calls_at_once() {
        let (handle, _ends) = ConnectionHandle::new(1 << 20, HubProtocol::Json);
        let h = handle.clone();
        let call =
            tokio::spawn(async move { h.invoke("Result", "[]", Duration::from_secs(60)).await });
        tokio::task::yield_now().await;
        while handle
            .inner
            .pending
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .is_empty()
        {
            tokio::task::yield_now().await;
        }
        handle.disconnected();
        assert_eq!(call.await.unwrap(), Err(DISCONNECTED.into()));
        assert_eq!(
            handle.invoke("Result", "[]", Duration::from_secs(60)).await,
            Err(DISCONNECTED.into())
        );
    }

    #[tokio::test]
    async fn a_silent_client_times_out() {
        let (handle, _ends) = ConnectionHandle::new(1 << 20, HubProtocol::Json);
        let err = handle
            .invoke("Result", "[]", Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(err.contains("did not answer within"), "{err}");
    }
}

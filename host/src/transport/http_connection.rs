//! A connection carried by HTTP requests instead of one socket: Server-
//! Sent Events and long polling. The client's messages arrive as POST
//! bodies to `/hubs/<hub>?id=<token>`; the server's go out on the event
//! stream or in the answers to polls. This file holds what both share:
//! the table of such connections by token, the POST rule (one at a time,
//! else 409), and the [`Inbound`] that turns POST bodies into the
//! connection task's input and ends it when the client is gone.
//!
//! Every request of one connection must reach the node that holds it:
//! behind a load balancer, make it sticky (by the `id` query parameter,
//! or by client address). WebSockets need no stickiness.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, sleep};

use crate::connection::{Inbound, TransportKind};

/// POST bodies that may wait for the reader. The reader never blocks, so
/// this only smooths bursts; a POST waits (bounded) when it is full.
const POSTS_WAITING: usize = 4;

/// Frames that may wait for the client to take them (an event stream
/// write, a poll), beyond the connection's outbound byte budget (the
/// writer counts a frame written once it is here).
pub const FRAMES_WAITING: usize = 16;

/// How often an idle long-polling connection checks whether its client
/// has stopped polling.
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// One connection on an HTTP transport.
pub struct HttpConnection {
    pub kind: TransportKind,
    /// Lowercase name of the hub it connected to.
    pub hub: String,
    posts: mpsc::Sender<Bytes>,
    /// Held while a POST hands its body over: a second one at the same
    /// time is answered 409, as ASP.NET Core does.
    post_in_progress: tokio::sync::Mutex<()>,
    /// True once the connection is over for the transport: the client
    /// ended it (DELETE, the event stream closed), stopped polling, or the
    /// connection task finished.
    gone: watch::Sender<bool>,
    /// Set by a long-polling DELETE: the client ended the connection on
    /// purpose (its Close message, which the official client does not
    /// wait for, may never arrive).
    deleted: AtomicBool,
    /// Long polling: the frames the next poll takes.
    pub(super) frames: tokio::sync::Mutex<mpsc::Receiver<Bytes>>,
    /// Long polling: bumped by every poll, so an older poll still waiting
    /// answers 204 and leaves the frames to the newer one.
    pub(super) poll_generation: AtomicU64,
    pub(super) poll_superseded: Notify,
    /// Long polling: polls in progress, and when the last one ended.
    polls_open: AtomicUsize,
    last_poll: Mutex<Instant>,
}

/// The pieces of a new HTTP connection: its shared state, the task's
/// inbound, and the sending end of its frames (for the outbound).
pub struct Parts {
    pub connection: Arc<HttpConnection>,
    pub inbound: HttpInbound,
    pub frames: mpsc::Sender<Bytes>,
}

impl HttpConnection {
    /// Opens a connection of `kind`; long polling ends it after
    /// `disconnect_timeout` without a poll.
    pub fn open(kind: TransportKind, hub: String, disconnect_timeout: Duration) -> Parts {
        let (posts, posted) = mpsc::channel(POSTS_WAITING);
        let (frames_tx, frames_rx) = mpsc::channel(FRAMES_WAITING);
        let (gone, gone_rx) = watch::channel(false);
        let connection = Arc::new(HttpConnection {
            kind,
            hub,
            posts,
            post_in_progress: tokio::sync::Mutex::new(()),
            gone,
            deleted: AtomicBool::new(false),
            frames: tokio::sync::Mutex::new(frames_rx),
            poll_generation: AtomicU64::new(0),
            poll_superseded: Notify::new(),
            polls_open: AtomicUsize::new(0),
            last_poll: Mutex::new(Instant::now()),
        });
        let inbound = HttpInbound {
            connection: connection.clone(),
            posted,
            gone: gone_rx,
            disconnect_timeout,
        };
        Parts {
            connection,
            inbound,
            frames: frames_tx,
        }
    }

    /// Hands a POST body to the connection. `Err(Busy)` when another POST
    /// is in progress; `Err(Gone)` when the connection is over.
    pub async fn post(&self, body: Bytes, wait: Duration) -> Result<(), PostRefused> {
        let Ok(_one_at_a_time) = self.post_in_progress.try_lock() else {
            return Err(PostRefused::Busy);
        };
        if self.is_gone() {
            return Err(PostRefused::Gone);
        }
        match tokio::time::timeout(wait, self.posts.send(body)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(PostRefused::Gone),
            Err(_) => Err(PostRefused::Busy),
        }
    }

    /// Ends the connection for the transport; the task sees its client
    /// gone and says goodbye.
    pub fn end(&self) {
        self.gone.send_replace(true);
    }

    /// A long-polling DELETE: the client ends the connection cleanly.
    pub fn end_by_client(&self) {
        self.deleted.store(true, Ordering::Release);
        self.end();
    }

    pub fn is_gone(&self) -> bool {
        *self.gone.borrow()
    }

    /// A watcher of [`Self::end`].
    pub fn subscribe_gone(&self) -> watch::Receiver<bool> {
        self.gone.subscribe()
    }

    /// Marks a poll in progress until the guard is dropped.
    pub fn poll_started(self: &Arc<Self>) -> PollInProgress {
        self.polls_open.fetch_add(1, Ordering::AcqRel);
        PollInProgress(self.clone())
    }

    /// Long polling: how long since the client last had a poll open.
    fn idle_for(&self) -> Duration {
        if self.polls_open.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        self.last_poll.lock().expect("last poll lock").elapsed()
    }
}

/// Counts a poll while it is open.
pub struct PollInProgress(Arc<HttpConnection>);

impl Drop for PollInProgress {
    fn drop(&mut self) {
        *self.0.last_poll.lock().expect("last poll lock") = Instant::now();
        self.0.polls_open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a POST was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum PostRefused {
    Busy,
    Gone,
}

/// The connection task's input on an HTTP transport.
pub struct HttpInbound {
    connection: Arc<HttpConnection>,
    posted: mpsc::Receiver<Bytes>,
    gone: watch::Receiver<bool>,
    disconnect_timeout: Duration,
}

impl Inbound for HttpInbound {
    fn ended_by_client(&self) -> bool {
        self.connection.deleted.load(Ordering::Acquire)
    }

    async fn next(&mut self) -> Option<Bytes> {
        let long_polling = self.connection.kind == TransportKind::LongPolling;
        loop {
            tokio::select! {
                biased;
                body = self.posted.recv() => return body,
                _ = self.gone.wait_for(|gone| *gone) => return None,
                _ = sleep(IDLE_CHECK), if long_polling => {
                    if self.connection.idle_for() > self.disconnect_timeout {
                        tracing::debug!("a long-polling client stopped polling");
                        self.connection.end();
                        return None;
                    }
                }
            }
        }
    }
}

/// HTTP connections of this node, by connection token.
#[derive(Default)]
pub struct HttpConnections {
    entries: Mutex<HashMap<String, Arc<HttpConnection>>>,
}

impl HttpConnections {
    pub fn insert(&self, token: &str, connection: Arc<HttpConnection>) {
        self.entries
            .lock()
            .expect("http connections lock")
            .insert(token.to_owned(), connection);
    }

    pub fn get(&self, token: &str) -> Option<Arc<HttpConnection>> {
        self.entries
            .lock()
            .expect("http connections lock")
            .get(token)
            .cloned()
    }

    pub fn remove(&self, token: &str) {
        self.entries
            .lock()
            .expect("http connections lock")
            .remove(token);
    }

    /// Connections open now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.lock().expect("http connections lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn posts_reach_the_inbound_one_at_a_time() {
        let parts = HttpConnection::open(
            TransportKind::ServerSentEvents,
            "chat".into(),
            Duration::from_secs(15),
        );
        let Parts {
            connection,
            mut inbound,
            ..
        } = parts;
        connection
            .post(Bytes::from_static(b"a"), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(inbound.next().await, Some(Bytes::from_static(b"a")));
        let busy = connection.post_in_progress.lock().await;
        assert_eq!(
            connection
                .post(Bytes::from_static(b"b"), Duration::from_secs(1))
                .await,
            Err(PostRefused::Busy)
        );
        drop(busy);
        connection.end();
        assert_eq!(inbound.next().await, None);
        assert_eq!(
            connection
                .post(Bytes::from_static(b"c"), Duration::from_secs(1))
                .await,
            Err(PostRefused::Gone)
        );
    }

    #[tokio::test]
    async fn a_long_polling_client_that_stops_polling_is_gone() {
        let timeout = Duration::from_millis(300);
        let Parts {
            connection,
            mut inbound,
            ..
        } = HttpConnection::open(TransportKind::LongPolling, "chat".into(), timeout);
        let poll = connection.poll_started();
        // A poll open for longer than the timeout keeps it alive.
        let next = tokio::time::timeout(timeout * 3, inbound.next()).await;
        assert!(next.is_err(), "still alive while polling");
        drop(poll);
        let started = Instant::now();
        assert_eq!(inbound.next().await, None);
        let waited = started.elapsed();
        assert!(waited >= timeout, "{waited:?}");
        assert!(connection.is_gone());
    }
}

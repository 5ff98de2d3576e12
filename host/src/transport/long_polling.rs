//! Long polling: the client asks `GET /hubs/<hub>?id=<token>` over and
//! over; each poll takes what the server has queued, or waits for it up
//! to the poll timeout and then answers empty. The client's messages
//! come in POSTs. Rules of `LongPollingServerTransport.cs`:
//! - the first poll answers at once, empty: it starts the connection;
//! - a poll with data answers 200 with every queued frame;
//! - nothing within the poll timeout: 200, empty (the client polls again);
//! - a newer poll arrives: the older one answers 204;
//! - the connection is over: 204, and the client stops;
//! - `DELETE` ends the connection (202); no poll for the disconnect
//!   timeout ends it too.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::http_connection::HttpConnection;
use crate::connection::{Outbound, TransportClosed};
use crate::protocol::handshake::TransferFormat;

/// One poll answer holds at most this much (more waits for the next).
const MAX_POLL_BYTES: usize = 1 << 20;

/// The answer to the first poll: empty, at once.
pub fn started() -> Response {
    body(StatusCode::OK, Bytes::new())
}

fn body(status: StatusCode, bytes: Bytes) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response()
}

/// Answers one poll.
pub async fn poll(connection: Arc<HttpConnection>, poll_timeout: Duration) -> Response {
    let _open = connection.poll_started();
    let generation = connection.poll_generation.fetch_add(1, Ordering::AcqRel) + 1;
    connection.poll_superseded.notify_waiters();
    let superseded = async {
        loop {
            let notified = connection.poll_superseded.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if connection.poll_generation.load(Ordering::Acquire) != generation {
                return;
            }
            notified.await;
        }
    };
    let mut gone = connection.subscribe_gone();
    let no_content = || body(StatusCode::NO_CONTENT, Bytes::new());
    // Frames first: after a goodbye the Close message is still queued
    // when the connection is marked gone, and must reach the client.
    tokio::select! {
        biased;
        answer = async {
            let mut frames = connection.frames.lock().await;
            tokio::select! {
                first = frames.recv() => match first {
                    None => no_content(),
                    Some(first) => body(StatusCode::OK, gather(first, &mut frames)),
                },
                _ = tokio::time::sleep(poll_timeout) => body(StatusCode::OK, Bytes::new()),
            }
        } => answer,
        _ = superseded => no_content(),
        _ = gone.wait_for(|gone| *gone) => no_content(),
    }
}

/// `first` and whatever else is queued, up to [`MAX_POLL_BYTES`].
fn gather(first: Bytes, frames: &mut mpsc::Receiver<Bytes>) -> Bytes {
    if frames.is_empty() {
        return first;
    }
    let mut out = BytesMut::from(&first[..]);
    while out.len() < MAX_POLL_BYTES {
        match frames.try_recv() {
            Ok(frame) => out.extend_from_slice(&frame),
            Err(_) => break,
        }
    }
    out.freeze()
}

/// The writing end of a long-polling connection: frames wait for a poll.
pub struct PollOutbound(pub Option<mpsc::Sender<Bytes>>);

impl Outbound for PollOutbound {
    async fn send(&mut self, frame: Bytes, _format: TransferFormat) -> Result<(), TransportClosed> {
        let frames = self.0.as_ref().ok_or(TransportClosed)?;
        frames.send(frame).await.map_err(|_| TransportClosed)
    }

    async fn close(&mut self) {
        // The next poll finds the queue closed (after what is in it) and
        // answers 204.
        self.0 = None;
    }
}

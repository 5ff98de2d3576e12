//! The writing half of a connection: drains its outbound queue in order,
//! pings when it has sent nothing for the keep-alive interval, and ends
//! with a Close message and a WebSocket close when told to.
//!
//! Every write is bounded by the write timeout: a client that stops
//! reading (a zero TCP window) or vanishes from the network fails its
//! write after that long instead of holding the task for ever. Once a
//! close is asked for, flushing what is queued, the Close message and
//! the WebSocket close together get one write timeout.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::time::{Instant, sleep_until, timeout};

use super::handle::{CloseReason, ConnectionEnds, ConnectionHandle};
use crate::protocol::json;

type Sink = SplitSink<WebSocket, Message>;

/// Why writing stopped before the connection was closed normally.
#[derive(Debug, PartialEq, Eq)]
enum WriteFailed {
    /// The socket failed (the client is gone).
    Socket,
    /// The client took longer than the write timeout to take a frame.
    TimedOut,
}

async fn write(sink: &mut Sink, frame: Bytes, limit: Duration) -> Result<(), WriteFailed> {
    match timeout(limit, sink.send(Message::Text(text_of(frame)))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteFailed::Socket),
        Err(_) => Err(WriteFailed::TimedOut),
    }
}

/// Runs until the connection is closed, the socket fails, or a write
/// takes longer than `write_timeout`. On a timeout the connection is
/// told to close, so the reader ends too.
pub async fn run(
    mut sink: Sink,
    handle: ConnectionHandle,
    ends: ConnectionEnds,
    keep_alive: Duration,
    write_timeout: Duration,
) {
    let ConnectionEnds {
        mut outbound,
        mut close,
    } = ends;
    let mut ping_at = Instant::now() + keep_alive;
    let reason: CloseReason = loop {
        let written = tokio::select! {
            biased;
            frame = outbound.recv() => {
                let Some(frame) = frame else { return };
                let len = frame.len();
                let written = write(&mut sink, frame, write_timeout).await;
                handle.written(len);
                written
            }
            changed = close.changed() => {
                match changed {
                    Ok(()) => {
                        if let Some(reason) = close.borrow_and_update().clone() {
                            break reason;
                        }
                        continue;
                    }
                    Err(_) => return,
                }
            }
            _ = sleep_until(ping_at) => write(&mut sink, json::ping().into(), write_timeout).await,
        };
        if let Err(failed) = written {
            stalled(&handle, failed, write_timeout);
            return;
        }
        ping_at = Instant::now() + keep_alive;
    };
    // Whatever was queued before the close goes out first, then the
    // Close message, all within one write timeout.
    let goodbye = async {
        while let Ok(frame) = outbound.try_recv() {
            let len = frame.len();
            let sent = sink.send(Message::Text(text_of(frame))).await;
            handle.written(len);
            if sent.is_err() {
                return;
            }
        }
        let record = json::close(reason.error.as_deref(), reason.allow_reconnect);
        if sink
            .send(Message::Text(text_of(record.into())))
            .await
            .is_ok()
        {
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code: close_code::NORMAL,
                    reason: Utf8Bytes::from_static(""),
                })))
                .await;
        }
        let _ = sink.close().await;
    };
    if timeout(write_timeout, goodbye).await.is_err() {
        tracing::debug!("the client did not take its Close message within the write timeout");
    }
}

/// Server frames are JSON text, so always UTF-8; a frame that is not
/// (a bug) is logged and sent empty rather than written as garbage.
fn text_of(frame: Bytes) -> Utf8Bytes {
    Utf8Bytes::try_from(frame).unwrap_or_else(|_| {
        tracing::error!("dropped an outbound frame that is not UTF-8");
        Utf8Bytes::from_static("")
    })
}

fn stalled(handle: &ConnectionHandle, failed: WriteFailed, write_timeout: Duration) {
    let error = match failed {
        WriteFailed::Socket => None,
        WriteFailed::TimedOut => Some(format!(
            "The client did not read what was sent to it for {}.",
            humantime::format_duration(write_timeout)
        )),
    };
    // The reader sees this and ends the connection; nothing more can be
    // written, so no Close message goes out.
    handle.close(CloseReason {
        error,
        allow_reconnect: true,
    });
}

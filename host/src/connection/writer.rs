//! The writing half of a connection: drains its outbound queue in order,
//! pings when it has sent nothing for the keep-alive interval, and ends
//! with a Close message and a WebSocket close when told to.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::time::{Instant, sleep_until};

use crate::cluster::local::CloseReason;
use crate::cluster::{ConnectionEnds, ConnectionHandle};
use crate::protocol::json;

async fn write(sink: &mut SplitSink<WebSocket, Message>, frame: Bytes) -> bool {
    match Utf8Bytes::try_from(frame) {
        Ok(text) => sink.send(Message::Text(text)).await.is_ok(),
        Err(_) => {
            tracing::error!("dropped an outbound frame that is not UTF-8");
            true
        }
    }
}

/// Runs until the connection is closed or the socket fails.
pub async fn run(
    mut sink: SplitSink<WebSocket, Message>,
    handle: ConnectionHandle,
    ends: ConnectionEnds,
    keep_alive: Duration,
) {
    let ConnectionEnds {
        mut outbound,
        mut close,
    } = ends;
    let mut ping_at = Instant::now() + keep_alive;
    let reason: CloseReason = loop {
        tokio::select! {
            biased;
            frame = outbound.recv() => {
                let Some(frame) = frame else { return };
                let len = frame.len();
                let ok = write(&mut sink, frame).await;
                handle.written(len);
                if !ok {
                    return;
                }
                ping_at = Instant::now() + keep_alive;
            }
            changed = close.changed() => {
                match changed {
                    Ok(()) => {
                        if let Some(reason) = close.borrow_and_update().clone() {
                            break reason;
                        }
                    }
                    Err(_) => return,
                }
            }
            _ = sleep_until(ping_at) => {
                if !write(&mut sink, json::ping().into()).await {
                    return;
                }
                ping_at = Instant::now() + keep_alive;
            }
        }
    };
    // Whatever was queued before the close goes out first.
    while let Ok(frame) = outbound.try_recv() {
        let len = frame.len();
        if !write(&mut sink, frame).await {
            return;
        }
        handle.written(len);
    }
    let record = json::close(reason.error.as_deref(), reason.allow_reconnect);
    if write(&mut sink, record.into()).await {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: close_code::NORMAL,
                reason: Utf8Bytes::from_static(""),
            })))
            .await;
    }
    let _ = sink.close().await;
}

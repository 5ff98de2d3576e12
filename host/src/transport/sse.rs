//! Server-Sent Events: the server's messages go out on one long
//! `text/event-stream` response, the client's come in POSTs. Text
//! protocols only (the EventSource API decodes UTF-8): MessagePack is
//! refused at the handshake.
//!
//! Each frame is one event: `data: <line>` per line of it, then a blank
//! line (`ServerSentEventsMessageFormatter.cs`); the stream opens with a
//! `:` comment line, as ASP.NET Core writes.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::mpsc;

use super::http_connection::HttpConnection;
use crate::connection::{Outbound, TransportClosed};
use crate::protocol::handshake::TransferFormat;

/// The event-stream response; `events` are the outbound's frames,
/// already formatted. The connection is over for the transport when the
/// client drops the stream.
pub fn response(connection: Arc<HttpConnection>, events: mpsc::Receiver<Bytes>) -> Response {
    let state = (events, EndOnDrop(connection), true);
    let stream = futures_util::stream::unfold(state, |(mut events, guard, first)| async move {
        if first {
            return Some((
                Ok::<_, Infallible>(Bytes::from_static(b":\r\n")),
                (events, guard, false),
            ));
        }
        let event = events.recv().await?;
        Some((Ok(event), (events, guard, false)))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache, no-store"),
            (header::PRAGMA, "no-cache"),
            (header::CONTENT_ENCODING, "identity"),
            // nginx buffers responses unless told not to.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Ends the connection when the response stream is dropped (the client
/// closed its EventSource or went away).
struct EndOnDrop(Arc<HttpConnection>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// One frame as an event: every line prefixed with `data: `.
pub fn event(frame: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(frame.len() + 16);
    for line in frame.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.put_slice(b"data: ");
        out.put_slice(line);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    out.freeze()
}

/// The writing end of an event stream.
pub struct EventsOutbound(pub Option<mpsc::Sender<Bytes>>);

impl Outbound for EventsOutbound {
    async fn send(&mut self, frame: Bytes, format: TransferFormat) -> Result<(), TransportClosed> {
        if format == TransferFormat::Binary {
            // The handshake refuses binary protocols here.
            return Err(TransportClosed);
        }
        let events = self.0.as_ref().ok_or(TransportClosed)?;
        events
            .send(event(&frame))
            .await
            .map_err(|_| TransportClosed)
    }

    async fn close(&mut self) {
        // Dropping the sender ends the response body.
        self.0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_becomes_one_event_of_data_lines() {
        assert_eq!(
            &event(b"{\"type\":6}\x1e")[..],
            b"data: {\"type\":6}\x1e\r\n\r\n"
        );
        assert_eq!(
            &event(b"a\nb\r\nc")[..],
            b"data: a\r\ndata: b\r\ndata: c\r\n\r\n"
        );
    }
}

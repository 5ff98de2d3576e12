//! The transport seam: what carries a connection's bytes. The connection
//! task is generic over it and never learns which one it runs on beyond
//! [`TransportKind`]'s few facts (its name, the transfer formats it can
//! carry, whether it has a keep-alive of its own).
//!
//! Implementations live in `crate::transport`: WebSockets
//! (`websocket.rs`), Server-Sent Events (`sse.rs`) and long polling
//! (`long_polling.rs`); the last two take the client's messages from
//! HTTP POSTs (`http_connection.rs`).

use std::future::Future;

use bytes::Bytes;

use crate::protocol::handshake::TransferFormat;

/// The three SignalR transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    WebSockets,
    ServerSentEvents,
    LongPolling,
}

impl TransportKind {
    /// The name in negotiate answers and in `caller.details()`.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::WebSockets => "WebSockets",
            TransportKind::ServerSentEvents => "ServerSentEvents",
            TransportKind::LongPolling => "LongPolling",
        }
    }

    /// Server-Sent Events carry text only (the EventSource API decodes
    /// UTF-8), so MessagePack is refused there at the handshake.
    pub fn carries(self, format: TransferFormat) -> bool {
        !(self == TransportKind::ServerSentEvents && format == TransferFormat::Binary)
    }

    /// Long polling keeps itself alive (every poll is a sign of life, and
    /// its absence is caught by the disconnect timeout), so neither side
    /// pings on it, as in ASP.NET Core (`inherentKeepAlive`).
    pub fn has_inherent_keep_alive(self) -> bool {
        self == TransportKind::LongPolling
    }
}

/// The client's side of the conversation: chunks of bytes as they came
/// (a WebSocket frame, a POST body). Records may span chunks.
pub trait Inbound: Send + 'static {
    /// The next chunk; `None` when the client is gone (closed, dropped,
    /// or, on the HTTP transports, silent for the disconnect timeout).
    fn next(&mut self) -> impl Future<Output = Option<Bytes>> + Send;

    /// After `next` said `None`: whether the client ended the transport
    /// on purpose (a long-polling DELETE), a clean close like a Close
    /// message, not a drop.
    fn ended_by_client(&self) -> bool {
        false
    }

    /// Reads and drops what the client still sends, for a bounded time,
    /// before the transport is let go (a WebSocket closed with unread
    /// input is reset, and the client loses the Close message).
    fn drain(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// The server's side: frames of whole records.
pub trait Outbound: Send + 'static {
    /// Sends one frame in `format` (Binary for MessagePack). The caller
    /// bounds the wait; an error means the client is gone.
    fn send(
        &mut self,
        frame: Bytes,
        format: TransferFormat,
    ) -> impl Future<Output = Result<(), TransportClosed>> + Send;

    /// Queues one frame behind those fed before it without waiting for
    /// the client; [`Outbound::flush`] sends them all, so a writer that
    /// finds many frames queued makes one write of them, not one each.
    /// Transports without a buffer of their own send at once.
    fn feed(
        &mut self,
        frame: Bytes,
        format: TransferFormat,
    ) -> impl Future<Output = Result<(), TransportClosed>> + Send {
        self.send(frame, format)
    }

    /// Sends what [`Outbound::feed`] queued. The caller bounds the wait.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportClosed>> + Send {
        async { Ok(()) }
    }

    /// Ends the transport after what was sent: a WebSocket close 1000,
    /// the end of the event stream, a 204 to the next poll.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// The client can no longer be written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the transport is closed")]
pub struct TransportClosed;

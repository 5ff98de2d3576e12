//! The WebSocket transport: one upgraded socket carries the connection
//! both ways. Text frames for JSON, Binary frames for MessagePack (the
//! handshake answer too); the client may send either, and a frame may
//! hold several records or part of one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::connection::{
    self, Carrier, ConnectionSetup, Inbound, Outbound, Services, TransportClosed, TransportKind,
};
use crate::protocol::handshake::TransferFormat;

/// How long a closing connection waits for the client's close frame.
const DRAIN: Duration = Duration::from_secs(2);

/// A socket's two halves, as the connection task takes them.
pub type Socket = (SocketInbound, SocketOutbound);

/// Connections that negotiated stateful reconnect, by token: where the
/// socket a client reconnects on (same token, after a drop) goes.
#[derive(Default)]
pub struct Reconnects {
    waiting: Mutex<HashMap<String, (String, mpsc::Sender<Socket>)>>,
}

impl Reconnects {
    /// The connection `token` names on `hub`, if it takes reconnects.
    pub fn get(&self, token: &str, hub: &str) -> Option<mpsc::Sender<Socket>> {
        let waiting = self.waiting.lock().expect("reconnects lock");
        let (on_hub, sender) = waiting.get(token)?;
        (on_hub.eq_ignore_ascii_case(hub) && !sender.is_closed()).then(|| sender.clone())
    }

    fn insert(&self, token: String, hub: String, sender: mpsc::Sender<Socket>) {
        self.waiting
            .lock()
            .expect("reconnects lock")
            .insert(token, (hub, sender));
    }

    fn remove(&self, token: &str) {
        self.waiting.lock().expect("reconnects lock").remove(token);
    }
}

fn configured(upgrade: WebSocketUpgrade, services: &Services) -> WebSocketUpgrade {
    // A frame far larger than one record may be is refused by the
    // WebSocket layer itself.
    let frame_limit = super::chunk_limit(&services.config);
    upgrade
        // tungstenite reserves 128 KiB per socket by default: most of an
        // idle connection's memory. Reads grow the buffer when needed
        // (a 4 KiB read chunk comes on top of it either way).
        .read_buffer_size(1 << 10)
        .max_message_size(frame_limit)
        .max_frame_size(frame_limit)
}

fn halves(socket: WebSocket) -> Socket {
    let (sink, stream) = socket.split();
    (SocketInbound(stream), SocketOutbound(sink))
}

/// Accepts the upgrade and serves the connection on the socket. With
/// `reconnects` (token, hub, table) the connection negotiated stateful
/// reconnect: it takes later sockets on the same token until it ends.
pub fn upgrade(
    upgrade: WebSocketUpgrade,
    setup: ConnectionSetup,
    services: Services,
    reconnects: Option<(String, String, Arc<Reconnects>)>,
) -> Response {
    configured(upgrade, &services).on_upgrade(move |socket| async move {
        let (inbound, outbound) = halves(socket);
        let (sockets, registered) = match reconnects {
            Some((token, hub, table)) => {
                let (sender, receiver) = mpsc::channel(1);
                table.insert(token.clone(), hub, sender);
                (Some(receiver), Some((token, table)))
            }
            None => (None, None),
        };
        let carrier = Carrier {
            kind: TransportKind::WebSockets,
            inbound,
            outbound,
            reconnects: sockets,
        };
        connection::serve(carrier, setup, services).await;
        if let Some((token, table)) = registered {
            table.remove(&token);
        }
    })
}

/// Hands the socket of a client reconnecting (stateful reconnect) to its
/// connection; no negotiate and no handshake happen on it.
pub fn reconnect(
    upgrade: WebSocketUpgrade,
    connection: mpsc::Sender<Socket>,
    services: &Services,
) -> Response {
    configured(upgrade, services).on_upgrade(move |socket| async move {
        if let Err(refused) = connection.send(halves(socket)).await {
            // The connection ended meanwhile: close this socket.
            let (_, mut outbound) = refused.0;
            outbound.close().await;
        }
    })
}

/// The reading half of a socket.
pub struct SocketInbound(SplitStream<WebSocket>);

impl Inbound for SocketInbound {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            match self.0.next().await? {
                Ok(Message::Text(text)) => return Some(Bytes::from(text)),
                Ok(Message::Binary(bytes)) => return Some(bytes),
                Ok(Message::Close(_)) | Err(_) => return None,
                // tungstenite answers pings itself.
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            }
        }
    }

    async fn drain(&mut self) {
        let _ = timeout(DRAIN, async {
            while let Some(Ok(_)) = self.0.next().await {}
        })
        .await;
    }
}

/// The writing half of a socket.
pub struct SocketOutbound(SplitSink<WebSocket, Message>);

impl SocketOutbound {
    /// The WebSocket message for a frame; `None` for text that is not
    /// UTF-8 (a bug, logged rather than written as garbage).
    fn message(frame: Bytes, format: TransferFormat) -> Option<Message> {
        Some(match format {
            TransferFormat::Binary => Message::Binary(frame),
            TransferFormat::Text => match Utf8Bytes::try_from(frame) {
                Ok(text) => Message::Text(text),
                Err(_) => {
                    tracing::error!("dropped an outbound text frame that is not UTF-8");
                    return None;
                }
            },
        })
    }
}

impl Outbound for SocketOutbound {
    async fn feed(&mut self, frame: Bytes, format: TransferFormat) -> Result<(), TransportClosed> {
        let Some(message) = Self::message(frame, format) else {
            return Ok(());
        };
        self.0.feed(message).await.map_err(|_| TransportClosed)
    }

    async fn flush(&mut self) -> Result<(), TransportClosed> {
        self.0.flush().await.map_err(|_| TransportClosed)
    }

    async fn send(&mut self, frame: Bytes, format: TransferFormat) -> Result<(), TransportClosed> {
        let Some(message) = Self::message(frame, format) else {
            return Ok(());
        };
        self.0.send(message).await.map_err(|_| TransportClosed)
    }

    async fn close(&mut self) {
        let _ = self
            .0
            .send(Message::Close(Some(CloseFrame {
                code: close_code::NORMAL,
                reason: Utf8Bytes::from_static(""),
            })))
            .await;
        let _ = self.0.close().await;
    }
}

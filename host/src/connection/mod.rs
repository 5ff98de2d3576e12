//! One client connection, from handshake to goodbye.
//!
//! The connection task reads frames, splits them into records, and
//! dispatches each: invocations to the [`invoker`] (serial, in order),
//! client-result Completions to the waiting call, Pings and Closes to
//! itself. The [`writer`] owns the sending half and the keep-alive.
//! Anything the client sends that breaks the protocol closes only this
//! connection, with a Close message that says what was wrong.

mod invoker;
mod writer;

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

use crate::cluster::local::CloseReason;
use crate::cluster::{Attributes, Cluster, ConnectionHandle, ConnectionRecord};
use crate::config::Config;
use crate::protocol::framing::RecordBuffer;
use crate::protocol::json::{self, ClientMessage};
use crate::protocol::{ProtocolError, handshake};
use crate::runtime::{ConnectionContext, Runtime};

/// What the transport learned about a connection before it upgraded.
pub struct ConnectionSetup {
    pub context: ConnectionContext,
    /// From a validated token, or none.
    pub user: Option<String>,
    pub attributes: Attributes,
}

/// How long a closing connection waits for the client's close frame.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Shared services every connection uses.
#[derive(Clone)]
pub struct Services {
    pub runtime: Arc<Runtime>,
    pub cluster: Arc<Cluster>,
    pub config: Arc<Config>,
}

fn frame_bytes(message: Message) -> Option<Vec<u8>> {
    match message {
        Message::Text(text) => Some(text.as_bytes().to_vec()),
        Message::Binary(bytes) => Some(bytes.to_vec()),
        _ => None,
    }
}

/// Serves a connection on an upgraded WebSocket until it ends.
pub async fn serve(socket: WebSocket, setup: ConnectionSetup, services: Services) {
    let config = services.config.clone();
    let (mut sink, mut stream) = socket.split();
    let mut buffer = RecordBuffer::new(config.max_message_size);

    // 1. Handshake, within its timeout; records after it are kept.
    let handshake = timeout(config.handshake_timeout, async {
        loop {
            let Some(Ok(message)) = stream.next().await else {
                return Err(None);
            };
            let Some(bytes) = frame_bytes(message) else {
                continue;
            };
            match buffer.push(&bytes) {
                Ok(mut records) if !records.is_empty() => {
                    let first = records.remove(0);
                    return handshake::parse_request(&first)
                        .map(|_| records)
                        .map_err(Some);
                }
                Ok(_) => continue,
                Err(_) => return Err(Some("Handshake was canceled.".to_owned())),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(Some("Handshake was canceled.".to_owned())));
    let early_records = match handshake {
        Ok(records) => records,
        Err(error) => {
            if let Some(error) = error {
                tracing::debug!(connection = %setup.context.id, %error, "handshake refused");
                let response =
                    String::from_utf8(handshake::error_response(&error)).unwrap_or_default();
                let _ = sink.send(Message::Text(response.into())).await;
                let _ = sink.close().await;
                drain(&mut stream).await;
            }
            return;
        }
    };
    // 2. Register and let the hub accept or refuse, then answer the
    //    handshake: when the client's `start()` resolves, every node
    //    already sees the connection, with the user its hub gave it.
    //    What the hub sends meanwhile is queued behind the answer.
    let context = Arc::new(setup.context);
    let (handle, ends) = ConnectionHandle::new(config.outbound_buffer);
    handle.push(handshake::success_response().into());
    let record = ConnectionRecord {
        id: context.id.clone(),
        hub: context.hub.clone(),
        user: setup.user,
        node: services.cluster.node_id().to_owned(),
        groups: Default::default(),
        attributes: setup.attributes,
    };
    services.cluster.register(record, handle.clone()).await;
    let _guard = Unregister {
        cluster: services.cluster.clone(),
        id: context.id.clone(),
    };
    let accepted = accept(&services, &context).await;
    let writer = tokio::spawn(writer::run(sink, handle.clone(), ends, config.keep_alive));
    if let Err(refusal) = accepted {
        tracing::info!(connection = %context.id, hub = %context.hub, %refusal, "connection refused");
        handle.close(CloseReason {
            error: Some(refusal),
            allow_reconnect: false,
        });
        let _ = writer.await;
        handle.disconnected();
        drain(&mut stream).await;
        return;
    }
    tracing::debug!(connection = %context.id, hub = %context.hub, "connected");

    // 3. Read until the client leaves, breaks the protocol, or is closed.
    let (queue, invocations) = mpsc::channel(invoker::QUEUE);
    let invoker = tokio::spawn(invoker::run(
        invocations,
        services.runtime.clone(),
        services.cluster.clone(),
        context.clone(),
        handle.clone(),
    ));
    let mut close = handle.subscribe_close();
    let mut reader = Reader {
        id: &context.id,
        handle: &handle,
        queue,
    };
    let mut outcome = match close.borrow().is_some() {
        true => Err(End::ClosedByServer),
        false => Ok(()),
    };
    for record in early_records {
        if outcome.is_err() {
            break;
        }
        outcome = reader.record(&record).await;
    }
    let mut silent_until = Instant::now() + config.client_timeout;
    while outcome.is_ok() {
        tokio::select! {
            message = stream.next() => {
                let Some(Ok(message)) = message else {
                    outcome = Err(End::Dropped);
                    break;
                };
                silent_until = Instant::now() + config.client_timeout;
                let Some(bytes) = frame_bytes(message) else { continue };
                match buffer.push(&bytes) {
                    Ok(records) => {
                        for record in records {
                            outcome = reader.record(&record).await;
                            if outcome.is_err() {
                                break;
                            }
                        }
                    }
                    Err(error) => outcome = Err(End::Protocol(error)),
                }
            }
            _ = close.changed() => outcome = Err(End::ClosedByServer),
            _ = sleep_until(silent_until) => outcome = Err(End::TimedOut),
        }
    }

    // 4. Goodbye: fail pending client results, finish the hub's calls,
    //    tell the hub, then forget the connection.
    let error = match outcome.unwrap_err() {
        End::ClientClosed(error) => error,
        End::Dropped => None,
        End::ClosedByServer => None,
        End::TimedOut => {
            let error =
                "Server timeout elapsed without receiving a message from the client.".to_owned();
            handle.close(CloseReason {
                error: Some(error.clone()),
                allow_reconnect: false,
            });
            Some(error)
        }
        End::Protocol(error) => {
            let error = format!("Connection closed with an error. InvalidDataException: {error}");
            handle.close(CloseReason {
                error: Some(error.clone()),
                allow_reconnect: false,
            });
            Some(error)
        }
    };
    handle.close(CloseReason {
        error: None,
        allow_reconnect: false,
    });
    handle.disconnected();
    drop(reader);
    let _ = invoker.await;
    if let Some(hub) = services.runtime.hub(&context.hub) {
        let record = services.cluster.record(&context.id).await;
        let view = Runtime::connection_view(&context, record.as_ref());
        if let Err(e) = hub.on_disconnected(&view, error.as_deref()).await {
            tracing::warn!(connection = %context.id, error = %e, "on-disconnected failed");
        }
    }
    let _ = writer.await;
    drain(&mut stream).await;
    tracing::debug!(connection = %context.id, ?error, "disconnected");
}

/// Reads (and drops) what the client still sends until its close frame,
/// for a bounded time: closing a socket with unread input resets it, and
/// the client would lose the Close message that says why.
async fn drain(stream: &mut futures_util::stream::SplitStream<WebSocket>) {
    let _ = timeout(DRAIN, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

/// Runs the hub's `on-connected`; an error is the refusal text.
async fn accept(services: &Services, context: &Arc<ConnectionContext>) -> Result<(), String> {
    let Some(hub) = services.runtime.hub(&context.hub) else {
        return Err(format!("The hub '{}' is not served.", context.hub));
    };
    let record = services.cluster.record(&context.id).await;
    let view = Runtime::connection_view(context, record.as_ref());
    match hub.on_connected(context, &view).await {
        Ok(Some(user)) => services
            .cluster
            .set_user(&context.id, Some(user))
            .await
            .map_err(|e| e.to_string()),
        Ok(None) => Ok(()),
        Err(error) => Err(error.refusal_text()),
    }
}

/// Why the read loop ended.
enum End {
    ClientClosed(Option<String>),
    Dropped,
    ClosedByServer,
    TimedOut,
    Protocol(ProtocolError),
}

struct Reader<'a> {
    id: &'a str,
    handle: &'a ConnectionHandle,
    queue: mpsc::Sender<invoker::Invocation>,
}

impl Reader<'_> {
    async fn record(&mut self, record: &[u8]) -> Result<(), End> {
        match json::parse(record).map_err(End::Protocol)? {
            ClientMessage::Invocation {
                invocation_id,
                target,
                arguments,
                has_streams,
            } => {
                if has_streams {
                    if let Some(id) = invocation_id {
                        let error = format!(
                            "An unexpected error occurred invoking '{target}' on the server. HubException: Client-to-server streams are not supported yet."
                        );
                        self.handle.push(json::completion_error(&id, &error).into());
                    }
                    return Ok(());
                }
                let invocation = invoker::Invocation {
                    invocation_id,
                    target,
                    arguments,
                };
                // Waits when the client queued too many: back-pressure.
                self.queue
                    .send(invocation)
                    .await
                    .map_err(|_| End::ClosedByServer)
            }
            ClientMessage::StreamInvocation {
                invocation_id,
                target,
            } => {
                let error = format!(
                    "The client attempted to invoke the non-streaming '{target}' method with a streaming invocation."
                );
                self.handle
                    .push(json::completion_error(&invocation_id, &error).into());
                Ok(())
            }
            ClientMessage::Completion {
                invocation_id,
                result,
            } => {
                self.handle.complete(&invocation_id, result);
                Ok(())
            }
            ClientMessage::Close { error } => Err(End::ClientClosed(error)),
            ClientMessage::Unknown(kind) => {
                tracing::warn!(connection = %self.id, kind, "ignored a message of unknown type");
                Ok(())
            }
            ClientMessage::Ping
            | ClientMessage::Ack
            | ClientMessage::StreamItem { .. }
            | ClientMessage::CancelInvocation { .. } => Ok(()),
        }
    }
}

/// Removes the connection from the cluster however the task ends.
struct Unregister {
    cluster: Arc<Cluster>,
    id: String,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        let cluster = self.cluster.clone();
        let id = std::mem::take(&mut self.id);
        tokio::spawn(async move {
            cluster.unregister(&id).await;
        });
    }
}

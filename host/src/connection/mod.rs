//! One client connection, from handshake to goodbye.
//!
//! [`serve`] runs four phases, each with every wait bounded:
//! 1. [`handshake`]: the client's handshake request, within
//!    `--handshake-timeout`;
//! 2. [`accept`]: register the connection, let the hub's `on-connected`
//!    accept or refuse it (under the hub's deadline), start the writer;
//! 3. [`read_loop`]: read until the client leaves, breaks the protocol,
//!    goes silent for `--client-timeout`, or the server closes it. The
//!    reader never waits for anything but the socket: invocations go to
//!    the [`invoker`]'s bounded queue or are refused at once, so
//!    Completions, Pings and Close are always read;
//! 4. [`goodbye`]: fail pending client results, drop queued invocations,
//!    tell the hub, unregister (exactly once), and give the writer one
//!    write timeout to say Close before it is aborted.
//!
//! The [`writer`] owns the sending half and the keep-alive. Anything the
//! client sends that breaks the protocol closes only this connection,
//! with a Close message that says what was wrong.

pub mod handle;
mod invoker;
mod writer;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};

pub use handle::{CloseReason, ConnectionEnds, ConnectionHandle, Encoded};

use crate::cluster::{Attributes, Cluster, ConnectionRecord};
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
    /// When the token that authenticated the connection expires: the
    /// connection is closed then (ASP.NET's CloseOnAuthenticationExpiration).
    pub expires: Option<std::time::SystemTime>,
}

/// How long a closing connection waits for the client's close frame.
const DRAIN: Duration = Duration::from_secs(2);

/// Upload streams a client may have announced and not completed; the
/// host refuses them, and only remembers their ids so that a stream's
/// Completion is never taken for the answer to a client-result call.
const MAX_OPEN_STREAMS: usize = 128;

/// Shared services every connection uses.
#[derive(Clone)]
pub struct Services {
    pub runtime: Arc<Runtime>,
    pub cluster: Arc<Cluster>,
    pub config: Arc<Config>,
    /// Connection tasks running now: shutdown waits for them to finish.
    pub open_connections: Arc<AtomicUsize>,
}

/// Counts a connection task while it runs.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

fn frame_bytes(message: Message) -> Option<Vec<u8>> {
    match message {
        Message::Text(text) => Some(text.as_bytes().to_vec()),
        Message::Binary(bytes) => Some(bytes.to_vec()),
        _ => None,
    }
}

/// Serves a connection on an upgraded WebSocket until it ends.
pub async fn serve(socket: WebSocket, setup: ConnectionSetup, services: Services) {
    let _open = Open::new(&services.open_connections);
    let config = services.config.clone();
    let (mut sink, mut stream) = socket.split();
    let mut buffer = RecordBuffer::new(config.max_message_size);
    let Some(early_records) = handshake(&mut sink, &mut stream, &mut buffer, &setup, &config).await
    else {
        return;
    };
    let expires = setup.expires;
    let Some(live) = accept(sink, setup, &services).await else {
        drain(&mut stream).await;
        return;
    };
    let end = read_loop(&live, &services, stream, buffer, early_records, expires).await;
    goodbye(live, end, &services).await;
}

/// Phase 1: reads the handshake request, within the handshake timeout.
/// Returns the records that came after it in the same frames; `None`
/// when the connection ends here (a refusal was answered).
async fn handshake(
    sink: &mut Sink,
    stream: &mut Stream,
    buffer: &mut RecordBuffer,
    setup: &ConnectionSetup,
    config: &Config,
) -> Option<Vec<Vec<u8>>> {
    let canceled = || Some("Handshake was canceled.".to_owned());
    let read = timeout(config.handshake_timeout, async {
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
                Err(_) => return Err(canceled()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(canceled()));
    match read {
        Ok(records) => Some(records),
        Err(None) => None,
        Err(Some(error)) => {
            tracing::debug!(connection = %setup.context.id, %error, "handshake refused");
            let response = String::from_utf8(handshake::error_response(&error)).unwrap_or_default();
            let _ = timeout(config.write_timeout, async {
                let _ = sink.send(Message::Text(response.into())).await;
                let _ = sink.close().await;
            })
            .await;
            drain(stream).await;
            None
        }
    }
}

/// A registered, accepted connection and its tasks.
struct Live {
    context: Arc<ConnectionContext>,
    handle: ConnectionHandle,
    writer: JoinHandle<()>,
    /// Removes the registration if the task ends before [`goodbye`] did.
    unregister: Unregister,
}

/// Phase 2: registers the connection and runs the hub's `on-connected`,
/// then answers the handshake: when the client's `start()` resolves,
/// every node already sees the connection, with the user its hub gave
/// it. What the hub sends meanwhile is queued behind the answer. `None`
/// when the hub refused (the client got a Close saying why).
async fn accept(sink: Sink, setup: ConnectionSetup, services: &Services) -> Option<Live> {
    let config = &services.config;
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
    let unregister = Unregister::new(services.cluster.clone(), &context.id);
    let accepted = on_connected(services, &context).await;
    let writer = tokio::spawn(writer::run(
        sink,
        handle.clone(),
        ends,
        config.keep_alive,
        config.write_timeout,
    ));
    let live = Live {
        context,
        handle,
        writer,
        unregister,
    };
    match accepted {
        Ok(()) => {
            tracing::debug!(connection = %live.context.id, hub = %live.context.hub, "connected");
            Some(live)
        }
        Err(refusal) => {
            tracing::info!(connection = %live.context.id, hub = %live.context.hub, %refusal, "connection refused");
            live.handle.close(CloseReason {
                error: Some(refusal),
                allow_reconnect: false,
            });
            live.handle.disconnected();
            live.unregister.now().await;
            finish_writer(live.writer, config.write_timeout).await;
            None
        }
    }
}

/// Runs the hub's `on-connected`; an error is the refusal text.
async fn on_connected(services: &Services, context: &Arc<ConnectionContext>) -> Result<(), String> {
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
    /// The client sent a Close message (with its error, if any).
    ClientClosed(Option<String>),
    /// The socket ended or failed without a Close message.
    Dropped,
    /// The server closed it (shutdown, hub retired, slow client, refusal).
    ClosedByServer,
    /// Nothing came from the client for the client timeout.
    TimedOut,
    /// The token that authenticated the connection expired.
    TokenExpired,
    Protocol(ProtocolError),
}

/// Phase 3: reads and dispatches records until the connection ends.
async fn read_loop(
    live: &Live,
    services: &Services,
    mut stream: Stream,
    mut buffer: RecordBuffer,
    early_records: Vec<Vec<u8>>,
    expires: Option<std::time::SystemTime>,
) -> (End, Stream, JoinHandle<()>) {
    let config = &services.config;
    let (queue, invocations) =
        invoker::Queue::new(config.max_message_size * invoker::QUEUED_RECORDS);
    let invoker = tokio::spawn(invoker::run(
        invocations,
        services.runtime.clone(),
        services.cluster.clone(),
        live.context.clone(),
        live.handle.clone(),
    ));
    let mut close = live.handle.subscribe_close();
    let mut reader = Reader {
        id: &live.context.id,
        handle: &live.handle,
        queue,
        streams: HashSet::new(),
    };
    // The token's expiry as a deadline; far away when there is none.
    let expires_at = expires
        .map(|at| {
            let left = at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            Instant::now() + left
        })
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
    let mut outcome = match close.borrow().is_some() {
        true => Err(End::ClosedByServer),
        false => Ok(()),
    };
    for record in early_records {
        if outcome.is_err() {
            break;
        }
        outcome = reader.record(&record);
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
                            outcome = reader.record(&record);
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
            _ = sleep_until(expires_at), if expires.is_some() => outcome = Err(End::TokenExpired),
        }
    }
    // Dropping the reader closes the invocation queue: the invoker ends
    // after the call it runs now.
    drop(reader);
    let end = match outcome {
        Err(end) => end,
        Ok(()) => End::ClosedByServer,
    };
    (end, stream, invoker)
}

/// Phase 4: the connection is over. Every step is bounded, and the
/// registration is removed before the writer is waited for, so a client
/// that stopped reading leaves presence as soon as its reader ends.
async fn goodbye(
    live: Live,
    (end, mut stream, invoker): (End, Stream, JoinHandle<()>),
    services: &Services,
) {
    let config = &services.config;
    let Live {
        context,
        handle,
        writer,
        unregister,
    } = live;
    let (close, error) = match end {
        End::ClientClosed(error) => (None, error),
        End::Dropped => (
            None,
            Some("The connection was lost without a Close message.".to_owned()),
        ),
        End::ClosedByServer => (None, handle.close_reason().and_then(|r| r.error)),
        End::TimedOut => {
            let error =
                "Server timeout elapsed without receiving a message from the client.".to_owned();
            (Some((error.clone(), false)), Some(error))
        }
        End::TokenExpired => {
            // allowReconnect: a client with an access token factory
            // reconnects with a fresh token.
            let error = "The access token expired.".to_owned();
            (Some((error.clone(), true)), Some(error))
        }
        End::Protocol(error) => {
            let error = format!("Connection closed with an error. InvalidDataException: {error}");
            (Some((error.clone(), false)), Some(error))
        }
    };
    if let Some((error, allow_reconnect)) = close {
        handle.close(CloseReason {
            error: Some(error),
            allow_reconnect,
        });
    }
    handle.close(CloseReason {
        error: None,
        allow_reconnect: false,
    });
    // Pending client results fail now; queued invocations are dropped.
    handle.disconnected();
    let call_bound = config.hub_deadline + config.invoke_timeout + Duration::from_secs(1);
    finish_task(invoker, call_bound, "invoker").await;
    if let Some(hub) = services.runtime.hub(&context.hub) {
        let record = services.cluster.record(&context.id).await;
        let view = Runtime::connection_view(&context, record.as_ref());
        match timeout(call_bound, hub.on_disconnected(&view, error.as_deref())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(connection = %context.id, error = %e, "on-disconnected failed")
            }
            Err(_) => {
                tracing::warn!(connection = %context.id, "on-disconnected did not finish in time")
            }
        }
    }
    unregister.now().await;
    finish_writer(writer, config.write_timeout).await;
    drain(&mut stream).await;
    tracing::debug!(connection = %context.id, ?error, "disconnected");
}

/// Gives the writer one write timeout (and a little) to send the Close
/// message; a writer stuck on a client that reads nothing is aborted.
async fn finish_writer(writer: JoinHandle<()>, write_timeout: Duration) {
    finish_task(writer, write_timeout + Duration::from_millis(500), "writer").await;
}

async fn finish_task(mut task: JoinHandle<()>, bound: Duration, what: &str) {
    if timeout(bound, &mut task).await.is_err() {
        tracing::debug!(what, "a connection task overran its bound and was aborted");
        task.abort();
    }
}

/// Reads (and drops) what the client still sends until its close frame,
/// for a bounded time: closing a socket with unread input resets it, and
/// the client would lose the Close message that says why.
async fn drain(stream: &mut Stream) {
    let _ = timeout(DRAIN, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

struct Reader<'a> {
    id: &'a str,
    handle: &'a ConnectionHandle,
    queue: invoker::Queue,
    /// Upload streams the client announced and has not completed.
    streams: HashSet<String>,
}

impl Reader<'_> {
    /// Handles one record without waiting: the reader must keep reading.
    fn record(&mut self, record: &[u8]) -> Result<(), End> {
        match json::parse(record).map_err(End::Protocol)? {
            ClientMessage::Invocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
            } => {
                if !stream_ids.is_empty() {
                    if self.streams.len() + stream_ids.len() <= MAX_OPEN_STREAMS {
                        self.streams.extend(stream_ids);
                    }
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
                match self.queue.offer(invocation) {
                    Ok(()) => Ok(()),
                    Err(invoker::Refused::Busy(refused)) => {
                        self.refuse_busy(refused);
                        Ok(())
                    }
                    Err(invoker::Refused::Closed) => Err(End::ClosedByServer),
                }
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
                // The end of an upload stream, not a client result: the
                // ids are the client's, and may equal one of ours.
                if !self.streams.remove(&invocation_id) {
                    self.handle.complete(&invocation_id, result);
                }
                Ok(())
            }
            ClientMessage::Close { error } => Err(End::ClientClosed(error)),
            ClientMessage::Unknown(kind) => {
                tracing::debug!(connection = %self.id, kind, "ignored a message of unknown type");
                Ok(())
            }
            ClientMessage::Ping
            | ClientMessage::Ack
            | ClientMessage::StreamItem { .. }
            | ClientMessage::CancelInvocation { .. } => Ok(()),
        }
    }

    /// An invocation beyond the queue's bound: refused at once, so the
    /// client learns it and the reader goes on reading.
    fn refuse_busy(&self, refused: invoker::Invocation) {
        let why = format!(
            "An unexpected error occurred invoking '{}' on the server. Busy: this connection's invocations waiting to run already hold {}.",
            refused.target,
            crate::config::format_bytes(self.queue.budget())
        );
        match refused.invocation_id {
            Some(id) => {
                self.handle.push(json::completion_error(&id, &why).into());
            }
            None => {
                tracing::debug!(connection = %self.id, target = %refused.target, "dropped a non-blocking invocation: queue full")
            }
        }
    }
}

/// Removes the connection from the cluster exactly once: when
/// [`Unregister::now`] is awaited, or, if the task ends early (a panic,
/// a cancelled future), when it is dropped.
struct Unregister {
    cluster: Arc<Cluster>,
    id: Option<String>,
}

impl Unregister {
    fn new(cluster: Arc<Cluster>, id: &str) -> Self {
        Self {
            cluster,
            id: Some(id.to_owned()),
        }
    }

    async fn now(mut self) {
        if let Some(id) = self.id.take() {
            self.cluster.unregister(&id).await;
        }
    }
}

impl Drop for Unregister {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let cluster = self.cluster.clone();
            tokio::spawn(async move {
                cluster.unregister(&id).await;
            });
        }
    }
}

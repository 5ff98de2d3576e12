//! One client connection, from handshake to goodbye.
//!
//! [`serve`] runs four phases, each with every wait bounded:
//! 1. [`handshake`]: the client's handshake request, within
//!    `--handshake-timeout`;
//! 2. [`accept`]: register the connection, let the hub's `on-connected`
//!    accept or refuse it (under the hub's deadline), start the writer;
//! 3. [`read_loop`]: read until the client leaves, breaks the protocol,
//!    goes silent for `--client-timeout`, or the server closes it. The
//!    reader waits for nothing but the socket and the running call, with
//!    one bounded exception: invocations go to the [`invoker`]'s bounded
//!    queue or are refused at once, and the call that runs is polled
//!    beside the socket, so Completions, Pings and Close are always read;
//!    only an upload item for a hub that is behind waits (as in ASP.NET
//!    Core), at most `--write-timeout`, after which that call is
//!    cancelled;
//! 4. [`goodbye`]: fail pending client results, drop queued invocations,
//!    tell the hub, unregister (exactly once), and give the writer one
//!    write timeout to say Close before it is aborted.
//!
//! The [`writer`] owns the sending half and the keep-alive. Anything the
//! client sends that breaks the protocol closes only this connection,
//! with a Close message that says what was wrong.
//!
//! The task is generic over the [`transport`] that carries it and speaks
//! the hub protocol the client chose (JSON or MessagePack) through
//! protocol-neutral messages.

pub mod handle;
mod invoker;
mod outbound_queue;
mod reader;
mod replay;
mod streaming;
pub mod transport;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::Instrument as _;

pub use handle::{CloseReason, ConnectionEnds, ConnectionHandle, Encoded};
pub use transport::{Inbound, Outbound, TransportClosed, TransportKind};

use crate::cluster::{Attributes, Cluster, ConnectionRecord};
use crate::config::Config;
use crate::metrics::{CloseReason as MetricsCloseReason, ConnectionMetrics};
use crate::protocol::ProtocolError;
use crate::protocol::framing::{HandshakeBuffer, RecordReader};
use crate::protocol::handshake::{self, HubProtocol};
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

/// Shared services every connection uses.
#[derive(Clone)]
pub struct Services {
    pub runtime: Arc<Runtime>,
    pub cluster: Arc<Cluster>,
    pub config: Arc<Config>,
    /// Connection tasks running now: shutdown waits for them to finish.
    pub open_connections: Arc<AtomicUsize>,
    pub metrics: Arc<crate::metrics::Metrics>,
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

/// A connection's transport: what carries it and its two halves.
pub struct Carrier<I, O> {
    pub kind: TransportKind,
    pub inbound: I,
    pub outbound: O,
    /// On a connection that negotiated stateful reconnect: the sockets the
    /// client reconnects on, after a drop, with the same token.
    pub reconnects: Option<mpsc::Receiver<(I, O)>>,
}

/// What the read loop needs to take a reconnected socket.
struct Reconnects<I, O> {
    sockets: mpsc::Receiver<(I, O)>,
    /// The new socket's writing half goes to the writer.
    to_writer: mpsc::Sender<O>,
    disconnect_timeout: Duration,
}

/// Serves a connection on its transport until it ends. With JSON logs,
/// everything it logs carries its hub, id and transport (the
/// `connection` span).
pub async fn serve<I: Inbound, O: Outbound>(
    carrier: Carrier<I, O>,
    setup: ConnectionSetup,
    services: Services,
) {
    let context = &setup.context;
    // Only for JSON logs, whose lines carry the span's fields: a span is
    // entered on every poll, a trip through the subscriber each time. At
    // ERROR level so that it is on whenever any line is (a warning names
    // its connection under RUST_LOG=warn too).
    let span = match services.config.log_format {
        crate::config::LogFormat::Json => tracing::error_span!(
            "connection",
            hub = %context.hub,
            connection = %context.id,
            transport = context.transport,
        ),
        crate::config::LogFormat::Text => tracing::Span::none(),
    };
    serve_in_span(carrier, setup, services)
        .instrument(span)
        .await
}

async fn serve_in_span<I: Inbound, O: Outbound>(
    carrier: Carrier<I, O>,
    setup: ConnectionSetup,
    services: Services,
) {
    let _open = Open::new(&services.open_connections);
    let config = services.config.clone();
    let Carrier {
        kind,
        mut inbound,
        mut outbound,
        reconnects,
    } = carrier;
    let Some((request, rest)) = handshake(kind, &mut inbound, &mut outbound, &setup, &config).await
    else {
        return;
    };
    let protocol = request.protocol;
    let mut reader = protocol.reader(config.max_message_size);
    let early_records = reader.push(&rest);
    let expires = setup.expires;
    // Acks and Sequence messages only for clients that asked at negotiate
    // and speak version 2 (pysignalr, for one, crashes on them).
    let stateful = reconnects
        .filter(|_| request.version >= 2)
        .map(|sockets| stateful_links(sockets, &config));
    let (read_side, write_side) = match stateful {
        Some((read_side, write_side)) => (Some(read_side), Some(write_side)),
        None => (None, None),
    };
    let Some(live) = accept(kind, protocol, outbound, write_side, setup, &services).await else {
        inbound.drain().await;
        return;
    };
    let end = read_loop(
        &live,
        &services,
        Reading {
            inbound,
            records: reader,
            early_records,
            expires,
            stateful: read_side,
        },
    )
    .await;
    goodbye(live, end, &services).await;
}

/// The reader's and the writer's ends of stateful reconnect.
type StatefulLinks<I, O> = ((Reconnects<I, O>, reader::Sequencing), writer::Stateful<O>);

fn stateful_links<I, O>(sockets: mpsc::Receiver<(I, O)>, config: &Config) -> StatefulLinks<I, O> {
    let (acked, acked_rx) = watch::channel(0);
    let (processed, processed_rx) = watch::channel(0);
    let (to_writer, resumed) = mpsc::channel(4);
    let reconnects = Reconnects {
        sockets,
        to_writer,
        disconnect_timeout: config.disconnect_timeout,
    };
    let sequencing = reader::Sequencing {
        sequence: replay::InboundSequence::default(),
        awaiting_sequence: false,
        acked,
        processed,
    };
    let writer_side = writer::Stateful {
        buffer_limit: config.stateful_reconnect_buffer,
        acked: acked_rx,
        processed: processed_rx,
        resumed,
        disconnect_timeout: config.disconnect_timeout,
    };
    ((reconnects, sequencing), writer_side)
}

/// Phase 1: reads the handshake request, within the handshake timeout.
/// Returns the request (protocol and version) and the bytes that came
/// after it (already in that protocol's framing); `None` when the
/// connection ends here (a refusal was answered).
async fn handshake<I: Inbound, O: Outbound>(
    kind: TransportKind,
    inbound: &mut I,
    outbound: &mut O,
    setup: &ConnectionSetup,
    config: &Config,
) -> Option<(handshake::Handshake, Vec<u8>)> {
    let canceled = || Some("Handshake was canceled.".to_owned());
    let mut buffer = HandshakeBuffer::new(config.max_message_size);
    let read = timeout(config.handshake_timeout, async {
        loop {
            let Some(bytes) = inbound.next().await else {
                return Err(None);
            };
            match buffer.push(&bytes) {
                Ok(Some((record, rest))) => {
                    let request = handshake::parse_request(&record).map_err(Some)?;
                    let format = request.protocol.transfer_format();
                    if !kind.carries(format) {
                        return Err(Some(handshake::transport_refusal(request.protocol)));
                    }
                    return Ok((request, rest));
                }
                Ok(None) => continue,
                Err(_) => return Err(canceled()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(canceled()));
    match read {
        Ok(chosen) => Some(chosen),
        Err(None) => None,
        Err(Some(error)) => {
            tracing::debug!(connection = %setup.context.id, %error, "handshake refused");
            let response = Bytes::from(handshake::error_response(&error));
            let _ = timeout(config.write_timeout, async {
                // The answer to a refused handshake is JSON text whatever
                // the protocol asked for.
                let _ = outbound
                    .send(response, crate::protocol::handshake::TransferFormat::Text)
                    .await;
                outbound.close().await;
            })
            .await;
            inbound.drain().await;
            None
        }
    }
}

/// A registered, accepted connection and its tasks.
struct Live {
    kind: TransportKind,
    context: Arc<ConnectionContext>,
    handle: ConnectionHandle,
    writer: JoinHandle<()>,
    metrics: Arc<ConnectionMetrics>,
    /// Removes the registration if the task ends before [`goodbye`] did.
    unregister: Unregister,
}

/// Phase 2: registers the connection and runs the hub's `on-connected`,
/// then answers the handshake: when the client's `start()` resolves,
/// every node already sees the connection, with the user its hub gave
/// it. What the hub sends meanwhile is queued behind the answer. `None`
/// when the hub refused (the client got a Close saying why).
async fn accept<O: Outbound>(
    kind: TransportKind,
    protocol: HubProtocol,
    outbound: O,
    stateful: Option<writer::Stateful<O>>,
    setup: ConnectionSetup,
    services: &Services,
) -> Option<Live> {
    let config = &services.config;
    let context = Arc::new(setup.context);
    let (handle, ends) = ConnectionHandle::new(config.outbound_buffer, protocol);
    let metrics = Arc::new(
        services
            .metrics
            .connection_opened(&context.hub, kind.name()),
    );
    handle.count_into(metrics.clone());
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
    let writer = tokio::spawn(
        writer::run(
            outbound,
            handle.clone(),
            ends,
            writer::WriterSettings {
                keep_alive: (!kind.has_inherent_keep_alive()).then_some(config.keep_alive),
                write_timeout: config.write_timeout,
                stateful,
                metrics: metrics.clone(),
            },
        )
        .instrument(tracing::Span::current()),
    );
    let live = Live {
        kind,
        context,
        handle,
        writer,
        metrics,
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
            live.metrics.closed(MetricsCloseReason::Refused);
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
pub(crate) enum End {
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

impl End {
    /// The `reason` label of the closed-connections counter.
    fn metrics_reason(&self) -> MetricsCloseReason {
        match self {
            End::ClientClosed(_) => MetricsCloseReason::ClientClosed,
            End::Dropped => MetricsCloseReason::Dropped,
            End::ClosedByServer => MetricsCloseReason::ServerClosed,
            End::TimedOut => MetricsCloseReason::TimedOut,
            End::TokenExpired => MetricsCloseReason::TokenExpired,
            End::Protocol(_) => MetricsCloseReason::ProtocolError,
        }
    }
}

/// A connection's calls still running when its reader ends: the plain
/// invocation that runs now and the streaming calls.
type Calls = (invoker::Invoker, streaming::Streaming);

/// What the read loop reads from.
struct Reading<I, O> {
    inbound: I,
    records: RecordReader,
    /// Records (or a framing error) that came with the handshake.
    early_records: Result<Vec<Vec<u8>>, ProtocolError>,
    expires: Option<std::time::SystemTime>,
    stateful: Option<(Reconnects<I, O>, reader::Sequencing)>,
}

/// Phase 3: reads and dispatches records until the connection ends.
async fn read_loop<I: Inbound, O: Outbound>(
    live: &Live,
    services: &Services,
    reading: Reading<I, O>,
) -> (End, I, Calls) {
    let config = &services.config;
    let Reading {
        mut inbound,
        mut records,
        early_records,
        expires,
        stateful,
    } = reading;
    let (mut reconnects, sequencing) = match stateful {
        Some((reconnects, sequencing)) => (Some(reconnects), Some(sequencing)),
        None => (None, None),
    };
    let shared = Arc::new(streaming::Shared {
        runtime: services.runtime.clone(),
        cluster: services.cluster.clone(),
        context: live.context.clone(),
        handle: live.handle.clone(),
        metrics: live.metrics.clone(),
        upload_wait: config.write_timeout,
    });
    let mut invoker = invoker::Invoker::new(
        shared.clone(),
        config.max_message_size * invoker::QUEUED_RECORDS,
    );
    let mut close = live.handle.subscribe_close();
    let streaming = streaming::Streaming::new(shared);
    let mut reader = reader::Reader::new(&live.context.id, &live.handle, streaming, sequencing);
    let protocol = live.handle.protocol();
    let far = || Instant::now() + Duration::from_secs(86_400 * 365);
    // The token's expiry as a deadline; far away when there is none.
    let expires_at = expires
        .map(|at| {
            let left = at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            Instant::now() + left
        })
        .unwrap_or_else(far);
    // Long-polling clients send nothing when they have nothing to say;
    // their transport ends them after the disconnect timeout instead.
    let client_timeout = (!live.kind.has_inherent_keep_alive()).then_some(config.client_timeout);
    let silence = || client_timeout.map_or_else(far, |t| Instant::now() + t);
    let mut outcome = match close.borrow().is_some() {
        true => Err(End::ClosedByServer),
        false => Ok(()),
    };
    match early_records {
        Ok(early) => {
            for record in early {
                if outcome.is_err() {
                    break;
                }
                outcome = dispatch(
                    &mut reader,
                    &mut invoker,
                    &record,
                    (&live.metrics, protocol),
                )
                .await;
            }
        }
        Err(error) => outcome = outcome.and(Err(End::Protocol(error))),
    }
    let mut silent_until = silence();
    while outcome.is_ok() {
        tokio::select! {
            bytes = inbound.next() => {
                let Some(bytes) = bytes else {
                    // With stateful reconnect the client comes back on a
                    // new socket within the disconnect timeout.
                    let Some(reconnects) = reconnects.as_mut() else {
                        outcome = Err(match inbound.ended_by_client() {
                            true => End::ClientClosed(None),
                            false => End::Dropped,
                        });
                        break;
                    };
                    let Some(socket) = invoker.alongside(reconnected(reconnects, &mut close)).await else {
                        outcome = Err(End::Dropped);
                        break;
                    };
                    inbound = switch(socket, reconnects, &mut reader, &mut records, (live, config.max_message_size)).await;
                    silent_until = silence();
                    continue;
                };
                match records.push(&bytes) {
                    Ok(records) => {
                        for record in records {
                            outcome = dispatch(&mut reader, &mut invoker, &record, (&live.metrics, protocol)).await;
                            if outcome.is_err() {
                                break;
                            }
                        }
                    }
                    Err(error) => outcome = Err(End::Protocol(error)),
                }
                // Counted from after the records were handed on, which
                // may have waited (an upload item).
                silent_until = silence();
            }
            Some(socket) = next_socket(&mut reconnects) => {
                // A new socket while the old one still looks alive: the
                // client knows better (the old one is half-open).
                if let Some(reconnects) = reconnects.as_mut() {
                    inbound = switch(socket, reconnects, &mut reader, &mut records, (live, config.max_message_size)).await;
                    silent_until = silence();
                }
            }
            never = invoker.drive() => match never {},
            _ = close.changed() => outcome = Err(End::ClosedByServer),
            _ = sleep_until(silent_until) => outcome = Err(End::TimedOut),
            _ = sleep_until(expires_at), if expires.is_some() => outcome = Err(End::TokenExpired),
        }
    }
    // Ending the reader cancels its streaming calls; goodbye drops the
    // queued invocations and waits for the one that runs now.
    let streaming = reader.finish();
    let end = match outcome {
        Err(end) => end,
        Ok(()) => End::ClosedByServer,
    };
    (end, inbound, (invoker, streaming))
}

/// Reads one record; a plain invocation joins the invoker's queue. The
/// running call is polled meanwhile, as the record may wait (an upload
/// item for a hub that is behind).
async fn dispatch(
    reader: &mut reader::Reader<'_>,
    invoker: &mut invoker::Invoker,
    record: &[u8],
    (metrics, protocol): (&ConnectionMetrics, HubProtocol),
) -> Result<(), End> {
    metrics.received(protocol.framed_len(record.len()));
    if let Some(invocation) = invoker.alongside(reader.record(record)).await? {
        invoker.offer(invocation);
    }
    Ok(())
}

async fn next_socket<I, O>(reconnects: &mut Option<Reconnects<I, O>>) -> Option<(I, O)> {
    reconnects.as_mut()?.sockets.recv().await
}

/// Waits for the client to reconnect, up to the disconnect timeout.
async fn reconnected<I, O>(
    reconnects: &mut Reconnects<I, O>,
    close: &mut tokio::sync::watch::Receiver<Option<CloseReason>>,
) -> Option<(I, O)> {
    tokio::select! {
        socket = reconnects.sockets.recv() => socket,
        _ = close.wait_for(Option::is_some) => None,
        _ = tokio::time::sleep(reconnects.disconnect_timeout) => None,
    }
}

/// Moves the connection onto a socket the client reconnected on: the
/// writer gets its writing half, the reader starts afresh (a record cut
/// by the drop is gone) and waits for the client's Sequence.
async fn switch<I, O>(
    (inbound, outbound): (I, O),
    reconnects: &mut Reconnects<I, O>,
    reader: &mut reader::Reader<'_>,
    records: &mut RecordReader,
    (live, max_message_size): (&Live, usize),
) -> I {
    tracing::debug!(connection = %live.context.id, "the client reconnected (stateful reconnect)");
    let _ = reconnects.to_writer.send(outbound).await;
    *records = live.handle.protocol().reader(max_message_size);
    reader.reconnected();
    inbound
}

/// Phase 4: the connection is over. Every step is bounded, and the
/// registration is removed before the writer is waited for, so a client
/// that stopped reading leaves presence as soon as its reader ends.
async fn goodbye<I: Inbound>(
    live: Live,
    (end, mut inbound, (invoker, streaming)): (End, I, Calls),
    services: &Services,
) {
    let config = &services.config;
    let Live {
        kind: _,
        context,
        handle,
        writer,
        metrics,
        unregister,
    } = live;
    metrics.closed(end.metrics_reason());
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
    invoker.finish(call_bound).await;
    streaming.finish(call_bound).await;
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
    inbound.drain().await;
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

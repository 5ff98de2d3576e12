//! The writing half of a connection: drains its outbound queue in order,
//! pings when it has sent nothing for the keep-alive interval, and ends
//! with a Close message and the transport's close when told to.
//!
//! Every write is bounded by the write timeout: a client that stops
//! reading (a zero TCP window, an event stream nobody reads, a long-poll
//! client that stopped polling) fails its write after that long instead
//! of holding the task for ever. Once a close is asked for, flushing what
//! is queued, the Close message and the transport's close together get
//! one write timeout.
//!
//! With stateful reconnect ([`Stateful`]) a failed write is not the end:
//! the writer keeps what the client has not acknowledged, waits (up to
//! the disconnect timeout) for the socket the client reconnects on, and
//! starts it with a Sequence message and a replay.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};

use super::handle::{CloseReason, ConnectionEnds, ConnectionHandle, Frame};
use super::outbound_queue::QueuedFrames;
use super::replay::ReplayBuffer;
use super::transport::{Outbound, TransportClosed};
use crate::metrics::ConnectionMetrics;
use crate::protocol::handshake::{HubProtocol, TransferFormat};
use crate::protocol::message::ServerMessage;

/// How the writer of one connection behaves.
pub struct WriterSettings<O> {
    /// Ping after this long without sending; `None` on transports that
    /// keep themselves alive (long polling).
    pub keep_alive: Option<Duration>,
    pub write_timeout: Duration,
    /// Set on connections that negotiated stateful reconnect.
    pub stateful: Option<Stateful<O>>,
    /// Counts what is written.
    pub metrics: Arc<ConnectionMetrics>,
}

/// The writer's side of stateful reconnect.
pub struct Stateful<O> {
    /// Bytes of unacknowledged messages before sending waits for acks.
    pub buffer_limit: usize,
    /// The client's Acks, as the reader reads them.
    pub acked: watch::Receiver<u64>,
    /// The highest message id the reader handled: what our Acks say.
    pub processed: watch::Receiver<u64>,
    /// The transport of each socket the client reconnects on.
    pub resumed: mpsc::Receiver<O>,
    /// How long to wait for a reconnect before the connection is over.
    pub disconnect_timeout: Duration,
}

/// Frames one write takes from the queue at most.
const MAX_BATCH: usize = 64;

/// How often an Ack goes out while the client keeps sending.
const ACK_INTERVAL: Duration = Duration::from_secs(1);

/// Why writing stopped before the connection was closed normally.
#[derive(Debug, PartialEq, Eq)]
enum WriteFailed {
    /// The transport failed (the client is gone).
    Socket,
    /// The client took longer than the write timeout to take a frame.
    TimedOut,
}

/// The transport and what writing to it needs.
struct Writer<O> {
    outbound: O,
    protocol: HubProtocol,
    format: TransferFormat,
    write_timeout: Duration,
    metrics: Arc<ConnectionMetrics>,
}

impl<O: Outbound> Writer<O> {
    async fn write(&mut self, bytes: Bytes) -> Result<(), WriteFailed> {
        let (write_timeout, len) = (self.write_timeout, bytes.len());
        within(write_timeout, self.outbound.send(bytes, self.format)).await?;
        self.metrics.sent(1, len);
        Ok(())
    }

    /// Writes `first` and whatever else is queued behind it (up to
    /// [`MAX_BATCH`] frames, and while the replay buffer has room) in one
    /// flush, all within one write timeout: under a fan-out a recipient
    /// often has several frames waiting, and one write of them costs
    /// about what one write of one costs.
    async fn write_queued(
        &mut self,
        first: Frame,
        queue: &mut QueuedFrames,
        mut replay: Option<&mut ReplayBuffer>,
        handle: &ConnectionHandle,
    ) -> Result<(), WriteFailed> {
        let batch = async {
            let mut frame = first;
            for fed in 1.. {
                let Frame { bytes, trackable } = frame;
                let len = bytes.len();
                if trackable && let Some(replay) = replay.as_deref_mut() {
                    replay.keep(bytes.clone());
                }
                let sent = self.outbound.feed(bytes, self.format).await;
                handle.written(len);
                sent?;
                self.metrics.sent(1, len);
                if fed == MAX_BATCH || replay.as_deref().is_some_and(ReplayBuffer::is_full) {
                    break;
                }
                match queue.try_recv() {
                    Some(next) => frame = next,
                    None => break,
                }
            }
            self.outbound.flush().await
        };
        within(self.write_timeout, batch).await
    }

    async fn write_message(&mut self, message: &ServerMessage) -> Result<(), WriteFailed> {
        self.write(self.protocol.encode(message).into()).await
    }
}

/// Runs a transport write under the write timeout.
async fn within(
    write_timeout: Duration,
    write: impl Future<Output = Result<(), TransportClosed>>,
) -> Result<(), WriteFailed> {
    match timeout(write_timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteFailed::Socket),
        Err(_) => Err(WriteFailed::TimedOut),
    }
}

/// Far enough away to mean never.
fn never() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Runs until the connection is closed, the transport fails (and, with
/// stateful reconnect, no reconnect came in time), or a write takes
/// longer than the write timeout. On a failure the connection is told to
/// close, so the reader ends too.
pub async fn run<O: Outbound>(
    outbound: O,
    handle: ConnectionHandle,
    ends: ConnectionEnds,
    settings: WriterSettings<O>,
) {
    let ConnectionEnds {
        outbound: mut queue,
        mut close,
    } = ends;
    let protocol = handle.protocol();
    let mut writer = Writer {
        outbound,
        protocol,
        format: protocol.transfer_format(),
        write_timeout: settings.write_timeout,
        metrics: settings.metrics,
    };
    let mut replay = settings
        .stateful
        .as_ref()
        .map(|s| ReplayBuffer::new(s.buffer_limit));
    let disconnect_timeout = settings.stateful.as_ref().map(|s| s.disconnect_timeout);
    let (mut acked, mut processed, mut resumed) = match settings.stateful {
        Some(s) => (Some(s.acked), Some(s.processed), Some(s.resumed)),
        None => (None, None, None),
    };
    let idle = settings.keep_alive;
    let next_ping = || idle.map_or_else(never, |every| Instant::now() + every);
    let mut ping_at = next_ping();
    let mut ack_at = never();
    let mut acks_sent = 0;
    let reason: CloseReason = loop {
        let full = replay.as_ref().is_some_and(ReplayBuffer::is_full);
        let written = tokio::select! {
            biased;
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
            Some(id) = changed_value(&mut acked) => {
                if let Some(replay) = replay.as_mut() {
                    replay.ack(id);
                }
                continue;
            }
            Some(id) = changed_value(&mut processed) => {
                if id > acks_sent && ack_at > Instant::now() + ACK_INTERVAL {
                    ack_at = Instant::now() + ACK_INTERVAL;
                }
                continue;
            }
            Some(socket) = next_socket(&mut resumed) => {
                writer.outbound = socket;
                resume(&mut writer, replay.as_ref()).await
            }
            // Past its replay budget the writer waits for acks (the
            // outbound queue's byte budget bounds the wait).
            first = queue.recv(), if !full => {
                writer.write_queued(first, &mut queue, replay.as_mut(), &handle).await
            }
            _ = sleep_until(ack_at) => {
                ack_at = never();
                acks_sent = processed.as_ref().map_or(0, |p| *p.borrow());
                writer.write_message(&ServerMessage::Ack { sequence_id: acks_sent }).await
            }
            _ = sleep_until(ping_at) => writer.write_message(&ServerMessage::Ping).await,
        };
        if let Err(failed) = written {
            let (Some(sockets), Some(disconnect_timeout)) = (resumed.as_mut(), disconnect_timeout)
            else {
                stalled(&handle, failed, (writer.write_timeout, &writer.metrics));
                return;
            };
            // The client may reconnect: wait for its new socket.
            match reconnected(sockets, disconnect_timeout, &mut close).await {
                Some(resumed) => {
                    writer.outbound = resumed;
                    if resume(&mut writer, replay.as_ref()).await.is_err() {
                        stalled(
                            &handle,
                            WriteFailed::Socket,
                            (writer.write_timeout, &writer.metrics),
                        );
                        return;
                    }
                }
                None => {
                    handle.close(CloseReason {
                        error: Some(format!(
                            "The client did not reconnect within {}.",
                            humantime::format_duration(disconnect_timeout)
                        )),
                        allow_reconnect: true,
                    });
                    return;
                }
            }
        }
        ping_at = next_ping();
    };
    // Whatever was queued before the close goes out first, then the
    // Close message, all within one write timeout.
    let goodbye = async {
        while let Some(Frame { bytes, .. }) = queue.try_recv() {
            let len = bytes.len();
            let sent = writer.outbound.send(bytes, writer.format).await;
            handle.written(len);
            if sent.is_err() {
                return;
            }
        }
        let record = protocol.encode(&ServerMessage::Close {
            error: reason.error.clone(),
            allow_reconnect: reason.allow_reconnect,
        });
        if writer
            .outbound
            .send(record.into(), writer.format)
            .await
            .is_ok()
        {
            writer.outbound.close().await;
        }
    };
    if timeout(writer.write_timeout, goodbye).await.is_err() {
        tracing::debug!("the client did not take its Close message within the write timeout");
    }
}

async fn changed_value(watch: &mut Option<watch::Receiver<u64>>) -> Option<u64> {
    let watch = watch.as_mut()?;
    watch.changed().await.ok()?;
    Some(*watch.borrow_and_update())
}

async fn next_socket<O>(sockets: &mut Option<mpsc::Receiver<O>>) -> Option<O> {
    sockets.as_mut()?.recv().await
}

/// Waits for the client's next socket, up to the disconnect timeout;
/// `None` when none came or the connection is closing.
async fn reconnected<O>(
    sockets: &mut mpsc::Receiver<O>,
    disconnect_timeout: Duration,
    close: &mut watch::Receiver<Option<CloseReason>>,
) -> Option<O> {
    tokio::select! {
        socket = sockets.recv() => socket,
        _ = close.wait_for(Option::is_some) => None,
        _ = tokio::time::sleep(disconnect_timeout) => None,
    }
}

/// Starts a socket the client reconnected on: Sequence first (the client
/// drops everything until it sees one), then every unacknowledged frame.
async fn resume<O: Outbound>(
    writer: &mut Writer<O>,
    replay: Option<&ReplayBuffer>,
) -> Result<(), WriteFailed> {
    let Some(replay) = replay else {
        return Ok(());
    };
    let sequence = ServerMessage::Sequence {
        sequence_id: replay.first_to_replay(),
    };
    writer.write_message(&sequence).await?;
    for frame in replay.unacknowledged() {
        writer.write(frame.clone()).await?;
    }
    tracing::debug!(
        from = replay.first_to_replay(),
        "replayed unacknowledged messages on a reconnected socket"
    );
    Ok(())
}

fn stalled(
    handle: &ConnectionHandle,
    failed: WriteFailed,
    (write_timeout, metrics): (Duration, &ConnectionMetrics),
) {
    if failed == WriteFailed::TimedOut && handle.close_reason().is_none() {
        metrics.slow_close("write_timeout");
    }
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

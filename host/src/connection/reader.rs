//! What the read loop does with one record: decode it in the client's
//! protocol and hand it on without waiting (invocations to the invoker's
//! bounded queue, Completions to the pending client results), so the
//! reader always goes on reading.

use tokio::sync::watch;

use super::replay::InboundSequence;
use super::streaming::{Call, Streaming};
use super::{ConnectionHandle, End, invoker};
use crate::protocol::ProtocolError;
use crate::protocol::message::{ClientMessage, Outcome};

/// The reader's side of stateful reconnect: the ids of the client's
/// messages, and what it tells the writer (the client's Acks, and how
/// far our own Acks may go).
pub(super) struct Sequencing {
    pub sequence: InboundSequence,
    /// After a reconnect, everything before the client's Sequence is
    /// dropped (ASP.NET Core's `ShouldProcessMessage`).
    pub awaiting_sequence: bool,
    pub acked: watch::Sender<u64>,
    pub processed: watch::Sender<u64>,
}

/// Dispatches the records of one connection.
pub(super) struct Reader<'a> {
    id: &'a str,
    handle: &'a ConnectionHandle,
    queue: invoker::Queue,
    /// Streaming calls and calls with uploads.
    streaming: Streaming,
    /// Set on connections that negotiated stateful reconnect.
    sequencing: Option<Sequencing>,
}

/// Messages that count for stateful reconnect.
fn is_trackable(message: &ClientMessage) -> bool {
    matches!(
        message,
        ClientMessage::Invocation { .. }
            | ClientMessage::StreamInvocation { .. }
            | ClientMessage::StreamItem { .. }
            | ClientMessage::Completion { .. }
            | ClientMessage::CancelInvocation { .. }
    )
}

impl<'a> Reader<'a> {
    pub(super) fn new(
        id: &'a str,
        handle: &'a ConnectionHandle,
        queue: invoker::Queue,
        streaming: Streaming,
        sequencing: Option<Sequencing>,
    ) -> Self {
        Self {
            id,
            handle,
            queue,
            streaming,
            sequencing,
        }
    }

    /// The reader is done: its streaming calls are cancelled now, and
    /// handed back to be waited for.
    pub(super) fn finish(self) -> Streaming {
        let mut streaming = self.streaming;
        streaming.cancel_all();
        streaming
    }

    /// The client reconnected: its messages count again from its
    /// Sequence, which comes first.
    pub(super) fn reconnected(&mut self) {
        if let Some(sequencing) = self.sequencing.as_mut() {
            sequencing.awaiting_sequence = true;
        }
    }

    /// Handles one record. It waits only to hand an upload item to a hub
    /// that is behind (bounded): the reader must keep reading.
    pub(super) async fn record(&mut self, record: &[u8]) -> Result<(), End> {
        let message = self
            .handle
            .protocol()
            .decode(record)
            .map_err(End::Protocol)?;
        if let Some(sequencing) = self.sequencing.as_mut() {
            match &message {
                ClientMessage::Ack { sequence_id } => {
                    sequencing.acked.send_replace(*sequence_id);
                    return Ok(());
                }
                ClientMessage::Sequence { sequence_id } => {
                    sequencing
                        .sequence
                        .restart_at(*sequence_id)
                        .map_err(|e| End::Protocol(ProtocolError::InvalidMessage(e.to_string())))?;
                    sequencing.awaiting_sequence = false;
                    return Ok(());
                }
                _ if sequencing.awaiting_sequence => return Ok(()),
                message if is_trackable(message) => {
                    if !sequencing.sequence.arrived() {
                        return Ok(());
                    }
                    sequencing
                        .processed
                        .send_replace(sequencing.sequence.processed());
                }
                _ => {}
            }
        }
        match message {
            ClientMessage::Invocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
            } => {
                if !stream_ids.is_empty() {
                    self.streaming.start(Call {
                        invocation_id,
                        target,
                        arguments,
                        stream_ids,
                        streaming: false,
                    });
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
                arguments,
                stream_ids,
            } => {
                self.streaming.start(Call {
                    invocation_id: Some(invocation_id),
                    target,
                    arguments,
                    stream_ids,
                    streaming: true,
                });
                Ok(())
            }
            ClientMessage::StreamItem {
                invocation_id,
                item,
            } => {
                self.streaming.upload_item(&invocation_id, Ok(item)).await;
                Ok(())
            }
            ClientMessage::Completion {
                invocation_id,
                result,
            } => {
                // The end of an upload stream, not a client result: the
                // ids are the client's, and may equal one of ours.
                if self.streaming.is_upload(&invocation_id) {
                    self.streaming.end_upload(&invocation_id, result).await;
                } else {
                    self.handle.complete(&invocation_id, result);
                }
                Ok(())
            }
            ClientMessage::CancelInvocation { invocation_id } => {
                self.streaming.cancel(&invocation_id);
                Ok(())
            }
            ClientMessage::Close { error, .. } => Err(End::ClientClosed(error)),
            ClientMessage::Unknown(kind) => {
                tracing::debug!(connection = %self.id, kind, "ignored a message of unknown type");
                Ok(())
            }
            ClientMessage::Ping | ClientMessage::Ack { .. } | ClientMessage::Sequence { .. } => {
                Ok(())
            }
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
                self.handle.complete_invocation(id, Outcome::Error(why));
            }
            None => {
                tracing::debug!(connection = %self.id, target = %refused.target, "dropped a non-blocking invocation: queue full")
            }
        }
    }
}

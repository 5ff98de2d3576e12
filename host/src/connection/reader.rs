//! What the read loop does with one record: decode it in the client's
//! protocol and hand it on without waiting (a plain invocation back to
//! the read loop for the invoker's bounded queue, Completions to the
//! pending client results), so the reader always goes on reading.

use tokio::sync::watch;

use super::replay::InboundSequence;
use super::streaming::{Call, Streaming};
use super::{ConnectionHandle, End, invoker::Invocation};
use crate::protocol::ProtocolError;
use crate::protocol::message::ClientMessage;

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
        streaming: Streaming,
        sequencing: Option<Sequencing>,
    ) -> Self {
        Self {
            id,
            handle,
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

    /// Handles one record; a plain invocation comes back, to be queued
    /// for the invoker. It waits only to hand an upload item to a hub
    /// that is behind (bounded): the reader must keep reading.
    pub(super) async fn record(&mut self, record: &[u8]) -> Result<Option<Invocation>, End> {
        let message = self
            .handle
            .protocol()
            .decode(record)
            .map_err(End::Protocol)?;
        if let Some(sequencing) = self.sequencing.as_mut() {
            match &message {
                ClientMessage::Ack { sequence_id } => {
                    sequencing.acked.send_replace(*sequence_id);
                    return Ok(None);
                }
                ClientMessage::Sequence { sequence_id } => {
                    sequencing
                        .sequence
                        .restart_at(*sequence_id)
                        .map_err(|e| End::Protocol(ProtocolError::InvalidMessage(e.to_string())))?;
                    sequencing.awaiting_sequence = false;
                    return Ok(None);
                }
                _ if sequencing.awaiting_sequence => return Ok(None),
                message if is_trackable(message) => {
                    if !sequencing.sequence.arrived() {
                        return Ok(None);
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
                trace,
            } => {
                if !stream_ids.is_empty() {
                    self.streaming.start(Call {
                        invocation_id,
                        target,
                        arguments,
                        stream_ids,
                        streaming: false,
                        trace,
                    });
                    return Ok(None);
                }
                Ok(Some(Invocation {
                    invocation_id,
                    target,
                    arguments,
                    trace,
                }))
            }
            ClientMessage::StreamInvocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
                trace,
            } => {
                self.streaming.start(Call {
                    invocation_id: Some(invocation_id),
                    target,
                    arguments,
                    stream_ids,
                    streaming: true,
                    trace,
                });
                Ok(None)
            }
            ClientMessage::StreamItem {
                invocation_id,
                item,
            } => {
                self.streaming.upload_item(&invocation_id, Ok(item)).await;
                Ok(None)
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
                Ok(None)
            }
            ClientMessage::CancelInvocation { invocation_id } => {
                self.streaming.cancel(&invocation_id);
                Ok(None)
            }
            ClientMessage::Close { error, .. } => Err(End::ClientClosed(error)),
            ClientMessage::Unknown(kind) => {
                tracing::debug!(connection = %self.id, kind, "ignored a message of unknown type");
                Ok(None)
            }
            ClientMessage::Ping | ClientMessage::Ack { .. } | ClientMessage::Sequence { .. } => {
                Ok(None)
            }
        }
    }
}

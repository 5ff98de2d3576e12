//! Stateful reconnect's bookkeeping (ASP.NET Core 8's `MessageBuffer`),
//! with no I/O: the sequence ids of both directions and the bytes the
//! client has not acknowledged yet.
//!
//! Only Invocation, StreamItem, Completion, StreamInvocation and
//! CancelInvocation count; ids start at 1 in each direction. After a
//! reconnect each side sends `Sequence(first id it will replay)` and then
//! replays what the other side did not acknowledge, and the receiver
//! drops what it had already processed, so every message is handled once
//! and in order.

use std::collections::VecDeque;

use bytes::Bytes;

/// Frames sent to the client and not acknowledged yet.
#[derive(Debug)]
pub struct ReplayBuffer {
    frames: VecDeque<(u64, Bytes)>,
    bytes: usize,
    limit: usize,
    /// The id the next trackable frame gets.
    next_id: u64,
}

impl ReplayBuffer {
    /// A buffer that counts as full past `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            bytes: 0,
            limit,
            next_id: 1,
        }
    }

    /// Keeps a trackable frame until the client acknowledges it.
    pub fn keep(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push_back((self.next_id, frame));
        self.next_id += 1;
    }

    /// The client processed everything up to `sequence_id`.
    pub fn ack(&mut self, sequence_id: u64) {
        while let Some((id, frame)) = self.frames.front() {
            if *id > sequence_id {
                break;
            }
            self.bytes -= frame.len();
            self.frames.pop_front();
        }
    }

    /// True when the sender must wait for acknowledgements.
    pub fn is_full(&self) -> bool {
        self.bytes > self.limit
    }

    /// The id of the first frame a replay sends: the oldest one not
    /// acknowledged, or the next id when all were.
    pub fn first_to_replay(&self) -> u64 {
        self.frames.front().map_or(self.next_id, |(id, _)| *id)
    }

    /// The frames to send again, oldest first.
    pub fn unacknowledged(&self) -> impl Iterator<Item = &Bytes> {
        self.frames.iter().map(|(_, frame)| frame)
    }
}

/// Ids of the messages the client sent, to drop what a replay repeats.
#[derive(Debug)]
pub struct InboundSequence {
    /// The id the next trackable message from the client has.
    next_id: u64,
    /// The highest id handled so far.
    processed: u64,
}

/// A Sequence message that claims more than the client ever sent.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("Sequence ID greater than amount of messages we've received.")]
pub struct SequenceTooHigh;

impl Default for InboundSequence {
    fn default() -> Self {
        Self {
            next_id: 1,
            processed: 0,
        }
    }
}

impl InboundSequence {
    /// A trackable message arrived: true when it is new and must be
    /// handled, false when a replay repeated one already handled.
    pub fn arrived(&mut self) -> bool {
        let id = self.next_id;
        self.next_id += 1;
        if id <= self.processed {
            return false;
        }
        self.processed = id;
        true
    }

    /// The client says its next message has id `sequence_id`.
    pub fn restart_at(&mut self, sequence_id: u64) -> Result<(), SequenceTooHigh> {
        if sequence_id > self.processed + 1 {
            return Err(SequenceTooHigh);
        }
        self.next_id = sequence_id;
        Ok(())
    }

    /// What an Ack tells the client.
    pub fn processed(&self) -> u64 {
        self.processed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_frames_leave_the_buffer() {
        let mut buffer = ReplayBuffer::new(10);
        assert_eq!(buffer.first_to_replay(), 1);
        buffer.keep(Bytes::from_static(b"aaaa"));
        buffer.keep(Bytes::from_static(b"bbbb"));
        buffer.keep(Bytes::from_static(b"cccc"));
        assert!(buffer.is_full());
        buffer.ack(2);
        assert!(!buffer.is_full());
        assert_eq!(buffer.first_to_replay(), 3);
        assert_eq!(
            buffer.unacknowledged().collect::<Vec<_>>(),
            vec![&Bytes::from_static(b"cccc")]
        );
        buffer.ack(3);
        assert_eq!(buffer.first_to_replay(), 4);
        assert_eq!(buffer.unacknowledged().count(), 0);
    }

    #[test]
    fn a_replay_is_handled_once() {
        let mut inbound = InboundSequence::default();
        assert!(inbound.arrived()); // 1
        assert!(inbound.arrived()); // 2
        // The client did not see our ack for 2 and replays from 2.
        inbound.restart_at(2).unwrap();
        assert!(!inbound.arrived(), "2 again is a duplicate");
        assert!(inbound.arrived(), "3 is new");
        assert_eq!(inbound.processed(), 3);
        assert_eq!(inbound.restart_at(5), Err(SequenceTooHigh));
    }
}

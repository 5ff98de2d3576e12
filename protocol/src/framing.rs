//! Splits a byte stream into records terminated by `0x1E`.
//!
//! A WebSocket frame may carry several records and a record may span
//! frames, so the connection feeds every frame here and takes out whole
//! records. The buffer never holds more than the maximum message size.

use super::{ProtocolError, RECORD_SEPARATOR};

/// Accumulates incoming bytes and yields complete records.
#[derive(Debug)]
pub struct RecordBuffer {
    buffer: Vec<u8>,
    max_message_size: usize,
}

impl RecordBuffer {
    /// `max_message_size` bounds one record (without its separator).
    pub fn new(max_message_size: usize) -> Self {
        Self {
            buffer: Vec::new(),
            max_message_size,
        }
    }

    /// Appends `bytes` and returns the records they completed, in order.
    /// Fails when a record is larger than the maximum message size, even
    /// before its separator has arrived.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        let mut records = Vec::new();
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == RECORD_SEPARATOR) {
            let (head, tail) = rest.split_at(end);
            if self.buffer.len() + head.len() > self.max_message_size {
                return Err(ProtocolError::MessageTooLarge(self.max_message_size));
            }
            let mut record = std::mem::take(&mut self.buffer);
            record.extend_from_slice(head);
            records.push(record);
            rest = &tail[1..];
        }
        if self.buffer.len() + rest.len() > self.max_message_size {
            return Err(ProtocolError::MessageTooLarge(self.max_message_size));
        }
        self.buffer.extend_from_slice(rest);
        Ok(records)
    }

    /// True when part of a record is waiting for its separator.
    pub fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_several_records_in_one_chunk() {
        let mut b = RecordBuffer::new(100);
        let out = b.push(b"{\"type\":6}\x1e{\"type\":7}\x1e").unwrap();
        assert_eq!(
            out,
            vec![b"{\"type\":6}".to_vec(), b"{\"type\":7}".to_vec()]
        );
        assert!(!b.has_partial());
    }

    #[test]
    fn joins_a_record_across_chunks() {
        let mut b = RecordBuffer::new(100);
        assert!(b.push(b"{\"ty").unwrap().is_empty());
        assert!(b.has_partial());
        assert_eq!(
            b.push(b"pe\":6}\x1e{").unwrap(),
            vec![b"{\"type\":6}".to_vec()]
        );
        assert!(b.has_partial());
    }

    #[test]
    fn refuses_an_oversize_record_before_its_separator() {
        let mut b = RecordBuffer::new(8);
        assert!(b.push(b"12345").is_ok());
        assert_eq!(b.push(b"6789"), Err(ProtocolError::MessageTooLarge(8)));
    }

    #[test]
    fn a_record_exactly_at_the_limit_passes() {
        let mut b = RecordBuffer::new(4);
        assert_eq!(b.push(b"1234\x1e").unwrap(), vec![b"1234".to_vec()]);
        assert_eq!(b.push(b"12345\x1e"), Err(ProtocolError::MessageTooLarge(4)));
    }
}

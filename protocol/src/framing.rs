//! Splits a byte stream into records: terminated by `0x1E` for JSON,
//! length-prefixed for MessagePack ([`LengthPrefixedBuffer`]), and the
//! handshake, which is `0x1E`-terminated JSON for both protocols.
//!
//! A WebSocket frame may carry several records and a record may span
//! frames, so the connection feeds every frame here and takes out whole
//! records. The buffers never hold more than the maximum message size.

use super::{ProtocolError, RECORD_SEPARATOR};

pub use crate::length_prefix::LengthPrefixedBuffer;
pub(crate) use crate::length_prefix::write_length_prefix;

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

/// The record splitter of the protocol a connection speaks
/// ([`crate::handshake::HubProtocol::reader`]), so the connection loop
/// does not care which it is.
#[derive(Debug)]
pub enum RecordReader {
    /// JSON: records end with `0x1E`.
    Text(RecordBuffer),
    /// MessagePack: records start with their length.
    Binary(LengthPrefixedBuffer),
}

impl RecordReader {
    /// Appends `bytes` and returns the records (without separators or
    /// length prefixes) they completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        match self {
            RecordReader::Text(buffer) => buffer.push(bytes),
            RecordReader::Binary(buffer) => buffer.push(bytes),
        }
    }

    /// True when part of a record is waiting for the rest.
    pub fn has_partial(&self) -> bool {
        match self {
            RecordReader::Text(buffer) => buffer.has_partial(),
            RecordReader::Binary(buffer) => buffer.has_partial(),
        }
    }
}

/// The handshake record (without its separator) and every byte that
/// came after it, raw.
pub type HandshakeSplit = (Vec<u8>, Vec<u8>);

/// Collects the handshake request: the bytes up to the first `0x1E`.
/// What follows in the same frames is handed back raw, because for
/// MessagePack it is length-prefixed and may well contain `0x1E`; the
/// connection feeds it to its protocol's [`RecordReader`].
#[derive(Debug)]
pub struct HandshakeBuffer {
    buffer: Vec<u8>,
    max_message_size: usize,
}

impl HandshakeBuffer {
    /// `max_message_size` bounds the handshake record; ASP.NET Core
    /// answers a larger one with "Handshake was canceled.".
    pub fn new(max_message_size: usize) -> Self {
        Self {
            buffer: Vec::new(),
            max_message_size,
        }
    }

    /// Appends `bytes`; once the separator arrived, returns the
    /// handshake record (without it) and every byte after it. The buffer
    /// is then empty again, but a connection uses it only once.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<HandshakeSplit>, ProtocolError> {
        let end = bytes.iter().position(|&b| b == RECORD_SEPARATOR);
        let head = end.map_or(bytes.len(), |end| end);
        if self.buffer.len() + head > self.max_message_size {
            return Err(ProtocolError::MessageTooLarge(self.max_message_size));
        }
        self.buffer.extend_from_slice(&bytes[..head]);
        Ok(end.map(|end| (std::mem::take(&mut self.buffer), bytes[end + 1..].to_vec())))
    }

    /// True when part of the handshake is waiting for its separator.
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

    #[test]
    fn the_reader_dispatches_on_the_format() {
        let mut text = RecordReader::Text(RecordBuffer::new(100));
        assert_eq!(text.push(b"{}\x1e{").unwrap(), vec![b"{}".to_vec()]);
        assert!(text.has_partial());
        let mut binary = RecordReader::Binary(LengthPrefixedBuffer::new(100));
        assert_eq!(
            binary.push(&[0x02, 0x91, 0x06, 0x01]).unwrap(),
            vec![vec![0x91, 0x06]]
        );
        assert!(binary.has_partial());
    }

    #[test]
    fn the_handshake_keeps_what_follows_raw() {
        let mut h = HandshakeBuffer::new(100);
        assert_eq!(h.push(br#"{"protocol":"messagepack","#).unwrap(), None);
        assert!(h.has_partial());
        // A msgpack Ping, then a frame whose body holds 0x1E.
        let out = h
            .push(b"\"version\":1}\x1e\x02\x91\x06\x02\x91\x1e")
            .unwrap()
            .unwrap();
        assert_eq!(out.0, br#"{"protocol":"messagepack","version":1}"#);
        assert_eq!(out.1, b"\x02\x91\x06\x02\x91\x1e");
        assert!(!h.has_partial());
        let mut h = HandshakeBuffer::new(100);
        assert_eq!(
            h.push(b"{}\x1e").unwrap(),
            Some((b"{}".to_vec(), Vec::new()))
        );
    }

    #[test]
    fn the_handshake_is_bounded() {
        let mut h = HandshakeBuffer::new(4);
        assert_eq!(h.push(b"1234").unwrap(), None);
        assert_eq!(h.push(b"5"), Err(ProtocolError::MessageTooLarge(4)));
        let mut h = HandshakeBuffer::new(4);
        assert_eq!(h.push(b"12345\x1e"), Err(ProtocolError::MessageTooLarge(4)));
        let mut h = HandshakeBuffer::new(4);
        assert!(h.push(b"1234\x1e").unwrap().is_some());
    }
}

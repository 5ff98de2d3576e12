//! MessagePack framing: each message is `[VarInt length][body]`.
//!
//! The length is an unsigned LEB128 varint (low 7 bits first, the high
//! bit meaning "more") of at most 5 bytes, so at most `0x7fffffff`
//! (`FF FF FF FF 07`), as in .NET's `BinaryMessageParser` and the
//! TypeScript client's `BinaryMessageFormat`.

use crate::ProtocolError;

/// The longest prefix: 5 bytes carry 35 bits, of which 31 are allowed.
const MAX_PREFIX: usize = 5;

/// The largest body length a prefix may announce.
const MAX_LENGTH: u64 = 0x7fff_ffff;

/// Accumulates incoming bytes and yields complete message bodies.
#[derive(Debug)]
pub struct LengthPrefixedBuffer {
    /// Prefix bytes read so far, while no length is known.
    prefix: Vec<u8>,
    /// The body being read, once its length is known.
    body: Option<(usize, Vec<u8>)>,
    max_message_size: usize,
}

impl LengthPrefixedBuffer {
    /// `max_message_size` bounds one body (without its prefix).
    pub fn new(max_message_size: usize) -> Self {
        Self {
            prefix: Vec::with_capacity(MAX_PREFIX),
            body: None,
            max_message_size,
        }
    }

    /// Appends `bytes` and returns the bodies they completed, in order.
    /// Fails as soon as a prefix announces more than the maximum message
    /// size, before any of that body is buffered; a prefix longer than 5
    /// bytes or over `0x7fffffff` is refused with .NET's text.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        let mut bodies = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            match &mut self.body {
                None => {
                    let (&byte, tail) = rest.split_first().expect("not empty");
                    rest = tail;
                    self.prefix.push(byte);
                    if let Some(len) = self.length()? {
                        self.prefix.clear();
                        if len == 0 {
                            bodies.push(Vec::new());
                        } else {
                            self.body = Some((len, Vec::new()));
                        }
                    }
                }
                Some((len, body)) => {
                    let take = (*len - body.len()).min(rest.len());
                    let (head, tail) = rest.split_at(take);
                    rest = tail;
                    if body.is_empty() && head.len() == *len {
                        bodies.push(head.to_vec());
                    } else {
                        body.extend_from_slice(head);
                        if body.len() < *len {
                            continue;
                        }
                        bodies.push(std::mem::take(body));
                    }
                    self.body = None;
                }
            }
        }
        Ok(bodies)
    }

    /// The length the prefix read so far announces, if it is complete.
    fn length(&self) -> Result<Option<usize>, ProtocolError> {
        let last = *self.prefix.last().expect("a prefix byte");
        if last & 0x80 != 0 && self.prefix.len() < MAX_PREFIX {
            return Ok(None);
        }
        if last & 0x80 != 0 || (self.prefix.len() == MAX_PREFIX && last > 0x07) {
            return Err(ProtocolError::InvalidMessage(
                "Messages over 2GB in size are not supported.".into(),
            ));
        }
        let value = self
            .prefix
            .iter()
            .enumerate()
            .fold(0u64, |value, (i, &byte)| {
                value | (u64::from(byte & 0x7f) << (7 * i))
            });
        debug_assert!(value <= MAX_LENGTH);
        match usize::try_from(value) {
            Ok(len) if len <= self.max_message_size => Ok(Some(len)),
            _ => Err(ProtocolError::MessageTooLarge(self.max_message_size)),
        }
    }

    /// True when a prefix or part of a body is waiting for the rest.
    pub fn has_partial(&self) -> bool {
        !self.prefix.is_empty() || self.body.is_some()
    }
}

/// Writes `len` as a varint length prefix.
pub(crate) fn write_length_prefix(out: &mut Vec<u8>, len: usize) {
    let mut value = len;
    loop {
        let byte = u8::try_from(value & 0x7f).expect("seven bits");
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_length_prefix(&mut out, len);
        out
    }

    // HubProtocol.md "Binary encoding" and BinaryMessageFormatter.test.ts.
    #[test]
    fn writes_the_spec_varints() {
        assert_eq!(prefix(0), [0x00]);
        assert_eq!(prefix(0x35), [0x35]);
        assert_eq!(prefix(0x7f), [0x7f]);
        assert_eq!(prefix(0x80), [0x80, 0x01]);
        assert_eq!(prefix(5248), [0x80, 0x29]);
        assert_eq!(prefix(0x3fff), [0xff, 0x7f]);
        assert_eq!(prefix(0x4000), [0x80, 0x80, 0x01]);
        assert_eq!(prefix(0x7fff_ffff), [0xff, 0xff, 0xff, 0xff, 0x07]);
    }

    #[test]
    fn reads_the_spec_example() {
        // "Hello\nWorld", then 0x01 0x02.
        let mut b = LengthPrefixedBuffer::new(100);
        let mut stream = vec![0x0b];
        stream.extend_from_slice(b"Hello\nWorld");
        stream.extend_from_slice(&[0x02, 0x01, 0x02]);
        assert_eq!(
            b.push(&stream).unwrap(),
            vec![b"Hello\nWorld".to_vec(), vec![0x01, 0x02]]
        );
        assert!(!b.has_partial());
    }

    #[test]
    fn reads_a_two_byte_prefix_split_across_pushes() {
        let mut b = LengthPrefixedBuffer::new(10_000);
        assert!(b.push(&[0x80]).unwrap().is_empty());
        assert!(b.has_partial());
        assert!(b.push(&[0x29]).unwrap().is_empty());
        let body = vec![0x1e; 5248];
        assert!(b.push(&body[..100]).unwrap().is_empty());
        assert_eq!(b.push(&body[100..]).unwrap(), vec![body.clone()]);
        assert!(!b.has_partial());
        // Byte by byte.
        let mut stream = prefix(5248);
        stream.extend_from_slice(&body);
        let mut out = Vec::new();
        for byte in &stream {
            out.extend(b.push(&[*byte]).unwrap());
        }
        assert_eq!(out, vec![body]);
    }

    #[test]
    fn an_empty_body_is_a_record() {
        let mut b = LengthPrefixedBuffer::new(10);
        assert_eq!(
            b.push(&[0x00, 0x00]).unwrap(),
            vec![Vec::<u8>::new(), Vec::new()]
        );
    }

    #[test]
    fn refuses_an_oversize_length_as_soon_as_it_is_read() {
        let mut b = LengthPrefixedBuffer::new(4);
        assert_eq!(b.push(&[0x04, 1, 2, 3, 4]).unwrap(), vec![vec![1, 2, 3, 4]]);
        assert_eq!(b.push(&[0x05]), Err(ProtocolError::MessageTooLarge(4)));
        let mut b = LengthPrefixedBuffer::new(1 << 20);
        assert_eq!(
            b.push(&[0xff, 0xff, 0xff, 0xff, 0x07]),
            Err(ProtocolError::MessageTooLarge(1 << 20))
        );
    }

    #[test]
    fn refuses_prefixes_over_2gb() {
        let over =
            ProtocolError::InvalidMessage("Messages over 2GB in size are not supported.".into());
        for bytes in [
            &[0xff, 0xff, 0xff, 0xff, 0x08][..],
            &[0x80, 0x80, 0x80, 0x80, 0x80],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
        ] {
            let mut b = LengthPrefixedBuffer::new(usize::MAX);
            assert_eq!(b.push(bytes), Err(over.clone()), "{bytes:x?}");
        }
        // The largest prefix itself is fine.
        let mut b = LengthPrefixedBuffer::new(usize::MAX);
        assert!(b.push(&[0xff, 0xff, 0xff, 0xff, 0x07]).unwrap().is_empty());
        assert!(b.has_partial());
    }
}

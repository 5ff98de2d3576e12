//! A bounded reader over one MessagePack body.
//!
//! Every length a peer declares is checked against the bytes that are
//! left before anything is read or allocated: an array of 2^32 elements
//! in a ten-byte message fails at once (each element takes at least one
//! byte, each map entry two). Markers come from `rmp`; the rest is a few
//! big-endian reads, which keeps the reader allocation-free.

use rmp::Marker;

use crate::ProtocolError;

/// Containers nested deeper than this inside one value are refused.
/// Below serde_json's own limit (128), so that any value we read we can
/// also write back from its JSON text, and the host can parse it.
pub(crate) const MAX_DEPTH: usize = 100;

pub(crate) fn invalid(text: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidMessage(text.into())
}

/// The .NET text for a field of the wrong MessagePack type.
pub(crate) fn wrong_type(field: &str, kind: &str) -> ProtocolError {
    invalid(format!("Reading '{field}' as {kind} failed."))
}

/// What a marker announces, with its length read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Head {
    Nil,
    Bool(bool),
    /// Every integer width, signed or not.
    Int(i128),
    F32(f32),
    F64(f64),
    Str(usize),
    Bin(usize),
    Array(usize),
    Map(usize),
    Ext(i8, usize),
}

/// The position in a body; reads move it forward.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// The next `n` bytes, or an error when the body is shorter.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if n > self.bytes.len() {
            return Err(invalid("Unexpected end of MessagePack data."));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, ProtocolError> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<usize, ProtocolError> {
        usize::try_from(u32::from_be_bytes(self.array()?))
            .map_err(|_| invalid("A MessagePack length does not fit in memory."))
    }

    /// A declared length that `per_item` bytes each must fit in the rest.
    fn bounded(&self, len: usize, per_item: usize) -> Result<usize, ProtocolError> {
        match len.checked_mul(per_item) {
            Some(need) if need <= self.bytes.len() => Ok(len),
            _ => Err(invalid(format!(
                "A MessagePack length of {len} is larger than the message."
            ))),
        }
    }

    /// True when the next value is `nil` (which it then consumes).
    pub(crate) fn nil(&mut self) -> bool {
        if self.bytes.first() == Some(&0xc0) {
            self.bytes = &self.bytes[1..];
            true
        } else {
            false
        }
    }

    /// Reads the next marker and whatever sizes or scalars follow it.
    /// Lengths are already checked against the rest of the body.
    pub(crate) fn head(&mut self) -> Result<Head, ProtocolError> {
        let head = match Marker::from_u8(self.u8()?) {
            Marker::Null => Head::Nil,
            Marker::True => Head::Bool(true),
            Marker::False => Head::Bool(false),
            Marker::FixPos(n) => Head::Int(n.into()),
            Marker::FixNeg(n) => Head::Int(n.into()),
            Marker::U8 => Head::Int(self.u8()?.into()),
            Marker::U16 => Head::Int(u16::from_be_bytes(self.array()?).into()),
            Marker::U32 => Head::Int(u32::from_be_bytes(self.array()?).into()),
            Marker::U64 => Head::Int(u64::from_be_bytes(self.array()?).into()),
            Marker::I8 => Head::Int(i8::from_be_bytes(self.array()?).into()),
            Marker::I16 => Head::Int(i16::from_be_bytes(self.array()?).into()),
            Marker::I32 => Head::Int(i32::from_be_bytes(self.array()?).into()),
            Marker::I64 => Head::Int(i64::from_be_bytes(self.array()?).into()),
            Marker::F32 => Head::F32(f32::from_be_bytes(self.array()?)),
            Marker::F64 => Head::F64(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(n) => Head::Str(n.into()),
            Marker::Str8 => Head::Str(self.u8()?.into()),
            Marker::Str16 => Head::Str(self.u16()?),
            Marker::Str32 => Head::Str(self.u32()?),
            Marker::Bin8 => Head::Bin(self.u8()?.into()),
            Marker::Bin16 => Head::Bin(self.u16()?),
            Marker::Bin32 => Head::Bin(self.u32()?),
            Marker::FixArray(n) => Head::Array(n.into()),
            Marker::Array16 => Head::Array(self.u16()?),
            Marker::Array32 => Head::Array(self.u32()?),
            Marker::FixMap(n) => Head::Map(n.into()),
            Marker::Map16 => Head::Map(self.u16()?),
            Marker::Map32 => Head::Map(self.u32()?),
            Marker::FixExt1 => Head::Ext(0, 1),
            Marker::FixExt2 => Head::Ext(0, 2),
            Marker::FixExt4 => Head::Ext(0, 4),
            Marker::FixExt8 => Head::Ext(0, 8),
            Marker::FixExt16 => Head::Ext(0, 16),
            Marker::Ext8 => Head::Ext(0, self.u8()?.into()),
            Marker::Ext16 => Head::Ext(0, self.u16()?),
            Marker::Ext32 => Head::Ext(0, self.u32()?),
            Marker::Reserved => return Err(invalid("Invalid MessagePack marker 0xc1.")),
        };
        Ok(match head {
            Head::Str(n) => Head::Str(self.bounded(n, 1)?),
            Head::Bin(n) => Head::Bin(self.bounded(n, 1)?),
            Head::Array(n) => Head::Array(self.bounded(n, 1)?),
            Head::Map(n) => Head::Map(self.bounded(n, 2)?),
            Head::Ext(_, n) => {
                let kind = i8::from_be_bytes(self.array()?);
                Head::Ext(kind, self.bounded(n, 1)?)
            }
            other => other,
        })
    }

    /// The next value when it is a UTF-8 string, borrowed; any other
    /// value (or a string that is not UTF-8) is skipped whole.
    pub(crate) fn text_or_skip(&mut self) -> Result<Option<&'a str>, ProtocolError> {
        let mut ahead = self.clone();
        if let Head::Str(n) = ahead.head()? {
            let bytes = ahead.take(n)?;
            *self = ahead;
            return Ok(std::str::from_utf8(bytes).ok());
        }
        self.skip(1)?;
        Ok(None)
    }

    /// Skips one whole value (headers, fields we do not use).
    pub(crate) fn skip(&mut self, depth: usize) -> Result<(), ProtocolError> {
        match self.head()? {
            Head::Str(n) | Head::Bin(n) | Head::Ext(_, n) => {
                self.take(n)?;
            }
            Head::Array(n) => {
                let depth = deeper(depth)?;
                for _ in 0..n {
                    self.skip(depth)?;
                }
            }
            Head::Map(n) => {
                let depth = deeper(depth)?;
                for _ in 0..n * 2 {
                    self.skip(depth)?;
                }
            }
            Head::Nil | Head::Bool(_) | Head::Int(_) | Head::F32(_) | Head::F64(_) => {}
        }
        Ok(())
    }

    /// The array length of a message field, or the .NET error naming it.
    pub(crate) fn array_len(&mut self, field: &str) -> Result<usize, ProtocolError> {
        match self.head()? {
            Head::Array(n) => Ok(n),
            _ => Err(wrong_type(field, "Array")),
        }
    }

    /// An integer field of any width.
    pub(crate) fn int(&mut self, field: &str, kind: &str) -> Result<i128, ProtocolError> {
        match self.head()? {
            Head::Int(n) => Ok(n),
            _ => Err(wrong_type(field, kind)),
        }
    }

    /// A string field, `None` for `nil`; invalid UTF-8 is replaced.
    pub(crate) fn opt_str(&mut self, field: &str) -> Result<Option<String>, ProtocolError> {
        match self.head()? {
            Head::Nil => Ok(None),
            Head::Str(n) => Ok(Some(String::from_utf8_lossy(self.take(n)?).into_owned())),
            _ => Err(wrong_type(field, "String")),
        }
    }

    /// A string field that must be there.
    pub(crate) fn str(&mut self, field: &str) -> Result<String, ProtocolError> {
        self.opt_str(field)?
            .ok_or_else(|| wrong_type(field, "String"))
    }
}

/// One level further down, or the depth error.
pub(crate) fn deeper(depth: usize) -> Result<usize, ProtocolError> {
    if depth >= MAX_DEPTH {
        return Err(invalid(format!(
            "MessagePack data nested deeper than {MAX_DEPTH} levels."
        )));
    }
    Ok(depth + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lengths_must_fit_the_rest() {
        // array32 of 2^32 - 1 elements, then 5 bytes.
        let bytes = [0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5];
        let err = Cursor::new(&bytes).head().unwrap_err();
        assert!(err.to_string().contains("larger than the message"), "{err}");
        // map16 of 3 entries needs at least 6 bytes.
        assert!(Cursor::new(&[0xde, 0, 3, 1, 2, 3, 4, 5]).head().is_err());
        assert_eq!(
            Cursor::new(&[0xde, 0, 3, 1, 2, 3, 4, 5, 6]).head(),
            Ok(Head::Map(3))
        );
        // str8 of 4 bytes with 3 left.
        assert!(Cursor::new(&[0xd9, 4, b'a', b'b', b'c']).head().is_err());
        // ext32 of 2^31 bytes.
        assert!(Cursor::new(&[0xc9, 0x80, 0, 0, 0, 0xff, 0]).head().is_err());
    }

    #[test]
    fn reads_every_integer_width() {
        let cases: &[(&[u8], i128)] = &[
            (&[0x7f], 127),
            (&[0xe0], -32),
            (&[0xcc, 0xff], 255),
            (&[0xcd, 0x01, 0x00], 256),
            (&[0xce, 0xff, 0xff, 0xff, 0xff], 4_294_967_295),
            (
                &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                u64::MAX.into(),
            ),
            (&[0xd0, 0x80], -128),
            (&[0xd1, 0x80, 0x00], -32768),
            (&[0xd2, 0xff, 0xff, 0xff, 0xff], -1),
            (&[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], i64::MIN.into()),
        ];
        for (bytes, value) in cases {
            assert_eq!(
                Cursor::new(bytes).head(),
                Ok(Head::Int(*value)),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn skipping_is_bounded_by_depth() {
        let mut deep = vec![0x91; MAX_DEPTH + 1];
        deep.push(0xc0);
        assert!(Cursor::new(&deep).skip(0).is_err());
        let mut ok = vec![0x91; MAX_DEPTH];
        ok.push(0xc0);
        let mut cursor = Cursor::new(&ok);
        assert_eq!(cursor.skip(0), Ok(()));
        assert_eq!(cursor.remaining(), 0);
    }

    #[test]
    fn truncated_data_fails() {
        for bytes in [&[0xcd, 0x01][..], &[0xcb, 0, 0], &[], &[0xc1]] {
            assert!(Cursor::new(bytes).head().is_err(), "{bytes:x?}");
        }
    }
}

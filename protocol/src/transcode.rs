//! Payload values between MessagePack and JSON text.
//!
//! Hubs see JSON whatever protocol a client speaks, so a MessagePack
//! client's values are turned into JSON text on the way in and what the
//! hub sends back (JSON) is written as MessagePack on the way out.
//!
//! MessagePack to JSON (client to hub):
//!
//! | MessagePack | JSON |
//! |---|---|
//! | nil, bool, str | `null`, `true`/`false`, string (invalid UTF-8 replaced) |
//! | int (any width) | integer |
//! | float32/64 | number; NaN and infinities become `null` |
//! | bin | standard base64 string, as .NET's JSON writes a `byte[]` |
//! | ext -1 (timestamp 32/64/96) | RFC 3339 UTC string, `"2018-01-01T11:24:00Z"` |
//! | other ext | base64 string of its data |
//! | array, map | array, object; a scalar key that is not a string becomes its JSON text (`{"1":..}`), an array or map key is refused |
//!
//! JSON to MessagePack (hub to client), as a JavaScript client's
//! encoder writes the same values: `null`, booleans and strings as such;
//! integers in the smallest encoding (a number with no fraction within
//! ±(2^53 - 1) counts as one, as JavaScript cannot tell 1 from 1.0);
//! other numbers as float64; arrays; objects as maps with string keys,
//! in their order. A hub has no way to send `bin` or timestamps: what
//! arrived as one goes back as a string.
//!
//! Reading is bounded: [`MAX_DEPTH`](crate::cursor::MAX_DEPTH) levels of
//! nesting, and no length is trusted beyond the bytes that hold it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rmp::encode::{self, ByteBuf, ValueWriteError};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::ProtocolError;
use crate::cursor::{Cursor, Head, deeper};
use crate::timestamp::{TIMESTAMP_EXT, rfc3339};

/// Reads one MessagePack value at `depth` and appends its JSON text.
pub(crate) fn to_json(
    cursor: &mut Cursor,
    out: &mut String,
    depth: usize,
) -> Result<(), ProtocolError> {
    match cursor.head()? {
        Head::Nil => out.push_str("null"),
        Head::Bool(value) => out.push_str(if value { "true" } else { "false" }),
        Head::Int(value) => out.push_str(&value.to_string()),
        Head::F32(value) if value.is_finite() => out.push_str(&json(&value)),
        Head::F64(value) if value.is_finite() => out.push_str(&json(&value)),
        Head::F32(_) | Head::F64(_) => out.push_str("null"),
        Head::Str(n) => out.push_str(&json(&*String::from_utf8_lossy(cursor.take(n)?))),
        Head::Bin(n) => out.push_str(&json(&STANDARD.encode(cursor.take(n)?))),
        Head::Ext(TIMESTAMP_EXT, n) => out.push_str(&json(&rfc3339(cursor.take(n)?)?)),
        Head::Ext(_, n) => out.push_str(&json(&STANDARD.encode(cursor.take(n)?))),
        Head::Array(n) => {
            let depth = deeper(depth)?;
            out.push('[');
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                to_json(cursor, out, depth)?;
            }
            out.push(']');
        }
        Head::Map(n) => {
            let depth = deeper(depth)?;
            out.push('{');
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                key(cursor, out, depth)?;
                out.push(':');
                to_json(cursor, out, depth)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A map key: a string as itself, a scalar as its JSON text (`1`,
/// `null`; a bin or timestamp as its string). An array or map as a key
/// is refused: quoting keys within keys would grow the text
/// exponentially with the nesting.
fn key(cursor: &mut Cursor, out: &mut String, depth: usize) -> Result<(), ProtocolError> {
    let mut probe = cursor.clone();
    match probe.head()? {
        Head::Str(n) => {
            *cursor = probe;
            out.push_str(&json(&*String::from_utf8_lossy(cursor.take(n)?)));
        }
        Head::Array(_) | Head::Map(_) => {
            return Err(crate::cursor::invalid(
                "A MessagePack map key must be a string or a scalar.",
            ));
        }
        _ => {
            let mut text = String::new();
            to_json(cursor, &mut text, depth)?;
            if text.starts_with('"') {
                out.push_str(&text);
            } else {
                out.push_str(&json(&text));
            }
        }
    }
    Ok(())
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("strings and finite numbers serialize")
}

/// A MessagePack value that must be an array (arguments), as JSON text.
pub(crate) fn array_to_json(cursor: &mut Cursor, field: &str) -> Result<String, ProtocolError> {
    let mut probe = cursor.clone();
    if !matches!(probe.head()?, Head::Array(_)) {
        return Err(crate::cursor::wrong_type(field, "Array"));
    }
    let mut out = String::new();
    to_json(cursor, &mut out, 0)?;
    Ok(out)
}

/// A whole MessagePack value as JSON text (the body must hold exactly
/// one value; trailing bytes are refused). For tests and fuzzing.
pub fn msgpack_to_json(bytes: &[u8]) -> Result<String, ProtocolError> {
    let mut cursor = Cursor::new(bytes);
    let mut out = String::new();
    to_json(&mut cursor, &mut out, 0)?;
    if cursor.remaining() != 0 {
        return Err(crate::cursor::invalid(
            "Trailing bytes after a MessagePack value.",
        ));
    }
    Ok(out)
}

/// Appends the MessagePack form of a JSON text. On invalid JSON (which
/// the host never hands over) it appends `nil` instead and says so, so
/// the message around it still frames.
pub fn json_to_msgpack(text: &str, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut buffer = ByteBuf::from_vec(std::mem::take(out));
    let start = buffer.as_vec().len();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let result = Writer(&mut buffer)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if result.is_err() {
        buffer.as_mut_vec().truncate(start);
        infallible(encode::write_nil(&mut buffer).map_err(ValueWriteError::InvalidMarkerWrite));
    }
    *out = buffer.into_vec();
    result
}

/// Writing to memory cannot fail: `ByteBuf`'s error type is empty.
pub(crate) fn infallible<T>(result: Result<T, ValueWriteError<std::convert::Infallible>>) -> T {
    match result {
        Ok(value) => value,
        Err(
            ValueWriteError::InvalidMarkerWrite(never) | ValueWriteError::InvalidDataWrite(never),
        ) => match never {},
    }
}

/// Writes each JSON value as it is parsed (no tree, key order kept).
struct Writer<'a>(&'a mut ByteBuf);

impl Writer<'_> {
    /// Puts a container's header before its `count` elements, once they
    /// are written and counted.
    fn header_at(&mut self, start: usize, count: usize, map: bool) -> Result<(), String> {
        let count = u32::try_from(count).map_err(|_| "a JSON container too large".to_owned())?;
        let mut header = ByteBuf::with_capacity(5);
        if map {
            infallible(encode::write_map_len(&mut header, count));
        } else {
            infallible(encode::write_array_len(&mut header, count));
        }
        self.0.as_mut_vec().splice(start..start, header.into_vec());
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Writer<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Writer<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        infallible(encode::write_nil(self.0).map_err(ValueWriteError::InvalidMarkerWrite));
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        infallible(encode::write_bool(self.0, value).map_err(ValueWriteError::InvalidMarkerWrite));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        infallible(encode::write_sint(self.0, value));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        infallible(encode::write_uint(self.0, value));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        const SAFE: f64 = 9_007_199_254_740_991.0;
        if value.fract() == 0.0 && value.abs() <= SAFE {
            // Exact: |value| < 2^53, an integer.
            return self.visit_i64(value as i64);
        }
        infallible(encode::write_f64(self.0, value));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        infallible(encode::write_str(self.0, value));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let start = self.0.as_vec().len();
        let mut count = 0;
        while seq.next_element_seed(Writer(&mut *self.0))?.is_some() {
            count += 1;
        }
        let mut writer = self;
        writer
            .header_at(start, count, false)
            .map_err(de::Error::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let start = self.0.as_vec().len();
        let mut count = 0;
        while map.next_key_seed(Writer(&mut *self.0))?.is_some() {
            map.next_value_seed(Writer(&mut *self.0))?;
            count += 1;
        }
        let mut writer = self;
        writer
            .header_at(start, count, true)
            .map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        json_to_msgpack(text, &mut out).unwrap();
        out
    }

    fn from(bytes: &[u8]) -> String {
        msgpack_to_json(bytes).unwrap()
    }

    #[test]
    fn scalars_both_ways() {
        let cases: &[(&str, &[u8])] = &[
            ("null", &[0xc0]),
            ("true", &[0xc3]),
            ("false", &[0xc2]),
            ("42", &[0x2a]),
            ("-1", &[0xff]),
            ("-33", &[0xd0, 0xdf]),
            ("200", &[0xcc, 0xc8]),
            ("65536", &[0xce, 0, 1, 0, 0]),
            (
                "18446744073709551615",
                &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
            ("-9223372036854775808", &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            (
                "0.005",
                &[0xcb, 0x3f, 0x74, 0x7a, 0xe1, 0x47, 0xae, 0x14, 0x7b],
            ),
            ("\"OK\"", &[0xa2, b'O', b'K']),
            ("[]", &[0x90]),
            ("{}", &[0x80]),
        ];
        for (text, bytes) in cases {
            assert_eq!(to(text), *bytes, "{text}");
            assert_eq!(from(bytes), *text, "{bytes:x?}");
        }
    }

    #[test]
    fn integral_floats_are_written_as_integers() {
        assert_eq!(to("1.0"), [0x01]);
        assert_eq!(to("-0.0"), [0x00]);
        assert_eq!(to("2e3"), [0xcd, 0x07, 0xd0]);
        // Past 2^53 - 1, and past u64, a number stays a float.
        assert_eq!(to("9007199254740992.0")[0], 0xcb);
        assert_eq!(to("1e300")[0], 0xcb);
        assert_eq!(to("100000000000000000000")[0], 0xcb);
    }

    #[test]
    fn floats_read_as_numbers() {
        assert_eq!(from(&[0xca, 0x3d, 0xcc, 0xcc, 0xcd]), "0.1");
        assert_eq!(from(&[0xcb, 0x40, 0, 0, 0, 0, 0, 0, 0]), "2.0");
        assert_eq!(from(&[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), "null");
        assert_eq!(from(&[0xca, 0xff, 0x80, 0, 0]), "null");
    }

    #[test]
    fn objects_keep_their_order_and_nest() {
        let text = r#"{"z":[1,{"a":null}],"a":"x\"y","m":{}}"#;
        let bytes = to(text);
        assert_eq!(&bytes[..4], [0x83, 0xa1, b'z', 0x92]);
        assert_eq!(from(&bytes), text);
    }

    #[test]
    fn bin_and_ext_become_base64() {
        assert_eq!(from(&[0xc4, 3, 1, 2, 3]), "\"AQID\"");
        assert_eq!(from(&[0xc4, 0]), "\"\"");
        assert_eq!(from(&[0xd4, 0x05, 0xff]), "\"/w==\"");
        assert_eq!(from(&[0xc7, 2, 0x01, b'h', b'i']), "\"aGk=\"");
    }

    #[test]
    fn timestamps_become_rfc3339() {
        assert_eq!(
            from(&[0xd6, 0xff, 0x5a, 0x4a, 0x1a, 0x50]),
            "\"2018-01-01T11:24:00Z\""
        );
        let ts64 = ((500_000_000u64 << 34) | 1_514_805_840).to_be_bytes();
        let mut bytes = vec![0xd7, 0xff];
        bytes.extend_from_slice(&ts64);
        assert_eq!(from(&bytes), "\"2018-01-01T11:24:00.5Z\"");
        let mut bytes = vec![0xc7, 12, 0xff, 0, 0, 0, 0];
        bytes.extend_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(from(&bytes), "\"1969-12-31T23:59:59Z\"");
        assert!(msgpack_to_json(&[0xd5, 0xff, 0, 0]).is_err());
    }

    #[test]
    fn odd_map_keys_become_their_json_text() {
        // {1: "a", nil: "b", bin [1]: "c", "s": "d", -1.5: "e"}
        let bytes = [
            0x85, 0x01, 0xa1, b'a', 0xc0, 0xa1, b'b', 0xc4, 1, 1, 0xa1, b'c', 0xa1, b's', 0xa1,
            b'd', 0xcb, 0xbf, 0xf8, 0, 0, 0, 0, 0, 0, 0xa1, b'e',
        ];
        assert_eq!(
            from(&bytes),
            r#"{"1":"a","null":"b","AQ==":"c","s":"d","-1.5":"e"}"#
        );
    }

    #[test]
    fn container_map_keys_are_refused() {
        // {[1, 2]: "c"}, and keys nested in keys, which would blow up.
        assert!(msgpack_to_json(&[0x81, 0x92, 1, 2, 0xa1, b'c']).is_err());
        let mut nested = vec![0x81; 40];
        nested.extend([0xc0; 41]);
        assert!(msgpack_to_json(&nested).is_err());
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(from(&[0xa2, 0xff, b'a']), "\"\u{fffd}a\"");
    }

    #[test]
    fn reading_is_bounded() {
        let mut deep = vec![0x91; crate::cursor::MAX_DEPTH + 1];
        deep.push(0xc0);
        let err = msgpack_to_json(&deep).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
        // A declared array length of 2^32 - 1 in a ten-byte message.
        let huge = [0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0];
        assert!(msgpack_to_json(&huge).is_err());
        let huge_map = [0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0];
        assert!(msgpack_to_json(&huge_map).is_err());
        let huge_bin = [0xc6, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0];
        assert!(msgpack_to_json(&huge_bin).is_err());
        // What we read at the depth limit, we can write back.
        let mut at_limit = vec![0x91; crate::cursor::MAX_DEPTH];
        at_limit.push(0xc0);
        let text = msgpack_to_json(&at_limit).unwrap();
        assert_eq!(to(&text), at_limit);
    }

    #[test]
    fn invalid_json_becomes_nil() {
        let mut out = vec![0x91];
        assert!(json_to_msgpack("[1,", &mut out).is_err());
        assert_eq!(out, [0x91, 0xc0]);
        let mut out = Vec::new();
        assert!(json_to_msgpack("1 2", &mut out).is_err());
        assert_eq!(out, [0xc0]);
    }
}

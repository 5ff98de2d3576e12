//! Just enough MessagePack for the SignalR MessagePack dialect, written
//! apart from the host's codec so the benchmark checks it rather than
//! sharing its bugs: JSON values in, JSON values out (bin as arrays).

use anyhow::{Context as _, bail};
use serde_json::Value;

/// Appends `value` to `out`.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(0xcf);
                out.extend_from_slice(&u.to_be_bytes());
            } else if let Some(i) = n.as_i64() {
                out.push(0xd3);
                out.extend_from_slice(&i.to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
            }
        }
        Value::String(s) => {
            let len = s.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len < 256 {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            if items.len() < 16 {
                out.push(0x90 | items.len() as u8);
            } else {
                out.push(0xdd);
                out.extend_from_slice(&(items.len() as u32).to_be_bytes());
            }
            items.iter().for_each(|item| encode(item, out));
        }
        Value::Object(map) => {
            if map.len() < 16 {
                out.push(0x80 | map.len() as u8);
            } else {
                out.push(0xdf);
                out.extend_from_slice(&(map.len() as u32).to_be_bytes());
            }
            for (key, item) in map {
                encode(&Value::String(key.clone()), out);
                encode(item, out);
            }
        }
    }
}

/// Decodes one value from the front of `bytes`.
pub fn decode(bytes: &mut &[u8]) -> anyhow::Result<Value> {
    let marker = take(bytes, 1)?[0];
    Ok(match marker {
        0x00..=0x7f => Value::from(marker),
        0x80..=0x8f => map(bytes, usize::from(marker & 0x0f))?,
        0x90..=0x9f => array(bytes, usize::from(marker & 0x0f))?,
        0xa0..=0xbf => string(bytes, usize::from(marker & 0x1f))?,
        0xc0 => Value::Null,
        0xc2 => Value::Bool(false),
        0xc3 => Value::Bool(true),
        0xc4 => {
            let len = usize::from(take(bytes, 1)?[0]);
            Value::from(take(bytes, len)?.to_vec())
        }
        0xca => Value::from(f32::from_be_bytes(take(bytes, 4)?.try_into()?) as f64),
        0xcb => Value::from(f64::from_be_bytes(take(bytes, 8)?.try_into()?)),
        0xcc => Value::from(take(bytes, 1)?[0]),
        0xcd => Value::from(u16::from_be_bytes(take(bytes, 2)?.try_into()?)),
        0xce => Value::from(u32::from_be_bytes(take(bytes, 4)?.try_into()?)),
        0xcf => Value::from(u64::from_be_bytes(take(bytes, 8)?.try_into()?)),
        0xd0 => Value::from(take(bytes, 1)?[0] as i8),
        0xd1 => Value::from(i16::from_be_bytes(take(bytes, 2)?.try_into()?)),
        0xd2 => Value::from(i32::from_be_bytes(take(bytes, 4)?.try_into()?)),
        0xd3 => Value::from(i64::from_be_bytes(take(bytes, 8)?.try_into()?)),
        0xd9 => {
            let len = usize::from(take(bytes, 1)?[0]);
            string(bytes, len)?
        }
        0xda => {
            let len = usize::from(u16::from_be_bytes(take(bytes, 2)?.try_into()?));
            string(bytes, len)?
        }
        0xdb => {
            let len = u32::from_be_bytes(take(bytes, 4)?.try_into()?) as usize;
            string(bytes, len)?
        }
        0xdc => {
            let len = usize::from(u16::from_be_bytes(take(bytes, 2)?.try_into()?));
            array(bytes, len)?
        }
        0xdd => {
            let len = u32::from_be_bytes(take(bytes, 4)?.try_into()?) as usize;
            array(bytes, len)?
        }
        0xde => {
            let len = usize::from(u16::from_be_bytes(take(bytes, 2)?.try_into()?));
            map(bytes, len)?
        }
        0xdf => {
            let len = u32::from_be_bytes(take(bytes, 4)?.try_into()?) as usize;
            map(bytes, len)?
        }
        0xe0..=0xff => Value::from(marker as i8),
        other => bail!("MessagePack marker {other:#x} is not used by SignalR"),
    })
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> anyhow::Result<&'a [u8]> {
    if bytes.len() < n {
        bail!("MessagePack value cut short");
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn string(bytes: &mut &[u8], len: usize) -> anyhow::Result<Value> {
    let raw = take(bytes, len)?;
    Ok(Value::String(
        std::str::from_utf8(raw).context("string not UTF-8")?.into(),
    ))
}

fn array(bytes: &mut &[u8], len: usize) -> anyhow::Result<Value> {
    (0..len)
        .map(|_| decode(bytes))
        .collect::<anyhow::Result<_>>()
        .map(Value::Array)
}

fn map(bytes: &mut &[u8], len: usize) -> anyhow::Result<Value> {
    let mut object = serde_json::Map::new();
    for _ in 0..len {
        let key = match decode(bytes)? {
            Value::String(key) => key,
            other => other.to_string(),
        };
        object.insert(key, decode(bytes)?);
    }
    Ok(Value::Object(object))
}

/// Splits a binary frame into its varint-length-prefixed records.
pub fn records(mut frame: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !frame.is_empty() {
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let byte = take(&mut frame, 1)?[0];
            len |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
            if shift > 28 {
                bail!("length prefix too long");
            }
        }
        out.push(take(&mut frame, len)?);
    }
    Ok(out)
}

/// Prefixes `body` with its varint length.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    let mut len = body.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_round_trip_through_frames() {
        let value = json!([
            1,
            {},
            "7",
            "Echo",
            ["x".repeat(300), -3, 2.5, null, true],
            []
        ]);
        let mut body = Vec::new();
        encode(&value, &mut body);
        let framed = [frame(&body), frame(&body)].concat();
        let records = records(&framed).unwrap();
        assert_eq!(records.len(), 2);
        let mut first = records[0];
        assert_eq!(decode(&mut first).unwrap(), value);
        assert!(first.is_empty());
    }

    #[test]
    fn a_cut_value_is_an_error() {
        let mut body = Vec::new();
        encode(&json!(["abc"]), &mut body);
        let mut cut = &body[..body.len() - 1];
        assert!(decode(&mut cut).is_err());
    }
}

//! The MessagePack hub protocol (`"messagepack"`): each message is an
//! array whose first element is the message type.
//!
//! | Message | Layout |
//! |---|---|
//! | Invocation | `[1, H, id\|nil, target, [args], [streamIds]?]` |
//! | StreamItem | `[2, H, id, item]` |
//! | Completion | `[3, H, id, kind, result?]` (kind 1 error, 2 void, 3 value) |
//! | StreamInvocation | `[4, H, id, target, [args], [streamIds]?]` |
//! | CancelInvocation | `[5, H, id]` |
//! | Ping | `[6]` |
//! | Close | `[7, error\|nil, allowReconnect?]` |
//! | Ack / Sequence | `[8, sequenceId]` / `[9, sequenceId]` |
//!
//! `H` is a map of headers, written empty (`0x80`); reading keeps only
//! the W3C trace context (`traceparent`, `tracestate`) of invocations.
//! Reading follows the TypeScript client: the headers are checked
//! first, then the element count ("Invalid payload for X message."
//! when too few); extra trailing elements are ignored, so newer peers
//! can add some. Writing follows .NET: an Invocation always has six
//! elements (empty `streamIds`), a Close three. Payloads become JSON
//! text on the way in and are written back from JSON on the way out;
//! [`crate::transcode`] describes the mapping.

use rmp::encode::{self, ByteBuf, ValueWriteError};

use crate::ProtocolError;
use crate::cursor::{Cursor, Head, invalid, wrong_type};
use crate::framing::write_length_prefix;
use crate::message::{ClientMessage, Outcome, ServerMessage, TraceContext};
use crate::transcode::{array_to_json, infallible, json_to_msgpack, to_json};

/// Completion result kinds.
const ERROR_RESULT: u8 = 1;
const VOID_RESULT: u8 = 2;
const NON_VOID_RESULT: u8 = 3;

/// Reads one message body (without its length prefix).
pub fn decode(body: &[u8]) -> Result<ClientMessage, ProtocolError> {
    let mut cursor = Cursor::new(body);
    let len = match cursor.head() {
        Ok(Head::Array(len)) if len > 0 => len,
        _ => return Err(invalid("Invalid payload.")),
    };
    let kind = cursor.int("messageType", "Int32")?;
    let Ok(kind) = i64::try_from(kind) else {
        return Err(wrong_type("messageType", "Int32"));
    };
    let mut message = Fields {
        cursor,
        len,
        kind,
        name: name(kind),
        trace: None,
    };
    if (1..=5).contains(&kind) {
        message.headers()?;
    }
    message.read()
}

fn name(kind: i64) -> &'static str {
    match kind {
        1 => "Invocation",
        2 => "StreamItem",
        3 => "Completion",
        4 => "StreamInvocation",
        5 => "CancelInvocation",
        6 => "Ping",
        7 => "Close",
        8 => "Ack",
        9 => "Sequence",
        _ => "Unknown",
    }
}

/// The elements of one message array after its type.
struct Fields<'a> {
    cursor: Cursor<'a>,
    len: usize,
    kind: i64,
    name: &'static str,
    /// The trace context the headers carried.
    trace: Option<TraceContext>,
}

impl Fields<'_> {
    fn at_least(&self, count: usize) -> Result<(), ProtocolError> {
        if self.len < count {
            return Err(invalid(format!(
                "Invalid payload for {} message.",
                self.name
            )));
        }
        Ok(())
    }

    /// The headers map: present, a map (or nil); string entries named
    /// `traceparent` or `tracestate` are kept, the rest skipped.
    fn headers(&mut self) -> Result<(), ProtocolError> {
        let bad = || invalid("Invalid headers.");
        if self.len < 2 {
            return Err(bad());
        }
        let entries = match self.cursor.head().map_err(|_| bad())? {
            Head::Nil => return Ok(()),
            Head::Map(n) => n,
            _ => return Err(bad()),
        };
        let (mut traceparent, mut tracestate) = (None, None);
        for _ in 0..entries {
            let key = self.cursor.text_or_skip()?;
            let value = self.cursor.text_or_skip()?;
            match key {
                Some("traceparent") => traceparent = value,
                Some("tracestate") => tracestate = value,
                _ => {}
            }
        }
        self.trace = TraceContext::from_headers(traceparent, tracestate);
        Ok(())
    }

    fn value(&mut self) -> Result<String, ProtocolError> {
        let mut out = String::new();
        to_json(&mut self.cursor, &mut out, 0)?;
        Ok(out)
    }

    /// Arguments, and upload stream ids when the sixth element is there.
    fn arguments(&mut self) -> Result<(String, Vec<String>), ProtocolError> {
        let arguments = array_to_json(&mut self.cursor, "arguments")?;
        let mut stream_ids = Vec::new();
        if self.len >= 6 && !self.cursor.nil() {
            let count = self.cursor.array_len("streamIds")?;
            for _ in 0..count {
                stream_ids.push(self.cursor.str("streamIds")?);
            }
        }
        Ok((arguments, stream_ids))
    }

    fn sequence_id(&mut self) -> Result<u64, ProtocolError> {
        self.at_least(2)?;
        let id = self.cursor.int("sequenceId", "Int64")?;
        u64::try_from(id).map_err(|_| wrong_type("sequenceId", "Int64"))
    }

    fn read(mut self) -> Result<ClientMessage, ProtocolError> {
        Ok(match self.kind {
            1 => {
                self.at_least(5)?;
                let invocation_id = self.cursor.opt_str("invocationId")?;
                let target = self.cursor.str("target")?;
                let (arguments, stream_ids) = self.arguments()?;
                ClientMessage::Invocation {
                    invocation_id,
                    target,
                    arguments,
                    stream_ids,
                    trace: self.trace.take(),
                }
            }
            2 => {
                self.at_least(4)?;
                let invocation_id = self.cursor.str("invocationId")?;
                ClientMessage::StreamItem {
                    invocation_id,
                    item: self.value()?,
                }
            }
            3 => self.completion()?,
            4 => {
                self.at_least(5)?;
                let invocation_id = self.cursor.str("invocationId")?;
                let target = self.cursor.str("target")?;
                let (arguments, stream_ids) = self.arguments()?;
                ClientMessage::StreamInvocation {
                    invocation_id,
                    target,
                    arguments,
                    stream_ids,
                    trace: self.trace.take(),
                }
            }
            5 => {
                self.at_least(3)?;
                ClientMessage::CancelInvocation {
                    invocation_id: self.cursor.str("invocationId")?,
                }
            }
            6 => ClientMessage::Ping,
            7 => {
                self.at_least(2)?;
                let error = self.cursor.opt_str("error")?;
                let allow_reconnect = self.len >= 3
                    && match self.cursor.head()? {
                        Head::Nil => false,
                        Head::Bool(value) => value,
                        _ => return Err(wrong_type("allowReconnect", "Boolean")),
                    };
                ClientMessage::Close {
                    error,
                    allow_reconnect,
                }
            }
            8 => ClientMessage::Ack {
                sequence_id: self.sequence_id()?,
            },
            9 => ClientMessage::Sequence {
                sequence_id: self.sequence_id()?,
            },
            other => ClientMessage::Unknown(other),
        })
    }

    /// `[3, H, id, kind, result?]`. A nil error text is no error, as in
    /// .NET (`CompletionMessage` with neither error nor result).
    fn completion(&mut self) -> Result<ClientMessage, ProtocolError> {
        self.at_least(4)?;
        let invocation_id = self.cursor.str("invocationId")?;
        let kind = self.cursor.int("resultKind", "Int32")?;
        let result = match u8::try_from(kind).unwrap_or_default() {
            VOID_RESULT => Ok("null".to_owned()),
            ERROR_RESULT => {
                self.at_least(5)?;
                match self.cursor.opt_str("error")? {
                    Some(error) => Err(error),
                    None => Ok("null".to_owned()),
                }
            }
            NON_VOID_RESULT => {
                self.at_least(5)?;
                Ok(self.value()?)
            }
            _ => return Err(invalid("Invalid invocation result kind.")),
        };
        Ok(ClientMessage::Completion {
            invocation_id,
            result,
        })
    }
}

/// Writes one server message with its varint length prefix, in the
/// layout .NET writes. JSON payloads are transcoded (an invalid one,
/// which the host never hands over, is written as nil).
pub fn encode(message: &ServerMessage) -> Vec<u8> {
    let body = body(message);
    let mut out = Vec::with_capacity(body.len() + 5);
    write_length_prefix(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

fn body(message: &ServerMessage) -> Vec<u8> {
    let mut w = Body(ByteBuf::with_capacity(64));
    match message {
        ServerMessage::Invocation {
            invocation_id,
            target,
            arguments,
        } => {
            w.start(6, 1);
            w.opt_str(invocation_id.as_deref());
            w.str(target);
            w.json(arguments);
            w.array(0);
        }
        ServerMessage::StreamItem {
            invocation_id,
            item,
        } => {
            w.start(4, 2);
            w.str(invocation_id);
            w.json(item);
        }
        ServerMessage::Completion {
            invocation_id,
            outcome,
        } => {
            let len = if *outcome == Outcome::Void { 4 } else { 5 };
            w.start(len, 3);
            w.str(invocation_id);
            match outcome {
                Outcome::Void => {
                    w.uint(VOID_RESULT.into());
                }
                Outcome::Error(error) => {
                    w.uint(ERROR_RESULT.into());
                    w.str(error);
                }
                Outcome::Result(result) => {
                    w.uint(NON_VOID_RESULT.into());
                    w.json(result);
                }
            }
        }
        ServerMessage::Ping => {
            w.array(1).uint(6);
        }
        ServerMessage::Close {
            error,
            allow_reconnect,
        } => {
            w.array(3).uint(7);
            w.opt_str(error.as_deref());
            infallible(
                encode::write_bool(&mut w.0, *allow_reconnect)
                    .map_err(ValueWriteError::InvalidMarkerWrite),
            );
        }
        ServerMessage::Ack { sequence_id } => {
            w.array(2).uint(8).uint(*sequence_id);
        }
        ServerMessage::Sequence { sequence_id } => {
            w.array(2).uint(9).uint(*sequence_id);
        }
    }
    w.0.into_vec()
}

/// A message body being written.
struct Body(ByteBuf);

impl Body {
    fn array(&mut self, len: u32) -> &mut Self {
        infallible(encode::write_array_len(&mut self.0, len));
        self
    }

    fn uint(&mut self, value: u64) -> &mut Self {
        infallible(encode::write_uint(&mut self.0, value));
        self
    }

    /// The array, the type and the empty headers map.
    fn start(&mut self, len: u32, kind: u64) {
        self.array(len).uint(kind);
        infallible(encode::write_map_len(&mut self.0, 0));
    }

    fn str(&mut self, text: &str) {
        infallible(encode::write_str(&mut self.0, text));
    }

    fn opt_str(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.str(text),
            None => infallible(
                encode::write_nil(&mut self.0).map_err(ValueWriteError::InvalidMarkerWrite),
            ),
        }
    }

    fn json(&mut self, text: &str) {
        let mut bytes = std::mem::take(self.0.as_mut_vec());
        // An invalid text is written as nil: the frame stays whole.
        let _ = json_to_msgpack(text, &mut bytes);
        *self.0.as_mut_vec() = bytes;
    }
}

//! The handshake: the client's first record names the hub protocol.
//!
//! The request is JSON with `0x1E` for both protocols (a MessagePack
//! client switches to binary after it). The answer is `{}` and `0x1E`
//! for both too; the host sends it in a Binary frame for MessagePack, as
//! .NET does. Texts follow ASP.NET Core's
//! `HubConnectionContext.HandshakeAsync` so clients and their users see
//! familiar errors.

use serde::Deserialize;

use crate::framing::{LengthPrefixedBuffer, RecordBuffer, RecordReader};
use crate::message::{ClientMessage, ServerMessage};
use crate::{ProtocolError, RECORD_SEPARATOR, json, messagepack};

/// The newest protocol version this host accepts. Version 2 only adds
/// stateful reconnect, which is opt-in at negotiate.
const MAX_VERSION: i64 = 2;

/// A hub protocol this host speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubProtocol {
    /// `"json"`: text records ending with `0x1E`.
    Json,
    /// `"messagepack"`: length-prefixed binary records.
    MessagePack,
}

/// How a protocol's records travel: a transport that cannot carry
/// binary (Server-Sent Events) cannot carry MessagePack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferFormat {
    Text,
    Binary,
}

impl TransferFormat {
    /// The name .NET uses in texts and in negotiate's `transferFormats`.
    pub fn name(self) -> &'static str {
        match self {
            TransferFormat::Text => "Text",
            TransferFormat::Binary => "Binary",
        }
    }
}

impl HubProtocol {
    /// The name used in the handshake.
    pub fn name(self) -> &'static str {
        match self {
            HubProtocol::Json => "json",
            HubProtocol::MessagePack => "messagepack",
        }
    }

    /// The protocol a handshake names; ASP.NET Core compares names
    /// ignoring case, so we do too.
    pub fn from_name(name: &str) -> Option<HubProtocol> {
        [HubProtocol::Json, HubProtocol::MessagePack]
            .into_iter()
            .find(|protocol| protocol.name().eq_ignore_ascii_case(name))
    }

    /// The transfer format its records need, which picks the WebSocket
    /// frame type (Text or Binary) the host writes.
    pub fn transfer_format(self) -> TransferFormat {
        match self {
            HubProtocol::Json => TransferFormat::Text,
            HubProtocol::MessagePack => TransferFormat::Binary,
        }
    }

    /// The size on the wire of a record of `len` bytes: with its
    /// separator (JSON) or its length prefix (MessagePack, 7 bits a byte).
    pub fn framed_len(self, len: usize) -> usize {
        match self {
            HubProtocol::Json => len + 1,
            HubProtocol::MessagePack => {
                let prefix = (usize::BITS - len.max(1).leading_zeros()).div_ceil(7) as usize;
                len + prefix
            }
        }
    }

    /// One server message as it goes on the wire (with its separator or
    /// length prefix).
    pub fn encode(self, message: &ServerMessage) -> Vec<u8> {
        match self {
            HubProtocol::Json => json::encode(message),
            HubProtocol::MessagePack => messagepack::encode(message),
        }
    }

    /// One record from [`HubProtocol::reader`] (without its separator or
    /// length prefix).
    pub fn decode(self, record: &[u8]) -> Result<ClientMessage, ProtocolError> {
        match self {
            HubProtocol::Json => json::decode(record),
            HubProtocol::MessagePack => messagepack::decode(record),
        }
    }

    /// A record splitter for this protocol's framing.
    pub fn reader(self, max_message_size: usize) -> RecordReader {
        match self {
            HubProtocol::Json => RecordReader::Text(RecordBuffer::new(max_message_size)),
            HubProtocol::MessagePack => {
                RecordReader::Binary(LengthPrefixedBuffer::new(max_message_size))
            }
        }
    }
}

/// An accepted handshake request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub protocol: HubProtocol,
    /// The version the client asked for: 2 means it negotiated stateful
    /// reconnect; 1 and below (signalrcore sends 0) mean it did not.
    pub version: i64,
}

#[derive(Deserialize)]
struct Request {
    protocol: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

/// Reads a handshake record (without its separator). The error is the
/// text for the `{"error":..}` response.
///
/// Any version up to 2 is accepted, negative ones included, exactly as
/// .NET's `IsVersionSupported` (`version <= 2`): refusing 0 would lock
/// out signalrcore, and .NET itself never refuses low versions.
pub fn parse_request(record: &[u8]) -> Result<Handshake, String> {
    let invalid = |detail: &str| {
        format!(
            "An unexpected error occurred during connection handshake. InvalidDataException: {detail}"
        )
    };
    let request: Request = serde_json::from_slice(record)
        .map_err(|e| invalid(&format!("the handshake is not a JSON object ({e})")))?;
    let name = match request.protocol {
        Some(serde_json::Value::String(p)) => p,
        Some(_) => return Err(invalid("Expected 'protocol' to be of type String.")),
        None => return Err(invalid("Missing required property 'protocol'.")),
    };
    let version = match request.version {
        Some(serde_json::Value::Number(n)) if n.is_i64() => n.as_i64().unwrap_or_default(),
        Some(_) => return Err(invalid("Expected 'version' to be of type Integer.")),
        None => return Err(invalid("Missing required property 'version'.")),
    };
    let Some(protocol) = HubProtocol::from_name(&name) else {
        return Err(format!("The protocol '{name}' is not supported."));
    };
    if version > MAX_VERSION {
        return Err(format!(
            "The server does not support version {version} of the '{}' protocol.",
            protocol.name()
        ));
    }
    Ok(Handshake { protocol, version })
}

/// The refusal for a protocol the transport cannot carry (MessagePack
/// over Server-Sent Events), in .NET's words. .NET names the protocol's
/// transfer format, not the transport, so only the protocol is needed.
pub fn transport_refusal(protocol: HubProtocol) -> String {
    format!(
        "Cannot use the '{}' protocol on the current transport. The transport does not support '{}' transfer format.",
        protocol.name(),
        protocol.transfer_format().name()
    )
}

/// The success response: exactly `{}` and the separator.
pub fn success_response() -> Vec<u8> {
    vec![b'{', b'}', RECORD_SEPARATOR]
}

/// The error response, after which the server closes the connection.
pub fn error_response(error: &str) -> Vec<u8> {
    let mut out =
        serde_json::to_vec(&serde_json::json!({ "error": error })).expect("a string serializes");
    out.push(RECORD_SEPARATOR);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_lengths_count_the_separator_or_the_prefix() {
        assert_eq!(HubProtocol::Json.framed_len(10), 11);
        assert_eq!(HubProtocol::MessagePack.framed_len(0), 1);
        assert_eq!(HubProtocol::MessagePack.framed_len(127), 128);
        assert_eq!(HubProtocol::MessagePack.framed_len(128), 130);
        assert_eq!(HubProtocol::MessagePack.framed_len(16_384), 16_387);
    }

    fn ok(protocol: HubProtocol, version: i64) -> Result<Handshake, String> {
        Ok(Handshake { protocol, version })
    }

    #[test]
    fn accepts_json_versions_1_and_2_in_any_key_order() {
        assert_eq!(
            parse_request(br#"{"protocol":"json","version":1}"#),
            ok(HubProtocol::Json, 1)
        );
        assert_eq!(
            parse_request(br#"{"version":2,"protocol":"json"}"#),
            ok(HubProtocol::Json, 2)
        );
        assert_eq!(
            parse_request(br#"{"protocol":"json","version":1,"extra":[1]}"#),
            ok(HubProtocol::Json, 1)
        );
    }

    #[test]
    fn accepts_messagepack_any_case_and_low_versions() {
        assert_eq!(
            parse_request(br#"{"protocol":"messagepack","version":1}"#),
            ok(HubProtocol::MessagePack, 1)
        );
        assert_eq!(
            parse_request(br#"{"protocol":"MessagePack","version":2}"#),
            ok(HubProtocol::MessagePack, 2)
        );
        assert_eq!(
            parse_request(br#"{"protocol":"JSON","version":0}"#),
            ok(HubProtocol::Json, 0)
        );
        assert_eq!(
            parse_request(br#"{"protocol":"json","version":-1}"#),
            ok(HubProtocol::Json, -1)
        );
    }

    #[test]
    fn refuses_with_the_dotnet_texts() {
        assert_eq!(
            parse_request(br#"{"protocol":"foo","version":1}"#),
            Err("The protocol 'foo' is not supported.".into())
        );
        assert_eq!(
            parse_request(br#"{"protocol":"Json","version":99}"#),
            Err("The server does not support version 99 of the 'json' protocol.".into())
        );
        assert_eq!(
            parse_request(br#"{"protocol":"messagepack","version":3}"#),
            Err("The server does not support version 3 of the 'messagepack' protocol.".into())
        );
        let err = parse_request(br#"{"protocol":"json"}"#).unwrap_err();
        assert!(
            err.ends_with("Missing required property 'version'."),
            "{err}"
        );
        let err = parse_request(b"not json").unwrap_err();
        assert!(err.starts_with("An unexpected error occurred during connection handshake."));
        assert_eq!(
            transport_refusal(HubProtocol::MessagePack),
            "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."
        );
    }

    #[test]
    fn each_protocol_has_its_codec() {
        assert_eq!(HubProtocol::Json.transfer_format().name(), "Text");
        assert_eq!(HubProtocol::MessagePack.transfer_format().name(), "Binary");
        assert_eq!(
            HubProtocol::Json.encode(&ServerMessage::Ping),
            b"{\"type\":6}\x1e"
        );
        assert_eq!(
            HubProtocol::MessagePack.encode(&ServerMessage::Ping),
            [0x02, 0x91, 0x06]
        );
        assert_eq!(
            HubProtocol::MessagePack.decode(&[0x91, 0x06]),
            Ok(ClientMessage::Ping)
        );
        assert_eq!(
            HubProtocol::Json.decode(b"{\"type\":6}"),
            Ok(ClientMessage::Ping)
        );
        let mut reader = HubProtocol::MessagePack.reader(10);
        assert_eq!(
            reader.push(&[0x02, 0x91, 0x06]).unwrap(),
            vec![vec![0x91, 0x06]]
        );
        let mut reader = HubProtocol::Json.reader(10);
        assert_eq!(reader.push(b"{}\x1e").unwrap(), vec![b"{}".to_vec()]);
    }

    #[test]
    fn responses_are_exact() {
        assert_eq!(success_response(), b"{}\x1e");
        assert_eq!(error_response("Nope."), b"{\"error\":\"Nope.\"}\x1e");
    }
}

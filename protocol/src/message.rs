//! Hub messages, independent of the hub protocol that carried them.
//!
//! The host and its hubs only ever deal with JSON: payloads (arguments,
//! stream items, results) are JSON text here whichever protocol the
//! client speaks. [`crate::json`] carries that text through unchanged;
//! [`crate::messagepack`] transcodes it (see [`crate::transcode`] for
//! how MessagePack values map to JSON and back).

/// The W3C trace context headers of an invocation (`traceparent`,
/// `tracestate`): the only headers the host reads, so a call can join
/// its caller's trace. Kept as text; the host checks the format. Other
/// headers, and values longer than the W3C limits allow, are skipped.
/// Serializable: the host carries it between nodes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TraceContext {
    pub traceparent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// Longest `traceparent` kept: version 00 is 55 characters; later
/// versions may append fields, so some room is left.
pub const TRACEPARENT_MAX: usize = 128;
/// Longest `tracestate` kept: W3C lets a vendor drop it past 512.
pub const TRACESTATE_MAX: usize = 512;

impl TraceContext {
    /// The context from the two header values, when `traceparent` is
    /// there and both fit their limits (an oversized `tracestate` is
    /// dropped alone, as W3C allows).
    pub fn from_headers(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<Self> {
        let traceparent = traceparent.filter(|t| t.len() <= TRACEPARENT_MAX)?;
        Some(TraceContext {
            traceparent: traceparent.to_owned(),
            tracestate: tracestate
                .filter(|t| t.len() <= TRACESTATE_MAX)
                .map(str::to_owned),
        })
    }
}

/// A record a client sent, after validation (either protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Type 1. `invocation_id: None` is a non-blocking `send()`.
    Invocation {
        invocation_id: Option<String>,
        target: String,
        /// The JSON array of arguments, as text.
        arguments: String,
        /// The ids of upload streams the client attached (none usually).
        stream_ids: Vec<String>,
        /// The W3C trace context among the invocation's headers, if any.
        trace: Option<TraceContext>,
    },
    /// Type 4: an invocation whose results come back as a stream.
    StreamInvocation {
        invocation_id: String,
        target: String,
        /// The JSON array of arguments, as text.
        arguments: String,
        /// The ids of upload streams the client attached (none usually).
        stream_ids: Vec<String>,
        /// The W3C trace context among the invocation's headers, if any.
        trace: Option<TraceContext>,
    },
    /// Type 2: an item of a client upload stream.
    StreamItem {
        invocation_id: String,
        /// The item as JSON text (`null` is a valid item).
        item: String,
    },
    /// Type 3: the client's answer to a server invocation, or the end of
    /// an upload stream.
    Completion {
        invocation_id: String,
        /// `Ok`: the JSON result (`null` when absent or void); `Err`: the
        /// error text.
        result: Result<String, String>,
    },
    /// Type 5: the client no longer wants a stream it asked for.
    CancelInvocation { invocation_id: String },
    /// Type 6: keep-alive; also arms the client timeout.
    Ping,
    /// Type 7: the client is closing.
    Close {
        error: Option<String>,
        /// Meaningless from a client, but read so nothing is lost.
        allow_reconnect: bool,
    },
    /// Type 8 (stateful reconnect): the peer processed every message up
    /// to this id.
    Ack { sequence_id: u64 },
    /// Type 9 (stateful reconnect): the next message the peer sends has
    /// this id.
    Sequence { sequence_id: u64 },
    /// A type this host does not know. Ignored, as ASP.NET Core does:
    /// newer clients may add message types.
    Unknown(i64),
}

/// A message the server sends (either protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// Type 1: calls a client method; with an id, the client answers.
    Invocation {
        invocation_id: Option<String>,
        target: String,
        /// The JSON array of arguments, as text; must already be valid
        /// (the runtime checks what hubs hand over).
        arguments: String,
    },
    /// Type 2: one item of a server-to-client stream.
    StreamItem {
        invocation_id: String,
        /// The item as valid JSON text.
        item: String,
    },
    /// Type 3: the end of an invocation or of a stream.
    Completion {
        invocation_id: String,
        outcome: Outcome,
    },
    /// Type 6: keep-alive.
    Ping,
    /// Type 7: the server is closing the connection.
    Close {
        error: Option<String>,
        /// Tells the client to reconnect (automatic reconnect).
        allow_reconnect: bool,
    },
    /// Type 8 (stateful reconnect).
    Ack { sequence_id: u64 },
    /// Type 9 (stateful reconnect).
    Sequence { sequence_id: u64 },
}

impl ServerMessage {
    /// True for the message types (1 to 5) that stateful reconnect
    /// numbers, buffers and replays; Ping, Close, Ack and Sequence are
    /// never counted.
    pub fn is_trackable(&self) -> bool {
        matches!(
            self,
            ServerMessage::Invocation { .. }
                | ServerMessage::StreamItem { .. }
                | ServerMessage::Completion { .. }
        )
    }
}

/// How an invocation or stream ended, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No result at all, which ends a stream: JSON
    /// `{"type":3,"invocationId":"x"}`, MessagePack result kind 2.
    Void,
    /// The JSON text of the result (`null` for a void method, as .NET
    /// writes `"result":null` for those).
    Result(String),
    /// The error text the caller sees.
    Error(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_types_1_to_5_are_trackable() {
        let trackable = [
            ServerMessage::Invocation {
                invocation_id: None,
                target: "t".into(),
                arguments: "[]".into(),
            },
            ServerMessage::StreamItem {
                invocation_id: "1".into(),
                item: "1".into(),
            },
            ServerMessage::Completion {
                invocation_id: "1".into(),
                outcome: Outcome::Void,
            },
        ];
        assert!(trackable.iter().all(ServerMessage::is_trackable));
        let untracked = [
            ServerMessage::Ping,
            ServerMessage::Close {
                error: None,
                allow_reconnect: false,
            },
            ServerMessage::Ack { sequence_id: 1 },
            ServerMessage::Sequence { sequence_id: 1 },
        ];
        assert!(!untracked.iter().any(ServerMessage::is_trackable));
    }
}

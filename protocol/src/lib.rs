//! The SignalR protocol as pure codecs: no I/O, tested with golden bytes
//! and fuzzed (`fuzz/`). A crate of its own so that the fuzzers build it
//! without the rest of the host.
//!
//! - [`negotiate`]: the `POST /negotiate` version rules and response body;
//! - [`handshake`]: the first record a client sends, our answer, and the
//!   [`HubProtocol`](handshake::HubProtocol) it picks, which holds the
//!   codec and the framing the connection then uses;
//! - [`framing`]: splitting a byte stream into records: `0x1E`-terminated
//!   (JSON, the handshake) or length-prefixed (MessagePack);
//! - [`message`]: the messages themselves, the same for both protocols;
//!   their payloads are JSON text, because hubs only ever see JSON;
//! - [`json`]: the JSON hub protocol, both directions;
//! - [`messagepack`]: the MessagePack hub protocol, both directions, and
//!   [`transcode`]: how its values map to the JSON hubs see.

mod cursor;
pub mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod json;
mod length_prefix;
pub mod message;
pub mod messagepack;
pub mod negotiate;
mod timestamp;
pub mod transcode;

pub use message::{ClientMessage, Outcome, ServerMessage, TraceContext};

/// Ends every JSON record on the wire (ASCII "record separator").
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// Why a peer's bytes could not be understood. The text goes to the
/// client in a Close message, so it must say what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A record that breaks the protocol; the text says how.
    #[error("{0}")]
    InvalidMessage(String),
    /// A record larger than the configured maximum (the maximum in bytes).
    #[error(
        "The maximum message size of {0}B was exceeded. The message size can be configured with --max-message-size."
    )]
    MessageTooLarge(usize),
}

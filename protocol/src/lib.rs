//! The SignalR protocol as pure codecs: no I/O, tested with golden bytes
//! and fuzzed (`fuzz/`). A crate of its own so that the fuzzers build it
//! without the rest of the host.
//!
//! - [`negotiate`]: the `POST /negotiate` version rules and response body;
//! - [`handshake`]: the first record a client sends and our answer;
//! - [`framing`]: splitting a byte stream into `0x1E`-terminated records;
//! - [`json`]: the JSON hub protocol's messages, both directions.

pub mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod json;
pub mod negotiate;

/// Ends every JSON record on the wire (ASCII "record separator").
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// Why a peer's bytes could not be understood. The text goes to the
/// client in a Close message, so it must say what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("{0}")]
    InvalidMessage(String),
    #[error(
        "The maximum message size of {0}B was exceeded. The message size can be configured with --max-message-size."
    )]
    MessageTooLarge(usize),
}

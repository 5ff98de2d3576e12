//! The host's log, which tags each line with the hub, connection and method.
//!
//! `println!` and `eprintln!` reach the same log too, a line at a time (at
//! info and warn), tagged with the hub and connection; both share the hub's budget of
//! 100 lines a second.

use crate::bindings::wasmhub::hub::log as wit;

pub use crate::bindings::wasmhub::hub::log::Level;

/// Logs `message` at `level` with structured `fields` (name, value).
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    wit::log(level, message, &fields);
}

/// Logs `message` at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message, &[]);
}

/// Logs `message` at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message, &[]);
}

/// Logs `message` at info level.
pub fn info(message: &str) {
    log(Level::Info, message, &[]);
}

/// Logs `message` at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message, &[]);
}

/// Logs `message` at error level.
pub fn error(message: &str) {
    log(Level::Error, message, &[]);
}

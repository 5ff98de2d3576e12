//! wasmhub: real-time hubs whose logic is WebAssembly components.
//!
//! A message flows down these modules: [`transport`] (HTTP, WebSocket) →
//! [`protocol`] (pure codec) → [`connection`] (one task per client) →
//! [`runtime`] (wasmtime, the hub's code) → [`cluster`] (routing and
//! presence, in memory or across nodes). [`server`] wires them together;
//! [`metrics`] counts what flows through them for `GET /metrics`.

pub mod cluster;
pub mod config;
pub mod connection;
pub mod events;
pub mod logging;
pub mod metrics;
pub mod names;
pub mod outbound;
pub mod project;
pub use wasmhub_protocol as protocol;
pub mod runtime;
pub mod server;
pub mod telemetry;
pub mod transport;

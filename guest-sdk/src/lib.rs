//! Write wasmhub hubs in Rust: plain functions over serde types. The SDK
//! binds the JSON arguments, encodes the results, and wraps the host's
//! imports; a hub never touches JSON text or generated bindings.
//!
//! A hub is a `cdylib` crate built for `wasm32-wasip2`:
//!
//! ```no_run
//! use serde::Serialize;
//! use wasmhub_guest::{Accepted, Context, Hub, HubError, Router, clients, groups};
//!
//! struct Chat;
//!
//! impl Hub for Chat {
//!     fn router() -> Router {
//!         Router::new().method("Join", join).method("Send", send)
//!     }
//!
//!     fn on_connected(ctx: &Context) -> Result<Accepted, HubError> {
//!         match ctx.query("name") {
//!             Some(name) => Ok(Accepted::user(name)),
//!             None => Err(HubError::invalid_argument("connect with ?name=<you>")),
//!         }
//!     }
//! }
//!
//! wasmhub_guest::export_hub!(Chat);
//!
//! #[derive(Serialize)]
//! struct Message<'a> {
//!     from: &'a str,
//!     text: &'a str,
//! }
//!
//! fn join(ctx: &Context, (room,): (String,)) -> Result<(), HubError> {
//!     groups::add(ctx.connection_id(), &room)
//! }
//!
//! fn send(ctx: &Context, (room, text): (String, String)) -> Result<(), HubError> {
//!     let from = ctx.user().unwrap_or_default();
//!     clients::with_group(&room).send("Message", (Message { from, text: &text },))
//! }
//! ```
//!
//! - [`Router`] maps method names (case-insensitive) to handlers; a handler
//!   takes the [`Context`] and a tuple of arguments and returns
//!   `Result<impl Serialize, HubError>`; a streaming handler
//!   ([`Router::stream`]) returns an iterator of items instead.
//! - [`streams`]: upload streams a client attached ([`Context::upload`]),
//!   cancellation, and a [`streams::sleep`] outside the hub's deadline.
//! - [`clients`] sends to and invokes clients, [`groups`] changes group
//!   membership, [`presence`] tells who is online, [`log`] writes to the
//!   host's log, [`kv`] keeps the hub's state and [`http`] calls other
//!   services (both granted in the hub's manifest).
//! - Hubs keep no state in memory that must survive: an instance may be
//!   recycled after any call. State belongs in groups, users and attributes.

mod args;
#[doc(hidden)]
pub mod bindings;
pub mod clients;
mod context;
mod error;
pub mod groups;
pub mod http;
mod hub;
pub mod kv;
pub mod log;
pub mod presence;
mod router;
pub mod streams;

pub use args::{Args, BINDING_ERROR};
pub use clients::{ClientResult, Selection};
pub use context::Context;
pub use error::HubError;
pub use hub::{Accepted, Hub};
pub use router::Router;

/// The WIT record behind [`Context`], for building one in tests.
pub use bindings::wasmhub::hub::types::Connection;

/// What [`export_hub!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::hub::Export;
}

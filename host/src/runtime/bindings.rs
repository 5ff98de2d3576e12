//! Generated bindings for the hub world (`wit/hub.wit`), kept apart from
//! the hand-written host side in [`super::host`].
//!
//! Imports are `async | trappable`: hub code calls them as plain blocking
//! functions while the host awaits (a client's answer, later Redis) on a
//! fiber. Exports are `async` so calls into the hub never block a thread.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "hub",
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});

pub use self::wasmhub::hub::types::{
    Accepted, Caller, ClientResult, Connection, ConnectionInfo, HubError, Selector, UserPresence,
};

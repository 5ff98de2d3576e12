//! Bindings generated from `wit/hub.wit` (world `wasmhub:hub/hub`).
//!
//! Kept apart so that the hand-written modules are the only API hub
//! authors see; everything here is an implementation detail of the SDK.

wit_bindgen::generate!({
    world: "hub",
    path: "../wit",
    // `export_hub!` expands in the hub's crate, which reaches the generated
    // export machinery through this module.
    pub_export_macro: true,
    default_bindings_module: "wasmhub_guest::bindings",
    export_macro_name: "export_handler",
});

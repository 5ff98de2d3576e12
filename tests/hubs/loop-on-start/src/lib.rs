//! Test fixture: a hub whose start code (a static constructor, run while
//! the component is instantiated, before any export is called) never
//! ends. The host must refuse the file within the hub deadline and go on
//! watching and serving.

use std::hint::black_box;

use wasmhub_guest::{Context, Hub, HubError, Router};

struct LoopOnStart;

impl Hub for LoopOnStart {
    fn router() -> Router {
        Router::new().method("Echo", echo)
    }
}

wasmhub_guest::export_hub!(LoopOnStart);

/// Never served: present so that the hub looks like a usable one.
fn echo(_: &Context, (message,): (String,)) -> Result<String, HubError> {
    Ok(message)
}

/// Runs from `.init_array`, which wasm-ld calls from `_initialize`, which
/// the component calls at instantiation.
extern "C" fn spin_forever() {
    let mut turns: u64 = 0;
    loop {
        turns = black_box(turns.wrapping_add(1));
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static SPIN_AT_START: extern "C" fn() = spin_forever;

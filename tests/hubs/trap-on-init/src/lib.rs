//! Test fixture: a hub whose `init` panics, so the host must refuse the
//! file at load and keep serving the version it had.

use wasmhub_guest::{Context, Hub, HubError, Router};

struct TrapOnInit;

impl Hub for TrapOnInit {
    fn router() -> Router {
        Router::new().method("Echo", echo)
    }

    fn init() -> Result<(), HubError> {
        panic!("trap-on-init: init refuses to start");
    }
}

wasmhub_guest::export_hub!(TrapOnInit);

/// Never served: present so that the hub looks like a usable one.
fn echo(_: &Context, (message,): (String,)) -> Result<String, HubError> {
    Ok(message)
}

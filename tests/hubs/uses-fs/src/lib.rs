//! Test fixture: a hub that really reads files, so its component imports
//! `wasi:filesystem` and the host must refuse it at load, naming that
//! import.

use wasmhub_guest::{Context, Hub, HubError, Router};

struct UsesFs;

impl Hub for UsesFs {
    fn router() -> Router {
        Router::new().method("ReadFile", read_file)
    }
}

wasmhub_guest::export_hub!(UsesFs);

/// Returns the text of a file: what a hub must not be able to do.
fn read_file(_: &Context, (path,): (String,)) -> Result<String, HubError> {
    std::fs::read_to_string(&path).map_err(|e| HubError::internal(e.to_string()))
}

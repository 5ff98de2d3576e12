//! The npm packages the JavaScript hubs and the node tests use.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use anyhow::Result;

use crate::cmd::{self, step};
use crate::workspace;

/// Runs `npm ci` when the root has a `package.json` and `node_modules` is
/// missing or older than `package-lock.json`.
pub fn ensure_modules() -> Result<()> {
    let root = workspace::root();
    if !root.join("package.json").is_file() {
        return Ok(());
    }
    let installed = modified(&root.join("node_modules/.package-lock.json"));
    let locked = modified(&root.join("package-lock.json"));
    let fresh =
        matches!((installed, locked), (Some(installed), Some(locked)) if installed >= locked);
    if fresh {
        return Ok(());
    }
    step("installing node modules (npm ci)");
    let mut npm = Command::new("npm");
    npm.current_dir(&root).arg("ci");
    cmd::run(
        &mut npm,
        "install Node.js with npm (needed for the JavaScript hubs and the node tests)",
    )
}

/// When `path` was last modified; `None` when it does not exist.
fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|meta| meta.modified()).ok()
}

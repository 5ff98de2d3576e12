//! Where things are: the workspace root, the target dir, the cargo binary.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The workspace root: xtask lives at `<root>/xtask`.
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask is one level below the workspace root")
        .to_path_buf()
}

/// Cargo's target dir: `CARGO_TARGET_DIR` when set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// The cargo that runs us (`CARGO`), so that the pinned toolchain is used.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

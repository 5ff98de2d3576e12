//! Chromium for the browser tests (`tests/node/browser.test.mjs`, driven
//! by playwright-core from npm): Debian's `chromium` on the PATH, installed
//! with apt-get when missing and this runs as root. Without it the browser
//! tests report themselves skipped, with the reason.

use std::env;
use std::path::PathBuf;
use std::process::Command;

use crate::cmd::{self, step};

/// The browser's program name (Debian's package has the same name).
const CHROMIUM: &str = "chromium";

/// The browser the tests may drive, or why there is none.
pub enum Chromium {
    Ready(PathBuf),
    Missing(String),
}

/// `WASMHUB_CHROMIUM` when set, else `chromium` from the PATH, else the
/// one `apt-get install chromium` brings (only as root with apt-get).
pub fn ensure() -> Chromium {
    if let Some(path) = env::var_os("WASMHUB_CHROMIUM").filter(|p| !p.is_empty()) {
        return Chromium::Ready(PathBuf::from(path));
    }
    if let Some(found) = on_path(CHROMIUM) {
        return Chromium::Ready(found);
    }
    if on_path("apt-get").is_none() {
        return Chromium::Missing("no chromium on the PATH, and no apt-get to install it".into());
    }
    if !is_root() {
        return Chromium::Missing(
            "no chromium on the PATH; install it as root: apt-get install chromium".into(),
        );
    }
    step("installing chromium with apt-get (for the browser tests)");
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", CHROMIUM])
        .env("DEBIAN_FRONTEND", "noninteractive");
    let installed = cmd::run(&mut update, "install apt").and_then(|()| cmd::run(&mut install, ""));
    match (installed, on_path(CHROMIUM)) {
        (Ok(()), Some(found)) => Chromium::Ready(found),
        (Ok(()), None) => Chromium::Missing("apt-get installed no chromium on the PATH".into()),
        (Err(error), _) => Chromium::Missing(format!("apt-get install chromium failed: {error:#}")),
    }
}

/// `program` in a directory of the PATH.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Whether this process runs as root (`id -u` prints 0).
fn is_root() -> bool {
    let mut id = Command::new("id");
    id.arg("-u");
    cmd::output(&mut id, "").is_ok_and(|uid| uid.trim() == "0")
}

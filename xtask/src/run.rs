//! `cargo xtask run`: the chat demo, served on 127.0.0.1:5000.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd::{self, step};
use crate::{hubs, node, workspace};

/// Where the demo listens.
const LISTEN: &str = "127.0.0.1:5000";

/// The SignalR browser client, from the npm package.
const SIGNALR_JS: &str = "node_modules/@microsoft/signalr/dist/browser/signalr.min.js";

/// Builds the hubs and the web page, then replaces this process with
/// `wasmhub serve`, passing `extra` on (an `--listen` there replaces the
/// default address).
pub fn run(extra: &[String]) -> Result<()> {
    let root = workspace::root();
    let target = workspace::target_dir();
    let hubs_dir = target.join("hubs");
    let web_dir = target.join("web");

    hubs::build_into(hubs::EXAMPLES, &hubs_dir)?;
    node::ensure_modules()?;
    let has_web = assemble_web(&root, &web_dir)?;

    let mut serve = Command::new(workspace::cargo());
    serve
        .current_dir(&root)
        .args(["run", "-p", "wasmhub", "--", "serve", "--hubs"])
        .arg(&hubs_dir);
    if has_web {
        serve.arg("--web").arg(&web_dir);
    }
    if !gives_listen(extra) {
        serve.args(["--listen", LISTEN]);
        step(&format!("serving on http://{LISTEN}"));
    } else {
        step("serving");
    }
    serve.args(extra);
    exec(&mut serve)
}

/// Whether the extra arguments choose the address themselves (clap
/// refuses `--listen` twice).
fn gives_listen(extra: &[String]) -> bool {
    extra
        .iter()
        .any(|arg| arg == "--listen" || arg.starts_with("--listen="))
}

/// Copies `examples/chat/web` and the SignalR client into `web_dir`;
/// `false` (with a warning) when there is no web page yet.
fn assemble_web(root: &Path, web_dir: &Path) -> Result<bool> {
    let source = root.join("examples/chat/web");
    if !source.is_dir() {
        eprintln!(
            "warning: {} does not exist; serving without a web page",
            source.display()
        );
        return Ok(false);
    }
    step(&format!("assembling {}", web_dir.display()));
    if web_dir.exists() {
        fs::remove_dir_all(web_dir).with_context(|| format!("removing {}", web_dir.display()))?;
    }
    copy_dir(&source, web_dir)?;
    let signalr = root.join(SIGNALR_JS);
    if signalr.is_file() {
        fs::copy(&signalr, web_dir.join("signalr.min.js"))
            .with_context(|| format!("copying {}", signalr.display()))?;
    } else {
        eprintln!(
            "warning: {} is missing (no package.json, or npm ci did not install it)",
            signalr.display()
        );
    }
    Ok(true)
}

/// Copies the directory tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Replaces this process with `command` (so Ctrl-C reaches the server
/// directly); where that is impossible, waits for it instead.
fn exec(command: &mut Command) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        Err(error).with_context(|| format!("could not start `{}`", cmd::describe(command)))
    }
    #[cfg(not(unix))]
    {
        cmd::run(command, "install Rust with rustup")
    }
}

//! `cargo xtask run`: the chat demo, served on 127.0.0.1:5000.

use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd::{self, step};
use crate::{hubs, workspace};

/// Where the demo listens.
const LISTEN: &str = "127.0.0.1:5000";

/// The chat page, served as it is (its SignalR client files are
/// committed next to it).
const WEB: &str = "examples/chat/web";

/// Builds the hubs, then replaces this process with `wasmhub serve`
/// (hubs and the chat page), passing `extra` on (an `--listen` there
/// replaces the default address).
pub fn run(extra: &[String]) -> Result<()> {
    let root = workspace::root();
    let hubs_dir = workspace::target_dir().join("hubs");
    let web_dir = root.join(WEB);

    hubs::build_into(hubs::EXAMPLES, &hubs_dir)?;
    let has_web = web_dir.is_dir();
    if !has_web {
        eprintln!(
            "warning: {} does not exist; serving without a web page",
            web_dir.display()
        );
    }

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

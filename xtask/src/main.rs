//! Project chores that need more than one cargo command:
//!
//! - `cargo xtask hubs DIR`: build every example hub for wasm32-wasip2 and
//!   copy the components to `DIR/<name>.wasm`;
//! - `cargo xtask run [SERVE ARGS...]`: build the hubs, then serve them
//!   and the chat page (`examples/chat/web`) on 127.0.0.1:5000;
//! - `cargo xtask test`: build everything and run every test suite;
//! - `cargo xtask bench [ALL ARGS...]`: release builds, then the load
//!   tool's `all` beside the socketioxide peer (a markdown table).

mod bench;
mod browser;
mod c;
mod cmd;
mod files;
mod hubs;
mod javascript;
mod node;
mod pyclients;
mod python;
mod run;
mod test;
mod valkey;
mod venv;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage:
  cargo xtask hubs DIR [SOURCE]      build the example hubs (or those under SOURCE,
                                     e.g. tests/hubs) into DIR/<name>.wasm
  cargo xtask run [SERVE ARGS...]    build the hubs, then serve them and the chat page
  cargo xtask test                   build everything and run all tests
  cargo xtask bench [ARGS...]        release builds, then wasmhub-bench all ARGS (a markdown table)";

fn main() -> ExitCode {
    match dispatch(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Picks the command from the first argument.
fn dispatch(args: Vec<String>) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        bail!("no command given\n{USAGE}");
    };
    match (command.as_str(), rest) {
        ("hubs", [dir]) => hubs::build_into(hubs::EXAMPLES, &PathBuf::from(dir)),
        ("hubs", [dir, source]) => {
            hubs::build_into(source.trim_end_matches('/'), &PathBuf::from(dir))
        }
        ("hubs", _) => bail!("`hubs` takes a directory and, optionally, a source\n{USAGE}"),
        // `cargo xtask run -- --listen ..` works like `cargo xtask run --listen ..`.
        ("run", extra) => run::run(extra.strip_prefix(&["--".to_owned()][..]).unwrap_or(extra)),
        ("test", []) => test::test(),
        ("test", _) => bail!("`test` takes no arguments\n{USAGE}"),
        ("bench", extra) => bench::bench(extra),
        ("help" | "-h" | "--help", _) => {
            println!("{USAGE}");
            Ok(())
        }
        (other, _) => bail!("unknown command `{other}`\n{USAGE}"),
    }
}

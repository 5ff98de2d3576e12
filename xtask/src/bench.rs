//! `cargo xtask bench`: release builds of the host, the load tool and the
//! socketioxide peer, then `wasmhub-bench all`, whose markdown table goes
//! to stdout and `target/bench/latest.md`.

use std::process::Command;

use anyhow::Result;

use crate::cmd::{self, step};
use crate::{hubs, workspace};

pub fn bench(extra: &[String]) -> Result<()> {
    let root = workspace::root();
    let target = workspace::target_dir();
    let hubs_dir = target.join("hubs");
    hubs::build_into(hubs::EXAMPLES, &hubs_dir)?;

    step("building the host, the load tool and the peer (release)");
    let mut build = Command::new(workspace::cargo());
    build.current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "wasmhub",
        "-p",
        "wasmhub-bench",
        "-p",
        "socketioxide-peer",
    ]);
    cmd::run(&mut build, "install Rust with rustup")?;

    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let release = target.join("release");
    step("running wasmhub-bench all (about 9 minutes)");
    let mut all = Command::new(release.join("wasmhub-bench"));
    all.current_dir(&root)
        .arg("all")
        .arg("--out")
        .arg(out_dir.join("latest.md"))
        .args(extra)
        .env("WASMHUB_BIN", release.join("wasmhub"))
        .env("WASMHUB_HUBS", &hubs_dir)
        .env("BENCH_PEER", release.join("socketioxide-peer"));
    cmd::run(&mut all, "run `cargo xtask bench` from the repository")
}

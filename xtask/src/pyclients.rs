//! The Python tools of the node tests: the SignalR clients (pysignalr,
//! signalrcore) that `tests/node/python-clients.test.mjs` runs against the
//! host, the Prometheus parser of the metrics tests and schemathesis for
//! `tests/node/openapi.test.mjs`; pinned in `tests/python/requirements.txt`,
//! installed into the virtualenv `target/tools/pyclients`.

use std::path::PathBuf;

use anyhow::Result;

use crate::venv;

const REQUIREMENTS: &str = "tests/python/requirements.txt";

/// The virtualenv's Python, with both clients installed.
pub fn ensure() -> Result<PathBuf> {
    let bin = venv::ensure(
        "pyclients",
        REQUIREMENTS,
        "python",
        "install Python 3 with the venv module (Debian: apt-get install python3-venv) \
         for the Python client tests",
    )?;
    Ok(bin.join(if cfg!(windows) {
        "python.exe"
    } else {
        "python"
    }))
}

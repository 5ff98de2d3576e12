//! Project-local Python virtualenvs for tools that come from PyPI:
//! `target/tools/<name>`, made with `python3 -m venv` when missing and
//! refreshed when their requirements file changes.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd::{self, step};
use crate::workspace;

/// The `bin` directory of the virtualenv `target/tools/<name>`, with the
/// pinned `requirements` (a workspace path) installed: made when missing,
/// `pip install -r` again when the file changed since the last install
/// or `marker` (a program the requirements install) is missing. `hint`
/// says what to install when Python itself is missing.
pub fn ensure(name: &str, requirements: &str, marker: &str, hint: &str) -> Result<PathBuf> {
    let venv = workspace::target_dir().join("tools").join(name);
    let bin = venv.join(if cfg!(windows) { "Scripts" } else { "bin" });
    let python = bin.join(if cfg!(windows) {
        "python.exe"
    } else {
        "python"
    });
    let requirements = workspace::root().join(requirements);
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join("wasmhub-requirements.txt");
    if python.is_file()
        && bin.join(marker).is_file()
        && fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted)
    {
        return Ok(bin);
    }
    if !python.is_file() {
        step(&format!(
            "creating the Python virtualenv {}",
            venv.display()
        ));
        let system_python = if cfg!(windows) { "python" } else { "python3" };
        let mut make = Command::new(system_python);
        make.arg("-m").arg("venv").arg(&venv);
        if let Err(error) = cmd::run(&mut make, hint) {
            let _ = fs::remove_dir_all(&venv);
            return Err(error.context(format!("could not make the virtualenv {}", venv.display())));
        }
    }
    step(&format!(
        "installing {} into {}",
        requirements.display(),
        venv.display()
    ));
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "-q",
        "-r",
    ])
    .arg(&requirements);
    cmd::run(&mut pip, hint)?;
    fs::write(&stamp, &wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(bin)
}

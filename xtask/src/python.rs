//! Python hubs: a directory under `examples/` with an `app.py` is a hub
//! named after the directory, built with componentize-py (pinned in
//! `sdks/python/requirements.txt`) against `wit/hub.wit`, world `hub`, with
//! the Python SDK (`sdks/python`) on its path.
//!
//! The tools live in a project-local virtualenv, `target/tools/python`,
//! made with `python3 -m venv` when missing and refreshed when the
//! requirements change. Builds are cached in `target/python-hubs` by a
//! fingerprint of their inputs, so an unchanged hub is copied, not rebuilt.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd::{self, step};
use crate::files;
use crate::venv;
use crate::workspace;

/// The file that marks a directory as a Python hub, and the module
/// componentize-py wraps.
const APP: &str = "app";

/// The Python SDK, put on every Python hub's path.
const SDK: &str = "sdks/python";

/// The pinned build tools, installed into the virtualenv.
const REQUIREMENTS: &str = "sdks/python/requirements.txt";

/// What to tell someone without a usable Python.
const INSTALL_PYTHON: &str = "install Python 3.11 or newer with the venv module \
     (Debian: apt-get install python3 python3-venv) to build the Python hubs";

/// The Python hubs under the workspace directory `source`: directories
/// with an `app.py`. Sorted.
pub fn discover(source: &str) -> Result<Vec<String>> {
    files::dirs_with(source, &format!("{APP}.py"))
}

/// Builds every Python hub under `source` into `dir/<name>.wasm`, printing
/// each one's size. Nothing to do (and no Python needed) without any.
pub fn build_into(source: &str, dir: &Path) -> Result<()> {
    let hubs = discover(source)?;
    if hubs.is_empty() {
        return Ok(());
    }
    let root = workspace::root();
    let tools = ensure_tools()?;
    sdk_tests(&tools)?;
    let cache = workspace::target_dir().join("python-hubs");
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for hub in &hubs {
        let source_dir = root.join(source).join(hub);
        let built = cache.join(format!("{hub}.wasm"));
        let stamp = cache.join(format!("{hub}.fingerprint"));
        let fingerprint = format!(
            "{:016x}",
            files::fingerprint(
                &[&source_dir, &root.join(SDK), &root.join("wit")],
                &[root.join(REQUIREMENTS)]
            )?
        );
        let fresh = built.is_file()
            && fs::read_to_string(&stamp).is_ok_and(|old| old.trim() == fingerprint);
        if fresh {
            step(&format!("Python hub {hub} is up to date"));
        } else {
            step(&format!(
                "building Python hub {source}/{hub} (componentize-py)"
            ));
            let _ = fs::remove_file(&stamp);
            let mut build = Command::new(tools.join("componentize-py"));
            build
                .current_dir(&root)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .args(["-q", "-d", "wit", "-w", "hub", "componentize", APP])
                .arg("-p")
                .arg(&source_dir)
                .arg("-p")
                .arg(root.join(SDK))
                // Every WASI import becomes a trapping stub, so the
                // component imports the hub world only (the host refuses
                // wasi:filesystem and wasi:sockets, which CPython imports).
                .arg("--stub-wasi")
                .arg("-o")
                .arg(&built);
            cmd::run(&mut build, "run `cargo xtask hubs` again to reinstall it")?;
            fs::write(&stamp, &fingerprint)
                .with_context(|| format!("writing {}", stamp.display()))?;
        }
        let to = dir.join(format!("{hub}.wasm"));
        files::copy_manifest(&source_dir, hub, dir)?;
        files::copy_if_changed(&built, &to)?;
        let bytes = fs::metadata(&to)?.len();
        eprintln!("    {} ({})", to.display(), crate::hubs::human_size(bytes));
    }
    Ok(())
}

/// The virtualenv's `bin` directory, with componentize-py installed.
fn ensure_tools() -> Result<PathBuf> {
    venv::ensure("python", REQUIREMENTS, "componentize-py", INSTALL_PYTHON)
}

/// The SDK's own unit tests (`sdks/python/tests`), run on the virtualenv's
/// CPython against bindings generated from `wit/hub.wit`: a broken SDK
/// fails here, before any hub is built with it. Takes a fraction of a
/// second; skipped with a warning on a CPython older than 3.11 (the
/// generated bindings need it).
fn sdk_tests(bin: &Path) -> Result<()> {
    let root = workspace::root();
    let tests = root.join(SDK).join("tests");
    if !tests.is_dir() {
        return Ok(());
    }
    let python = bin.join(if cfg!(windows) {
        "python.exe"
    } else {
        "python"
    });
    let mut version = Command::new(&python);
    version.args(["-c", "import sys; print(sys.version_info >= (3, 11))"]);
    if cmd::output(&mut version, INSTALL_PYTHON)?.trim() != "True" {
        eprintln!("warning: the Python SDK's tests need CPython 3.11 or newer; skipped");
        return Ok(());
    }
    let bindings = workspace::target_dir()
        .join("tools")
        .join("python-bindings");
    if bindings.exists() {
        fs::remove_dir_all(&bindings)
            .with_context(|| format!("removing {}", bindings.display()))?;
    }
    let mut generate = Command::new(bin.join("componentize-py"));
    generate
        .current_dir(&root)
        .args(["-q", "-d", "wit", "-w", "hub", "bindings"])
        .arg(&bindings);
    cmd::run(
        &mut generate,
        "run `cargo xtask hubs` again to reinstall it",
    )?;

    step("testing the Python SDK (sdks/python/tests)");
    let path = std::env::join_paths([bindings, root.join(SDK)])?;
    let mut test = Command::new(&python);
    test.current_dir(&root)
        .env("PYTHONPATH", path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "unittest", "discover", "-q", "-s"])
        .arg(&tests)
        .arg("-t")
        .arg(&tests);
    // Quiet when they pass; the error shows unittest's report when not.
    cmd::output(&mut test, INSTALL_PYTHON).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_python_chat_hub() {
        let hubs = discover(crate::hubs::EXAMPLES).unwrap();
        assert!(hubs.contains(&"chat-py".to_owned()), "{hubs:?}");
        assert!(!hubs.contains(&"chat".to_owned()), "{hubs:?}");
    }
}

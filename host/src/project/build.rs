//! `wasmhub build`: one project to `hubs/<name>.wasm`, with the
//! language's own tool (cargo for Rust, componentize-py, componentize-qjs,
//! clang for C: `c.rs`).
//!
//! The new file is written beside the old one and renamed over it, so a
//! host watching `hubs/` swaps to a whole file, and a failed build leaves
//! the old one in place. The project's `hub.toml`, if any, is copied to
//! `hubs/<name>.toml` (the hub's manifest) just before.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::new::COMPONENTIZE_PY;
use super::{Language, Project};

/// Why a build did not produce a hub.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("not a hub project: {0}")]
    NotAProject(String),
    #[error("{tool} was not found: {install}")]
    ToolMissing { tool: String, install: String },
    /// The compiler's own output says why.
    #[error("the build failed:\n{output}")]
    Failed { output: String },
    #[error("{0}")]
    Io(String),
}

/// A build that produced `wasm` in `took`.
pub struct Built {
    pub wasm: PathBuf,
    pub took: Duration,
}

/// Builds `project` into [`Project::wasm`].
pub fn build(project: &Project) -> Result<Built, BuildError> {
    let started = Instant::now();
    let hubs = project.hubs_dir();
    std::fs::create_dir_all(&hubs)
        .map_err(|e| BuildError::Io(format!("{}: {e}", hubs.display())))?;
    // A hidden name: the host's watcher ignores it until the rename.
    let staged = hubs.join(format!(".{}.wasm.building", project.name));
    let _ = std::fs::remove_file(&staged);
    match project.language {
        Language::Rust => rust(project, &staged)?,
        Language::Python => python(project, &staged)?,
        Language::JavaScript => javascript(project, &staged)?,
        Language::C => super::c::build(project, &staged)?,
    }
    // The project's `hub.toml` (limits, grants) goes beside the hub, first,
    // so a watching host never serves the new file without it.
    let manifest = project.dir.join("hub.toml");
    let beside = hubs.join(format!("{}.toml", project.name));
    if manifest.is_file() {
        std::fs::copy(&manifest, &beside)
            .map_err(|e| BuildError::Io(format!("{}: {e}", beside.display())))?;
    }
    let wasm = project.wasm();
    std::fs::rename(&staged, &wasm)
        .map_err(|e| BuildError::Io(format!("{}: {e}", wasm.display())))?;
    Ok(Built {
        wasm,
        took: started.elapsed(),
    })
}

fn rust(project: &Project, out: &Path) -> Result<(), BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.current_dir(&project.dir).args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--message-format",
        "short",
    ]);
    run(
        &mut command,
        "cargo",
        "install Rust with rustup, then `rustup target add wasm32-wasip2`",
    )?;
    let package = package_name(&project.dir)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project.dir.join("target"));
    let artifact = target
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    std::fs::copy(&artifact, out)
        .map(drop)
        .map_err(|e| BuildError::Io(format!("{}: {e}", artifact.display())))
}

/// `[package] name` of the project's Cargo.toml.
fn package_name(dir: &Path) -> Result<String, BuildError> {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| BuildError::Io(format!("{}: {e}", path.display())))?;
    let manifest: toml::Table = text
        .parse()
        .map_err(|e| BuildError::Io(format!("{}: {e}", path.display())))?;
    manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| BuildError::Io(format!("{}: no [package] name", path.display())))
}

fn python(project: &Project, out: &Path) -> Result<(), BuildError> {
    let tool = tool(
        "WASMHUB_COMPONENTIZE_PY",
        "componentize-py",
        &project.dir.join(".venv/bin/componentize-py"),
    );
    let mut command = Command::new(&tool);
    command
        .current_dir(&project.dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args([
            "-q",
            "-d",
            "wit",
            "-w",
            "hub",
            "componentize",
            "app",
            "-p",
            ".",
        ])
        // WASI imports become trapping stubs: the host grants hubs none.
        .arg("--stub-wasi")
        .arg("-o")
        .arg(out);
    let install = format!(
        "pip install {COMPONENTIZE_PY} (the project's README says how), or set WASMHUB_COMPONENTIZE_PY"
    );
    run(&mut command, "componentize-py", &install)
}

fn javascript(project: &Project, out: &Path) -> Result<(), BuildError> {
    let tool = tool(
        "WASMHUB_COMPONENTIZE_QJS",
        "componentize-qjs",
        &project.dir.join("node_modules/.bin/componentize-qjs"),
    );
    let mut command = Command::new(&tool);
    command
        .current_dir(&project.dir)
        .args([
            "--wit",
            "wit",
            "--world",
            "hub",
            "--module-root",
            ".",
            "--js",
            "hub.js",
        ])
        // No component-model async (the host runs without it), no WASI.
        .args(["--sync", "--stub-wasi", "--output"])
        .arg(out);
    run(
        &mut command,
        "componentize-qjs",
        "run `npm install` in the project, or set WASMHUB_COMPONENTIZE_QJS",
    )
}

/// The tool named by `variable`, else the project's own copy, else the
/// one on the PATH.
fn tool(variable: &str, name: &str, local: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return path.into();
    }
    if local.is_file() {
        return local.to_owned();
    }
    name.into()
}

/// Runs a build tool, its output kept for the error.
pub(super) fn run(command: &mut Command, tool: &str, install: &str) -> Result<(), BuildError> {
    let output = command.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BuildError::ToolMissing {
            tool: tool.to_owned(),
            install: install.to_owned(),
        },
        _ => BuildError::Io(format!("cannot run {tool}: {e}")),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    Err(BuildError::Failed {
        output: text.trim_end().to_owned(),
    })
}

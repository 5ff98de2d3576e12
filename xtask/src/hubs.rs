//! `cargo xtask hubs DIR`: every example hub, built as a component. The
//! test fixture hubs (`tests/hubs/`) are built the same way by `cargo xtask
//! test`.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::{self, step};
use crate::workspace;

/// The target hubs are built for.
const TARGET: &str = "wasm32-wasip2";

/// The cargo profile for hubs (small and optimised; see the root Cargo.toml).
const PROFILE: &str = "hub";

/// Where the example hubs live (what `run` serves).
pub const EXAMPLES: &str = "examples";

/// Where the test fixture hubs live (hubs the host must refuse, and the
/// like); never served by `run`.
pub const TEST_HUBS: &str = "tests/hubs";

/// Builds every hub under `source` (a directory of the workspace, such as
/// [`EXAMPLES`]) and copies it to `dir/<name>.wasm`, printing each one's
/// size.
pub fn build_into(source: &str, dir: &Path) -> Result<()> {
    let root = workspace::root();
    let hubs = discover(source)?;
    if hubs.is_empty() {
        bail!("no hub found under {source}/ (a hub has crate-type = [\"cdylib\"])");
    }
    ensure_target()?;

    step(&format!(
        "building hubs from {source}/: {}",
        hubs.join(", ")
    ));
    let mut build = Command::new(workspace::cargo());
    build
        .current_dir(&root)
        .args(["build", "--target", TARGET, "--profile", PROFILE]);
    for hub in &hubs {
        build.args(["-p", hub]);
    }
    cmd::run(&mut build, "install Rust with rustup")?;

    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let built = workspace::target_dir().join(TARGET).join(PROFILE);
    for hub in &hubs {
        let from = built.join(format!("{}.wasm", hub.replace('-', "_")));
        let to = dir.join(format!("{hub}.wasm"));
        // The manifest first: a watching host must not serve the new file
        // a moment without its grants.
        crate::files::copy_manifest(&root.join(source).join(hub), hub, dir)?;
        let bytes = fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        eprintln!("    {} ({})", to.display(), human_size(bytes));
    }
    // Python hubs (a directory with an app.py): see python.rs.
    crate::python::build_into(source, dir)?;
    // JavaScript hubs (a directory with a hub.js): see javascript.rs.
    crate::javascript::build_into(source, dir)?;
    // C hubs (a directory with a hub.c): see c.rs.
    crate::c::build_into(source, dir)
}

/// The hubs under the workspace directory `source`: directories whose
/// Cargo.toml declares a `cdylib`, so a new hub needs no change here. The
/// package name is the directory name. Sorted.
pub fn discover(source: &str) -> Result<Vec<String>> {
    let dir = workspace::root().join(source);
    let entries = fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut hubs = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let manifest = path.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        if declares_cdylib(&text) {
            let name = path.file_name().expect("a directory entry has a name");
            hubs.push(name.to_string_lossy().into_owned());
        }
    }
    hubs.sort();
    Ok(hubs)
}

/// Whether a manifest has a `crate-type = [... "cdylib" ...]` line.
fn declares_cdylib(manifest: &str) -> bool {
    manifest.lines().any(|line| {
        let line = line.trim();
        line.starts_with("crate-type") && line.contains("\"cdylib\"")
    })
}

/// Installs the wasm target with rustup when it is missing. Without rustup
/// the toolchain is assumed to have it (the build then says if not).
fn ensure_target() -> Result<()> {
    let root = workspace::root();
    let mut list = Command::new("rustup");
    list.current_dir(&root)
        .args(["target", "list", "--installed"]);
    let installed = match cmd::output(&mut list, "see https://rustup.rs") {
        Ok(installed) => installed,
        Err(error) if cmd::is_not_found(&error) => {
            eprintln!(
                "warning: rustup is not installed, so the {TARGET} target cannot be checked or \
                 added; the build fails if your toolchain lacks it"
            );
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    if installed.lines().any(|line| line.trim() == TARGET) {
        return Ok(());
    }
    step(&format!("installing the {TARGET} target"));
    let mut add = Command::new("rustup");
    add.current_dir(&root).args(["target", "add", TARGET]);
    cmd::run(&mut add, "see https://rustup.rs")
}

/// `1234567` -> `1.2 MiB`, for the size lines.
pub fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    if bytes < KIB {
        format!("{bytes} B")
    } else if bytes < KIB * KIB {
        format!("{:.1} KiB", bytes as f64 / KIB as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / (KIB * KIB) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_cdylib_manifests() {
        assert!(declares_cdylib("[lib]\ncrate-type = [\"cdylib\"]\n"));
        assert!(declares_cdylib(
            "[lib]\n  crate-type = [\"rlib\", \"cdylib\"]\n"
        ));
        assert!(!declares_cdylib("[lib]\nname = \"cdylib\"\n"));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}

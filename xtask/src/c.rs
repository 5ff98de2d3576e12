//! C hubs: a directory under `examples/` (or `tests/hubs/`) with a `hub.c`
//! is a hub named after the directory. Each is staged as the project
//! `wasmhub new --lang c` writes (its `hub.c` and `hub.toml`, the SDK from
//! `sdks/c` as `sdk/`, `wit/`) under `target/c-hubs/<name>` and built by
//! the host's own `wasmhub build`, so the examples build exactly as a
//! user's project does. That needs clang, wasm-ld and wasi-libc: installed
//! from Debian's packages here when missing (as root, with apt-get).
//! An unchanged hub is not rebuilt.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::cmd::{self, step};
use crate::{files, hubs, workspace};

/// The file that makes a directory a C hub.
const ENTRY: &str = "hub.c";

/// The C SDK, copied into each staged project as `sdk/`.
const SDK: &str = "sdks/c";

/// Debian's packages with clang, wasm-ld, wasi-libc and compiler-rt for
/// wasm32.
const PACKAGES: &[&str] = &["clang", "lld", "wasi-libc", "libclang-rt-dev-wasm32"];

/// What to tell someone without the compiler.
const INSTALL_CLANG: &str = "install clang, lld and wasi-libc \
     (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32) to build the C hubs";

/// The C hubs under the workspace directory `source`, sorted.
pub fn discover(source: &str) -> Result<Vec<String>> {
    files::dirs_with(source, ENTRY)
}

/// Builds every C hub under `source` into `dir/<name>.wasm`. Nothing to
/// do (and no clang needed) without any.
pub fn build_into(source: &str, dir: &Path) -> Result<()> {
    let found = discover(source)?;
    if found.is_empty() {
        return Ok(());
    }
    ensure_clang()?;
    let host = host_binary()?;
    let root = workspace::root();
    let stage = workspace::target_dir().join("c-hubs");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for hub in &found {
        let source_dir = root.join(source).join(hub);
        let project = stage.join(hub);
        let built = project.join("hubs").join(format!("{hub}.wasm"));
        let stamp = stage.join(format!("{hub}.fingerprint"));
        let fingerprint = format!(
            "{:016x}",
            files::fingerprint(&[&source_dir, &root.join(SDK), &root.join("wit")], &[])?
        );
        let fresh = built.is_file()
            && fs::read_to_string(&stamp).is_ok_and(|old| old.trim() == fingerprint);
        if fresh {
            step(&format!("C hub {hub} is up to date"));
        } else {
            step(&format!(
                "building C hub {source}/{hub} (clang, wasmhub build)"
            ));
            let _ = fs::remove_file(&stamp);
            stage_project(&source_dir, &project)?;
            let mut build = Command::new(&host);
            build.arg("build").arg(&project);
            cmd::run(&mut build, "build the host first: cargo build -p wasmhub")?;
            fs::write(&stamp, &fingerprint)
                .with_context(|| format!("writing {}", stamp.display()))?;
        }
        files::copy_manifest(&source_dir, hub, dir)?;
        let to = dir.join(format!("{hub}.wasm"));
        files::copy_if_changed(&built, &to)?;
        let bytes = fs::metadata(&to)?.len();
        eprintln!("    {} ({})", to.display(), hubs::human_size(bytes));
    }
    Ok(())
}

/// `project` made anew as `wasmhub new --lang c` lays one out, from the
/// hub's sources, the SDK and the WIT of this checkout.
fn stage_project(source_dir: &Path, project: &Path) -> Result<()> {
    let root = workspace::root();
    for sub in ["sdk", "wit"] {
        let _ = fs::remove_dir_all(project.join(sub));
        fs::create_dir_all(project.join(sub))?;
    }
    let copy_dir = |from: &Path, to: &Path| -> Result<()> {
        for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
            let path = entry?.path();
            if path.is_file() {
                fs::copy(&path, to.join(path.file_name().expect("a file name")))
                    .with_context(|| format!("copying {}", path.display()))?;
            }
        }
        Ok(())
    };
    copy_dir(source_dir, project)?;
    copy_dir(&root.join(SDK), &project.join("sdk"))?;
    copy_dir(&root.join("wit"), &project.join("wit"))
}

/// The debug host, built now (a no-op when it is up to date).
fn host_binary() -> Result<PathBuf> {
    step("building the host (its `wasmhub build` builds the C hubs)");
    let mut build = Command::new(workspace::cargo());
    build
        .current_dir(workspace::root())
        .args(["build", "--quiet", "-p", "wasmhub"]);
    cmd::run(&mut build, "install Rust with rustup")?;
    Ok(workspace::target_dir().join("debug").join("wasmhub"))
}

/// clang, wasm-ld, wasi-libc and compiler-rt, installed from Debian's
/// packages when a trial build shows one missing.
fn ensure_clang() -> Result<()> {
    if toolchain_works() {
        return Ok(());
    }
    let apt = Path::new("/usr/bin/apt-get").is_file();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !(apt && root) {
        bail!("clang cannot build for wasm32-wasi here: {INSTALL_CLANG}");
    }
    step(&format!("installing {} (apt-get)", PACKAGES.join(" ")));
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    cmd::run(&mut update, INSTALL_CLANG)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(PACKAGES)
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd::run(&mut install, INSTALL_CLANG)?;
    if !toolchain_works() {
        bail!("clang still cannot build for wasm32-wasi after installing: {INSTALL_CLANG}");
    }
    Ok(())
}

/// Whether clang compiles and links a one-line reactor for wasm32-wasi
/// (which needs wasm-ld, wasi-libc and compiler-rt's builtins).
fn toolchain_works() -> bool {
    let out = workspace::target_dir().join("c-hubs").join("probe.wasm");
    if fs::create_dir_all(out.parent().expect("a parent")).is_err() {
        return false;
    }
    let source = out.with_extension("c");
    if fs::write(&source, "int probe(double x) { return (int)(x * 2.5); }\n").is_err() {
        return false;
    }
    Command::new(clang())
        .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-o"])
        .arg(&out)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The compiler `wasmhub build` runs.
fn clang() -> std::ffi::OsString {
    std::env::var_os("WASMHUB_CLANG").unwrap_or_else(|| "clang".into())
}

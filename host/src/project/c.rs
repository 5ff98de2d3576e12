//! C hubs: the project's `.c` files and its C SDK (`sdk/`) compiled by
//! clang for `wasm32-wasi` (wasi-libc, reactor model) against bindings
//! generated here from its `wit/` (wit-bindgen's C generator), then made
//! a component with the WASI preview 1 adapter (wit-component).
//!
//! Only clang, wasm-ld and wasi-libc come from outside (Debian: `apt-get
//! install clang lld wasi-libc libclang-rt-dev-wasm32`); the generator and
//! the adapter are inside this binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Project;
use super::build::{BuildError, run};

/// How to get the compiler, for the error when it is missing.
pub const INSTALL_CLANG: &str = "install clang, lld and wasi-libc (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32), or set WASMHUB_CLANG";

/// The world the bindings are for, and so the generated files' stem.
const WORLD: &str = "hub";

/// Builds the C project into the component `out`.
pub fn build(project: &Project, out: &Path) -> Result<(), BuildError> {
    let work = project.dir.join("target");
    let bindings = work.join("bindings");
    generate_bindings(&project.dir.join("wit"), &bindings)?;
    let core = work.join(format!("{}.core.wasm", project.name));
    compile(project, &bindings, &core)?;
    componentize(&core, out)
}

/// Writes `hub.h`, `hub.c` and `hub_component_type.o` for the world in
/// `wit` into `into`.
pub fn generate_bindings(wit: &Path, into: &Path) -> Result<(), BuildError> {
    let failed = |e: anyhow::Error| BuildError::Failed {
        output: format!("{}: {e:#}", wit.display()),
    };
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_path(wit).map_err(failed)?;
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .map_err(failed)?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(failed)?;
    std::fs::create_dir_all(into)
        .map_err(|e| BuildError::Io(format!("{}: {e}", into.display())))?;
    for (name, bytes) in files.iter() {
        let path = into.join(name);
        // Unchanged bindings keep their time stamp (and editors' peace).
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            continue;
        }
        std::fs::write(&path, bytes)
            .map_err(|e| BuildError::Io(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Every `.c` file of the project's top directory and of `sdk/`.
fn sources(project: &Project) -> Result<Vec<PathBuf>, BuildError> {
    let mut sources = Vec::new();
    for dir in [project.dir.clone(), project.dir.join("sdk")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "c") {
                sources.push(path);
            }
        }
    }
    sources.sort();
    Ok(sources)
}

/// clang: the project's sources, the SDK and the bindings into one core
/// module that imports WASI preview 1 and the hub world.
fn compile(project: &Project, bindings: &Path, core: &Path) -> Result<(), BuildError> {
    let clang = std::env::var_os("WASMHUB_CLANG").unwrap_or_else(|| "clang".into());
    let mut command = Command::new(&clang);
    command
        .current_dir(&project.dir)
        .args([
            "--target=wasm32-wasi",
            "-mexec-model=reactor",
            "-O2",
            "-std=c11",
            "-Wall",
            "-Werror=implicit-function-declaration",
            "-Werror=incompatible-pointer-types",
            "-fno-exceptions",
        ])
        .arg("-I")
        .arg(project.dir.join("sdk"))
        .arg("-I")
        .arg(bindings)
        .args(sources(project)?)
        .arg(bindings.join(format!("{WORLD}.c")))
        .arg(bindings.join(format!("{WORLD}_component_type.o")))
        .arg("-o")
        .arg(core);
    run(&mut command, "clang", INSTALL_CLANG)
}

/// The core module as a component: preview 1 calls go through the
/// adapter to the WASI interfaces the host provides.
fn componentize(core: &Path, out: &Path) -> Result<(), BuildError> {
    let module =
        std::fs::read(core).map_err(|e| BuildError::Io(format!("{}: {e}", core.display())))?;
    let failed = |e: anyhow::Error| BuildError::Failed {
        output: format!("making a component of {}: {e:#}", core.display()),
    };
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .map_err(failed)?
        .adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
        )
        .map_err(failed)?
        .validate(true)
        .encode()
        .map_err(failed)?;
    std::fs::write(out, component).map_err(|e| BuildError::Io(format!("{}: {e}", out.display())))
}

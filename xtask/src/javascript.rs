//! JavaScript hubs: a directory under `examples/` with a `hub.js` is a hub
//! named after the directory, built with componentize-qjs (QuickJS; pinned
//! as a devDependency in the root `package.json`) against `wit/hub.wit`,
//! world `hub`. Hubs import the SDK, `sdks/javascript/wasmhub.js`, by a
//! relative path; the workspace root is the module root, so any file in
//! the repository can be imported.
//!
//! The component is synchronous (`--sync`: the host runs without
//! component-model async) and every WASI import is a trapping stub
//! (`--stub-wasi`), so it imports the hub world only: QuickJS's libc
//! imports wasi:filesystem, which the host refuses.
//!
//! Builds are cached in `target/js-hubs` by a fingerprint of their inputs
//! (the hub's directory, the SDK, the WIT and the lockfile), so an
//! unchanged hub is neither rebuilt nor rewritten: componentize-qjs is not
//! byte-for-byte reproducible, and a watching host would reload it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::{self, step};
use crate::files;
use crate::{hubs, node, workspace};

/// The file that marks a directory as a JavaScript hub: its entry module.
pub const ENTRY: &str = "hub.js";

/// The JavaScript SDK; a change there rebuilds every JavaScript hub.
const SDK: &str = "sdks/javascript";

/// The SDK's unit tests, run with node before any hub is built.
const SDK_TESTS: &str = "sdks/javascript/wasmhub.test.mjs";

/// The componentizer, from the root `node_modules`.
const COMPONENTIZER: &str = "componentize-qjs";

/// What to tell someone without Node.js.
const INSTALL_NODE: &str = "install Node.js 20 or newer with npm \
     (https://nodejs.org, or Debian: apt-get install nodejs npm) to build the JavaScript hubs";

/// The JavaScript hubs under the workspace directory `source`: directories
/// with a `hub.js`. Sorted.
pub fn discover(source: &str) -> Result<Vec<String>> {
    files::dirs_with(source, ENTRY)
}

/// Builds every JavaScript hub under `source` into `dir/<name>.wasm`,
/// printing each one's size. Nothing to do (and no Node.js needed) without
/// any.
pub fn build_into(source: &str, dir: &Path) -> Result<()> {
    let found = discover(source)?;
    if found.is_empty() {
        return Ok(());
    }
    let root = workspace::root();
    check_node()?;
    node::ensure_modules()?;
    let componentizer = componentizer()?;
    sdk_tests()?;

    let cache = workspace::target_dir().join("js-hubs");
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for hub in &found {
        let source_dir = root.join(source).join(hub);
        let built = cache.join(format!("{hub}.wasm"));
        let stamp = cache.join(format!("{hub}.fingerprint"));
        let fingerprint = format!(
            "{:016x}",
            files::fingerprint(
                &[&source_dir, &root.join(SDK), &root.join("wit")],
                &[root.join("package-lock.json")]
            )?
        );
        let fresh = built.is_file()
            && fs::read_to_string(&stamp).is_ok_and(|old| old.trim() == fingerprint);
        if fresh {
            step(&format!("JavaScript hub {hub} is up to date"));
        } else {
            step(&format!(
                "building JavaScript hub {source}/{hub} ({COMPONENTIZER})"
            ));
            let _ = fs::remove_file(&stamp);
            let entry = Path::new(source).join(hub).join(ENTRY);
            let mut build = Command::new(&componentizer);
            build
                .current_dir(&root)
                .args(["--wit", "wit", "--world", "hub", "--module-root", "."])
                .arg("--js")
                .arg(&entry)
                // No component-model async: the host runs without it.
                .arg("--sync")
                // Every WASI import becomes a trapping stub, so the
                // component imports the hub world only.
                .arg("--stub-wasi")
                .arg("--output")
                .arg(&built);
            quiet(&mut build)?;
            fs::write(&stamp, &fingerprint)
                .with_context(|| format!("writing {}", stamp.display()))?;
        }
        let to = dir.join(format!("{hub}.wasm"));
        files::copy_manifest(&source_dir, hub, dir)?;
        files::copy_if_changed(&built, &to)?;
        let bytes = fs::metadata(&to)?.len();
        eprintln!("    {} ({})", to.display(), hubs::human_size(bytes));
    }
    Ok(())
}

/// Fails with what to install when `node` is not on the PATH.
fn check_node() -> Result<()> {
    let mut version = Command::new("node");
    version.arg("--version");
    let version = cmd::output(&mut version, INSTALL_NODE)?;
    let version = version.trim();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok());
    match major {
        Some(major) if major >= 20 => Ok(()),
        _ => bail!("Node.js {version} is too old: {INSTALL_NODE}"),
    }
}

/// `node_modules/.bin/componentize-qjs`, installed by `npm ci`.
fn componentizer() -> Result<PathBuf> {
    let bin = workspace::root()
        .join("node_modules")
        .join(".bin")
        .join(if cfg!(windows) {
            "componentize-qjs.cmd"
        } else {
            COMPONENTIZER
        });
    if !bin.is_file() {
        bail!(
            "{} is missing: it is a devDependency of the root package.json; \
             run `npm ci` (without --omit=dev) at the workspace root",
            bin.display()
        );
    }
    Ok(bin)
}

/// Runs `command`, showing its output only when it fails (componentize-qjs
/// prints a banner on success, and the JavaScript error on failure).
fn quiet(command: &mut Command) -> Result<()> {
    let output = command.output().with_context(|| {
        format!(
            "could not start `{}` ({INSTALL_NODE})",
            cmd::describe(command)
        )
    })?;
    if !output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "`{}` failed ({}):\n{}{}",
            cmd::describe(command),
            output.status,
            stdout.trim_end(),
            if stderr.trim().is_empty() {
                String::new()
            } else {
                format!("\n{}", stderr.trim_end())
            }
        );
    }
    Ok(())
}

/// The SDK's own unit tests (a fake host stands in for the WIT imports): a
/// broken SDK fails here, before any hub is built with it. Under a second.
fn sdk_tests() -> Result<()> {
    let root = workspace::root();
    if !root.join(SDK_TESTS).is_file() {
        return Ok(());
    }
    step(&format!("testing the JavaScript SDK ({SDK_TESTS})"));
    let mut test = Command::new("node");
    test.current_dir(&root)
        .args(["--test", "--test-reporter=dot", SDK_TESTS]);
    cmd::run(&mut test, INSTALL_NODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_javascript_chat_hub() {
        let found = discover(hubs::EXAMPLES).unwrap();
        assert!(found.contains(&"chat-js".to_owned()), "{found:?}");
        assert!(!found.contains(&"chat".to_owned()), "{found:?}");
    }
}

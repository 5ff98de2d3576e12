//! File helpers shared by the hub builders of other languages.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::workspace;

/// Directories that hold build output, never sources.
const SKIPPED: &[&str] = &["node_modules", "__pycache__"];

/// A hash of every file under `dirs` plus `extra` files (paths relative to
/// the workspace, and contents), to tell when a hub must be rebuilt.
pub fn fingerprint(dirs: &[&Path], extra: &[PathBuf]) -> Result<u64> {
    let root = workspace::root();
    let mut files = Vec::new();
    for dir in dirs {
        collect_files(dir, &mut files)?;
    }
    files.extend_from_slice(extra);
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        let name = file.strip_prefix(&root).unwrap_or(&file);
        hasher.write(name.to_string_lossy().as_bytes());
        hasher.write(&fs::read(&file).with_context(|| format!("reading {}", file.display()))?);
    }
    Ok(hasher.finish())
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            if !SKIPPED.iter().any(|skip| entry.file_name() == *skip) {
                collect_files(&path, files)?;
            }
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// The directories directly under `source` (relative to the workspace)
/// that hold a file named `marker`, by name, sorted: how hubs of one
/// language are found.
pub fn dirs_with(source: &str, marker: &str) -> Result<Vec<String>> {
    let dir = workspace::root().join(source);
    let entries = fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.join(marker).is_file() {
            let name = path.file_name().expect("a directory entry has a name");
            found.push(name.to_string_lossy().into_owned());
        }
    }
    found.sort();
    Ok(found)
}

/// Copies `from` to `to` unless `to` already has the same bytes (a hubs
/// directory may be watched by a running host: rewriting an unchanged hub
/// would make it reload for nothing). Writes a temporary file and renames
/// it, so a watching host never sees half a file.
pub fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    let new = fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    if fs::read(to).is_ok_and(|old| old == new) {
        return Ok(());
    }
    let tmp = to.with_extension("wasm.tmp");
    fs::write(&tmp, &new).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, to).with_context(|| format!("renaming {} to {}", tmp.display(), to.display()))
}

/// A hub's manifest (its own limits and grants): `source_dir/hub.toml`
/// goes to `dir/<name>.toml` beside the built hub; a stale one is removed
/// when the hub has none any more.
pub fn copy_manifest(source_dir: &Path, name: &str, dir: &Path) -> Result<()> {
    let from = source_dir.join("hub.toml");
    let to = dir.join(format!("{name}.toml"));
    if !from.is_file() {
        if to.is_file() {
            fs::remove_file(&to).with_context(|| format!("removing {}", to.display()))?;
        }
        return Ok(());
    }
    let new = fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
    if fs::read(&to).is_ok_and(|old| old == new) {
        return Ok(());
    }
    fs::write(&to, &new).with_context(|| format!("writing {}", to.display()))?;
    eprintln!("    {} (its manifest)", to.display());
    Ok(())
}

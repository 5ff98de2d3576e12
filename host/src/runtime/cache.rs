//! Compiled hubs on disk, keyed by content: restarts and swaps back to a
//! known file skip Cranelift.
//!
//! A cached artifact is native code that wasmtime loads without checking
//! (`Component::deserialize_file` is `unsafe`), so this cache only ever
//! reads files it wrote itself: named by the sha256 of the `.wasm` and the
//! engine's compatibility hash, written to a temporary name and renamed
//! into place, in a directory of the host's own. On Unix that is checked
//! before every read: the directory and the file must belong to this
//! process's user and be writable by nobody else, or the cache is not
//! used (anyone who can write there could run code in the host).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled artifacts live, if anywhere.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// A cache in `dir`, or none.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    fn path(&self, engine: &Engine, sha256: &str) -> Option<PathBuf> {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hasher.finish();
        Some(
            self.dir
                .as_ref()?
                .join(format!("{sha256}-{engine_hash:016x}.cwasm")),
        )
    }

    /// The compiled component for `bytes` (whose sha256 is given): from
    /// the cache when it has it, else compiled here and stored. Blocking:
    /// call it off the async threads.
    pub fn load(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> anyhow::Result<(Component, bool)> {
        let mut cached = self.path(engine, sha256);
        if let Some(path) = &cached
            && let Err(why) = trusted(path)
        {
            // Once: `wasmhub dev` loads on every save.
            static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(path = %path.display(), "not using the compile cache: {why}");
            }
            cached = None;
        }
        if let Some(path) = cached.as_ref().filter(|p| p.is_file()) {
            // SAFETY: the file is one this cache wrote (see the module doc),
            // for this engine's configuration.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(component) => return Ok((component, true)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "unusable cached artifact; compiling again")
                }
            }
        }
        let component = Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .context("not a valid WebAssembly component");
        release_compiler_memory();
        let component = component?;
        if let Some(path) = cached
            && let Err(error) = store(&component, &path)
        {
            tracing::warn!(path = %path.display(), "could not cache a compiled hub: {error:#}");
        }
        Ok((component, false))
    }
}

/// Cranelift's working memory (hundreds of MiB for an 18 MB Python hub)
/// is freed after a compile, but glibc keeps it in its arenas; hand it
/// back to the OS so a node's memory reflects what it serves.
fn release_compiler_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether the cache may be read and written at `path`: its directory
/// (made here, private, when missing) and the file, if there is one,
/// belong to this user, are no symlinks, and nobody else may write them.
/// (Its parents are not checked: a directory in a place others may
/// rename things in, a non-sticky shared one, is the operator's to avoid.)
#[cfg(unix)]
fn trusted(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let dir = path.parent().ok_or("the cache path has no directory")?;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    for (what, at) in [("directory", dir), ("file", path)] {
        // Not following symlinks: one could be pointed elsewhere between
        // this check and the read.
        let meta = match std::fs::symlink_metadata(at) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && what == "file" => continue,
            Err(e) => return Err(format!("cannot read {}: {e}", at.display())),
        };
        if meta.file_type().is_symlink() {
            return Err(format!("the {what} {} is a symlink", at.display()));
        }
        if meta.uid() != me {
            return Err(format!(
                "the {what} {} belongs to user {}, not to this process's user {me}",
                at.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "others may write the {what} {} (mode {:o}): make it writable by its owner only",
                at.display(),
                meta.mode() & 0o777
            ));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn trusted(_: &Path) -> Result<(), String> {
    Ok(())
}

fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    // Unique per process and per store: two loads of one file at once (a
    // watcher's and `wasmhub dev`'s) must not share a temporary.
    static STORES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    std::io::Write::write_all(&mut file.open(&temporary)?, &bytes)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// The default cache directory: `$XDG_CACHE_HOME/wasmhub`, else
/// `$HOME/.cache/wasmhub`.
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("wasmhub"))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// The smallest components: the preamble, and one with a custom
    /// section so that its hash differs.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";
    const OTHER: &[u8] = b"\0asm\x0d\0\x01\0\0\x02\x01x";

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wasmhub-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_cache_others_may_write_is_not_read() {
        let engine = Engine::default();
        let dir = temp_dir("perms");
        let cache = CompileCache::new(Some(dir.clone()));
        // Made private when missing; what it stores comes back from it.
        assert!(!cache.load(&engine, "empty", EMPTY).unwrap().1);
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(cache.load(&engine, "empty", EMPTY).unwrap().1);
        // Another component planted under "other"'s name is loaded while
        // the directory is private (this is what the check guards)...
        let planted = cache.path(&engine, "other").unwrap();
        std::fs::copy(cache.path(&engine, "empty").unwrap(), &planted).unwrap();
        assert!(cache.load(&engine, "other", OTHER).unwrap().1);
        // ...and not once others may write the directory or the file.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!cache.load(&engine, "other", OTHER).unwrap().1);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(!cache.load(&engine, "other", OTHER).unwrap().1);
        // Nor through a symlink, to the directory or to the file.
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(cache.load(&engine, "other", OTHER).unwrap().1);
        let link = temp_dir("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let linked = CompileCache::new(Some(link.clone()));
        assert!(!linked.load(&engine, "other", OTHER).unwrap().1);
        let moved = dir.join("moved.cwasm");
        std::fs::rename(&planted, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &planted).unwrap();
        assert!(!cache.load(&engine, "other", OTHER).unwrap().1);
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stored_artifacts_are_private() {
        let engine = Engine::default();
        let dir = temp_dir("files");
        let cache = CompileCache::new(Some(dir.clone()));
        cache.load(&engine, "empty", EMPTY).unwrap();
        let file = cache.path(&engine, "empty").unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

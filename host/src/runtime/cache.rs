//! Compiled hubs on disk, keyed by content: restarts and swaps back to a
//! known file skip Cranelift.
//!
//! A cached artifact is native code that wasmtime loads without checking
//! (`Component::deserialize_file` is `unsafe`), so this cache only ever
//! reads files it wrote itself: named by the sha256 of the `.wasm` and the
//! engine's compatibility hash, written to a temporary name and renamed
//! into place, in a directory of the host's own.

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
        let cached = self.path(engine, sha256);
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

fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().context("cache path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    // Unique per process and per store: two loads of one file at once (a
    // watcher's and `wasmhub dev`'s) must not share a temporary.
    static STORES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
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

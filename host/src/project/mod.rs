//! A hub project outside this repository: `wasmhub new` writes one,
//! `wasmhub build` turns it into `hubs/<name>.wasm`, `wasmhub dev` does
//! that on every change and serves it.
//!
//! A project is a directory; its language is what it holds (`Cargo.toml`:
//! Rust, `app.py`: Python, `hub.js`: JavaScript, `hub.c`: C) and the hub's name is the
//! directory's. It carries its own copy of the WIT world and of the SDK,
//! written by `wasmhub new`, so it builds with nothing from here.

mod build;
pub mod c;
pub mod dev;
mod new;

use std::path::{Path, PathBuf};

pub use build::{BuildError, Built, build};
pub use new::{NewError, create};

/// What a hub is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    C,
}

impl Language {
    /// `rust`, `python` (`py`), `js` (`javascript`) or `c`.
    pub fn parse(text: &str) -> Result<Language, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Language::Rust),
            "python" | "py" => Ok(Language::Python),
            "js" | "javascript" => Ok(Language::JavaScript),
            "c" => Ok(Language::C),
            _ => Err(format!(
                "'{text}' is not a hub language: expected rust, python, js or c"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::C => "C",
        }
    }
}

/// A hub project found on disk.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    /// The hub's name: the directory's.
    pub name: String,
    pub language: Language,
}

impl Project {
    /// The project in `dir`, told by the files it holds.
    pub fn open(dir: &Path) -> Result<Project, BuildError> {
        let dir = dir
            .canonicalize()
            .map_err(|e| BuildError::NotAProject(format!("{}: {e}", dir.display())))?;
        let language = if dir.join("Cargo.toml").is_file() {
            Language::Rust
        } else if dir.join("app.py").is_file() {
            Language::Python
        } else if dir.join("hub.js").is_file() {
            Language::JavaScript
        } else if dir.join("hub.c").is_file() {
            Language::C
        } else {
            return Err(BuildError::NotAProject(format!(
                "{} holds no Cargo.toml, app.py, hub.js or hub.c (make one with `wasmhub new NAME --lang rust|python|js|c`)",
                dir.display()
            )));
        };
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .ok_or_else(|| BuildError::NotAProject(format!("{} has no name", dir.display())))?;
        if let Err(reason) = crate::names::check_name(&name) {
            return Err(BuildError::NotAProject(format!(
                "the directory name '{name}' cannot be a hub name: {reason}"
            )));
        }
        Ok(Project {
            dir,
            name,
            language,
        })
    }

    /// Where builds go, and what `wasmhub serve --hubs` serves.
    pub fn hubs_dir(&self) -> PathBuf {
        self.dir.join("hubs")
    }

    /// The built hub.
    pub fn wasm(&self) -> PathBuf {
        self.hubs_dir().join(format!("{}.wasm", self.name))
    }

    /// Whether a changed `path` is a source of this project (not an
    /// output, a dependency or an editor's temp file).
    pub fn is_source(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.dir) else {
            return false;
        };
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str());
        // Outputs, dependencies, and hidden directories (.git, .venv).
        if matches!(
            first,
            Some("hubs" | "target" | "node_modules" | "__pycache__")
        ) || first.is_some_and(|f| f.starts_with('.'))
        {
            return false;
        }
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            return false;
        };
        if file.starts_with('.') || file.ends_with('~') || file.ends_with(".tmp") {
            return false;
        }
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match self.language {
            Language::Rust => matches!(extension, "rs" | "toml" | "wit"),
            Language::Python => matches!(extension, "py" | "wit" | "toml"),
            Language::JavaScript => matches!(extension, "js" | "mjs" | "wit" | "json" | "toml"),
            Language::C => matches!(extension, "c" | "h" | "wit" | "toml"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_the_languages_files_outside_outputs_and_hidden_dirs() {
        let project = |language| Project {
            dir: PathBuf::from("/p"),
            name: "p".into(),
            language,
        };
        let rust = project(Language::Rust);
        assert!(rust.is_source(Path::new("/p/src/lib.rs")));
        assert!(rust.is_source(Path::new("/p/Cargo.toml")));
        assert!(rust.is_source(Path::new("/p/sdk/src/hub.rs")));
        for not in [
            "/p/target/x.rs",
            "/p/hubs/p.wasm",
            "/p/src/.lib.rs.swp",
            "/p/src/lib.rs~",
            "/p/README.md",
            "/elsewhere/lib.rs",
        ] {
            assert!(!rust.is_source(Path::new(not)), "{not}");
        }
        let python = project(Language::Python);
        assert!(python.is_source(Path::new("/p/app.py")));
        assert!(!python.is_source(Path::new("/p/.venv/lib/site.py")));
        assert!(!python.is_source(Path::new("/p/__pycache__/app.py")));
        let js = project(Language::JavaScript);
        assert!(js.is_source(Path::new("/p/hub.js")));
        assert!(!js.is_source(Path::new("/p/node_modules/x/index.js")));
        let c = project(Language::C);
        assert!(c.is_source(Path::new("/p/hub.c")));
        assert!(c.is_source(Path::new("/p/sdk/wasmhub.h")));
        assert!(!c.is_source(Path::new("/p/target/bindings/hub.c")));
        assert_eq!(Language::parse("PY"), Ok(Language::Python));
        assert_eq!(Language::parse("C"), Ok(Language::C));
        assert!(
            Language::parse("cobol")
                .unwrap_err()
                .contains("rust, python, js or c")
        );
    }
}

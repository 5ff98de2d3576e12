//! `wasmhub new`: a ready hub project from templates kept in the binary.
//!
//! The project gets the smallest useful hub (Echo, and a room with Join
//! and Send), its own copy of `wit/hub.wit` and of the language's SDK
//! (the SDKs are not published to a registry), and a README of a few
//! lines. Nothing is written when the directory exists already.

use std::path::{Path, PathBuf};

use super::Language;

/// Why no project was written.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error("'{name}' cannot be a hub name: {reason}")]
    BadName { name: String, reason: String },
    #[error("{} exists already: choose another name or remove it", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

const WIT: &str = include_str!("../../../wit/hub.wit");

/// The hub's manifest, every key commented out (the host's values).
const HUB_TOML: &str = "\
# This hub's own settings; `wasmhub build` copies this file to
# hubs/<name>.toml, beside the built hub. Every key is optional: an absent
# one takes the host's flag, which is also the most a hub may ask for.
# memory = \"32MiB\"        # linear memory per instance    (--hub-memory)
# deadline = \"2s\"         # the hub's own time per call   (--hub-deadline)
# instances = 16           # instances that may run at once (128)
# max-calls = 5000         # calls before an instance is replaced (--instance-max-calls)
# invoke-timeout = \"10s\"  # client-result wait            (--invoke-timeout)
# http-timeout = \"5s\"     # one outbound HTTP request     (--http-timeout)
# http-max-response = \"256KiB\"  # largest response body  (--http-max-response)

# What the hub may use beyond its clients; all off unless granted.
# [grants]
# kv = true                # its own key-value store
# http = [\"api.example.com\"]  # hosts it may call (the host's --http-allow too)
";

/// The Rust SDK's sources, as `sdk/src/<file>`.
const RUST_SDK: &[(&str, &str)] = &[
    ("args.rs", include_str!("../../../guest-sdk/src/args.rs")),
    (
        "bindings.rs",
        include_str!("../../../guest-sdk/src/bindings.rs"),
    ),
    (
        "clients.rs",
        include_str!("../../../guest-sdk/src/clients.rs"),
    ),
    (
        "context.rs",
        include_str!("../../../guest-sdk/src/context.rs"),
    ),
    ("error.rs", include_str!("../../../guest-sdk/src/error.rs")),
    (
        "groups.rs",
        include_str!("../../../guest-sdk/src/groups.rs"),
    ),
    ("hub.rs", include_str!("../../../guest-sdk/src/hub.rs")),
    ("http.rs", include_str!("../../../guest-sdk/src/http.rs")),
    ("kv.rs", include_str!("../../../guest-sdk/src/kv.rs")),
    ("lib.rs", include_str!("../../../guest-sdk/src/lib.rs")),
    ("log.rs", include_str!("../../../guest-sdk/src/log.rs")),
    (
        "presence.rs",
        include_str!("../../../guest-sdk/src/presence.rs"),
    ),
    (
        "router.rs",
        include_str!("../../../guest-sdk/src/router.rs"),
    ),
    (
        "streams.rs",
        include_str!("../../../guest-sdk/src/streams.rs"),
    ),
];

/// The Python SDK's package, as `wasmhub/<file>`.
const PYTHON_SDK: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../sdks/python/wasmhub/__init__.py"),
    ),
    (
        "clients.py",
        include_str!("../../../sdks/python/wasmhub/clients.py"),
    ),
    (
        "errors.py",
        include_str!("../../../sdks/python/wasmhub/errors.py"),
    ),
    (
        "groups.py",
        include_str!("../../../sdks/python/wasmhub/groups.py"),
    ),
    (
        "hub.py",
        include_str!("../../../sdks/python/wasmhub/hub.py"),
    ),
    (
        "http.py",
        include_str!("../../../sdks/python/wasmhub/http.py"),
    ),
    ("kv.py", include_str!("../../../sdks/python/wasmhub/kv.py")),
    (
        "log.py",
        include_str!("../../../sdks/python/wasmhub/log.py"),
    ),
    (
        "presence.py",
        include_str!("../../../sdks/python/wasmhub/presence.py"),
    ),
    (
        "streams.py",
        include_str!("../../../sdks/python/wasmhub/streams.py"),
    ),
    (
        "system.py",
        include_str!("../../../sdks/python/wasmhub/system.py"),
    ),
];

/// The C SDK, as `sdk/<file>`.
const C_SDK: &[(&str, &str)] = &[
    ("wasmhub.h", include_str!("../../../sdks/c/wasmhub.h")),
    (
        "wasmhub_internal.h",
        include_str!("../../../sdks/c/wasmhub_internal.h"),
    ),
    ("args.c", include_str!("../../../sdks/c/args.c")),
    ("dispatch.c", include_str!("../../../sdks/c/dispatch.c")),
    ("errors.c", include_str!("../../../sdks/c/errors.c")),
    ("host.c", include_str!("../../../sdks/c/host.c")),
    ("json.c", include_str!("../../../sdks/c/json.c")),
    ("json_parse.c", include_str!("../../../sdks/c/json_parse.c")),
    ("strings.c", include_str!("../../../sdks/c/strings.c")),
];

/// The version of componentize-py the Python SDK is tested with.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// Writes the project `name` in `language` under `parent`; returns its
/// directory.
pub fn create(parent: &Path, name: &str, language: Language) -> Result<PathBuf, NewError> {
    if let Err(reason) = crate::names::check_name(name) {
        return Err(NewError::BadName {
            name: name.to_owned(),
            reason: reason.to_string(),
        });
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(NewError::Exists(dir));
    }
    let fill = |text: &str| text.replace("{{name}}", name);
    let mut files: Vec<(PathBuf, String)> = vec![
        ("wit/hub.wit".into(), WIT.to_owned()),
        ("README.md".into(), readme(name, language)),
        (
            ".gitignore".into(),
            "hubs/\ntarget/\nnode_modules/\n__pycache__/\n".into(),
        ),
        ("hub.toml".into(), HUB_TOML.to_owned()),
    ];
    match language {
        Language::Rust => {
            files.push((
                "Cargo.toml".into(),
                fill(include_str!("templates/rust/Cargo.toml.in")),
            ));
            files.push((
                "src/lib.rs".into(),
                fill(include_str!("templates/rust/lib.rs")),
            ));
            files.push((
                "sdk/Cargo.toml".into(),
                include_str!("templates/rust/sdk.Cargo.toml.in").to_owned(),
            ));
            for (file, text) in RUST_SDK {
                files.push((format!("sdk/src/{file}").into(), (*text).to_owned()));
            }
        }
        Language::Python => {
            files.push((
                "app.py".into(),
                fill(include_str!("templates/python/app.py")),
            ));
            files.push(("requirements.txt".into(), format!("{COMPONENTIZE_PY}\n")));
            for (file, text) in PYTHON_SDK {
                files.push((format!("wasmhub/{file}").into(), (*text).to_owned()));
            }
        }
        Language::JavaScript => {
            files.push(("hub.js".into(), fill(include_str!("templates/js/hub.js"))));
            files.push((
                "package.json".into(),
                fill(include_str!("templates/js/package.json.in")),
            ));
            files.push((
                "wasmhub.js".into(),
                include_str!("../../../sdks/javascript/wasmhub.js").to_owned(),
            ));
        }
        Language::C => {
            files.push(("hub.c".into(), fill(include_str!("templates/c/hub.c"))));
            for (file, text) in C_SDK {
                files.push((format!("sdk/{file}").into(), (*text).to_owned()));
            }
        }
    }
    for (relative, text) in files {
        let path = dir.join(relative);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)
        };
        write().map_err(|e| NewError::Write {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(dir)
}

fn readme(name: &str, language: Language) -> String {
    let setup = match language {
        Language::Rust => "rustup target add wasm32-wasip2".to_owned(),
        Language::Python => {
            "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt   # componentize-py"
                .to_owned()
        }
        Language::JavaScript => {
            "npm install                                # componentize-qjs".to_owned()
        }
        Language::C => {
            "sudo apt-get install clang lld wasi-libc libclang-rt-dev-wasm32   # Debian".to_owned()
        }
    };
    let source = match language {
        Language::Rust => "src/lib.rs",
        Language::Python => "app.py",
        Language::JavaScript => "hub.js",
        Language::C => "hub.c",
    };
    format!(
        "# {name}\n\n\
         A wasmhub hub in {lang}: `Echo(text)`, and rooms (`Join(room)`, then\n\
         `Send(room, text)`, which every member receives as `Message(from, text)`).\n\n\
         ```sh\n\
         {setup}\n\
         wasmhub dev          # builds hubs/{name}.wasm, serves it on http://127.0.0.1:5000,\n\
         \x20                    # rebuilds and swaps it in on every change of {source}\n\
         wasmhub build        # or only build it\n\
         ```\n\n\
         Clients connect to `/hubs/{name}`. `wit/` holds the hub world and the\n\
         SDK copy beside the code is the one this project was made with.\n\
         `hub.toml` sets the hub's own limits and grants (its key-value\n\
         store); `wasmhub build` copies it to `hubs/{name}.toml`.\n",
        lang = language.name(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files of `dir` with `extension`, sorted.
    fn files(dir: &str, extension: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(extension))
            .collect();
        names.sort();
        names
    }

    fn listed(list: &[(&str, &str)]) -> Vec<String> {
        let mut names: Vec<String> = list.iter().map(|(name, _)| (*name).to_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn the_embedded_sdks_have_every_file_of_the_real_ones() {
        assert_eq!(listed(RUST_SDK), files("guest-sdk/src", ".rs"));
        assert_eq!(listed(PYTHON_SDK), files("sdks/python/wasmhub", ".py"));
        let mut c = files("sdks/c", ".c");
        c.extend(files("sdks/c", ".h"));
        c.sort();
        assert_eq!(listed(C_SDK), c);
    }
}

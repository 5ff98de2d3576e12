//! A hub's own settings: `<name>.toml` beside `<name>.wasm`.
//!
//! A sidecar file, not a custom section of the component: an operator
//! reads and edits it without tools, and the watcher reloads the hub when
//! it changes. Every key is optional; an absent one takes the host's
//! value, and the host's values are also the most a hub may ask for
//! (`--hub-memory`, `--hub-deadline`, `--instance-max-calls`,
//! `--invoke-timeout`, `--http-timeout`, `--http-max-response`, and 128
//! instances), so an operator's flags bound every hub; the hosts a hub
//! may reach over HTTP are those both its grant and `--http-allow` allow. A manifest that asks for more, names an unknown key
//! or holds a bad value refuses the load: the version serving keeps
//! serving and `/healthz` says why.
//!
//! ```toml
//! memory = "32MiB"          # linear memory per instance
//! deadline = "2s"           # the hub's own running time per call
//! instances = 16            # instances that may run at once
//! max-calls = 5000          # calls an instance serves before it is replaced
//! invoke-timeout = "10s"    # default (and longest) wait for a client result
//! http-timeout = "5s"       # default (and longest) outbound HTTP request
//! http-max-response = "256KiB"  # largest response body read
//!
//! [grants]                  # what the hub may use beyond its clients; all off
//! kv = true                 # its own key-value store (the WIT `kv` interface)
//! http = ["api.example.com", "127.0.0.1:8080"]  # hosts (outbound/allow.rs)
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::InstanceLimits;
use crate::config::{format_bytes, parse_bytes, parse_duration};
use crate::outbound::HostPattern;

/// The file as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Manifest {
    memory: Option<toml::Value>,
    deadline: Option<String>,
    instances: Option<u32>,
    max_calls: Option<u32>,
    invoke_timeout: Option<String>,
    http_timeout: Option<String>,
    http_max_response: Option<toml::Value>,
    grants: Option<GrantsFile>,
}

/// `[grants]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GrantsFile {
    kv: Option<bool>,
    http: Option<Vec<String>>,
}

/// What a hub may use beyond its clients; everything off unless its
/// manifest grants it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Its key-value store.
    pub kv: bool,
    /// The hosts it may send HTTP requests to (none: no requests).
    pub http: Vec<HostPattern>,
}

/// What one hub version runs with: its limits and grants, and the
/// manifest they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct HubSettings {
    pub limits: InstanceLimits,
    pub grants: Grants,
    pub manifest: Option<PathBuf>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {key}: {reason}", path.display())]
    BadValue {
        path: PathBuf,
        key: &'static str,
        reason: String,
    },
}

/// The manifest beside `wasm` (`chat.wasm` → `chat.toml`).
pub fn path_for(wasm: &Path) -> PathBuf {
    wasm.with_extension("toml")
}

/// The settings of the hub at `wasm`: the host's `host` limits with what
/// its manifest, if there is one, sets, and its grants (none without a
/// manifest).
pub fn resolve(wasm: &Path, host: &InstanceLimits) -> Result<HubSettings, ManifestError> {
    let path = path_for(wasm);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(HubSettings {
                limits: host.clone(),
                grants: Grants::default(),
                manifest: None,
            });
        }
        Err(error) => {
            return Err(ManifestError::Read {
                path,
                message: error.to_string(),
            });
        }
    };
    let manifest: Manifest = toml::from_str(&text).map_err(|e| ManifestError::Parse {
        path: path.clone(),
        message: e.message().to_owned(),
    })?;
    let bad = |(key, reason): BadValue| ManifestError::BadValue {
        path: path.clone(),
        key,
        reason,
    };
    let grants = grants(manifest.grants.as_ref()).map_err(bad)?;
    let limits = apply(manifest, host).map_err(bad)?;
    Ok(HubSettings {
        limits,
        grants,
        manifest: Some(path),
    })
}

type BadValue = (&'static str, String);

fn grants(file: Option<&GrantsFile>) -> Result<Grants, BadValue> {
    let Some(file) = file else {
        return Ok(Grants::default());
    };
    let http = file
        .http
        .iter()
        .flatten()
        .map(|pattern| pattern.parse::<HostPattern>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| ("grants.http", reason))?;
    Ok(Grants {
        kv: file.kv.unwrap_or(false),
        http,
    })
}

/// A size written as `"256KiB"` or a number of bytes.
fn size(key: &'static str, value: toml::Value) -> Result<usize, BadValue> {
    match value {
        toml::Value::String(text) => parse_bytes(&text),
        toml::Value::Integer(n) => usize::try_from(n).map_err(|_| format!("{n} is negative")),
        other => Err(format!("{other} is not a size: expected e.g. \"32MiB\"")),
    }
    .map_err(|reason| (key, reason))
}

fn apply(manifest: Manifest, host: &InstanceLimits) -> Result<InstanceLimits, BadValue> {
    let mut limits = host.clone();
    if let Some(memory) = manifest.memory {
        let asked = size("memory", memory)?;
        if asked > host.memory {
            return Err((
                "memory",
                format!(
                    "{} is above this host's --hub-memory of {}",
                    format_bytes(asked),
                    format_bytes(host.memory)
                ),
            ));
        }
        limits.memory = asked;
    }
    let duration = |key: &'static str, text: Option<String>, bound: Duration, flag: &str| {
        let Some(text) = text else {
            return Ok(bound);
        };
        let asked = parse_duration(&text).map_err(|reason| (key, reason))?;
        if asked.is_zero() {
            return Err((key, "must be longer than 0".to_owned()));
        }
        if asked > bound {
            return Err((
                key,
                format!(
                    "{} is above this host's {flag} of {}",
                    humantime::format_duration(asked),
                    humantime::format_duration(bound)
                ),
            ));
        }
        Ok(asked)
    };
    limits.deadline = duration(
        "deadline",
        manifest.deadline,
        host.deadline,
        "--hub-deadline",
    )?;
    limits.invoke_timeout = duration(
        "invoke-timeout",
        manifest.invoke_timeout,
        host.invoke_timeout,
        "--invoke-timeout",
    )?;
    limits.http.timeout = duration(
        "http-timeout",
        manifest.http_timeout,
        host.http.timeout,
        "--http-timeout",
    )?;
    if let Some(value) = manifest.http_max_response {
        let asked = size("http-max-response", value)?;
        if asked == 0 || asked > host.http.max_response {
            return Err((
                "http-max-response",
                format!(
                    "{} is not within 1 byte and this host's --http-max-response of {}",
                    format_bytes(asked),
                    format_bytes(host.http.max_response)
                ),
            ));
        }
        limits.http.max_response = asked;
    }
    let count = |key: &'static str, asked: Option<u32>, bound: usize, flag: &str| {
        let Some(asked) = asked else {
            return Ok(bound);
        };
        let asked = asked as usize;
        match asked {
            0 => Err((key, "must be at least 1".to_owned())),
            n if n > bound => Err((key, format!("{n} is above this host's {flag} of {bound}"))),
            n => Ok(n),
        }
    };
    limits.max_instances = count("instances", manifest.instances, host.max_instances, "limit")?;
    limits.max_calls = count(
        "max-calls",
        manifest.max_calls,
        host.max_calls as usize,
        "--instance-max-calls",
    )? as u32;
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> InstanceLimits {
        InstanceLimits {
            deadline: Duration::from_secs(5),
            memory: 64 << 20,
            max_calls: 10_000,
            max_instances: 128,
            max_outbound_message: 1 << 20,
            invoke_timeout: Duration::from_secs(15),
            http: crate::outbound::HttpLimits {
                allow: vec!["*".parse().unwrap()],
                timeout: Duration::from_secs(10),
                max_response: 1 << 20,
            },
        }
    }

    fn parsed(text: &str) -> Result<InstanceLimits, BadValue> {
        apply(toml::from_str(text).expect("a manifest"), &host())
    }

    #[test]
    fn a_manifest_lowers_what_it_names_and_keeps_the_rest() {
        let limits = parsed(
            "memory = \"8MiB\"\ndeadline = \"1s\"\ninstances = 4\nmax-calls = 100\ninvoke-timeout = \"3s\"",
        )
        .unwrap();
        assert_eq!(limits.memory, 8 << 20);
        assert_eq!(limits.deadline, Duration::from_secs(1));
        assert_eq!(limits.max_instances, 4);
        assert_eq!(limits.max_calls, 100);
        assert_eq!(limits.invoke_timeout, Duration::from_secs(3));
        assert_eq!(limits.max_outbound_message, 1 << 20);
        assert_eq!(parsed("").unwrap(), host());
        assert_eq!(parsed("memory = 1048576").unwrap().memory, 1 << 20);
        let http = parsed("http-timeout = \"2s\"\nhttp-max-response = \"64KiB\"")
            .unwrap()
            .http;
        assert_eq!(http.timeout, Duration::from_secs(2));
        assert_eq!(http.max_response, 64 << 10);
    }

    #[test]
    fn the_hosts_values_are_upper_bounds() {
        for (text, key, says) in [
            (
                "memory = \"1GiB\"",
                "memory",
                "above this host's --hub-memory of 64 MiB",
            ),
            (
                "deadline = \"1m\"",
                "deadline",
                "above this host's --hub-deadline of 5s",
            ),
            (
                "instances = 1000",
                "instances",
                "above this host's limit of 128",
            ),
            (
                "max-calls = 20000",
                "max-calls",
                "above this host's --instance-max-calls",
            ),
            (
                "invoke-timeout = \"1h\"",
                "invoke-timeout",
                "above this host's --invoke-timeout",
            ),
            ("instances = 0", "instances", "at least 1"),
            ("deadline = \"0s\"", "deadline", "longer than 0"),
            ("deadline = \"soon\"", "deadline", "soon"),
            ("memory = true", "memory", "not a size"),
            (
                "http-timeout = \"1m\"",
                "http-timeout",
                "above this host's --http-timeout",
            ),
            (
                "http-max-response = \"2MiB\"",
                "http-max-response",
                "this host's --http-max-response of 1 MiB",
            ),
        ] {
            let (got_key, reason) = parsed(text).unwrap_err();
            assert_eq!(got_key, key, "{text}");
            assert!(reason.contains(says), "{text}: {reason}");
        }
    }

    #[test]
    fn unknown_keys_and_missing_files() {
        let dir = std::env::temp_dir().join(format!("wasmhub-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wasm = dir.join("chat.wasm");
        let none = HubSettings {
            limits: host(),
            grants: Grants::default(),
            manifest: None,
        };
        assert_eq!(resolve(&wasm, &host()).unwrap(), none);
        std::fs::write(dir.join("chat.toml"), "memroy = \"8MiB\"\n").unwrap();
        let error = resolve(&wasm, &host()).unwrap_err().to_string();
        assert!(
            error.contains("chat.toml") && error.contains("unknown field `memroy`"),
            "{error}"
        );
        std::fs::write(dir.join("chat.toml"), "deadline = \"2s\"\n").unwrap();
        let settings = resolve(&wasm, &host()).unwrap();
        assert_eq!(settings.limits.deadline, Duration::from_secs(2));
        assert_eq!(settings.manifest, Some(dir.join("chat.toml")));
        assert!(!settings.grants.kv, "off unless granted");
        std::fs::write(dir.join("chat.toml"), "[grants]\nkv = true\n").unwrap();
        assert!(resolve(&wasm, &host()).unwrap().grants.kv);
        std::fs::write(dir.join("chat.toml"), "[grants]\nhttps = true\n").unwrap();
        let error = resolve(&wasm, &host()).unwrap_err().to_string();
        assert!(error.contains("unknown field `https`"), "{error}");
        std::fs::write(
            dir.join("chat.toml"),
            "[grants]\nhttp = [\"api.example.com\", \"127.0.0.1:*\"]\n",
        )
        .unwrap();
        let granted = resolve(&wasm, &host()).unwrap().grants.http;
        assert_eq!(granted.len(), 2);
        assert_eq!(granted[1].as_str(), "127.0.0.1:*");
        std::fs::write(dir.join("chat.toml"), "[grants]\nhttp = [\"a.com/x\"]\n").unwrap();
        let error = resolve(&wasm, &host()).unwrap_err().to_string();
        assert!(
            error.contains("grants.http") && error.contains("no path"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

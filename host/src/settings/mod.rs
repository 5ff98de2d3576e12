//! `wasmhub serve` settings from three sources: the command line, the
//! environment (`WASMHUB_<FLAG>`) and a TOML config file (`--config`).
//!
//! Each source is read into a [`Layer`] of optional values; the layers are
//! merged (command line > environment > file > default) and the result is
//! checked once, so every rule holds whatever source a value came from.

mod env;
mod file;
#[macro_use]
mod table;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use wasmhub::config::{Config, Jwt, JwtKey};

/// Default listen address, when no source names one.
const DEFAULT_LISTEN: &str = "127.0.0.1:5000";

// Every setting, declared once: its field and flag, its help text (the
// `--help` line, with the default it states), and its kind, which says
// how each source spells it (see `table.rs`). The command line, the
// environment and the config file are all generated from this list.
settings! {
    /// Directory of hub components (<name>.wasm) [required].
    hubs "hubs": path("DIR");
    /// Address to listen on; port 0 takes a free port [default: 127.0.0.1:5000]
    listen "listen": listen("ADDR");
    /// Directory of static files served at / (the chat page) [default: none].
    web "web": path("DIR");
    /// This node's id; a stable id lets a restarted node clean up after its
    /// predecessor [default: random per process].
    node_id "node-id": text("ID");
    /// Redis-compatible backplane, redis:// or rediss:// (password and
    /// database in the URL) [default: none, everything stays in memory].
    redis "redis": text("URL");
    /// Prefix of every backplane key and channel [default: wasmhub].
    channel_prefix "channel-prefix": text("PREFIX");
    /// How often this node writes its heartbeat [default: 5s].
    heartbeat_interval "heartbeat-interval": duration("DURATION");
    /// A node silent for this long is dead; must be longer than twice the
    /// heartbeat interval [default: 20s].
    node_timeout "node-timeout": duration("DURATION");
    /// Require a bearer JWT signed with this HS256 secret [default: none].
    jwt_secret "jwt-secret": text("SECRET");
    /// Require a bearer JWT signed (RS256) by the key in this PEM file
    /// [default: none].
    jwt_public_key "jwt-public-key": path("FILE");
    /// Require this `iss` claim in tokens [default: any issuer].
    jwt_issuer "jwt-issuer": text("ISSUER");
    /// Require this `aud` claim in tokens [default: any audience].
    jwt_audience "jwt-audience": text("AUDIENCE");
    /// Send a Ping after this long without sending anything [default: 15s].
    keep_alive "keep-alive": duration("DURATION");
    /// Close a client that sent nothing for this long [default: 30s].
    client_timeout "client-timeout": duration("DURATION");
    /// Longest one write to a client may take; a client that reads nothing
    /// for this long is closed [default: 10s].
    write_timeout "write-timeout": duration("DURATION");
    /// Close a client without a valid handshake after this long
    /// [default: 15s].
    handshake_timeout "handshake-timeout": duration("DURATION");
    /// Largest message a client may send (e.g. 32768, 32KiB)
    /// [default: 32KiB].
    max_message_size "max-message-size": size("SIZE");
    /// How long a hub waits for a client result by default [default: 15s].
    invoke_timeout "invoke-timeout": duration("DURATION");
    /// A hub's own running time per call (waiting on clients excluded)
    /// [default: 5s].
    hub_deadline "hub-deadline": duration("DURATION");
    /// Linear memory one hub instance may use [default: 64MiB].
    hub_memory "hub-memory": size("SIZE");
    /// Bytes that may wait to be sent to one client before it is closed as
    /// too slow [default: 1MiB].
    outbound_buffer "outbound-buffer": size("SIZE");
    /// Calls one warm hub instance serves before it is replaced
    /// [default: 10000].
    instance_max_calls "instance-max-calls": count("N");
    /// Directory where compiled hubs are cached by content hash, or `off`;
    /// used only while it is this user's and writable by nobody else
    /// [default: $XDG_CACHE_HOME/wasmhub, else ~/.cache/wasmhub].
    compile_cache "compile-cache": cache_dir("DIR");
    /// Watch the hubs directory and swap hubs whose files change
    /// [default: true].
    watch "watch": boolean("BOOL");
    /// Origins (scheme://host:port) whose pages may connect, comma-separated
    /// or the flag repeated; `*` allows any (for development)
    /// [default: none, same origin only].
    cors_origin "cors-origin": list("ORIGINS");
    /// Hosts hubs may send HTTP requests to, at most: a hub reaches only
    /// those its manifest grants too (`[grants] http`). Patterns like
    /// `api.example.com`, `https://*.example.com`, `127.0.0.1:8080`,
    /// `*:*`; comma-separated or the flag repeated
    /// [default: none, no outbound HTTP].
    http_allow "http-allow": list("HOSTS");
    /// Longest outbound HTTP request of a hub, connect to last byte
    /// [default: 10s].
    http_timeout "http-timeout": duration("DURATION");
    /// Largest response body a hub's HTTP request reads [default: 1MiB].
    http_max_response "http-max-response": size("SIZE");
    /// A long poll with nothing to send answers empty after this long
    /// [default: 90s].
    poll_timeout "poll-timeout": duration("DURATION");
    /// A Server-Sent Events or long-polling connection whose client has no
    /// request open for this long is closed; a stateful-reconnect client
    /// has this long to reconnect [default: 15s].
    disconnect_timeout "disconnect-timeout": duration("DURATION");
    /// Offer stateful reconnect to clients that ask for it at negotiate
    /// (`withStatefulReconnect()`): a dropped WebSocket resumes within the
    /// disconnect timeout with nothing lost [default: true].
    stateful_reconnect "stateful-reconnect": boolean("BOOL");
    /// Bytes of unacknowledged messages kept per stateful connection for
    /// a replay [default: 100000].
    stateful_reconnect_buffer "stateful-reconnect-buffer": size("SIZE");
    /// Keys (16+ characters each; comma-separated or the flag repeated)
    /// that open the server API at /api/v1 and the dashboard at
    /// /dashboard; a request carries one as `Authorization: Bearer KEY` or
    /// `X-Api-Key: KEY` [default: none, both off].
    api_key "api-key": list("KEYS");
    /// A file of more API keys, one per line (`#` comments, blank lines
    /// skipped) [default: none].
    api_key_file "api-key-file": path("FILE");
    /// `text`, or `json`: one JSON object a line with node, hub,
    /// connection and method fields; `RUST_LOG` filters either
    /// [default: text].
    log_format "log-format": text("FORMAT");
    /// Export traces to this OpenTelemetry collector (OTLP over HTTP,
    /// protobuf; http:// only, `/v1/traces` added to a bare URL), e.g.
    /// http://127.0.0.1:4318 [default: none, tracing off].
    otlp_endpoint "otlp-endpoint": text("URL");
    /// Share of new traces kept, 0 to 1; a call that joins its caller's
    /// trace (a `traceparent` header) follows the caller's choice
    /// [default: 1].
    trace_sample "trace-sample": text("RATIO");
}

/// `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`).
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("'{text}' is not a boolean: expected true or false")),
    }
}

/// `a, b,c` → `["a", "b", "c"]`; empty items are refused. The error
/// names the item's place, not the text: a list may hold API keys.
pub fn parse_list(text: &str) -> Result<Vec<String>, String> {
    let items = split_list(text)?;
    non_empty_items(&items)?;
    Ok(items)
}

/// `a, b,c` → `["a", "b", "c"]`, empty items kept: the command line's
/// parser, which never fails, since clap would print the value in its
/// error and a list may hold API keys. [`resolve`] checks the items.
pub fn split_list(text: &str) -> Result<Vec<String>, String> {
    Ok(text.split(',').map(|item| item.trim().to_owned()).collect())
}

fn non_empty_items(items: &[String]) -> Result<(), String> {
    match items.iter().position(String::is_empty) {
        Some(empty) => Err(format!(
            "item {} of {} is empty: expected e.g. a,b",
            empty + 1,
            items.len()
        )),
        None => Ok(()),
    }
}

/// The command line with every repeated list flag joined into one
/// (`--api-key A --api-key=B` → `--api-key=A,B` where the first was), so
/// a repeated flag adds values instead of clap refusing it.
pub fn join_repeated(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    // Per flag: its place in `out` and the values so far.
    let mut joined: Vec<(&str, usize, Vec<OsString>)> = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        // Not UTF-8: left for clap to judge.
        let Some((flag, value)) = arg.to_str().and_then(|text| {
            REPEATABLE.iter().find_map(|flag| {
                let rest = text.strip_prefix("--")?.strip_prefix(*flag)?;
                match rest.strip_prefix('=') {
                    Some(value) => Some((*flag, Some(OsString::from(value)))),
                    None if rest.is_empty() => Some((*flag, None)),
                    None => None,
                }
            })
        }) else {
            out.push(arg);
            continue;
        };
        // `--flag VALUE`; a flag next (`--api-key --hubs x`) is no value,
        // and a missing value is clap's to report.
        let next_is_value = args
            .peek()
            .is_some_and(|next| !next.to_string_lossy().starts_with('-'));
        let value = match value {
            Some(value) => value,
            None if next_is_value => args.next().expect("peeked"),
            None => {
                out.push(arg);
                continue;
            }
        };
        match joined.iter_mut().find(|(f, ..)| *f == flag) {
            Some((_, _, values)) => values.push(value),
            None => {
                joined.push((flag, out.len(), vec![value]));
                out.push(OsString::new());
            }
        }
    }
    for (flag, place, values) in joined {
        let mut arg = OsString::from(format!("--{flag}="));
        arg.push(values.join(std::ffi::OsStr::new(",")));
        out[place] = arg;
    }
    out
}

/// The `serve` command line: the settings plus where to find more.
#[derive(Args)]
#[command(after_help = "\
Every flag can also be set in the environment as WASMHUB_<FLAG> \
(--node-timeout: WASMHUB_NODE_TIMEOUT, --config: WASMHUB_CONFIG) and, except \
--config, in the config file as <flag> = value (node-timeout = \"20s\"). \
The command line wins over the environment, which wins over the file. \
Durations: 200ms, 5s, 1m. Sizes: 32768, 32KiB, 64MiB.")]
pub struct ServeArgs {
    /// TOML file of settings, keys named like the flags; relative paths in
    /// it are relative to the file [default: none].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The settings given on the command line.
    #[command(flatten)]
    pub layer: Layer,
}

/// Why the settings cannot be used; each names the flag, variable or file
/// key at fault so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// An environment variable's value does not parse.
    #[error("{var}: {message}")]
    Env { var: String, message: String },
    /// The config file cannot be read. (The cause is part of the message,
    /// not a `source`, so `{:#}` does not print it twice.)
    #[error("cannot read config file {}: {error}", path.display())]
    ReadFile {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The config file is not TOML of the expected shape (also: unknown key).
    #[error("config file {}: {}", path.display(), error.to_string().trim_end())]
    ParseFile {
        path: PathBuf,
        error: Box<toml::de::Error>,
    },
    /// A value in the config file does not parse.
    #[error("{key} in {}: {message}", path.display())]
    FileValue {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    /// No source names the hubs directory.
    #[error(
        "no hubs directory: give --hubs DIR, set WASMHUB_HUBS or put hubs = \"DIR\" in the --config file"
    )]
    MissingHubs,
    /// The node timeout leaves room for fewer than two missed heartbeats.
    #[error(
        "--node-timeout {} must be longer than twice --heartbeat-interval {}",
        humantime::format_duration(*node_timeout),
        humantime::format_duration(*heartbeat_interval)
    )]
    NodeTimeoutTooShort {
        node_timeout: Duration,
        heartbeat_interval: Duration,
    },
    /// A duration or size that must be positive is zero.
    #[error("--{flag} must be more than 0")]
    Zero { flag: &'static str },
    /// The backplane URL is not one we can connect to.
    #[error("--redis {url} is not a redis URL: {reason}")]
    Redis { url: String, reason: String },
    /// A name used in backplane keys is empty or has characters that
    /// could break keys.
    #[error("--{flag} '{value}': {reason}")]
    BadName {
        flag: &'static str,
        value: String,
        reason: String,
    },
    /// An allowed browser origin that no browser would send.
    #[error("--cors-origin '{origin}': {reason}")]
    BadOrigin { origin: String, reason: String },
    /// Both kinds of token key are set, perhaps in different sources.
    #[error("--jwt-secret and --jwt-public-key exclude each other; set only one")]
    JwtBoth,
    /// An issuer or audience is required, but no token key is set.
    #[error("--jwt-issuer and --jwt-audience need --jwt-secret or --jwt-public-key")]
    JwtClaimWithoutKey,
    /// The HS256 secret is empty, which would accept forged tokens.
    #[error("--jwt-secret must not be empty")]
    JwtSecretEmpty,
    /// A value outside the setting's choices.
    #[error("--{flag}: {reason}")]
    BadValue { flag: &'static str, reason: String },
    /// An API key too short to resist guessing (the key itself is never
    /// printed).
    #[error(
        "{source_name}: an API key must be at least {MIN_API_KEY} characters (key {position} has {length})"
    )]
    ApiKeyShort {
        source_name: String,
        position: usize,
        length: usize,
    },
    /// The API key file cannot be read or holds no key.
    #[error("--api-key-file {}: {message}", path.display())]
    ApiKeyFile { path: PathBuf, message: String },
    /// The RS256 key file is unreadable or not an RSA public key.
    #[error("--jwt-public-key {}: {message}", path.display())]
    JwtPublicKey { path: PathBuf, message: String },
}

/// Looks an environment variable up; injectable so tests need not touch
/// the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The real process environment, for [`resolve`].
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// Merges the command line, the environment and the config file (named by
/// `--config` or `WASMHUB_CONFIG`) into the host's config and listen address.
pub fn resolve(args: ServeArgs, lookup: EnvLookup) -> Result<(Config, SocketAddr), SettingsError> {
    let env_layer = env::layer(lookup)?;
    let config_path = match args.config {
        Some(path) => Some(path),
        None => env::config_path(lookup)?,
    };
    let file_layer = match config_path {
        Some(path) => file::load(&path)?,
        None => Layer::default(),
    };
    build(args.layer.or(env_layer).or(file_layer))
}

/// Turns merged settings into a checked [`Config`]; unset values keep the
/// defaults of [`Config::new`].
fn build(layer: Layer) -> Result<(Config, SocketAddr), SettingsError> {
    let hubs = layer.hubs.ok_or(SettingsError::MissingHubs)?;
    let mut config = Config::new(hubs);
    let listen = match layer.listen {
        Some(listen) => listen,
        None => DEFAULT_LISTEN
            .parse()
            .expect("the default listen address parses"),
    };
    config.web_dir = layer.web;
    if let Some(id) = layer.node_id {
        check_name("node-id", &id)?;
        config.node_id = id;
    }
    if let Some(url) = layer.redis {
        check_redis_url(&url)?;
        config.redis = Some(url);
    }
    if let Some(prefix) = layer.channel_prefix {
        wasmhub::names::check_prefix(&prefix).map_err(|reason| SettingsError::BadName {
            flag: "channel-prefix",
            value: prefix.clone(),
            reason,
        })?;
        config.channel_prefix = prefix;
    }
    config.jwt = match jwt_key(layer.jwt_secret, layer.jwt_public_key)? {
        Some(key) => Some(Jwt {
            key,
            issuer: layer.jwt_issuer,
            audience: layer.jwt_audience,
        }),
        None if layer.jwt_issuer.is_some() || layer.jwt_audience.is_some() => {
            return Err(SettingsError::JwtClaimWithoutKey);
        }
        None => None,
    };
    set(&mut config.write_timeout, layer.write_timeout);
    set(&mut config.heartbeat_interval, layer.heartbeat_interval);
    set(&mut config.node_timeout, layer.node_timeout);
    set(&mut config.keep_alive, layer.keep_alive);
    set(&mut config.client_timeout, layer.client_timeout);
    set(&mut config.handshake_timeout, layer.handshake_timeout);
    set(&mut config.max_message_size, layer.max_message_size);
    set(&mut config.invoke_timeout, layer.invoke_timeout);
    set(&mut config.hub_deadline, layer.hub_deadline);
    set(&mut config.hub_memory, layer.hub_memory);
    set(&mut config.outbound_buffer, layer.outbound_buffer);
    set(&mut config.instance_max_calls, layer.instance_max_calls);
    config.instance_max_calls = config.instance_max_calls.max(1);
    if let Some(dir) = layer.compile_cache {
        config.compile_cache = (dir != Path::new("off")).then_some(dir);
    }
    set(&mut config.watch, layer.watch);
    set(&mut config.poll_timeout, layer.poll_timeout);
    set(&mut config.disconnect_timeout, layer.disconnect_timeout);
    set(&mut config.stateful_reconnect, layer.stateful_reconnect);
    set(
        &mut config.stateful_reconnect_buffer,
        layer.stateful_reconnect_buffer,
    );
    set(&mut config.http.timeout, layer.http_timeout);
    set(&mut config.http.max_response, layer.http_max_response);
    for (flag, items) in [
        ("cors-origin", &layer.cors_origin),
        ("api-key", &layer.api_key),
        ("http-allow", &layer.http_allow),
    ] {
        if let Some(items) = items {
            non_empty_items(items).map_err(|reason| SettingsError::BadValue { flag, reason })?;
        }
    }
    if let Some(origins) = layer.cors_origin {
        config.cors_origins = check_origins(origins)?;
    }
    config.api_keys = api_keys(layer.api_key, layer.api_key_file)?;
    if let Some(patterns) = layer.http_allow {
        config.http.allow = patterns
            .iter()
            .map(|p| p.parse())
            .collect::<Result<_, _>>()
            .map_err(|reason| SettingsError::BadValue {
                flag: "http-allow",
                reason,
            })?;
    }
    if let Some(format) = layer.log_format {
        config.log_format =
            wasmhub::logging::parse_format(&format).map_err(|reason| SettingsError::BadValue {
                flag: "log-format",
                reason,
            })?;
    }
    if let Some(endpoint) = layer.otlp_endpoint {
        config.otlp_endpoint = Some(otlp_endpoint(&endpoint)?);
    }
    if let Some(ratio) = layer.trace_sample {
        config.trace_sample = trace_sample(&ratio)?;
    }
    check(&config)?;
    Ok((config, listen))
}

/// An OTLP/HTTP collector's URL: http:// with a host (the exporter
/// speaks no TLS).
fn otlp_endpoint(text: &str) -> Result<url::Url, SettingsError> {
    let bad = |reason: String| SettingsError::BadValue {
        flag: "otlp-endpoint",
        reason,
    };
    let url =
        url::Url::parse(text.trim()).map_err(|e| bad(format!("'{text}' is not a URL: {e}")))?;
    if url.scheme() != "http" || url.host_str().is_none() {
        return Err(bad(format!(
            "'{text}': expected http://HOST:PORT (a local collector or agent; it forwards over TLS)"
        )));
    }
    Ok(url)
}

/// A share of traces, 0 to 1.
fn trace_sample(text: &str) -> Result<f64, SettingsError> {
    match text.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(SettingsError::BadValue {
            flag: "trace-sample",
            reason: format!("'{text}' is not a share: expected a number from 0 to 1, e.g. 0.1"),
        }),
    }
}

/// Shortest API key accepted.
pub const MIN_API_KEY: usize = 16;

/// The keys of `--api-key` and `--api-key-file`, checked for length.
fn api_keys(
    listed: Option<Vec<String>>,
    file: Option<PathBuf>,
) -> Result<Vec<String>, SettingsError> {
    let mut keys = Vec::new();
    let mut take = |source_name: String, found: Vec<String>| {
        for (index, key) in found.into_iter().enumerate() {
            if key.chars().count() < MIN_API_KEY {
                return Err(SettingsError::ApiKeyShort {
                    source_name: source_name.clone(),
                    position: index + 1,
                    length: key.chars().count(),
                });
            }
            keys.push(key);
        }
        Ok(())
    };
    if let Some(listed) = listed {
        take("--api-key".to_owned(), listed)?;
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::ApiKeyFile {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let found: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect();
        if found.is_empty() {
            return Err(SettingsError::ApiKeyFile {
                path,
                message: "the file holds no key".to_owned(),
            });
        }
        take(format!("--api-key-file {}", path.display()), found)?;
    }
    Ok(keys)
}

/// Overwrites a default only when some source gave a value.
fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// Rules between and on values, whatever source they came from.
fn check(config: &Config) -> Result<(), SettingsError> {
    let durations = [
        ("heartbeat-interval", config.heartbeat_interval),
        ("node-timeout", config.node_timeout),
        ("keep-alive", config.keep_alive),
        ("client-timeout", config.client_timeout),
        ("handshake-timeout", config.handshake_timeout),
        ("write-timeout", config.write_timeout),
        ("invoke-timeout", config.invoke_timeout),
        ("hub-deadline", config.hub_deadline),
        ("poll-timeout", config.poll_timeout),
        ("disconnect-timeout", config.disconnect_timeout),
        ("http-timeout", config.http.timeout),
    ];
    for (flag, value) in durations {
        if value.is_zero() {
            return Err(SettingsError::Zero { flag });
        }
    }
    let sizes = [
        ("max-message-size", config.max_message_size),
        ("hub-memory", config.hub_memory),
        ("outbound-buffer", config.outbound_buffer),
        ("http-max-response", config.http.max_response),
        (
            "stateful-reconnect-buffer",
            config.stateful_reconnect_buffer,
        ),
    ];
    for (flag, value) in sizes {
        if value == 0 {
            return Err(SettingsError::Zero { flag });
        }
    }
    // Two heartbeats may be missed (a slow write, a failover) before peers
    // sweep this node away.
    if config.node_timeout <= config.heartbeat_interval * 2 {
        return Err(SettingsError::NodeTimeoutTooShort {
            node_timeout: config.node_timeout,
            heartbeat_interval: config.heartbeat_interval,
        });
    }
    Ok(())
}

/// Each origin is `*` or `scheme://host[:port]`, without a path: what a
/// browser sends in its Origin header.
fn check_origins(origins: Vec<String>) -> Result<Vec<String>, SettingsError> {
    for origin in &origins {
        if origin == "*" {
            continue;
        }
        let bad = |reason: &str| SettingsError::BadOrigin {
            origin: origin.clone(),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(origin).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad("expected http://host[:port] or https://host[:port]"));
        }
        if origin.trim_end_matches('/') != url.origin().ascii_serialization() {
            return Err(bad(&format!(
                "an origin has no path or query: did you mean {}?",
                url.origin().ascii_serialization()
            )));
        }
    }
    Ok(origins
        .into_iter()
        .map(|o| o.trim_end_matches('/').to_owned())
        .collect())
}

/// Node ids and prefixes become parts of backplane keys and channel names.
fn check_name(flag: &'static str, value: &str) -> Result<(), SettingsError> {
    wasmhub::names::check_name(value).map_err(|reason| SettingsError::BadName {
        flag,
        value: value.to_owned(),
        reason,
    })
}

/// `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS.
/// The connection itself is tried when the backplane starts.
fn check_redis_url(url: &str) -> Result<(), SettingsError> {
    let fail = |reason: &str| SettingsError::Redis {
        url: redact(url),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|e| fail(&e.to_string()))?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        return Err(fail("the scheme must be redis:// or rediss://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(fail("it names no host"));
    }
    let database = parsed.path().trim_start_matches('/');
    if !database.is_empty() && database.parse::<u32>().is_err() {
        return Err(fail("the path must be a database number, e.g. /0"));
    }
    Ok(())
}

/// The URL with anything between `://` and `@` hidden: it may hold a
/// password, and errors end up in logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if start + 3 <= at => {
            format!("{}***{}", &url[..start + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The token key from the merged settings, its PEM file read and checked.
fn jwt_key(
    secret: Option<String>,
    public_key: Option<PathBuf>,
) -> Result<Option<JwtKey>, SettingsError> {
    match (secret, public_key) {
        (Some(_), Some(_)) => Err(SettingsError::JwtBoth),
        (Some(secret), None) if secret.is_empty() => Err(SettingsError::JwtSecretEmpty),
        (Some(secret), None) => Ok(Some(JwtKey::Secret(secret.into_bytes()))),
        (None, Some(path)) => Ok(Some(JwtKey::RsaPem(read_public_key(&path)?))),
        (None, None) => Ok(None),
    }
}

/// Reads a PEM file and checks it holds an RSA public key.
fn read_public_key(path: &Path) -> Result<Vec<u8>, SettingsError> {
    let fail = |message: String| SettingsError::JwtPublicKey {
        path: path.to_owned(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    jsonwebtoken::DecodingKey::from_rsa_pem(&pem)
        .map_err(|e| fail(format!("not an RSA public key in PEM: {e}")))?;
    Ok(pem)
}

/// Parses a listen address given in the environment or the config file
/// (the command line uses clap's own parser).
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("'{text}' is not an address: expected e.g. 127.0.0.1:5000"))
}

/// Parses a count given in the environment.
fn parse_count(text: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number: expected e.g. 10000"))
}

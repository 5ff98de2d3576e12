//! The config file source: TOML whose keys are the flags without `--`
//! (`node-timeout = "20s"`); relative paths are relative to the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasmhub::config::{parse_bytes, parse_duration};

use super::{Layer, SettingsError, parse_listen};

/// The file as written. Durations are strings and sizes are a number of
/// bytes or a string, converted by [`FileSettings::into_layer`] so that a
/// bad value's error names its key and file; unknown keys are refused
/// (a misspelt key must not be silently ignored).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct FileSettings {
    hubs: Option<PathBuf>,
    listen: Option<String>,
    web: Option<PathBuf>,
    node_id: Option<String>,
    redis: Option<String>,
    channel_prefix: Option<String>,
    heartbeat_interval: Option<String>,
    node_timeout: Option<String>,
    jwt_secret: Option<String>,
    jwt_public_key: Option<PathBuf>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    write_timeout: Option<String>,
    keep_alive: Option<String>,
    client_timeout: Option<String>,
    handshake_timeout: Option<String>,
    max_message_size: Option<toml::Value>,
    invoke_timeout: Option<String>,
    hub_deadline: Option<String>,
    hub_memory: Option<toml::Value>,
    outbound_buffer: Option<toml::Value>,
    instance_max_calls: Option<u32>,
    compile_cache: Option<PathBuf>,
    watch: Option<bool>,
}

/// Reads the config file at `path`.
pub(super) fn load(path: &Path) -> Result<Layer, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|error| SettingsError::ReadFile {
        path: path.to_owned(),
        error,
    })?;
    parse(&text, path)
}

/// Parses config file text; `path` is where it came from, for relative
/// paths and for errors.
pub(super) fn parse(text: &str, path: &Path) -> Result<Layer, SettingsError> {
    let file: FileSettings = toml::from_str(text).map_err(|error| SettingsError::ParseFile {
        path: path.to_owned(),
        error: Box::new(error),
    })?;
    file.into_layer(path)
}

impl FileSettings {
    /// Parses every value, resolving relative paths against the file's
    /// directory.
    fn into_layer(self, path: &Path) -> Result<Layer, SettingsError> {
        let file = In { path };
        Ok(Layer {
            hubs: file.path(self.hubs),
            listen: file.parsed("listen", self.listen, parse_listen)?,
            web: file.path(self.web),
            node_id: self.node_id,
            redis: self.redis,
            channel_prefix: self.channel_prefix,
            heartbeat_interval: file.parsed(
                "heartbeat-interval",
                self.heartbeat_interval,
                parse_duration,
            )?,
            node_timeout: file.parsed("node-timeout", self.node_timeout, parse_duration)?,
            jwt_secret: self.jwt_secret,
            jwt_public_key: file.path(self.jwt_public_key),
            jwt_issuer: self.jwt_issuer,
            jwt_audience: self.jwt_audience,
            write_timeout: file.parsed("write-timeout", self.write_timeout, parse_duration)?,
            keep_alive: file.parsed("keep-alive", self.keep_alive, parse_duration)?,
            client_timeout: file.parsed("client-timeout", self.client_timeout, parse_duration)?,
            handshake_timeout: file.parsed(
                "handshake-timeout",
                self.handshake_timeout,
                parse_duration,
            )?,
            max_message_size: file.size("max-message-size", self.max_message_size)?,
            invoke_timeout: file.parsed("invoke-timeout", self.invoke_timeout, parse_duration)?,
            hub_deadline: file.parsed("hub-deadline", self.hub_deadline, parse_duration)?,
            hub_memory: file.size("hub-memory", self.hub_memory)?,
            outbound_buffer: file.size("outbound-buffer", self.outbound_buffer)?,
            instance_max_calls: self.instance_max_calls,
            // `off` stays `off`; a directory is relative to the file.
            compile_cache: match self.compile_cache {
                Some(off) if off == Path::new("off") => Some(off),
                other => file.path(other),
            },
            watch: self.watch,
        })
    }
}

/// Converts values of one file, naming it in errors.
struct In<'a> {
    path: &'a Path,
}

impl In<'_> {
    /// A path from the file: relative ones are relative to the file's
    /// directory, so a config file works from any working directory.
    fn path(&self, value: Option<PathBuf>) -> Option<PathBuf> {
        let dir = self.path.parent().unwrap_or(Path::new(""));
        value.map(|value| dir.join(value))
    }

    /// A string value that must parse.
    fn parsed<T>(
        &self,
        key: &'static str,
        value: Option<String>,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, SettingsError> {
        value
            .map(|text| parse(&text).map_err(|message| self.fail(key, message)))
            .transpose()
    }

    /// A size: a number of bytes, or a string such as "64MiB".
    fn size(
        &self,
        key: &'static str,
        value: Option<toml::Value>,
    ) -> Result<Option<usize>, SettingsError> {
        let expected = "expected a number of bytes or a string such as \"32KiB\" or \"64MiB\"";
        match value {
            None => Ok(None),
            Some(toml::Value::String(text)) => parse_bytes(&text)
                .map(Some)
                .map_err(|message| self.fail(key, message)),
            Some(toml::Value::Integer(bytes)) => usize::try_from(bytes)
                .map(Some)
                .map_err(|_| self.fail(key, format!("{bytes} is not a size: {expected}"))),
            Some(other) => Err(self.fail(key, format!("{other} is not a size: {expected}"))),
        }
    }

    fn fail(&self, key: &'static str, message: String) -> SettingsError {
        SettingsError::FileValue {
            key,
            path: self.path.to_owned(),
            message,
        }
    }
}

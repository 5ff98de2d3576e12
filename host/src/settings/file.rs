//! The config file source: TOML whose keys are the flags without `--`
//! (`node-timeout = "20s"`); relative paths are relative to the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmhub::config::{parse_bytes, parse_duration};

use super::{FileSettings, Layer, SettingsError, parse_listen};

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
    file.into_layer(&In { path })
}

/// Converts values of one file, naming it in errors; one method per kind
/// of setting (see `table.rs`), named after it.
pub(super) struct In<'a> {
    path: &'a Path,
}

type Converted<T> = Result<Option<T>, SettingsError>;

impl In<'_> {
    /// A path from the file: relative ones are relative to the file's
    /// directory, so a config file works from any working directory.
    pub(super) fn path(&self, _key: &'static str, value: Option<PathBuf>) -> Converted<PathBuf> {
        let dir = self.path.parent().unwrap_or(Path::new(""));
        Ok(value.map(|value| dir.join(value)))
    }

    /// Like a path, but `off` stays `off`.
    pub(super) fn cache_dir(
        &self,
        key: &'static str,
        value: Option<PathBuf>,
    ) -> Converted<PathBuf> {
        match value {
            Some(off) if off == Path::new("off") => Ok(Some(off)),
            other => self.path(key, other),
        }
    }

    pub(super) fn text(&self, _key: &'static str, value: Option<String>) -> Converted<String> {
        Ok(value)
    }

    pub(super) fn listen(&self, key: &'static str, value: Option<String>) -> Converted<SocketAddr> {
        self.parsed(key, value, parse_listen)
    }

    pub(super) fn duration(&self, key: &'static str, value: Option<String>) -> Converted<Duration> {
        self.parsed(key, value, parse_duration)
    }

    pub(super) fn count(&self, _key: &'static str, value: Option<u32>) -> Converted<u32> {
        Ok(value)
    }

    pub(super) fn boolean(&self, _key: &'static str, value: Option<bool>) -> Converted<bool> {
        Ok(value)
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
    pub(super) fn size(
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

    /// A list: a comma-separated string or an array of strings.
    pub(super) fn list(
        &self,
        key: &'static str,
        value: Option<toml::Value>,
    ) -> Result<Option<Vec<String>>, SettingsError> {
        let expected = "expected a string or an array of strings";
        match value {
            None => Ok(None),
            Some(toml::Value::String(text)) => super::parse_list(&text)
                .map(Some)
                .map_err(|message| self.fail(key, message)),
            Some(toml::Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    toml::Value::String(text) => Ok(text.trim().to_owned()),
                    other => Err(self.fail(key, format!("{other} is not a string: {expected}"))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.fail(key, format!("{other}: {expected}"))),
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

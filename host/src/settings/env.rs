//! The environment source: `WASMHUB_<FLAG>` for every flag, parsed like the
//! flag itself, errors naming the variable.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use wasmhub::config::{parse_bytes, parse_duration};

use super::{EnvLookup, Layer, SettingsError, parse_count, parse_listen};

/// The variable of a flag: `node-timeout` → `WASMHUB_NODE_TIMEOUT`.
pub(super) fn var_name(flag: &str) -> String {
    format!("WASMHUB_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// Every setting the environment gives.
pub(super) fn layer(lookup: EnvLookup) -> Result<Layer, SettingsError> {
    Layer::from_env(&Env { lookup })
}

/// `WASMHUB_CONFIG`: the config file when `--config` is not given.
pub(super) fn config_path(lookup: EnvLookup) -> Result<Option<PathBuf>, SettingsError> {
    Env { lookup }.path("config")
}

/// Reads and parses one variable at a time; one method per kind of
/// setting (see `table.rs`), named after it.
pub(super) struct Env<'a> {
    lookup: EnvLookup<'a>,
}

impl Env<'_> {
    /// The variable's value. Set but empty is an error rather than "unset",
    /// so `WASMHUB_JWT_SECRET=$TYPO` cannot silently turn tokens off.
    fn raw(&self, flag: &str) -> Result<Option<(String, OsString)>, SettingsError> {
        let var = var_name(flag);
        match (self.lookup)(&var) {
            None => Ok(None),
            Some(value) if value.is_empty() => Err(SettingsError::Env {
                var,
                message: "set but empty; unset it or give a value".to_owned(),
            }),
            Some(value) => Ok(Some((var, value))),
        }
    }

    /// A path, taken as it is (relative to the working directory).
    pub(super) fn path(&self, flag: &str) -> Result<Option<PathBuf>, SettingsError> {
        Ok(self.raw(flag)?.map(|(_, value)| PathBuf::from(value)))
    }

    /// A value that must be UTF-8 and parse.
    fn parsed<T>(
        &self,
        flag: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, SettingsError> {
        let Some((var, value)) = self.raw(flag)? else {
            return Ok(None);
        };
        let Some(text) = value.to_str() else {
            return Err(SettingsError::Env {
                var,
                message: "not valid UTF-8".to_owned(),
            });
        };
        parse(text)
            .map(Some)
            .map_err(|message| SettingsError::Env { var, message })
    }

    /// A string, kept as it is.
    pub(super) fn text(&self, flag: &str) -> Result<Option<String>, SettingsError> {
        self.parsed(flag, |text| Ok(text.to_owned()))
    }

    /// A compile cache directory, or `off`.
    pub(super) fn cache_dir(&self, flag: &str) -> Result<Option<PathBuf>, SettingsError> {
        self.path(flag)
    }

    pub(super) fn listen(&self, flag: &str) -> Result<Option<SocketAddr>, SettingsError> {
        self.parsed(flag, parse_listen)
    }

    pub(super) fn duration(&self, flag: &str) -> Result<Option<Duration>, SettingsError> {
        self.parsed(flag, parse_duration)
    }

    pub(super) fn size(&self, flag: &str) -> Result<Option<usize>, SettingsError> {
        self.parsed(flag, parse_bytes)
    }

    pub(super) fn count(&self, flag: &str) -> Result<Option<u32>, SettingsError> {
        self.parsed(flag, parse_count)
    }

    pub(super) fn boolean(&self, flag: &str) -> Result<Option<bool>, SettingsError> {
        self.parsed(flag, super::parse_bool)
    }

    pub(super) fn list(&self, flag: &str) -> Result<Option<Vec<String>>, SettingsError> {
        self.parsed(flag, super::parse_list)
    }
}

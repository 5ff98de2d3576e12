//! The environment source: `WASMHUB_<FLAG>` for every flag, parsed like the
//! flag itself, errors naming the variable.

use std::ffi::OsString;
use std::path::PathBuf;

use wasmhub::config::{parse_bytes, parse_duration};

use super::{EnvLookup, Layer, SettingsError, parse_count, parse_listen};

/// The variable of a flag: `node-timeout` → `WASMHUB_NODE_TIMEOUT`.
pub(super) fn var_name(flag: &str) -> String {
    format!("WASMHUB_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// Every setting the environment gives.
pub(super) fn layer(lookup: EnvLookup) -> Result<Layer, SettingsError> {
    let env = Env { lookup };
    Ok(Layer {
        hubs: env.path("hubs")?,
        listen: env.parsed("listen", parse_listen)?,
        web: env.path("web")?,
        node_id: env.text("node-id")?,
        redis: env.text("redis")?,
        channel_prefix: env.text("channel-prefix")?,
        heartbeat_interval: env.parsed("heartbeat-interval", parse_duration)?,
        node_timeout: env.parsed("node-timeout", parse_duration)?,
        jwt_secret: env.text("jwt-secret")?,
        jwt_public_key: env.path("jwt-public-key")?,
        jwt_issuer: env.text("jwt-issuer")?,
        jwt_audience: env.text("jwt-audience")?,
        write_timeout: env.parsed("write-timeout", parse_duration)?,
        keep_alive: env.parsed("keep-alive", parse_duration)?,
        client_timeout: env.parsed("client-timeout", parse_duration)?,
        handshake_timeout: env.parsed("handshake-timeout", parse_duration)?,
        max_message_size: env.parsed("max-message-size", parse_bytes)?,
        invoke_timeout: env.parsed("invoke-timeout", parse_duration)?,
        hub_deadline: env.parsed("hub-deadline", parse_duration)?,
        hub_memory: env.parsed("hub-memory", parse_bytes)?,
        outbound_buffer: env.parsed("outbound-buffer", parse_bytes)?,
        instance_max_calls: env.parsed("instance-max-calls", parse_count)?,
        compile_cache: env.path("compile-cache")?,
        watch: env.parsed("watch", super::parse_bool)?,
    })
}

/// `WASMHUB_CONFIG`: the config file when `--config` is not given.
pub(super) fn config_path(lookup: EnvLookup) -> Result<Option<PathBuf>, SettingsError> {
    Env { lookup }.path("config")
}

/// Reads and parses one variable at a time.
struct Env<'a> {
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
    fn path(&self, flag: &str) -> Result<Option<PathBuf>, SettingsError> {
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
    fn text(&self, flag: &str) -> Result<Option<String>, SettingsError> {
        self.parsed(flag, |text| Ok(text.to_owned()))
    }
}

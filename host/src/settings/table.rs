//! The macro that turns the one list of settings (in `mod.rs`) into the
//! three sources: the command line ([`Layer`](super::Layer), parsed by
//! clap), the environment (`WASMHUB_<FLAG>`) and the config file.
//!
//! A setting's kind says how each source spells it:
//!
//! | kind | value | environment and file |
//! |---|---|---|
//! | `path` | a path | as it is; in the file, relative to the file |
//! | `cache_dir` | a path, or `off` | like `path`, but `off` stays `off` |
//! | `text` | a string | as it is |
//! | `listen` | an address | `127.0.0.1:5000` |
//! | `duration` | `5s`, `200ms` | a string in the file |
//! | `size` | `32KiB`, `65536` | a string or a number in the file |
//! | `count` | a whole number | a number in the file |
//! | `boolean` | `true`/`false` | a boolean in the file |
//! | `list` | `a,b` (comma-separated); the flag may be repeated | a string or an array of strings in the file |

/// The Rust type of a setting of a kind.
macro_rules! setting_type {
    (path) => {
        std::path::PathBuf
    };
    (cache_dir) => {
        std::path::PathBuf
    };
    (text) => {
        String
    };
    (listen) => {
        std::net::SocketAddr
    };
    (duration) => {
        std::time::Duration
    };
    (size) => {
        usize
    };
    (count) => {
        u32
    };
    (boolean) => {
        bool
    };
    (list) => {
        Vec<String>
    };
}

/// How the command line parses a setting of a kind.
macro_rules! setting_parser {
    (path) => {
        clap::value_parser!(std::path::PathBuf)
    };
    (cache_dir) => {
        clap::value_parser!(std::path::PathBuf)
    };
    (text) => {
        clap::value_parser!(String)
    };
    (listen) => {
        clap::value_parser!(std::net::SocketAddr)
    };
    (duration) => {
        wasmhub::config::parse_duration
    };
    (size) => {
        wasmhub::config::parse_bytes
    };
    (count) => {
        clap::value_parser!(u32)
    };
    (boolean) => {
        parse_bool
    };
    (list) => {
        split_list
    };
}

/// Whether a setting's flag may be given more than once (its values add
/// up: [`join_repeated`](super::join_repeated) joins them before clap
/// sees them).
macro_rules! setting_repeats {
    (list) => {
        true
    };
    ($other:ident) => {
        false
    };
}

/// How the config file holds a setting of a kind (converted afterwards,
/// so that a bad value's error names its key and the file).
macro_rules! setting_file_type {
    (path) => {
        std::path::PathBuf
    };
    (cache_dir) => {
        std::path::PathBuf
    };
    (text) => {
        String
    };
    (listen) => {
        String
    };
    (duration) => {
        String
    };
    (size) => {
        toml::Value
    };
    (count) => {
        u32
    };
    (boolean) => {
        bool
    };
    (list) => {
        toml::Value
    };
}

/// Generates [`Layer`](super::Layer) (clap arguments), `Layer::or`,
/// `Layer::from_env` and `FileSettings` from the list of settings.
macro_rules! settings {
    ($(
        $(#[$meta:meta])*
        $field:ident $flag:literal: $kind:ident($value_name:literal);
    )*) => {
        /// Settings of one source; `None` means "this source does not say".
        ///
        /// The command line parses straight into it (clap); the
        /// environment and the config file are converted into it.
        #[derive(clap::Args, Default, Clone)]
        pub struct Layer {
            $(
                $(#[$meta])*
                #[arg(long = $flag, value_name = $value_name, value_parser = setting_parser!($kind))]
                pub $field: Option<setting_type!($kind)>,
            )*
        }

        /// The flags that may be repeated.
        pub const REPEATABLE: &[&str] = &{
            const ALL: [(&str, bool); [$($flag),*].len()] = [$(($flag, setting_repeats!($kind))),*];
            const COUNT: usize = {
                let mut count = 0;
                let mut i = 0;
                while i < ALL.len() {
                    if ALL[i].1 {
                        count += 1;
                    }
                    i += 1;
                }
                count
            };
            let mut out = [""; COUNT];
            let (mut i, mut j) = (0, 0);
            while i < ALL.len() {
                if ALL[i].1 {
                    out[j] = ALL[i].0;
                    j += 1;
                }
                i += 1;
            }
            out
        };

        impl Layer {
            /// This layer with every gap filled from `lower`, the next
            /// source down.
            fn or(self, lower: Layer) -> Layer {
                Layer {
                    $($field: self.$field.or(lower.$field),)*
                }
            }

            /// Every setting the environment gives.
            fn from_env(env: &env::Env) -> Result<Layer, SettingsError> {
                Ok(Layer {
                    $($field: env.$kind($flag)?,)*
                })
            }
        }

        /// The config file as written: keys are the flags; unknown keys
        /// are refused (a misspelt key must not be silently ignored).
        #[derive(serde::Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        pub(super) struct FileSettings {
            $(
                #[serde(rename = $flag)]
                $field: Option<setting_file_type!($kind)>,
            )*
        }

        impl FileSettings {
            /// Parses every value; relative paths are resolved against
            /// the file's directory.
            fn into_layer(self, file: &file::In) -> Result<Layer, SettingsError> {
                Ok(Layer {
                    $($field: file.$kind($flag, self.$field)?,)*
                })
            }
        }
    };
}

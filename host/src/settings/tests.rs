//! Resolution of settings: precedence, the file's paths and keys, and the
//! rules, with the environment given as a map.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use wasmhub::config::{Config, parse_bytes, parse_duration};

use super::{DEFAULT_LISTEN, ServeArgs, SettingsError, env, file, join_repeated, resolve};

/// `wasmhub serve` without the subcommand, to parse test command lines.
#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    args: ServeArgs,
}

/// Parses as `main` does (repeated list flags joined first).
fn cli(args: &[&str]) -> ServeArgs {
    let argv = std::iter::once("serve").chain(args.iter().copied());
    TestCli::try_parse_from(join_repeated(argv.map(OsString::from)))
        .expect("test command line parses")
        .args
}

/// An environment holding exactly `vars`.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
    let vars: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |name| vars.get(name).cloned()
}

/// Resolves and expects success.
fn ok(args: &[&str], vars: &[(&str, &str)]) -> (Config, SocketAddr) {
    match resolve(cli(args), &env_of(vars)) {
        Ok(resolved) => resolved,
        Err(error) => panic!("{args:?} {vars:?} refused: {error}"),
    }
}

/// Resolves and expects an error.
fn err(args: &[&str], vars: &[(&str, &str)]) -> SettingsError {
    match resolve(cli(args), &env_of(vars)) {
        Ok(_) => panic!("{args:?} {vars:?} accepted"),
        Err(error) => error,
    }
}

/// A config file in a fresh directory of its own, removed on drop.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("wasmhub-settings-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wasmhub.toml");
        std::fs::write(&path, text).unwrap();
        Self { dir, path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn command_line_beats_environment_beats_file_beats_default() {
    let file = TempFile::new(
        "precedence",
        r#"
            hubs = "file-hubs"
            keep-alive = "1s"
            client-timeout = "2s"
            handshake-timeout = "3s"
            hub-memory = "16MiB"
            instance-max-calls = 7
        "#,
    );
    let vars = [
        ("WASMHUB_CONFIG", file.arg()),
        ("WASMHUB_CLIENT_TIMEOUT", "20s"),
        ("WASMHUB_HANDSHAKE_TIMEOUT", "30s"),
        ("WASMHUB_INSTANCE_MAX_CALLS", "70"),
    ];
    let (config, listen) = ok(&["--handshake-timeout", "300s"], &vars);
    assert_eq!(config.hubs_dir, file.dir.join("file-hubs"));
    assert_eq!(config.keep_alive, secs(1), "file beats default");
    assert_eq!(config.hub_memory, 16 << 20, "file beats default");
    assert_eq!(config.client_timeout, secs(20), "env beats file");
    assert_eq!(config.instance_max_calls, 70, "env beats file");
    assert_eq!(config.handshake_timeout, secs(300), "flag beats env");
    assert_eq!(config.invoke_timeout, secs(15), "default");
    assert_eq!(listen, DEFAULT_LISTEN.parse().unwrap());

    let (config, _) = ok(&["--hubs", "cli-hubs"], &[("WASMHUB_HUBS", "env-hubs")]);
    assert_eq!(config.hubs_dir, Path::new("cli-hubs"));
    let (config, _) = ok(&[], &[("WASMHUB_HUBS", "env-hubs")]);
    assert_eq!(config.hubs_dir, Path::new("env-hubs"));
}

#[test]
fn config_flag_beats_config_variable() {
    let file = TempFile::new("config-flag", "hubs = \"h\"\nnode-id = \"from-file\"\n");
    let vars = [("WASMHUB_CONFIG", "/nonexistent/wasmhub.toml")];
    let (config, _) = ok(&["--config", file.arg()], &vars);
    assert_eq!(config.node_id, "from-file");
    let error = err(&[], &vars).to_string();
    assert!(
        error.starts_with("cannot read config file /nonexistent/wasmhub.toml: "),
        "{error}"
    );
}

#[test]
fn defaults_without_any_source_but_hubs() {
    let (config, listen) = ok(&["--hubs", "h"], &[]);
    let defaults = Config::new("h");
    assert_eq!(listen, DEFAULT_LISTEN.parse().unwrap());
    assert_eq!(config.redis, None);
    assert_eq!(config.channel_prefix, "wasmhub");
    assert_eq!(config.heartbeat_interval, defaults.heartbeat_interval);
    assert_eq!(config.node_timeout, defaults.node_timeout);
    assert!(config.node_id.starts_with("node-"));
    assert!(config.jwt.is_none());
}

#[test]
fn hubs_must_come_from_somewhere() {
    let error = err(&["--listen", "127.0.0.1:0"], &[]);
    assert!(matches!(error, SettingsError::MissingHubs), "{error}");
    assert!(error.to_string().contains("--hubs DIR"));
    assert!(error.to_string().contains("WASMHUB_HUBS"));
}

#[test]
fn relative_paths_in_the_file_are_relative_to_it() {
    let text = r#"
        hubs = "hubs"
        web = "/srv/web"
        jwt-public-key = "keys/public.pem"
    "#;
    let layer = file::parse(text, Path::new("/etc/wasmhub/wasmhub.toml")).unwrap();
    assert_eq!(layer.hubs.unwrap(), Path::new("/etc/wasmhub/hubs"));
    assert_eq!(layer.web.unwrap(), Path::new("/srv/web"));
    assert_eq!(
        layer.jwt_public_key.unwrap(),
        Path::new("/etc/wasmhub/keys/public.pem")
    );
    // A file named without a directory: relative to the working directory.
    let layer = file::parse(text, Path::new("wasmhub.toml")).unwrap();
    assert_eq!(layer.hubs.unwrap(), Path::new("hubs"));
}

#[test]
fn unknown_key_in_the_file_is_refused() {
    let path = Path::new("/etc/wasmhub.toml");
    let error = file::parse("hubs = \"h\"\nredis-url = \"redis://x\"\n", path)
        .err()
        .expect("unknown key refused")
        .to_string();
    assert!(
        error.starts_with("config file /etc/wasmhub.toml: "),
        "{error}"
    );
    assert!(error.contains("unknown field `redis-url`"), "{error}");
}

#[test]
fn bad_values_name_their_source() {
    let path = Path::new("/etc/wasmhub.toml");
    let error = file::parse("node-timeout = \"soon\"", path).err().unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "node-timeout in /etc/wasmhub.toml: {}",
            parse_duration("soon").unwrap_err()
        )
    );
    let text = error.to_string();
    assert!(text.contains("'soon' is not a duration"), "{text}");
    assert!(text.contains("expected e.g. 200ms, 5s or 1m"), "{text}");

    let error = file::parse("hub-memory = -1", path)
        .err()
        .unwrap()
        .to_string();
    assert!(error.starts_with("hub-memory in /etc/wasmhub.toml: -1 is not a size"));
    let error = file::parse("hub-memory = \"lots\"", path)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("'lots' is not a size"), "{error}");

    let error = err(&["--hubs", "h"], &[("WASMHUB_NODE_TIMEOUT", "soon")]).to_string();
    assert!(
        error.starts_with("WASMHUB_NODE_TIMEOUT: 'soon' is not a duration"),
        "{error}"
    );
    let error = err(&["--hubs", "h"], &[("WASMHUB_REDIS", "")]).to_string();
    assert_eq!(
        error,
        "WASMHUB_REDIS: set but empty; unset it or give a value"
    );

    let clap_error = TestCli::try_parse_from(["serve", "--node-timeout", "soon"])
        .err()
        .unwrap()
        .to_string();
    assert!(clap_error.contains("--node-timeout"), "{clap_error}");
    assert!(
        clap_error.contains("'soon' is not a duration"),
        "{clap_error}"
    );
}

#[test]
fn cors_origins_from_every_source() {
    let (config, _) = ok(&["--hubs", "h"], &[]);
    assert!(
        config.cors_origins.is_empty(),
        "same origin only by default"
    );
    let (config, _) = ok(
        &[
            "--hubs",
            "h",
            "--cors-origin",
            "http://a.example:8080, https://b.example/",
        ],
        &[],
    );
    assert_eq!(
        config.cors_origins,
        ["http://a.example:8080", "https://b.example"]
    );
    let (config, _) = ok(&["--hubs", "h"], &[("WASMHUB_CORS_ORIGIN", "*")]);
    assert_eq!(config.cors_origins, ["*"]);
    let layer = file::parse("cors-origin = [\"http://c.example\"]", Path::new("w.toml")).unwrap();
    assert_eq!(layer.cors_origin, Some(vec!["http://c.example".to_owned()]));
    let error = err(
        &["--hubs", "h", "--cors-origin", "http://a.example/app"],
        &[],
    )
    .to_string();
    assert!(error.contains("did you mean http://a.example?"), "{error}");
    let error = err(&["--hubs", "h", "--cors-origin", "a.example"], &[]).to_string();
    assert!(error.starts_with("--cors-origin 'a.example'"), "{error}");
}

#[test]
fn sizes_in_the_file_are_numbers_or_strings() {
    let text = "max-message-size = 1024\nhub-memory = \"32MiB\"\noutbound-buffer = \"2 MiB\"";
    let layer = file::parse(text, Path::new("w.toml")).unwrap();
    assert_eq!(layer.max_message_size, Some(1024));
    assert_eq!(layer.hub_memory, Some(32 << 20));
    assert_eq!(layer.outbound_buffer, Some(2 << 20));
}

#[test]
fn node_timeout_must_exceed_two_heartbeats() {
    let error = err(&["--hubs", "h", "--node-timeout", "10s"], &[]);
    assert_eq!(
        error.to_string(),
        "--node-timeout 10s must be longer than twice --heartbeat-interval 5s"
    );
    let vars = [("WASMHUB_HEARTBEAT_INTERVAL", "200ms")];
    let error = err(&["--hubs", "h", "--node-timeout", "400ms"], &vars);
    assert_eq!(
        error.to_string(),
        "--node-timeout 400ms must be longer than twice --heartbeat-interval 200ms"
    );
    let (config, _) = ok(&["--hubs", "h", "--node-timeout", "401ms"], &vars);
    assert_eq!(config.node_timeout, Duration::from_millis(401));
    // The default node timeout against a longer heartbeat from the file.
    let file = TempFile::new("heartbeat", "hubs = \"h\"\nheartbeat-interval = \"10s\"");
    let error = err(&["--config", file.arg()], &[]).to_string();
    assert_eq!(
        error,
        "--node-timeout 20s must be longer than twice --heartbeat-interval 10s"
    );
}

#[test]
fn durations_and_sizes_must_be_positive() {
    for flag in ["--keep-alive", "--heartbeat-interval", "--invoke-timeout"] {
        let error = err(&["--hubs", "h", flag, "0s"], &[]).to_string();
        assert_eq!(error, format!("{flag} must be more than 0"));
    }
    let error = err(&["--hubs", "h", "--max-message-size", "0"], &[]).to_string();
    assert_eq!(error, "--max-message-size must be more than 0");
}

#[test]
fn redis_urls() {
    for url in [
        "redis://localhost",
        "redis://127.0.0.1:6379/0",
        "rediss://:secret@cache.example.com:6380/2",
        "redis://user:secret@cache/15",
    ] {
        let (config, _) = ok(&["--hubs", "h", "--redis", url], &[]);
        assert_eq!(config.redis.as_deref(), Some(url));
    }
    for (url, why) in [
        ("localhost:6379", "scheme"),
        ("http://localhost", "scheme"),
        ("redis://", "no host"),
        ("redis:///0", "no host"),
        ("redis://localhost/cache", "database number"),
        ("redis://:secret@host:port", "invalid port"),
    ] {
        let error = err(&["--hubs", "h", "--redis", url], &[]);
        let text = error.to_string();
        assert!(
            matches!(error, SettingsError::Redis { .. }),
            "{url}: {text}"
        );
        assert!(text.contains(why), "{url}: {text}");
        assert!(!text.contains("secret"), "password shown: {text}");
    }
}

#[test]
fn names_in_backplane_keys() {
    for prefix in ["", "my app", "tab\there"] {
        let error = err(&["--hubs", "h", "--channel-prefix", prefix], &[]).to_string();
        assert!(error.starts_with("--channel-prefix '"), "{error}");
    }
    let (config, _) = ok(&["--hubs", "h"], &[("WASMHUB_CHANNEL_PREFIX", "prod:eu")]);
    assert_eq!(config.channel_prefix, "prod:eu");
    let error = err(&["--hubs", "h", "--node-id", "a b"], &[]).to_string();
    assert_eq!(
        error,
        "--node-id 'a b': ' ' is not allowed: use letters, digits, '-', '_' and '.'"
    );
}

#[test]
fn jwt_keys_exclude_each_other_across_sources() {
    let vars = [("WASMHUB_JWT_SECRET", "s3cret")];
    let (config, _) = ok(&["--hubs", "h"], &vars);
    assert!(matches!(
        config.jwt.as_ref().map(|j| &j.key),
        Some(wasmhub::config::JwtKey::Secret(_))
    ));
    let (config, _) = ok(
        &[
            "--hubs",
            "h",
            "--jwt-issuer",
            "me",
            "--jwt-audience",
            "hubs",
        ],
        &vars,
    );
    let jwt = config.jwt.unwrap();
    assert_eq!(
        (jwt.issuer.as_deref(), jwt.audience.as_deref()),
        (Some("me"), Some("hubs"))
    );
    let error = err(&["--hubs", "h", "--jwt-issuer", "me"], &[]);
    assert!(
        matches!(error, SettingsError::JwtClaimWithoutKey),
        "{error}"
    );
    let error = err(&["--hubs", "h", "--jwt-public-key", "k.pem"], &vars);
    assert!(matches!(error, SettingsError::JwtBoth), "{error}");
    let error = err(&["--hubs", "h", "--jwt-secret", ""], &[]);
    assert!(matches!(error, SettingsError::JwtSecretEmpty), "{error}");
}

/// Every flag (but --config, which names the file) is read from the
/// environment and accepted as a file key: a new flag cannot be forgotten
/// in one of the sources.
#[test]
fn every_flag_has_a_variable_and_a_file_key() {
    let command = TestCli::command();
    let flags: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .filter(|long| *long != "config")
        .map(str::to_owned)
        .collect();
    assert!(flags.contains("redis") && flags.contains("node-timeout"));

    let asked = Mutex::new(BTreeSet::new());
    let recording = |name: &str| {
        asked.lock().unwrap().insert(name.to_owned());
        None
    };
    env::layer(&recording).unwrap();
    let expected: BTreeSet<String> = flags.iter().map(|f| env::var_name(f)).collect();
    assert_eq!(*asked.lock().unwrap(), expected);

    // A key the file does not know is refused as "unknown field"; a key it
    // knows either takes `[]` or refuses it for its type, never as unknown.
    for flag in &flags {
        if let Err(error) = file::parse(&format!("{flag} = []"), Path::new("w.toml")) {
            let text = error.to_string();
            assert!(!text.contains("unknown field"), "{flag}: {text}");
        }
    }
}

/// `--help` states each default; check those texts against `Config::new`
/// so they cannot drift apart.
#[test]
fn help_states_the_real_defaults() {
    let defaults = Config::new("h");
    let command = TestCli::command();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let Some(start) = help.find("[default: ") else {
            assert!(help.contains("[required]"), "--{long} states no default");
            continue;
        };
        let end = help[start..].find(']').expect("closing bracket") + start;
        let stated = &help[start + "[default: ".len()..end];
        let duration = |value| assert_eq!(parse_duration(stated), Ok(value), "--{long}");
        let size = |value| assert_eq!(parse_bytes(stated), Ok(value), "--{long}");
        match long {
            "listen" => assert_eq!(stated, DEFAULT_LISTEN),
            "channel-prefix" => assert_eq!(stated, defaults.channel_prefix),
            "heartbeat-interval" => duration(defaults.heartbeat_interval),
            "node-timeout" => duration(defaults.node_timeout),
            "keep-alive" => duration(defaults.keep_alive),
            "client-timeout" => duration(defaults.client_timeout),
            "handshake-timeout" => duration(defaults.handshake_timeout),
            "write-timeout" => duration(defaults.write_timeout),
            "invoke-timeout" => duration(defaults.invoke_timeout),
            "hub-deadline" => duration(defaults.hub_deadline),
            "max-message-size" => size(defaults.max_message_size),
            "hub-memory" => size(defaults.hub_memory),
            "outbound-buffer" => size(defaults.outbound_buffer),
            "http-timeout" => duration(defaults.http.timeout),
            "http-max-response" => size(defaults.http.max_response),
            "instance-max-calls" => {
                assert_eq!(stated, defaults.instance_max_calls.to_string());
            }
            "compile-cache" => assert!(stated.starts_with("$XDG_CACHE_HOME/wasmhub")),
            "watch" => assert_eq!(stated, defaults.watch.to_string()),
            "poll-timeout" => duration(defaults.poll_timeout),
            "disconnect-timeout" => duration(defaults.disconnect_timeout),
            "stateful-reconnect" => {
                assert_eq!(stated, defaults.stateful_reconnect.to_string());
            }
            "stateful-reconnect-buffer" => size(defaults.stateful_reconnect_buffer),
            "log-format" => assert_eq!(
                wasmhub::logging::parse_format(stated),
                Ok(defaults.log_format)
            ),
            "trace-sample" => assert_eq!(stated.parse::<f64>(), Ok(defaults.trace_sample)),
            _ => assert!(
                stated == "none"
                    || stated.starts_with("none,")
                    || stated.starts_with("random")
                    || stated.starts_with("any "),
                "--{long}: {stated}"
            ),
        }
    }
}

/// `examples/wasmhub.toml` with every commented key switched on still
/// parses, and states the defaults.
#[test]
fn example_config_file_parses_with_every_key() {
    let example = include_str!("../../../examples/wasmhub.toml");
    let mut keys = BTreeSet::new();
    let text: String = example
        .lines()
        .map(|line| {
            let setting = line.strip_prefix("# ").and_then(|rest| {
                let (key, _) = rest.split_once(" = ")?;
                key.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-')
                    .then_some(rest)
            });
            let line = setting.unwrap_or(line);
            if let Some((key, _)) = line.split_once(" = ") {
                keys.insert(key.to_owned());
            }
            format!("{line}\n")
        })
        .collect();
    let path = Path::new("/repo/examples/wasmhub.toml");
    let layer = file::parse(&text, path).unwrap_or_else(|e| panic!("{e}"));
    let flags = TestCli::command()
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .filter(|long| *long != "config")
        .count();
    assert_eq!(keys.len(), flags, "every flag is in the example: {keys:?}");
    let defaults = Config::new("h");
    assert_eq!(
        layer.hubs.unwrap(),
        Path::new("/repo/examples/../target/hubs")
    );
    assert_eq!(layer.heartbeat_interval, Some(defaults.heartbeat_interval));
    assert_eq!(layer.node_timeout, Some(defaults.node_timeout));
    assert_eq!(layer.hub_memory, Some(defaults.hub_memory));
    assert_eq!(layer.max_message_size, Some(defaults.max_message_size));
    assert_eq!(layer.instance_max_calls, Some(defaults.instance_max_calls));
    assert_eq!(layer.poll_timeout, Some(defaults.poll_timeout));
    assert_eq!(
        layer.cors_origin,
        Some(vec!["https://app.example.com".to_owned()])
    );
}

#[test]
fn api_keys_from_the_flag_the_environment_and_a_file_never_printed() {
    let (config, _) = ok(&["--hubs", "h"], &[]);
    assert!(
        config.api_keys.is_empty(),
        "the server API is off by default"
    );
    let long = "k-0123456789abcdef";
    let (config, _) = ok(
        &["--hubs", "h", "--api-key", &format!("{long}1,{long}2")],
        &[],
    );
    assert_eq!(config.api_keys, [format!("{long}1"), format!("{long}2")]);
    let (config, _) = ok(&["--hubs", "h"], &[("WASMHUB_API_KEY", long)]);
    assert_eq!(config.api_keys, [long]);
    let file = TempFile::new(
        "keys",
        &format!("# keys of the order service\n\n{long}3\n  {long}4  \n"),
    );
    let (config, _) = ok(
        &[
            "--hubs",
            "h",
            "--api-key",
            long,
            "--api-key-file",
            file.arg(),
        ],
        &[],
    );
    assert_eq!(
        config.api_keys,
        [long.to_owned(), format!("{long}3"), format!("{long}4")]
    );

    let error = err(&["--hubs", "h", "--api-key", "short-secret"], &[]).to_string();
    assert!(
        error.contains("at least 16 characters (key 1 has 12)"),
        "{error}"
    );
    assert!(
        !error.contains("short-secret"),
        "the key is not printed: {error}"
    );
    let empty = TempFile::new("no-keys", "# nothing yet\n");
    let error = err(&["--hubs", "h", "--api-key-file", empty.arg()], &[]).to_string();
    assert!(error.contains("holds no key"), "{error}");
    let error = err(
        &["--hubs", "h"],
        &[("WASMHUB_API_KEY", &format!("{long}9,"))],
    )
    .to_string();
    assert!(error.contains("item 2 of 2 is empty"), "{error}");
    assert!(!error.contains(long), "the key is not printed: {error}");
    let error = err(&["--hubs", "h", "--api-key-file", "/nonexistent/keys"], &[]).to_string();
    assert!(
        error.contains("--api-key-file /nonexistent/keys"),
        "{error}"
    );
}

#[test]
fn log_format_is_text_or_json() {
    use wasmhub::config::LogFormat;
    assert_eq!(ok(&["--hubs", "h"], &[]).0.log_format, LogFormat::Text);
    let (config, _) = ok(&["--hubs", "h"], &[("WASMHUB_LOG_FORMAT", "json")]);
    assert_eq!(config.log_format, LogFormat::Json);
    let error = err(&["--hubs", "h", "--log-format", "xml"], &[]).to_string();
    assert!(
        error.contains("--log-format: 'xml' is not a log format"),
        "{error}"
    );
}

#[test]
fn tracing_needs_an_http_collector_and_a_share_from_0_to_1() {
    let (config, _) = ok(&["--hubs", "h"], &[]);
    assert_eq!((config.otlp_endpoint, config.trace_sample), (None, 1.0));
    let (config, _) = ok(
        &["--hubs", "h", "--otlp-endpoint", "http://127.0.0.1:4318"],
        &[("WASMHUB_TRACE_SAMPLE", "0.25")],
    );
    assert_eq!(
        config.otlp_endpoint.map(|u| u.to_string()).as_deref(),
        Some("http://127.0.0.1:4318/")
    );
    assert_eq!(config.trace_sample, 0.25);
    for (flag, value, says) in [
        (
            "--otlp-endpoint",
            "https://collector:4318",
            "expected http://HOST:PORT",
        ),
        (
            "--otlp-endpoint",
            "collector:4318",
            "expected http://HOST:PORT",
        ),
        ("--otlp-endpoint", "not a url", "is not a URL"),
        ("--trace-sample", "1.5", "from 0 to 1"),
        ("--trace-sample", "half", "from 0 to 1"),
    ] {
        let error = err(&["--hubs", "h", flag, value], &[]).to_string();
        assert!(error.contains(says), "{flag} {value}: {error}");
    }
}

#[test]
fn list_flags_may_be_repeated_and_their_values_add_up() {
    let long = "k-0123456789abcdef";
    let (config, _) = ok(
        &[
            "--api-key",
            &format!("{long}1"),
            "--hubs",
            "h",
            &format!("--api-key={long}2,{long}3"),
            "--cors-origin",
            "http://a.test",
            "--api-key",
            &format!("{long}4"),
            "--cors-origin=http://b.test",
        ],
        &[],
    );
    assert_eq!(
        config.api_keys,
        [1, 2, 3, 4].map(|i| format!("{long}{i}")),
        "in the order given"
    );
    assert_eq!(config.cors_origins, ["http://a.test", "http://b.test"]);
    // Not a list flag: clap still refuses a second one.
    let twice = TestCli::try_parse_from(join_repeated(
        ["serve", "--hubs", "a", "--hubs", "b"].map(OsString::from),
    ));
    assert!(twice.is_err());
    // A flag is no value: clap says the value is missing.
    let missing = TestCli::try_parse_from(join_repeated(
        ["serve", "--api-key", "--hubs", "h"].map(OsString::from),
    ));
    assert!(missing.is_err(), "--hubs taken as a key");
    // After `--` nothing is touched.
    assert_eq!(
        join_repeated(["serve", "--", "--api-key", "x"].map(OsString::from)),
        ["serve", "--", "--api-key", "x"]
    );
}

#[test]
fn a_bad_list_item_is_named_by_its_place_never_printed() {
    let secret = "very-secret-key-0123456789";
    for args in [
        vec!["--hubs", "h", "--api-key", &format!("{secret},")],
        vec!["--hubs", "h", "--api-key", secret, "--api-key", ""],
    ] {
        let error = err(&args, &[]).to_string();
        assert!(error.contains("--api-key: item 2 of 2 is empty"), "{error}");
        assert!(!error.contains(secret), "the key is not printed: {error}");
    }
}

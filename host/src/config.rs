//! Settings of a running host, with the defaults of ASP.NET Core SignalR
//! where it has one, and the parsers for sizes given on the command line.

use std::path::PathBuf;
use std::time::Duration;

/// How tokens are checked, when identity is configured.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret.
    Secret(Vec<u8>),
    /// RS256 with a PEM public key.
    RsaPem(Vec<u8>),
}

/// Bearer-token checking, when identity is configured.
#[derive(Clone)]
pub struct Jwt {
    pub key: JwtKey,
    /// Required `iss` claim, when set.
    pub issuer: Option<String>,
    /// Required `aud` claim (one of its values), when set.
    pub audience: Option<String>,
}

/// How the host writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Text lines for people.
    #[default]
    Text,
    /// One flat JSON object a line ([`crate::logging`]).
    Json,
}

/// Everything the host needs to know to serve.
#[derive(Clone)]
pub struct Config {
    /// Directory of `<name>.wasm` hubs.
    pub hubs_dir: PathBuf,
    /// Optional directory of static files served at `/`.
    pub web_dir: Option<PathBuf>,
    /// This node's id, in presence answers and in the backplane's keys. A
    /// stable id lets a restarted node clean up after its predecessor.
    pub node_id: String,
    /// The Redis-compatible backplane (`redis://` or `rediss://` URL);
    /// without one, everything stays in this process's memory.
    pub redis: Option<String>,
    /// Prefix of every backplane key and channel.
    pub channel_prefix: String,
    /// How often this node writes its heartbeat and sweeps dead nodes.
    pub heartbeat_interval: Duration,
    /// A node whose heartbeat is older than this is dead and swept.
    pub node_timeout: Duration,
    pub jwt: Option<Jwt>,
    /// Server Ping after this long without sending anything.
    pub keep_alive: Duration,
    /// Close a client we heard nothing from for this long.
    pub client_timeout: Duration,
    /// Longest a write to one client may take; a client that reads
    /// nothing for this long is closed and leaves presence.
    pub write_timeout: Duration,
    /// Close a client that sent no valid handshake within this time.
    pub handshake_timeout: Duration,
    /// Largest record a client may send, in bytes.
    pub max_message_size: usize,
    /// Default wait for a client result.
    pub invoke_timeout: Duration,
    /// A hub's own running time per call (time awaiting the host excluded).
    pub hub_deadline: Duration,
    /// Linear memory one hub instance may use.
    pub hub_memory: usize,
    /// Bytes that may wait to be written to one client.
    pub outbound_buffer: usize,
    /// Where compiled hubs are cached by content hash; `None` compiles
    /// every load.
    pub compile_cache: Option<PathBuf>,
    /// Whether the hubs directory is watched for new, changed and removed
    /// files.
    pub watch: bool,
    /// Calls one warm instance serves before it is replaced.
    pub instance_max_calls: u32,
    /// Instances of one hub version running at once.
    pub max_instances_per_hub: usize,
    /// Browser origins allowed besides the host's own (`*`: any).
    pub cors_origins: Vec<String>,
    /// Outbound HTTP for hubs: the hosts any hub may be granted, the
    /// longest request and the largest response (each hub's bounds).
    pub http: crate::outbound::HttpLimits,
    /// A long poll with nothing to send answers empty after this long.
    pub poll_timeout: Duration,
    /// An HTTP-transport connection with no request open for this long
    /// is closed (ASP.NET Core's DisconnectTimeout).
    pub disconnect_timeout: Duration,
    /// Whether clients that ask at negotiate get stateful reconnect.
    pub stateful_reconnect: bool,
    /// Bytes of unacknowledged messages kept per connection for a replay
    /// after a reconnect; past it, sending waits for the client's acks.
    pub stateful_reconnect_buffer: usize,
    /// Keys that open the server API and the dashboard; none keeps both
    /// off.
    pub api_keys: Vec<String>,
    pub log_format: LogFormat,
    /// The OpenTelemetry collector traces go to; none keeps tracing off.
    pub otlp_endpoint: Option<url::Url>,
    /// Share of new traces kept (0 to 1).
    pub trace_sample: f64,
    /// Keep compiled functions for the next version of a hub (`wasmhub
    /// dev`; no flag: a server swaps too rarely to pay its memory).
    pub incremental_compilation: bool,
}

impl Config {
    /// Defaults for everything but the hubs directory.
    pub fn new(hubs_dir: impl Into<PathBuf>) -> Self {
        Self {
            hubs_dir: hubs_dir.into(),
            web_dir: None,
            node_id: format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            redis: None,
            channel_prefix: "wasmhub".to_owned(),
            heartbeat_interval: Duration::from_secs(5),
            node_timeout: Duration::from_secs(20),
            jwt: None,
            keep_alive: Duration::from_secs(15),
            client_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(10),
            max_message_size: 32 * 1024,
            invoke_timeout: Duration::from_secs(15),
            hub_deadline: Duration::from_secs(5),
            hub_memory: 64 << 20,
            outbound_buffer: 1 << 20,
            compile_cache: crate::runtime::cache::default_dir(),
            watch: true,
            instance_max_calls: 10_000,
            max_instances_per_hub: 128,
            cors_origins: Vec::new(),
            http: crate::outbound::HttpLimits {
                allow: Vec::new(),
                timeout: Duration::from_secs(10),
                max_response: 1 << 20,
            },
            poll_timeout: Duration::from_secs(90),
            disconnect_timeout: Duration::from_secs(15),
            stateful_reconnect: true,
            stateful_reconnect_buffer: 100_000,
            api_keys: Vec::new(),
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            trace_sample: 1.0,
            incremental_compilation: false,
        }
    }
}

/// Parses `32768`, `32KiB`, `64MiB`, `1GiB` (also `KB`/`MB`/`GB`,
/// meaning the same powers of two, and `k`/`m`/`g`).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size: expected e.g. 32768, 32KiB or 64MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{text}': use KiB, MiB or GiB"
            ));
        }
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// `67108864` → `64 MiB`, for messages.
pub fn format_bytes(bytes: usize) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

/// Parses `200ms`, `5s`, `1m 30s` (humantime).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("'{text}' is not a duration ({e}): expected e.g. 200ms, 5s or 1m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("32768"), Ok(32768));
        assert_eq!(parse_bytes("32KiB"), Ok(32768));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1 gb"), Ok(1 << 30));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
        assert_eq!(format_bytes(64 << 20), "64 MiB");
        assert_eq!(format_bytes(1000), "1000 bytes");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("soon").is_err());
    }
}

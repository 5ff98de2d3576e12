//! The `wasmhub` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use wasmhub::config::{Config, JwtKey, parse_bytes, parse_duration};

/// Real-time hubs whose logic is WebAssembly components, for unmodified
/// SignalR clients.
#[derive(Parser)]
#[command(name = "wasmhub", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every <name>.wasm in a directory as a hub at /hubs/<name>.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Directory of hub components (<name>.wasm).
    #[arg(long, env = "WASMHUB_HUBS")]
    hubs: PathBuf,
    /// Address to listen on; port 0 takes a free port.
    #[arg(long, env = "WASMHUB_LISTEN", default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
    /// Directory of static files served at / (the chat page).
    #[arg(long, env = "WASMHUB_WEB")]
    web: Option<PathBuf>,
    /// This node's id (default: random).
    #[arg(long, env = "WASMHUB_NODE_ID")]
    node_id: Option<String>,
    /// Require a bearer JWT signed with this HS256 secret.
    #[arg(
        long,
        env = "WASMHUB_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_public_key"
    )]
    jwt_secret: Option<String>,
    /// Require a bearer JWT signed (RS256) by the key in this PEM file.
    #[arg(long, env = "WASMHUB_JWT_PUBLIC_KEY")]
    jwt_public_key: Option<PathBuf>,
    /// Send a Ping after this long without sending anything.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    keep_alive: Duration,
    /// Close a client that sent nothing for this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    client_timeout: Duration,
    /// Close a client without a valid handshake after this long.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    handshake_timeout: Duration,
    /// Largest message a client may send (e.g. 32768, 32KiB).
    #[arg(long, default_value = "32KiB", value_parser = parse_bytes)]
    max_message_size: usize,
    /// How long a hub waits for a client result by default.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    invoke_timeout: Duration,
    /// A hub's own running time per call (waiting on clients excluded).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    hub_deadline: Duration,
    /// Linear memory one hub instance may use.
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes)]
    hub_memory: usize,
    /// Bytes that may wait to be sent to one client before it is closed
    /// as too slow.
    #[arg(long, default_value = "1MiB", value_parser = parse_bytes)]
    outbound_buffer: usize,
    /// Calls one warm hub instance serves before it is replaced.
    #[arg(long, default_value_t = 10_000)]
    instance_max_calls: u32,
}

fn config(args: ServeArgs) -> anyhow::Result<(Config, SocketAddr)> {
    let mut config = Config::new(args.hubs);
    config.web_dir = args.web;
    if let Some(id) = args.node_id {
        config.node_id = id;
    }
    config.jwt = match (args.jwt_secret, args.jwt_public_key) {
        (Some(secret), _) if secret.is_empty() => anyhow::bail!("--jwt-secret must not be empty"),
        (Some(secret), _) => Some(JwtKey::Secret(secret.into_bytes())),
        (None, Some(path)) => {
            let pem = std::fs::read(&path).map_err(|e| {
                anyhow::anyhow!("cannot read --jwt-public-key {}: {e}", path.display())
            })?;
            jsonwebtoken::DecodingKey::from_rsa_pem(&pem).map_err(|e| {
                anyhow::anyhow!(
                    "--jwt-public-key {} is not an RSA public key in PEM: {e}",
                    path.display()
                )
            })?;
            Some(JwtKey::RsaPem(pem))
        }
        (None, None) => None,
    };
    config.keep_alive = args.keep_alive;
    config.client_timeout = args.client_timeout;
    config.handshake_timeout = args.handshake_timeout;
    config.max_message_size = args.max_message_size;
    config.invoke_timeout = args.invoke_timeout;
    config.hub_deadline = args.hub_deadline;
    config.hub_memory = args.hub_memory;
    config.outbound_buffer = args.outbound_buffer;
    config.instance_max_calls = args.instance_max_calls.max(1);
    if config.max_message_size == 0 {
        anyhow::bail!("--max-message-size must be more than 0");
    }
    if config.keep_alive.is_zero() || config.client_timeout.is_zero() {
        anyhow::bail!("--keep-alive and --client-timeout must be more than 0");
    }
    Ok((config, args.listen))
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Serve(args) => {
            let (config, listen) = config(args)?;
            tokio::runtime::Runtime::new()?.block_on(wasmhub::server::serve(config, listen))
        }
    }
}

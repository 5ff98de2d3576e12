//! The `wasmhub` command line.

use clap::{Parser, Subcommand};

mod settings;

use settings::ServeArgs;

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
    match cli.command {
        Command::Serve(args) => {
            // Settings first: they say how to log (their errors go to stderr).
            let (config, listen) = settings::resolve(args, &settings::process_env)?;
            wasmhub::logging::init(config.log_format, &config.node_id);
            tokio::runtime::Runtime::new()?.block_on(wasmhub::server::serve(config, listen))
        }
    }
}

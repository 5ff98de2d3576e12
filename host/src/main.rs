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
            let (config, listen) = settings::resolve(args, &settings::process_env)?;
            tokio::runtime::Runtime::new()?.block_on(wasmhub::server::serve(config, listen))
        }
    }
}

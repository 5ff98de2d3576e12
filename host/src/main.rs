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
    match run(Cli::parse_from(
        settings::join_repeated(std::env::args_os()),
    )) {
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
            let traces = match &config.otlp_endpoint {
                Some(endpoint) => Some(wasmhub::telemetry::otlp_provider(
                    endpoint,
                    &config.node_id,
                    config.trace_sample,
                )?),
                None => None,
            };
            wasmhub::logging::init(config.log_format, &config.node_id, traces.as_ref());
            let served =
                tokio::runtime::Runtime::new()?.block_on(wasmhub::server::serve(config, listen));
            // The last batch of spans, bounded by the export timeout.
            if let Some(traces) = traces
                && let Err(error) = traces.shutdown()
            {
                eprintln!("warning: the last traces were not all exported: {error}");
            }
            served
        }
    }
}

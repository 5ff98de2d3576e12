//! The `wasmhub` command line.

use std::path::PathBuf;

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
    /// Write a new hub project: the smallest useful hub (Echo, a room's
    /// Join and Send), its own copy of the SDK and the WIT world, a README.
    New {
        /// The hub's name: the project's directory and /hubs/<name>.
        name: String,
        /// rust, python, js or c.
        #[arg(long, value_name = "LANG", value_parser = wasmhub::project::Language::parse)]
        lang: wasmhub::project::Language,
        /// Where the project's directory goes [default: .].
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Build the hub project in DIR into DIR/hubs/<name>.wasm.
    Build {
        /// The project [default: .].
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Build the project in DIR, serve DIR/hubs, and rebuild and swap the
    /// hub in on every change of its sources, one line per rebuild. Takes
    /// every `serve` flag but --hubs; outbound HTTP goes where the
    /// project's hub.toml grants unless --http-allow narrows it.
    Dev {
        /// The project [default: .].
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
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
        Command::New { name, lang, dir } => {
            let made = wasmhub::project::create(&dir, &name, lang)?;
            println!(
                "wrote {} ({} hub '{name}'); next:",
                made.display(),
                lang.name()
            );
            println!("  cd {} && wasmhub dev", made.display());
            Ok(())
        }
        Command::Build { dir } => {
            let project = wasmhub::project::Project::open(&dir)?;
            let built = wasmhub::project::build(&project)?;
            println!(
                "built {} in {} ms",
                built.wasm.display(),
                built.took.as_millis()
            );
            Ok(())
        }
        Command::Dev { dir, mut serve } => {
            let project = wasmhub::project::Project::open(&dir)?;
            std::fs::create_dir_all(project.hubs_dir())?;
            serve.layer.hubs = Some(project.hubs_dir());
            let (mut config, listen) = settings::resolve(serve, &settings::process_env)?;
            config.incremental_compilation = true;
            // On the author's own machine the project's hub.toml alone
            // decides where the hub may send HTTP, unless --http-allow
            // narrows it.
            if config.http.allow.is_empty() {
                config.http.allow = vec!["*:*".parse().map_err(anyhow::Error::msg)?];
            }
            wasmhub::logging::init(config.log_format, &config.node_id, None);
            tokio::runtime::Runtime::new()?
                .block_on(wasmhub::project::dev::run(project, config, listen))
        }
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

//! `wasmhub-bench`: wasmhub under load beside a socketioxide peer, every
//! figure from the same run on the same machine.
//!
//! Each measurement starts a fresh server pinned to core 0 while this
//! tool runs on core 1. `all` interleaves the servers (wasmhub JSON,
//! wasmhub MessagePack, socketioxide) run after run, takes medians and
//! prints one markdown table; `cargo xtask bench` builds everything in
//! release and runs it.

mod broadcast;
mod cluster;
mod echo;
mod idle;
mod msgpack;
mod paced;
mod report;
mod scrape;
mod server;
mod stats;
mod whisper;
mod wire;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::broadcast::BroadcastRun;
use crate::echo::EchoRun;
use crate::server::Binaries;
use crate::whisper::WhisperRun;
use crate::wire::Dialect;

const USAGE: &str = "\
usage:
  wasmhub-bench echo      [--server S] [--connections 100] [--payload 64] [--seconds 5]
                          [--host-flags '--otlp-endpoint http://127.0.0.1:4318']
  wasmhub-bench broadcast [--server S] [--subscribers 5000] [--rate 20] [--seconds 5]
                          [--nodes 1] [--publishers 1]
  wasmhub-bench idle      [--server S] [--connections 10000]
  wasmhub-bench whisper   [--server S] [--pairs 10] [--rate 10000] [--seconds 5]
  wasmhub-bench scrape    [--server S] [--connections 10000] [--scrapes 100] [--path /metrics]
  wasmhub-bench all       [--pairs 3] [--idle-connections 10000] [--subscribers 5000] [--out FILE]

  S is wasmhub-json (default), wasmhub-msgpack or socketioxide. --host-flags
  are more flags for the wasmhub server (split at spaces). Binaries come
  from WASMHUB_BIN, WASMHUB_HUBS and BENCH_PEER (default target/release/...,
  target/hubs); `cargo xtask bench` builds them and runs `all`.
  broadcast --nodes N (N > 1) spreads the subscribers and the publishers over
  N wasmhub nodes on a private redis-server; whisper sends from node A to
  node B of such a pair. Both need redis-server (and `all` needs
  redis-benchmark) on the PATH.";

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build();
    let result = server::prepare_load_generator()
        .and_then(|()| runtime.map_err(Into::into))
        .and_then(|runtime| runtime.block_on(dispatch(std::env::args().skip(1).collect())));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Command-line options as `--name value` pairs.
struct Options(Vec<(String, String)>);

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut pairs = Vec::new();
        let mut args = args.iter();
        while let Some(name) = args.next() {
            let Some(name) = name.strip_prefix("--") else {
                bail!("unexpected argument `{name}`\n{USAGE}");
            };
            let value = args
                .next()
                .with_context(|| format!("--{name} needs a value\n{USAGE}"))?;
            pairs.push((name.to_owned(), value.clone()));
        }
        Ok(Options(pairs))
    }

    fn take<T: std::str::FromStr>(&mut self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.0.iter().position(|(n, _)| n == name) {
            None => Ok(default),
            Some(i) => {
                let (_, value) = self.0.remove(i);
                value
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--{name} {value}: {e}"))
            }
        }
    }

    fn dialect(&mut self) -> anyhow::Result<Dialect> {
        Dialect::parse(&self.take("server", "wasmhub-json".to_owned())?)
    }

    fn finish(self) -> anyhow::Result<()> {
        match self.0.first() {
            Some((name, _)) => bail!("unknown option --{name}\n{USAGE}"),
            None => Ok(()),
        }
    }
}

async fn dispatch(args: Vec<String>) -> anyhow::Result<()> {
    let Some((command, rest)) = args.split_first() else {
        bail!("no command given\n{USAGE}");
    };
    let mut options = Options::parse(rest)?;
    let binaries = Binaries::from_env();
    match command.as_str() {
        "echo" => {
            let dialect = options.dialect()?;
            let run = EchoRun {
                connections: options.take("connections", 100)?,
                payload: options.take("payload", 64)?,
                warmup: Duration::from_secs(1),
                measure: Duration::from_secs_f64(options.take("seconds", 5.0)?),
                host_flags: options
                    .take("host-flags", String::new())?
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            };
            options.finish()?;
            if !run.host_flags.is_empty() && !dialect.is_wasmhub() {
                bail!("--host-flags are wasmhub flags: not for {}", dialect.name());
            }
            let r = echo::run(&binaries, dialect, run).await?;
            println!(
                "{}: {:.0} round trips/s, server CPU {:.1} us per round trip, p50 {:.2} ms, p99 {:.2} ms; \
                 load generator {:.2} cores busy",
                dialect.name(),
                r.round_trips_per_s,
                r.cpu_us_per_round_trip,
                r.p50_ms,
                r.p99_ms,
                r.load_generator_cores
            );
        }
        "broadcast" => {
            let dialect = options.dialect()?;
            let run = BroadcastRun {
                nodes: options.take("nodes", 1)?,
                subscribers: options.take("subscribers", 5000)?,
                publishers: options.take("publishers", 1)?,
                rate: options.take("rate", 20.0)?,
                duration: Duration::from_secs_f64(options.take("seconds", 5.0)?),
                payload: 64,
            };
            options.finish()?;
            let r = broadcast::run(&binaries, dialect, run).await?;
            println!(
                "{}: {:.0} deliveries/s, {:.3} % delivered, p50 {:.1} ms, p99 {:.1} ms ({}); \
                 cores busy: server {:.2}, load generator {:.2}",
                dialect.name(),
                r.deliveries_per_s,
                r.delivered * 100.0,
                r.p50_ms,
                r.p99_ms,
                if r.sustained() {
                    "sustained"
                } else {
                    "not sustained"
                },
                r.server_cores,
                r.load_generator_cores
            );
        }
        "whisper" => {
            let dialect = options.dialect()?;
            let run = WhisperRun {
                pairs: options.take("pairs", 10)?,
                rate: options.take("rate", 10_000.0)?,
                duration: Duration::from_secs_f64(options.take("seconds", 5.0)?),
                payload: 64,
            };
            options.finish()?;
            let r = whisper::run(&binaries, dialect, run).await?;
            println!(
                "{}: {:.0} whispers/s node A -> node B, {:.3} % delivered, p50 {:.2} ms, p99 {:.2} ms; \
                 cores busy: servers {:.2}, load generator {:.2}",
                dialect.name(),
                r.whispers_per_s,
                r.delivered * 100.0,
                r.p50_ms,
                r.p99_ms,
                r.server_cores,
                r.load_generator_cores
            );
        }
        "scrape" => {
            let dialect = options.dialect()?;
            let connections = options.take("connections", 10_000)?;
            let scrapes = options.take("scrapes", 100)?;
            let path: String = options.take("path", "/metrics".to_owned())?;
            options.finish()?;
            let r = scrape::run(&binaries, dialect, (connections, scrapes), &path).await?;
            println!(
                "{}: GET {path} with {} connections open: {:.2} ms each, {:.2} ms of server CPU, \
                 {} bytes ({} scrapes)",
                dialect.name(),
                r.connections,
                r.ms_per_scrape,
                r.cpu_ms_per_scrape,
                r.bytes,
                r.scrapes
            );
        }
        "idle" => {
            let dialect = options.dialect()?;
            let count = options.take("connections", 10_000)?;
            options.finish()?;
            let r = idle::run(&binaries, dialect, count).await?;
            println!(
                "{}: {} connections, {:.0} setups/s, server RSS {:.1} -> {:.1} MiB, {:.1} KiB per connection",
                dialect.name(),
                r.connections,
                r.setups_per_s,
                r.rss_before_kib as f64 / 1024.0,
                r.rss_after_kib as f64 / 1024.0,
                r.kib_per_connection()
            );
        }
        "all" => {
            let plan = report::Plan {
                pairs: options.take("pairs", 3)?,
                idle_connections: options.take("idle-connections", 10_000)?,
                subscribers: options.take("subscribers", 5000)?,
            };
            let out: String = options.take("out", String::new())?;
            options.finish()?;
            let table = report::run_all(&binaries, plan).await?;
            println!("{table}");
            if !out.is_empty() {
                std::fs::write(&out, &table).with_context(|| format!("cannot write {out}"))?;
                eprintln!("wrote {out}");
            }
        }
        "help" | "-h" | "--help" => println!("{USAGE}"),
        other => bail!("unknown command `{other}`\n{USAGE}"),
    }
    Ok(())
}

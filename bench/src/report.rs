//! `all`: every measurement for every server, interleaved, and the
//! markdown table of medians with the goals beside them.

use std::fmt::Write as _;
use std::time::Duration;

use crate::broadcast::{self, BroadcastResult, BroadcastRun};
use crate::cluster::RedisServer;
use crate::echo::{self, EchoRun};
use crate::idle;
use crate::server::{self, Binaries};
use crate::stats::median;
use crate::whisper::{self, WhisperRun};
use crate::wire::Dialect;

const SERVERS: [Dialect; 3] = [
    Dialect::SignalrJson,
    Dialect::SignalrMessagePack,
    Dialect::SocketIo,
];

/// How much `all` runs.
pub struct Plan {
    /// Interleaved runs per server for echo and idle (medians taken).
    pub pairs: usize,
    pub idle_connections: usize,
    pub subscribers: usize,
}

/// Nodes of the cross-node fan-out (the goal's room spans 3).
const FANOUT_NODES: usize = 3;

/// A room and the rates a search tries on it.
#[derive(Clone, Copy)]
struct Room {
    nodes: usize,
    subscribers: usize,
    publishers: usize,
    first_rate: f64,
    last_rate: f64,
}

/// The small cross-node room: few deliveries per message, many messages,
/// so the backplane's message rate is what is measured (the figure that
/// compares with redis-benchmark's PUBLISH rate).
const SMALL_ROOM: Room = Room {
    nodes: FANOUT_NODES,
    subscribers: 30,
    publishers: 12,
    first_rate: 1_000.0,
    last_rate: 200_000.0,
};

/// The cross-node whisper goal's load.
const WHISPER_RUN: WhisperRun = WhisperRun {
    pairs: 10,
    rate: 10_000.0,
    duration: Duration::from_secs(5),
    payload: 64,
};

/// PUBLISH commands `redis-benchmark` sends for the reference figure.
const REDIS_BENCHMARK_REQUESTS: u64 = 500_000;

/// Which of a column's searches a table row reads.
type PickSearch = fn(&Column) -> &Search;

/// A rate search: the best sustained step and the first that was not.
#[derive(Default)]
struct Search {
    best: Option<(f64, BroadcastResult)>,
    failed: Option<(f64, BroadcastResult)>,
}

/// Per server: the runs' values of one figure.
#[derive(Default)]
struct Column {
    echo_rate: Vec<f64>,
    echo_cpu: Vec<f64>,
    echo_p50: Vec<f64>,
    echo_p99: Vec<f64>,
    echo_load: Vec<f64>,
    idle_kib: Vec<f64>,
    setups: Vec<f64>,
    broadcast: Search,
    /// Cross-node: the same room spread over [`FANOUT_NODES`] nodes.
    fanout: Search,
    /// Cross-node: [`SMALL_ROOM`].
    fanout_small: Search,
    whisper_p50: Vec<f64>,
    whisper_p99: Vec<f64>,
    whisper_delivered: Vec<f64>,
    whisper_cores: Vec<f64>,
}

/// The message rates a search tries on `room`, lowest first.
fn rates(room: Room) -> impl Iterator<Item = f64> {
    std::iter::successors(Some(room.first_rate), |r| Some((r * 1.5).round()))
        .take_while(move |r| *r <= room.last_rate)
}

/// Runs the plan and returns the table.
pub async fn run_all(binaries: &Binaries, plan: Plan) -> anyhow::Result<String> {
    // The cross-node part comes last: fail now, not after minutes of load.
    crate::cluster::check_redis_tools()?;
    let mut columns: Vec<Column> = SERVERS.iter().map(|_| Column::default()).collect();
    let echo_run = EchoRun {
        connections: 100,
        payload: 64,
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(5),
        host_flags: Vec::new(),
    };
    for pair in 1..=plan.pairs {
        for (dialect, column) in SERVERS.iter().zip(&mut columns) {
            eprintln!("echo {pair}/{}: {}", plan.pairs, dialect.name());
            let r = echo::run(binaries, *dialect, echo_run.clone()).await?;
            eprintln!(
                "    {:.0} round trips/s, {:.1} us CPU each",
                r.round_trips_per_s, r.cpu_us_per_round_trip
            );
            column.echo_rate.push(r.round_trips_per_s);
            column.echo_cpu.push(r.cpu_us_per_round_trip);
            column.echo_p50.push(r.p50_ms);
            column.echo_p99.push(r.p99_ms);
            column.echo_load.push(r.load_generator_cores);
        }
    }
    for pair in 1..=plan.pairs {
        for (dialect, column) in SERVERS.iter().zip(&mut columns) {
            eprintln!("idle {pair}/{}: {}", plan.pairs, dialect.name());
            let r = idle::run(binaries, *dialect, plan.idle_connections).await?;
            eprintln!(
                "    {:.1} KiB per connection, {:.0} setups/s",
                r.kib_per_connection(),
                r.setups_per_s
            );
            column.idle_kib.push(r.kib_per_connection());
            column.setups.push(r.setups_per_s);
        }
    }
    for pair in 1..=plan.pairs {
        for (dialect, column) in SERVERS.iter().zip(&mut columns) {
            if !dialect.is_wasmhub() {
                continue;
            }
            eprintln!(
                "whisper {pair}/{}: {} at {} /s, node A -> node B",
                plan.pairs,
                dialect.name(),
                WHISPER_RUN.rate
            );
            let r = whisper::run(binaries, *dialect, WHISPER_RUN).await?;
            eprintln!(
                "    {:.3} % delivered, p50 {:.2} ms, p99 {:.2} ms",
                r.delivered * 100.0,
                r.p50_ms,
                r.p99_ms
            );
            column.whisper_p50.push(r.p50_ms);
            column.whisper_p99.push(r.p99_ms);
            column.whisper_delivered.push(r.delivered * 100.0);
            column.whisper_cores.push(r.server_cores);
        }
    }
    let big_room = Room {
        nodes: 1,
        subscribers: plan.subscribers,
        publishers: 1,
        first_rate: 10.0,
        last_rate: 2_000.0,
    };
    search(binaries, &mut columns, big_room, |c| &mut c.broadcast).await?;
    let spread = Room {
        nodes: FANOUT_NODES,
        ..big_room
    };
    search(binaries, &mut columns, spread, |c| &mut c.fanout).await?;
    search(binaries, &mut columns, SMALL_ROOM, |c| &mut c.fanout_small).await?;
    eprintln!("redis-benchmark: {REDIS_BENCHMARK_REQUESTS} PUBLISH of 64 B");
    let redis = RedisServer::start().await?;
    let redis_publish = redis
        .benchmark_publish(REDIS_BENCHMARK_REQUESTS, 64)
        .await?;
    eprintln!("    {redis_publish:.0} PUBLISH/s");
    Ok(table(&mut columns, &plan, redis_publish))
}

/// Broadcast to `room`: raises the rate step by step, each server until
/// its first step that is not sustained; the steps interleave the
/// servers (only wasmhub runs on several nodes). `search` picks the
/// column's record of this room.
async fn search(
    binaries: &Binaries,
    columns: &mut [Column],
    room: Room,
    search: fn(&mut Column) -> &mut Search,
) -> anyhow::Result<()> {
    let Room {
        nodes, subscribers, ..
    } = room;
    for rate in rates(room) {
        let mut any = false;
        for (dialect, column) in SERVERS.iter().zip(columns.iter_mut()) {
            let search = search(column);
            if search.failed.is_some() || (nodes > 1 && !dialect.is_wasmhub()) {
                continue;
            }
            any = true;
            eprintln!(
                "broadcast {rate} msg/s to {subscribers} on {nodes} node(s): {}",
                dialect.name()
            );
            let run = BroadcastRun {
                nodes,
                subscribers,
                publishers: room.publishers,
                rate,
                duration: Duration::from_secs(5),
                payload: 64,
            };
            let r = broadcast::run(binaries, *dialect, run).await?;
            eprintln!(
                "    {:.0} deliveries/s, {:.3} % delivered, p99 {:.1} ms",
                r.deliveries_per_s,
                r.delivered * 100.0,
                r.p99_ms
            );
            if r.sustained() {
                search.best = Some((rate, r));
            } else {
                search.failed = Some((rate, r));
            }
        }
        if !any {
            return Ok(());
        }
    }
    Ok(())
}

fn table(columns: &mut [Column], plan: &Plan, redis_publish: f64) -> String {
    let mut out = String::new();
    let cores = server::online_cores();
    let pinning = if server::pinned() {
        "server on core 0, load generator on core 1"
    } else {
        "one core shared by server and load generator"
    };
    let _ = writeln!(
        out,
        "wasmhub-bench all, {}: {cores} cores ({pinning}), {} interleaved runs per server, medians; \
         open-files limit {}.\n",
        today(),
        plan.pairs,
        server::open_files_limit()
    );
    let _ = writeln!(
        out,
        "| measure | wasmhub JSON | wasmhub MessagePack | socketioxide | JSON / peer | goal |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    let mut row = |name: &str, figure: &dyn Fn(&mut Column) -> f64, digits: usize, goal: &str| {
        let values: Vec<f64> = columns.iter_mut().map(figure).collect();
        let ratio = if values[2] > 0.0 {
            format!("{:.2}x", values[0] / values[2])
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "| {name} | {:.digits$} | {:.digits$} | {:.digits$} | {ratio} | {goal} |",
            values[0], values[1], values[2]
        );
    };
    row(
        "echo round trips/s (100 conns, 64 B, closed loop)",
        &|c| median(&mut c.echo_rate),
        0,
        ">= 1.25x",
    );
    row(
        "server CPU per echo round trip (us)",
        &|c| median(&mut c.echo_cpu),
        1,
        "<= 0.8x",
    );
    row("echo p50 (ms)", &|c| median(&mut c.echo_p50), 2, "");
    row("echo p99 (ms)", &|c| median(&mut c.echo_p99), 2, "");
    row(
        "echo: load generator cores busy (1.00 = it set the rate)",
        &|c| median(&mut c.echo_load),
        2,
        "",
    );
    let subscribers = plan.subscribers;
    row(
        &format!(
            "broadcast to {subscribers}: highest sustained deliveries/s (>= 99.9 %, p99 <= 250 ms)"
        ),
        &|c| {
            c.broadcast
                .best
                .as_ref()
                .map_or(0.0, |(_, r)| r.deliveries_per_s)
        },
        0,
        ">= 2x",
    );
    row(
        "  at that rate: messages/s sent",
        &|c| c.broadcast.best.as_ref().map_or(0.0, |(rate, _)| *rate),
        0,
        "",
    );
    row(
        "  at that rate: delivery p99 (ms)",
        &|c| c.broadcast.best.as_ref().map_or(0.0, |(_, r)| r.p99_ms),
        1,
        "",
    );
    row(
        "  at that rate: server CPU per delivery (us)",
        &|c| {
            c.broadcast.best.as_ref().map_or(0.0, |(_, r)| {
                r.server_cores * 1e6 / r.deliveries_per_s.max(1.0)
            })
        },
        2,
        "",
    );
    row(
        "  at that rate: load generator cores busy",
        &|c| {
            c.broadcast
                .best
                .as_ref()
                .map_or(0.0, |(_, r)| r.load_generator_cores)
        },
        2,
        "",
    );
    row(
        "  next step up: delivery p99 (ms)",
        &|c| c.broadcast.failed.as_ref().map_or(0.0, |(_, r)| r.p99_ms),
        1,
        "",
    );
    let idle = plan.idle_connections;
    row(
        &format!("memory per idle connection at {idle} (KiB)"),
        &|c| median(&mut c.idle_kib),
        1,
        "<= 8 KB",
    );
    row(
        &format!("connection setups/s ({idle}, 64 in flight)"),
        &|c| median(&mut c.setups),
        0,
        ">= 5,000/s",
    );
    cross_node_table(&mut out, columns, plan, redis_publish);
    out
}

/// The cross-node rows: wasmhub only, beside `redis-benchmark`.
fn cross_node_table(out: &mut String, columns: &mut [Column], plan: &Plan, redis_publish: f64) {
    let _ = writeln!(
        out,
        "\nCross-node: wasmhub nodes on one private redis-server, every server process on the \
         server core; CPU figures are all nodes and Redis together.\n"
    );
    let _ = writeln!(
        out,
        "| cross-node measure | wasmhub JSON | wasmhub MessagePack | reference | JSON / reference | goal |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    let rate = WHISPER_RUN.rate;
    let json_p99 = median(&mut columns[0].whisper_p99);
    let msgpack_p99 = median(&mut columns[1].whisper_p99);
    let _ = writeln!(
        out,
        "| whisper node A -> node B at {rate:.0}/s: p99 (ms) | {json_p99:.2} | {msgpack_p99:.2} \
         | - | - | <= 1 ms |"
    );
    let mut row = |name: &str, figure: &dyn Fn(&mut Column) -> f64, digits: usize| {
        let json = figure(&mut columns[0]);
        let msgpack = figure(&mut columns[1]);
        let _ = writeln!(
            out,
            "| {name} | {json:.digits$} | {msgpack:.digits$} | - | - | |"
        );
    };
    row("  p50 (ms)", &|c| median(&mut c.whisper_p50), 2);
    row("  delivered (%)", &|c| median(&mut c.whisper_delivered), 3);
    row("  server cores busy", &|c| median(&mut c.whisper_cores), 2);
    let rooms: [(String, PickSearch); 2] = [
        (
            format!(
                "{} over {FANOUT_NODES} nodes, 1 publisher",
                plan.subscribers
            ),
            |c| &c.fanout,
        ),
        (
            format!(
                "{} over {FANOUT_NODES} nodes, {} publishers spread over them",
                SMALL_ROOM.subscribers, SMALL_ROOM.publishers
            ),
            |c| &c.fanout_small,
        ),
    ];
    for (room, pick) in rooms {
        fanout_rows(
            out,
            [pick(&columns[0]), pick(&columns[1])],
            &room,
            redis_publish,
        );
    }
}

/// The rows of one cross-node room's search, its deliveries beside
/// redis-benchmark's PUBLISH rate.
fn fanout_rows(out: &mut String, searches: [&Search; 2], room: &str, redis_publish: f64) {
    let best = |s: &Search, figure: &dyn Fn(f64, &BroadcastResult) -> f64| {
        s.best.as_ref().map_or(0.0, |(rate, r)| figure(*rate, r))
    };
    let json = best(searches[0], &|_, r| r.deliveries_per_s);
    let msgpack = best(searches[1], &|_, r| r.deliveries_per_s);
    let _ = writeln!(
        out,
        "| fan-out to {room}: highest sustained deliveries/s | {json:.0} | {msgpack:.0} | \
         redis-benchmark PUBLISH 64 B: {redis_publish:.0}/s | {:.2}x | >= 0.5x |",
        json / redis_publish.max(1.0)
    );
    let mut row = |name: &str, figure: &dyn Fn(f64, &BroadcastResult) -> f64, digits: usize| {
        let json = best(searches[0], figure);
        let msgpack = best(searches[1], figure);
        let _ = writeln!(
            out,
            "| {name} | {json:.digits$} | {msgpack:.digits$} | - | - | |"
        );
    };
    row("  at that rate: messages/s sent", &|rate, _| rate, 0);
    row("  at that rate: delivery p99 (ms)", &|_, r| r.p99_ms, 1);
    row(
        "  at that rate: server CPU per delivery (us)",
        &|_, r| r.server_cores * 1e6 / r.deliveries_per_s.max(1.0),
        2,
    );
    let failed = |s: &Search| s.failed.as_ref().map_or(0.0, |(_, r)| r.p99_ms);
    let _ = writeln!(
        out,
        "|   next step up: delivery p99 (ms) | {:.1} | {:.1} | - | - | |",
        failed(searches[0]),
        failed(searches[1])
    );
}

/// Today's date, from `date` (no time crate for one line).
fn today() -> String {
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

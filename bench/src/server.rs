//! The server under load: a fresh process per run, pinned to core 0
//! (the load generator pins itself to core 1), with its CPU time and
//! resident memory read from /proc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::wire::Dialect;

/// Where the binaries are; `cargo xtask bench` sets these.
pub struct Binaries {
    pub wasmhub: PathBuf,
    pub hubs: PathBuf,
    pub peer: PathBuf,
}

impl Binaries {
    /// From `WASMHUB_BIN`, `WASMHUB_HUBS` and `BENCH_PEER`, defaulting to
    /// the release builds in `target/`.
    pub fn from_env() -> Binaries {
        let var = |name: &str, default: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        Binaries {
            wasmhub: var("WASMHUB_BIN", "target/release/wasmhub"),
            hubs: var("WASMHUB_HUBS", "target/hubs"),
            peer: var("BENCH_PEER", "target/release/socketioxide-peer"),
        }
    }
}

/// A running server, killed when dropped.
pub struct Server {
    pub addr: SocketAddr,
    child: Child,
}

impl Server {
    /// Starts the server `dialect` talks to and waits for `listening on`.
    pub async fn start(binaries: &Binaries, dialect: Dialect) -> anyhow::Result<Server> {
        Self::start_with(binaries, dialect, &[]).await
    }

    /// [`Server::start`] with more wasmhub flags (a cluster node's).
    pub async fn start_with(
        binaries: &Binaries,
        dialect: Dialect,
        flags: &[String],
    ) -> anyhow::Result<Server> {
        let mut command;
        if dialect.is_wasmhub() {
            for path in [&binaries.wasmhub, &binaries.hubs] {
                if !path.exists() {
                    bail!("missing {}: run `cargo xtask bench`", path.display());
                }
            }
            command = on_server_core(&binaries.wasmhub);
            command
                .args(["serve", "--listen", "127.0.0.1:0", "--hubs"])
                .arg(&binaries.hubs)
                .args(flags);
        } else {
            if !binaries.peer.exists() {
                bail!(
                    "missing {}: run `cargo xtask bench`",
                    binaries.peer.display()
                );
            }
            command = on_server_core(&binaries.peer);
            command.arg("127.0.0.1:0");
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let addr = addr.strip_prefix("http://").unwrap_or(addr);
                    return addr.parse().context("listen address");
                }
            }
            bail!("the server exited before listening")
        })
        .await
        .context("the server did not start within 60 s")??;
        // Keep draining stdout so the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server { addr, child })
    }

    /// The server's user + system CPU time so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(&self.child)
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS")
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

/// A command for `program` that runs on core 0, away from the load
/// generator, when the machine has two cores.
pub fn on_server_core(program: &Path) -> Command {
    if pinned() {
        let mut taskset = Command::new("taskset");
        taskset.args(["-c", "0"]).arg(program);
        taskset
    } else {
        Command::new(program)
    }
}

/// A child's user + system CPU time so far, from /proc.
pub fn cpu_time_of(child: &Child) -> anyhow::Result<Duration> {
    let pid = child.id().context("the server has exited")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`: state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')').context("/proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_micros(ticks * 1_000_000 / per_second))
}

/// Whether server and load generator sit on separate cores.
pub fn pinned() -> bool {
    online_cores() >= 2
}

/// The machine's cores (not this process's share: it pins itself).
pub fn online_cores() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize
}

/// Pins this process (the load generator) to core 1 and raises its
/// open-files limit to the hard limit (the servers inherit it).
pub fn prepare_load_generator() -> anyhow::Result<()> {
    // SAFETY: plain syscalls on our own process with valid pointers.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        if pinned() {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(1, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                bail!("cannot pin the load generator to core 1");
            }
        }
    }
    Ok(())
}

/// The open-files limit now in force.
pub fn open_files_limit() -> u64 {
    // SAFETY: getrlimit writes into a valid struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur
    }
}

/// This process's user + system CPU time so far.
pub fn own_cpu_time() -> Duration {
    // SAFETY: getrusage writes into a valid struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

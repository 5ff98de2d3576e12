//! End-to-end harness: the `wasmhub` binary as a real process, and a
//! small Rust client speaking the SignalR JSON protocol over a real
//! WebSocket, for what the official clients never send (bad input).
//!
//! `cargo xtask test` sets `WASMHUB_BIN` and `WASMHUB_HUBS`; without them
//! the harness looks in `target/debug/wasmhub` and `target/hubs`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Default deadline for anything a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How long a host may take to start (it may compile hubs: seconds for a
/// Python one when the compile cache is cold).
pub const START_DEADLINE: Duration = Duration::from_secs(60);

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The host binary under test.
pub fn host_binary() -> PathBuf {
    std::env::var_os("WASMHUB_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/wasmhub"))
}

/// The directory of built example hubs.
pub fn hubs_dir() -> PathBuf {
    std::env::var_os("WASMHUB_HUBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/hubs"))
}

/// The directory of built test fixtures (`tests/hubs/`).
pub fn test_hubs_dir() -> PathBuf {
    std::env::var_os("WASMHUB_TEST_HUBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/test-hubs"))
}

/// A hubs directory of its own, removed on drop.
pub struct HubsDir(PathBuf);

impl HubsDir {
    /// An empty directory.
    pub fn empty() -> anyhow::Result<HubsDir> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wasmhub-hubs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(HubsDir(dir))
    }

    /// A directory with `testhub.wasm` and `manifest` as its `testhub.toml`.
    pub fn with_testhub(manifest: &str) -> anyhow::Result<HubsDir> {
        let hubs = HubsDir::empty()?;
        hubs.write_manifest(manifest)?;
        hubs.add(&hubs_dir(), "testhub", "")?;
        Ok(hubs)
    }

    /// Copies `<hub>.wasm` from `from` in, with `manifest` as its
    /// `<hub>.toml` (none when empty).
    pub fn add(&self, from: &std::path::Path, hub: &str, manifest: &str) -> anyhow::Result<()> {
        if !manifest.is_empty() {
            std::fs::write(self.0.join(format!("{hub}.toml")), manifest)?;
        }
        let wasm = format!("{hub}.wasm");
        std::fs::copy(from.join(&wasm), self.0.join(&wasm)).with_context(|| {
            format!("{} is built (cargo xtask test)", from.join(&wasm).display())
        })?;
        Ok(())
    }

    pub fn manifest(&self) -> PathBuf {
        self.0.join("testhub.toml")
    }

    /// Writes the manifest whole, then renames it in (as editors do).
    pub fn write_manifest(&self, text: &str) -> anyhow::Result<()> {
        let temp = self.0.join(".testhub.toml.tmp");
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, self.manifest())?;
        Ok(())
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for HubsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running host process, killed when dropped.
pub struct Host {
    pub addr: String,
    child: Child,
    /// Lines printed to stdout besides `listening on`.
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// The last [`STDERR_KEPT`] bytes of its log (stderr).
    stderr: Arc<std::sync::Mutex<String>>,
}

/// How much of a host's log [`Host::stderr`] keeps.
const STDERR_KEPT: usize = 256 << 10;

/// Echoes a host's log lines to the test's stderr (shown when it fails)
/// and keeps the tail of them.
async fn keep_log(
    log: BufReader<tokio::process::ChildStderr>,
    kept: Arc<std::sync::Mutex<String>>,
) {
    let mut lines = log.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("{line}");
        let mut kept = kept.lock().expect("stderr lock");
        kept.push_str(&line);
        kept.push('\n');
        if kept.len() > STDERR_KEPT {
            let mut cut = kept.len() - STDERR_KEPT;
            while !kept.is_char_boundary(cut) {
                cut += 1;
            }
            kept.drain(..cut);
        }
    }
}

impl Host {
    /// Starts `wasmhub serve` on a free port with extra arguments and waits
    /// for its `listening on` line.
    pub async fn start(extra: &[&str]) -> anyhow::Result<Host> {
        let hubs = hubs_dir();
        if !hubs.join("testhub.wasm").exists() {
            bail!(
                "missing {}/testhub.wasm: run `cargo xtask test`",
                hubs.display()
            );
        }
        Self::start_in(&hubs, extra).await
    }

    /// Starts `wasmhub serve` on a free port serving the hubs in `hubs`.
    pub async fn start_in(hubs: &std::path::Path, extra: &[&str]) -> anyhow::Result<Host> {
        let mut args: Vec<std::ffi::OsString> = vec!["serve".into(), "--hubs".into()];
        args.push(hubs.into());
        args.extend(extra.iter().map(Into::into));
        Self::run(args, &[]).await
    }

    /// Starts the host binary with `args` (plus `--listen 127.0.0.1:0`)
    /// and `envs`, and waits for its `listening on` line; the lines it
    /// prints after that are kept for [`Host::next_line`].
    pub async fn run(
        args: Vec<std::ffi::OsString>,
        envs: &[(&str, std::ffi::OsString)],
    ) -> anyhow::Result<Host> {
        let bin = host_binary();
        if !bin.exists() {
            bail!("missing {}: run `cargo xtask test`", bin.display());
        }
        let mut child = Command::new(&bin)
            .args(&args)
            .args(["--listen", "127.0.0.1:0"])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let log = BufReader::new(child.stderr.take().context("no stderr")?);
        tokio::spawn(keep_log(log, stderr.clone()));
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let addr = tokio::time::timeout(START_DEADLINE, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let addr = addr.split([';', ' ']).next().unwrap_or(addr);
                    return Ok(addr.to_owned());
                }
                let _ = tx.send(line);
            }
            bail!("the host exited before it was listening")
        })
        .await
        .context("the host did not start listening in time")??;
        // Keep draining stdout so the host never blocks on it.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        Ok(Host {
            addr,
            child,
            lines: rx,
            stderr,
        })
    }

    /// What the host has logged so far (its last 256 KiB).
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// The next line the host printed to stdout, within `within`.
    pub async fn next_line(&mut self, within: Duration) -> anyhow::Result<String> {
        tokio::time::timeout(within, self.lines.recv())
            .await
            .context("no line from the host in time")?
            .context("the host's stdout ended")
    }

    /// `ws://addr/hubs/<hub>?<query>`.
    pub fn ws_url(&self, hub: &str, query: &str) -> String {
        format!("ws://{}/hubs/{hub}?{query}", self.addr)
    }

    /// The process id (to read its memory from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Resident memory of the process in KiB (Linux), from /proc.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Sends SIGKILL and waits for the process to exit.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.pid().context("the host has exited")?;
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        Ok(tokio::time::timeout(DEADLINE, self.child.wait()).await??)
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A private `redis-server` on a free port, killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> anyhow::Result<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut server = RedisServer { port, child: None };
        server.restart()?;
        Ok(server)
    }

    /// Starts it again on the same port (empty: it keeps nothing).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start redis-server (is Redis installed?)")?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if std::time::Instant::now() > deadline {
                bail!("redis-server did not start on port {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Calls per command so far (`INFO commandstats`), e.g. `publish`.
    pub fn command_calls(&self) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "info", "commandstats"])
            .output()
            .context("cannot run redis-cli")?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest
                    .strip_prefix("calls=")?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect())
    }

    /// The keys matching `pattern` (`redis-cli --scan`), sorted.
    pub fn keys(&self, pattern: &str) -> anyhow::Result<Vec<String>> {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--scan", "--pattern", pattern])
            .output()
            .context("cannot run redis-cli")?;
        let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Stops it (kill).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One record the server sent, parsed.
pub type Record = serde_json::Value;

/// A SignalR JSON-protocol client over a raw WebSocket.
pub struct RawClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pending: std::collections::VecDeque<Vec<u8>>,
    partial: Vec<u8>,
    closed: bool,
}

impl RawClient {
    /// Opens the WebSocket (no negotiate, like `skipNegotiation`).
    pub async fn open(url: &str) -> anyhow::Result<RawClient> {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("cannot open {url}"))?;
        Ok(RawClient {
            ws,
            pending: Default::default(),
            partial: Vec::new(),
            closed: false,
        })
    }

    /// Opens and completes the JSON handshake.
    pub async fn connect(url: &str) -> anyhow::Result<RawClient> {
        let mut client = Self::open(url).await?;
        client
            .send_text("{\"protocol\":\"json\",\"version\":1}\u{1e}")
            .await?;
        let answer = client.next_raw().await?;
        if answer != b"{}" {
            bail!("handshake answered {}", String::from_utf8_lossy(&answer));
        }
        Ok(client)
    }

    /// Sends one text frame as is.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// The next record's raw bytes (without separator), within the deadline.
    pub async fn next_raw(&mut self) -> anyhow::Result<Vec<u8>> {
        tokio::time::timeout(DEADLINE, async {
            loop {
                if let Some(record) = self.pending.pop_front() {
                    return Ok(record);
                }
                if self.closed {
                    bail!("the server closed the connection");
                }
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) => self.split(text.as_bytes()),
                    Some(Ok(Message::Binary(bytes))) => self.split(&bytes),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => self.closed = true,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .context("no record arrived in time")?
    }

    fn split(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == 0x1e {
                self.pending.push_back(std::mem::take(&mut self.partial));
            } else {
                self.partial.push(b);
            }
        }
    }

    /// The next record, skipping Pings.
    pub async fn next(&mut self) -> anyhow::Result<Record> {
        loop {
            let raw = self.next_raw().await?;
            let record: Record = serde_json::from_slice(&raw)
                .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&raw)))?;
            if record["type"] != 6 {
                return Ok(record);
            }
        }
    }

    /// Invokes and returns the Completion (other records in between are
    /// skipped: use [`RawClient::next`] when they matter).
    pub async fn invoke(
        &mut self,
        id: &str,
        target: &str,
        args: serde_json::Value,
    ) -> anyhow::Result<Record> {
        let record =
            serde_json::json!({"type": 1, "invocationId": id, "target": target, "arguments": args});
        self.send_text(&format!("{record}\u{1e}")).await?;
        loop {
            let record = self.next().await?;
            if record["type"] == 3 && record["invocationId"] == id {
                return Ok(record);
            }
        }
    }

    /// Waits for the server's Close message and the socket's end; returns
    /// the Close record.
    pub async fn expect_close(&mut self) -> anyhow::Result<Record> {
        loop {
            let record = self.next().await?;
            if record["type"] == 7 {
                // The socket must end after the Close message.
                tokio::time::timeout(DEADLINE, async {
                    while !self.closed {
                        match self.ws.next().await {
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => self.closed = true,
                            Some(Ok(_)) => {}
                        }
                    }
                })
                .await
                .context("the socket stayed open after the Close message")?;
                return Ok(record);
            }
        }
    }
}

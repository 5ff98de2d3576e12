//! The servers of one run: a single server, or N wasmhub nodes sharing
//! a private redis-server. Every process sits on the server core, so a
//! cluster run's CPU figures are the whole cluster's (Redis included).

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::server::{Binaries, Server, cpu_time_of, on_server_core};
use crate::wire::Dialect;

/// How long redis-server may take to answer its first PING.
const REDIS_START: Duration = Duration::from_secs(10);

/// One run's servers, stopped when dropped.
pub struct Cluster {
    pub nodes: Vec<Server>,
    redis: Option<RedisServer>,
}

impl Cluster {
    /// One server for `dialect` when `nodes` is 1; otherwise a
    /// redis-server and `nodes` wasmhub nodes on it.
    pub async fn start(
        binaries: &Binaries,
        dialect: Dialect,
        nodes: usize,
    ) -> anyhow::Result<Cluster> {
        if nodes <= 1 {
            let server = Server::start(binaries, dialect).await?;
            return Ok(Cluster {
                nodes: vec![server],
                redis: None,
            });
        }
        if !dialect.is_wasmhub() {
            bail!("{} has no cluster mode here", dialect.name());
        }
        let redis = RedisServer::start().await?;
        let mut started = Vec::with_capacity(nodes);
        for n in 0..nodes {
            let flags = [
                "--redis".to_owned(),
                redis.url(),
                "--node-id".to_owned(),
                format!("bench-{n}"),
            ];
            started.push(Server::start_with(binaries, dialect, &flags).await?);
        }
        Ok(Cluster {
            nodes: started,
            redis: Some(redis),
        })
    }

    /// The nodes' addresses, in start order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|node| node.addr).collect()
    }

    /// CPU time of every server process so far, Redis included.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let mut total = Duration::ZERO;
        for node in &self.nodes {
            total += node.cpu_time()?;
        }
        if let Some(redis) = &self.redis {
            total += cpu_time_of(&redis.child)?;
        }
        Ok(total)
    }

    /// Stops every process and waits for them.
    pub async fn stop(self) {
        for node in self.nodes {
            node.stop().await;
        }
        if let Some(mut redis) = self.redis {
            redis.child.kill().await.ok();
        }
    }
}

/// A private `redis-server` on a free loopback port, nothing on disk.
pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts it on the server core and waits for its PONG.
    pub async fn start() -> anyhow::Result<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = on_server_core("redis-server".as_ref());
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command
            .spawn()
            .context("cannot start redis-server (Debian: apt-get install redis-server)")?;
        let redis = RedisServer { port, child };
        tokio::time::timeout(REDIS_START, redis.until_pong())
            .await
            .with_context(|| format!("redis-server on port {port} did not answer PING"))?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn until_pong(&self) {
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await
                && stream.write_all(b"PING\r\n").await.is_ok()
            {
                let mut answer = [0u8; 7];
                if stream.read_exact(&mut answer).await.is_ok() && &answer == b"+PONG\r\n" {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What `redis-benchmark` gives for PUBLISH of a `payload`-byte
    /// message to a channel nobody hears (its `-t publish` test, which
    /// Redis 7.0's tool no longer names, as an explicit command): 50
    /// clients, no pipelining, on the load generator's core. PUBLISH
    /// commands per second.
    pub async fn benchmark_publish(&self, requests: u64, payload: usize) -> anyhow::Result<f64> {
        let output = Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-n", &requests.to_string(), "--csv", "publish", "bench"])
            .arg("x".repeat(payload))
            .stderr(Stdio::inherit())
            .output()
            .await
            .context("cannot run redis-benchmark (Debian: apt-get install redis-tools)")?;
        if !output.status.success() {
            bail!("redis-benchmark failed: {}", output.status);
        }
        parse_rate(&String::from_utf8_lossy(&output.stdout))
    }
}

/// Fails with what to install when `redis-server` or `redis-benchmark`
/// is not on the PATH.
pub fn check_redis_tools() -> anyhow::Result<()> {
    for tool in ["redis-server", "redis-benchmark"] {
        std::process::Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| {
                format!(
                    "{tool} is not on the PATH (Debian: apt-get install redis-server redis-tools)"
                )
            })?;
    }
    Ok(())
}

/// The requests/s of the first result row of `redis-benchmark --csv`
/// (after the header).
fn parse_rate(csv: &str) -> anyhow::Result<f64> {
    csv.lines()
        .filter(|line| !line.starts_with("\"test\""))
        .find_map(|line| line.split("\",\"").nth(1))
        .and_then(|rate| rate.parse().ok())
        .with_context(|| format!("no rate in redis-benchmark's output: {csv:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_read_from_the_result_row() {
        let header = "\"test\",\"rps\",\"avg_latency_ms\"\n";
        let csv = format!("{header}\"publish bench xx\",\"129366.11\",\"0.209\"\n");
        assert_eq!(parse_rate(&csv).unwrap(), 129366.11);
        // Only the header: the command was refused.
        assert!(parse_rate(header).is_err());
    }
}

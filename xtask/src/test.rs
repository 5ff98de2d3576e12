//! `cargo xtask test`: every test suite, against freshly built hubs and host.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use crate::browser::{self, Chromium};
use crate::cmd::{self, step};
use crate::{hubs, node, pyclients, valkey, workspace};

/// How each step went, for the summary line.
#[derive(Default)]
struct Report {
    steps: Vec<String>,
    failed: bool,
}

impl Report {
    /// Notes the result of the step `name`; returns whether it passed.
    fn record(&mut self, name: &'static str, result: Result<()>) -> bool {
        match result {
            Ok(()) => {
                self.steps.push(format!("{name} passed"));
                true
            }
            Err(error) => {
                eprintln!("error: {name}: {error:#}");
                self.steps.push(format!("{name} FAILED"));
                self.failed = true;
                false
            }
        }
    }

    /// Notes a step that did not run because an earlier one failed.
    fn skip(&mut self, name: &'static str) {
        self.steps.push(format!("{name} skipped"));
        self.failed = true;
    }

    /// Notes tests that report themselves skipped, and why (not a failure).
    fn skipped_because(&mut self, name: &str, reason: &str) {
        self.steps.push(format!("{name} skipped ({reason})"));
    }

    /// `hubs passed, host build FAILED, ...`
    fn summary(&self) -> String {
        self.steps.join(", ")
    }
}

/// Builds hubs, node modules and host, then runs the cargo tests and the
/// node tests. Setup stops at the first failure; both test suites run
/// whenever setup passed. Ends with a summary line.
pub fn test() -> Result<()> {
    let root = workspace::root();
    let target = workspace::target_dir();
    let hubs_dir = target.join("hubs");
    // Fixtures live apart from target/hubs, which `run` serves.
    let test_hubs_dir = target.join("test-hubs");
    let env = [
        ("WASMHUB_BIN", target.join("debug").join("wasmhub")),
        ("WASMHUB_HUBS", hubs_dir.clone()),
        ("WASMHUB_TEST_HUBS", test_hubs_dir.clone()),
    ];
    let has_node_tests = root.join("tests/node").is_dir();

    let mut report = Report::default();
    let setup_ok = report.record("hubs", hubs::build_into(hubs::EXAMPLES, &hubs_dir))
        && report.record(
            "test hubs",
            hubs::build_into(hubs::TEST_HUBS, &test_hubs_dir),
        )
        && report.record("node modules", node::ensure_modules())
        && report.record("host build", build_host())
        && report.record("compile cache", warm_compile_cache(&env[0].1, &hubs_dir));
    if setup_ok {
        report.record("cargo tests", cargo_tests(&env));
        if has_node_tests {
            let env = client_env(&mut report, &env);
            // The hub-facing suites once per cluster backend; the cluster
            // suites (tests/node/cluster) start their own Redis and nodes,
            // so they run in the first pass only.
            report.record("node tests (memory)", node_tests(&env, "memory", true));
            report.record("node tests (redis)", node_tests(&env, "redis", false));
            report.record("cluster tests (valkey)", valkey_tests(&env));
        }
    } else {
        report.skip("tests");
    }

    step(&format!("summary: {}", report.summary()));
    if report.failed {
        bail!("some steps did not pass");
    }
    Ok(())
}

/// `env` plus what the client suites need: `WASMHUB_PYTHON_CLIENTS` (the
/// Python clients' interpreter) and `WASMHUB_CHROMIUM` (the browser), or
/// `WASMHUB_CHROMIUM_SKIP`, why there is none (the browser tests skip).
fn client_env(
    report: &mut Report,
    env: &[(&'static str, PathBuf)],
) -> Vec<(&'static str, PathBuf)> {
    let mut env = env.to_vec();
    let python = pyclients::ensure();
    if let Ok(python) = &python {
        env.push(("WASMHUB_PYTHON_CLIENTS", python.clone()));
    }
    report.record("python clients", python.map(drop));
    match browser::ensure() {
        Chromium::Ready(path) => {
            step(&format!("browser tests use {}", path.display()));
            env.push(("WASMHUB_CHROMIUM", path));
        }
        Chromium::Missing(reason) => {
            eprintln!("warning: browser tests will be skipped: {reason}");
            report.skipped_because("browser tests", &reason);
            env.push(("WASMHUB_CHROMIUM_SKIP", PathBuf::from(reason)));
        }
    }
    env
}

/// `cargo build -p wasmhub`: the binary the end-to-end tests start.
fn build_host() -> Result<()> {
    step("building the host");
    let mut build = Command::new(workspace::cargo());
    build
        .current_dir(workspace::root())
        .args(["build", "-p", "wasmhub"]);
    cmd::run(&mut build, "install Rust with rustup")
}

/// Starts the host once on the example hubs and stops it once it listens:
/// it compiles every hub into the compile cache, so the many hosts the
/// tests start load them in milliseconds (an 18 MB Python hub takes
/// seconds to compile, too close to the tests' start-up deadlines).
fn warm_compile_cache(host: &std::path::Path, hubs: &std::path::Path) -> Result<()> {
    use std::io::BufRead as _;
    step("compiling the hubs into the compile cache");
    let mut child = Command::new(host)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--watch",
            "false",
            "--hubs",
        ])
        .arg(hubs)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let listening = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("listening on"));
    let _ = child.kill();
    let _ = child.wait();
    if !listening {
        bail!("the host exited before it was listening (see its log above)");
    }
    Ok(())
}

/// Every crate's tests except the hubs' (they only build for wasm).
fn cargo_tests(env: &[(&str, PathBuf)]) -> Result<()> {
    step("running cargo tests");
    let mut test = Command::new(workspace::cargo());
    test.current_dir(workspace::root())
        .args(["test", "--workspace"])
        .envs(env.iter().map(|(key, value)| (key, value)));
    let mut hub_crates = hubs::discover(hubs::EXAMPLES)?;
    hub_crates.extend(hubs::discover(hubs::TEST_HUBS)?);
    // The benchmark's peer only matters to `cargo xtask bench`.
    hub_crates.push("socketioxide-peer".into());
    for hub in &hub_crates {
        test.args(["--exclude", hub]);
    }
    cmd::run(&mut test, "install Rust with rustup")
}

/// The cluster suites (tests/node/cluster) and the Rust backplane tests
/// again, against Valkey instead of Redis.
fn valkey_tests(env: &[(&str, PathBuf)]) -> Result<()> {
    let (server, cli) = valkey::ensure()?;
    step(&format!(
        "running the cluster tests against {}",
        server.display()
    ));
    let valkey = [("WASMHUB_REDIS_SERVER", server), ("WASMHUB_REDIS_CLI", cli)];
    let mut rust = Command::new(workspace::cargo());
    rust.current_dir(workspace::root())
        .args(["test", "-p", "wasmhub", "--test", "backplane"])
        .envs(env.iter().chain(&valkey).map(|(key, value)| (key, value)));
    cmd::run(&mut rust, "install Rust with rustup")?;
    let mut node = Command::new("node");
    node.current_dir(workspace::root())
        .args(["--test", "--test-concurrency=1", "tests/node/cluster/"])
        .envs(env.iter().chain(&valkey).map(|(key, value)| (key, value)))
        .env("WASMHUB_TEST_BACKEND", "memory");
    cmd::run(&mut node, "install Node.js (needed for the node tests)")
}

/// The node test suite, one file at a time (they share ports and hubs),
/// with `WASMHUB_TEST_BACKEND=backend` (`memory` or `redis`: whether each
/// host the hub-facing suites start gets a private redis-server). Without
/// `with_cluster`, only the top-level files (not tests/node/cluster).
fn node_tests(env: &[(&str, PathBuf)], backend: &str, with_cluster: bool) -> Result<()> {
    step(&format!("running node tests (backend: {backend})"));
    let mut files = vec!["tests/node/".to_owned()];
    if !with_cluster {
        files = std::fs::read_dir(workspace::root().join("tests/node"))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".test.mjs"))
            .map(|name| format!("tests/node/{name}"))
            .collect();
        files.sort();
    }
    let mut test = Command::new("node");
    test.current_dir(workspace::root())
        .args(["--test", "--test-concurrency=1"])
        .args(&files)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("WASMHUB_TEST_BACKEND", backend);
    cmd::run(&mut test, "install Node.js (needed for the node tests)")
}

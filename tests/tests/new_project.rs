//! `wasmhub new`, `wasmhub build` and `wasmhub dev`, as a hub author
//! outside this repository uses them: a project per language in a temp
//! directory, built with the same tools `cargo xtask hubs` installs
//! (componentize-py from target/tools/python, componentize-qjs from the
//! root node_modules, Debian's clang and wasi-libc), served, and edited
//! under `wasmhub dev`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;
use wasmhub_e2e::{Host, RawClient, host_binary};

const LANGUAGES: &[&str] = &["rust", "python", "js", "c"];

/// The tests of this file one at a time: each builds and compiles an
/// 18 MB Python hub, and side by side on two cores they would race their
/// deadlines.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the build tools are, as `wasmhub build` looks for them; the Rust
/// builds share one target directory, warm after the first run.
fn tool_env() -> anyhow::Result<Vec<(&'static str, OsString)>> {
    let root = workspace().canonicalize()?;
    let py = root.join("target/tools/python/bin/componentize-py");
    let qjs = root.join("node_modules/.bin/componentize-qjs");
    for tool in [&py, &qjs] {
        if !tool.is_file() {
            bail!(
                "missing {}: run `cargo xtask test` (it installs it)",
                tool.display()
            );
        }
    }
    Ok(vec![
        ("WASMHUB_COMPONENTIZE_PY", py.into()),
        ("WASMHUB_COMPONENTIZE_QJS", qjs.into()),
        ("CARGO_TARGET_DIR", root.join("target/new-projects").into()),
        // The hubs' own lines, for the check that a print is logged.
        ("RUST_LOG", "warn,hub=info".into()),
    ])
}

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("wasmhub-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the host binary to its end; its stdout, or an error with both.
fn wasmhub(args: &[&str], dir: &Path) -> anyhow::Result<String> {
    let output = std::process::Command::new(host_binary())
        .args(args)
        .current_dir(dir)
        .envs(tool_env()?)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wasmhub {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// Echo answers, and a room's Send reaches its members.
async fn check_hub(host: &Host, hub: &str, echo: &str) -> anyhow::Result<()> {
    let url = host.ws_url(hub, "");
    let mut alice = RawClient::connect(&url).await?;
    let mut bob = RawClient::connect(&url).await?;
    let echoed = alice.invoke("1", "Echo", json!(["hi"])).await?;
    anyhow::ensure!(echoed["result"] == echo, "{hub}: {echoed}");
    for client in [&mut alice, &mut bob] {
        let joined = client.invoke("2", "Join", json!(["room"])).await?;
        anyhow::ensure!(joined["error"].is_null(), "{hub}: {joined}");
    }
    alice.invoke("3", "Send", json!(["room", "hello"])).await?;
    let heard = loop {
        let record = bob.next().await?;
        if record["type"] == 1 {
            break record;
        }
    };
    anyhow::ensure!(heard["target"] == "Message", "{hub}: {heard}");
    anyhow::ensure!(heard["arguments"][1] == "hello", "{hub}: {heard}");
    Ok(())
}

#[tokio::test]
async fn new_writes_a_project_per_language_that_builds_and_serves() -> anyhow::Result<()> {
    let _alone = ONE_AT_A_TIME.lock().await;
    let temp = TempDir::new("new")?;
    let served = temp.0.join("served");
    std::fs::create_dir_all(&served)?;
    for lang in LANGUAGES {
        let name = format!("demo-{lang}");
        let said = wasmhub(&["new", &name, "--lang", lang], &temp.0)?;
        anyhow::ensure!(said.contains("wasmhub dev"), "{said}");
        let project = temp.0.join(&name);
        assert!(project.join("README.md").is_file(), "{lang}: a README");
        assert!(project.join("wit/hub.wit").is_file(), "{lang}: its own WIT");
        let said = wasmhub(&["build"], &project)?;
        anyhow::ensure!(said.starts_with("built "), "{said}");
        let wasm = project.join("hubs").join(format!("{name}.wasm"));
        let manifest = project.join("hubs").join(format!("{name}.toml"));
        assert!(manifest.is_file(), "{lang}: hub.toml copied beside the hub");
        std::fs::copy(&wasm, served.join(format!("{name}.wasm")))
            .with_context(|| format!("{lang}: {}", wasm.display()))?;
    }
    // A second `new` of the same name writes nothing.
    let again = std::process::Command::new(host_binary())
        .args(["new", "demo-rust", "--lang", "rust"])
        .current_dir(&temp.0)
        .output()?;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    // Building a directory that is no project says what one is.
    let error = wasmhub(&["build"], &served).unwrap_err().to_string();
    assert!(
        error.contains("holds no Cargo.toml, app.py, hub.js or hub.c"),
        "{error}"
    );

    let host = Host::start_in(&served, &[]).await?;
    for lang in LANGUAGES {
        check_hub(&host, &format!("demo-{lang}"), "hi").await?;
    }
    Ok(())
}

/// The hub's Echo, edited to answer `prefix` + text.
fn edit_echo(project: &Path, lang: &str, prefix: &str) -> anyhow::Result<()> {
    let (file, from, to) = match lang {
        "rust" => (
            "src/lib.rs",
            "Ok(text)",
            format!("println!(\"echo said {{text}}\");\n    Ok(format!(\"{prefix}{{text}}\"))"),
        ),
        "python" => (
            "app.py",
            "return text",
            format!("print(\"echo said\", text)\n    return \"{prefix}\" + text"),
        ),
        "c" => (
            "hub.c",
            "*result = args[0];",
            format!(
                "printf(\"echo said %.*s\\n\", (int)args[0]->str.len, args[0]->str.ptr);\n    \
                 *result = wh_string(wh_concat(2, WH_S(\"{prefix}\"), args[0]->str));"
            ),
        ),
        _ => (
            "hub.js",
            "(_ctx, text) => text",
            format!(
                "(_ctx, text) => {{ console.log(\"echo said\", text); return \"{prefix}\" + text; }}"
            ),
        ),
    };
    let path = project.join(file);
    let text = std::fs::read_to_string(&path)?;
    anyhow::ensure!(text.contains(from), "{lang}: the template changed");
    std::fs::write(&path, text.replace(from, &to))?;
    Ok(())
}

/// Waits for a `dev` line that starts with one of `wanted`, skipping
/// others (the watcher's own, a build the editor's second write set off).
async fn dev_line(host: &mut Host, wanted: &[&str]) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = host.next_line(left).await?;
        if wanted.iter().any(|w| line.starts_with(w)) {
            return Ok(line);
        }
    }
}

#[tokio::test]
async fn dev_rebuilds_and_swaps_on_every_change() -> anyhow::Result<()> {
    let _alone = ONE_AT_A_TIME.lock().await;
    let temp = TempDir::new("dev")?;
    for lang in LANGUAGES {
        let name = format!("dev-{lang}");
        wasmhub(&["new", &name, "--lang", lang], &temp.0)?;
        let project = temp.0.join(&name);
        let mut host = Host::run(vec!["dev".into(), project.clone().into()], &tool_env()?).await?;
        let first = dev_line(&mut host, &["built", "build failed"]).await?;
        anyhow::ensure!(first.starts_with("built in"), "{lang}: {first}");
        check_hub(&host, &name, "hi").await?;

        let saved = Instant::now();
        edit_echo(&project, lang, "v2:")?;
        let swapped = dev_line(&mut host, &["built", "build failed"]).await?;
        anyhow::ensure!(swapped.contains("swapped"), "{lang}: {swapped}");
        eprintln!(
            "{lang}: save to serving {} ms ({swapped})",
            saved.elapsed().as_millis()
        );
        check_hub(&host, &name, "v2:hi").await?;
        // What the edited Echo printed is in the host's log.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !host
            .stderr()
            .lines()
            .any(|l| l.contains("echo said hi") && l.contains(&name))
        {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{lang}: the hub's print is not in the log:\n{}",
                host.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        if *lang == "rust" {
            // A compile error: reported, and the last good version serves.
            let source = project.join("src/lib.rs");
            let text = std::fs::read_to_string(&source)?;
            std::fs::write(&source, text.replace("Ok(format!", "Ok(formt!"))?;
            let failed = dev_line(&mut host, &["built", "build failed"]).await?;
            anyhow::ensure!(failed.starts_with("build failed"), "{failed}");
            // The compiler's own error follows, indented.
            let said = dev_line(&mut host, &["    "]).await?;
            let mut said = vec![said];
            while !said.iter().any(|l| l.contains("formt")) {
                said.push(host.next_line(Duration::from_secs(10)).await?);
            }
            check_hub(&host, &name, "v2:hi").await?;
        }
    }
    Ok(())
}

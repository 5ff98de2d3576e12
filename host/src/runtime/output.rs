//! A hub's stdout and stderr. Each line a hub prints (Rust's `println!`,
//! C's `printf`) goes to the host's log as a hub line (stdout at info,
//! stderr at warn), within the hub's log budget, so print-debugging works under
//! `wasmhub dev`; the last few KiB are kept so a trap can say what the hub
//! printed (a Rust panic message, say). Writing never blocks or fails, so
//! `eprintln!` in a hub cannot panic on a full buffer.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::ConnectionContext;
use super::state::HubEnv;

/// What is kept of the output for a trap's message.
const OUTPUT_TAIL: usize = 4096;

/// A line longer than this is logged in pieces of this size.
const MAX_LINE: usize = 1024;

/// One instance's printed output: what both streams share.
#[derive(Clone)]
pub struct GuestOutput {
    printed: Arc<Mutex<Printed>>,
    env: Arc<HubEnv>,
}

#[derive(Default)]
struct Printed {
    tail: VecDeque<u8>,
    /// The connection whose call is running, to tag lines with (kept
    /// until the next call: one per warm instance at most).
    caller: Option<Arc<ConnectionContext>>,
    /// Each stream's line so far.
    lines: [PartLine; 2],
}

#[derive(Default)]
struct PartLine {
    bytes: Vec<u8>,
    /// The line was just cut at [`MAX_LINE`]: a newline right after it
    /// ends that line, not another, empty one.
    cut: bool,
}

/// The two streams, as indexes into [`Printed::lines`].
const STDOUT: usize = 0;
const STDERR: usize = 1;

impl GuestOutput {
    pub fn new(env: Arc<HubEnv>) -> Self {
        Self {
            printed: Default::default(),
            env,
        }
    }

    /// The instance's stdout, to give WASI.
    pub fn stdout(&self) -> OutputStream {
        OutputStream {
            output: self.clone(),
            stream: STDOUT,
        }
    }

    /// The instance's stderr, to give WASI.
    pub fn stderr(&self) -> OutputStream {
        OutputStream {
            output: self.clone(),
            stream: STDERR,
        }
    }

    /// Forgets what was printed, before a new call for `caller`; a line
    /// the last call left without its newline is logged now, tagged with
    /// that call's connection.
    pub fn begin_call(&self, caller: Option<&Arc<ConnectionContext>>) {
        let mut printed = self.printed.lock().expect("output lock");
        for stream in [STDOUT, STDERR] {
            let line = std::mem::take(&mut printed.lines[stream]);
            if !line.bytes.is_empty() {
                self.log_line(stream, &line.bytes, printed.caller.as_deref());
            }
        }
        printed.tail.clear();
        printed.caller = caller.cloned();
    }

    /// What was printed, lossily decoded.
    pub fn text(&self) -> String {
        let printed = self.printed.lock().expect("output lock");
        let (a, b) = printed.tail.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).into_owned()
    }

    /// A Rust panic message in the output, on one line.
    pub fn panic_message(&self) -> Option<String> {
        let text = self.text();
        let start = text.find("panicked at")?;
        let rest = &text[start..];
        let end = rest.find("\nnote:").unwrap_or(rest.len());
        Some(rest[..end].trim().replace(":\n", ": ").replace('\n', ": "))
    }

    /// Keeps `bytes` in the tail and logs each line they complete.
    fn write(&self, stream: usize, bytes: &[u8]) {
        let mut printed = self.printed.lock().expect("output lock");
        let printed = &mut *printed;
        printed.tail.extend(bytes);
        let excess = printed.tail.len().saturating_sub(OUTPUT_TAIL);
        printed.tail.drain(..excess);
        let caller = printed.caller.as_deref();
        let line = &mut printed.lines[stream];
        for &byte in bytes {
            if byte == b'\n' {
                if !std::mem::take(&mut line.cut) || !line.bytes.is_empty() {
                    self.log_line(stream, &line.bytes, caller);
                }
                line.bytes.clear();
            } else {
                line.cut = false;
                line.bytes.push(byte);
                if line.bytes.len() >= MAX_LINE {
                    self.log_line(stream, &line.bytes, caller);
                    line.bytes.clear();
                    line.cut = true;
                }
            }
        }
    }

    /// Logs one printed line, as the `log` import does: one log line per
    /// printed line (a hub cannot forge the host's lines), budget shared.
    fn log_line(&self, stream: usize, line: &[u8], caller: Option<&ConnectionContext>) {
        let hub = &self.env.hub;
        if !self.env.log_budget.admit(hub) {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r').replace('\r', "\\r");
        let connection = caller.map_or("", |c| c.id.as_str());
        // As the Python SDK does it: stdout at info, stderr at warn.
        if stream == STDERR {
            tracing::warn!(target: "hub", hub, connection, stream = "stderr", "{text}");
        } else {
            tracing::info!(target: "hub", hub, connection, stream = "stdout", "{text}");
        }
    }
}

/// stdout or stderr of one instance: complete lines are logged, a partial
/// one waits for its newline, [`MAX_LINE`] bytes or the next call.
#[derive(Clone)]
pub struct OutputStream {
    output: GuestOutput,
    stream: usize,
}

impl IsTerminal for OutputStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for OutputStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.output.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

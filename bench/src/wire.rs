//! One client connection in one of the three dialects the benchmark
//! speaks: SignalR JSON, SignalR MessagePack (to wasmhub's testhub) and
//! Socket.IO v5 over Engine.IO v4 (to the socketioxide peer).
//!
//! The three benchmark operations map onto each dialect's own calls:
//! `echo` (testhub `Echo` / event `echo` with an ack), `join` (testhub
//! `AddToGroup` of the caller's id / `join` with an ack) and `publish`
//! (testhub `SendToGroup(room, "msg", data)` / `send`), and a room member
//! receives `msg` with the data either way, read by a [`Subscriber`].
//! `whisper` (testhub `SendToConnection`) is wasmhub's alone: the
//! peer has no cluster here.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::msgpack;

/// How long a connection setup or a call may take before the run fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// The hub every wasmhub run talks to.
pub const HUB: &str = "testhub";

/// What a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    SignalrJson,
    SignalrMessagePack,
    SocketIo,
}

impl Dialect {
    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::SignalrJson => "wasmhub-json",
            Dialect::SignalrMessagePack => "wasmhub-msgpack",
            Dialect::SocketIo => "socketioxide",
        }
    }

    pub fn parse(name: &str) -> anyhow::Result<Dialect> {
        [
            Dialect::SignalrJson,
            Dialect::SignalrMessagePack,
            Dialect::SocketIo,
        ]
        .into_iter()
        .find(|d| d.name() == name)
        .with_context(|| {
            format!("unknown server `{name}` (wasmhub-json, wasmhub-msgpack, socketioxide)")
        })
    }

    /// Whether the server is wasmhub (else the socketioxide peer).
    pub fn is_wasmhub(self) -> bool {
        self != Dialect::SocketIo
    }
}

/// One open, handshaken connection.
pub struct Conn {
    ws: WebSocketStream<TcpStream>,
    dialect: Dialect,
    next_id: u64,
    /// Answers read while waiting for another one: (call id, result).
    replies: VecDeque<(u64, Value)>,
    /// The caller's connection id (wasmhub), asked once on the first join.
    connection_id: Option<String>,
}

impl Conn {
    /// Opens a connection from `source` (any port): for wasmhub a
    /// negotiate POST when `negotiate`, then the WebSocket and the
    /// handshake; for Socket.IO the WebSocket, the Engine.IO open packet
    /// and the namespace connect.
    pub async fn open(
        dialect: Dialect,
        server: SocketAddr,
        source: Ipv4Addr,
        negotiate: bool,
    ) -> anyhow::Result<Conn> {
        tokio::time::timeout(
            DEADLINE,
            Self::open_unbounded(dialect, server, source, negotiate),
        )
        .await
        .with_context(|| format!("{server} did not take a connection within {DEADLINE:?}"))?
    }

    async fn open_unbounded(
        dialect: Dialect,
        server: SocketAddr,
        source: Ipv4Addr,
        negotiate: bool,
    ) -> anyhow::Result<Conn> {
        let mut query = String::new();
        if dialect.is_wasmhub() && negotiate {
            let stream = connect_from(source, server).await?;
            let token = negotiate_token(stream, server).await?;
            query = format!("id={token}");
        }
        let url = match dialect {
            Dialect::SocketIo => format!("ws://{server}/socket.io/?EIO=4&transport=websocket"),
            _ => format!("ws://{server}/hubs/{HUB}?{query}"),
        };
        let stream = connect_from(source, server).await?;
        let (ws, _) = tokio_tungstenite::client_async(url.as_str(), stream)
            .await
            .with_context(|| format!("WebSocket to {url}"))?;
        let mut conn = Conn {
            ws,
            dialect,
            next_id: 0,
            replies: VecDeque::new(),
            connection_id: None,
        };
        conn.handshake().await?;
        Ok(conn)
    }

    async fn handshake(&mut self) -> anyhow::Result<()> {
        match self.dialect {
            Dialect::SignalrJson | Dialect::SignalrMessagePack => {
                let protocol = if self.dialect == Dialect::SignalrJson {
                    "json"
                } else {
                    "messagepack"
                };
                let request = format!("{{\"protocol\":\"{protocol}\",\"version\":1}}\u{1e}");
                self.ws.send(Message::text(request)).await?;
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) if text.as_str() == "{}\u{1e}" => Ok(()),
                    Some(Ok(Message::Binary(bytes))) if &bytes[..] == b"{}\x1e" => Ok(()),
                    other => bail!("handshake answered {other:?}"),
                }
            }
            Dialect::SocketIo => {
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) if text.starts_with('0') => {}
                    other => bail!("no Engine.IO open packet: {other:?}"),
                }
                self.ws.send(Message::text("40")).await?;
                loop {
                    match self.ws.next().await {
                        Some(Ok(Message::Text(text))) if text.starts_with("40") => return Ok(()),
                        Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                            self.ws.send(Message::text("3")).await?;
                        }
                        other => bail!("namespace connect answered {other:?}"),
                    }
                }
            }
        }
    }

    /// A round trip: `data` out, the same back.
    pub async fn echo(&mut self, data: &str) -> anyhow::Result<Value> {
        let method = if self.dialect.is_wasmhub() {
            "Echo"
        } else {
            "echo"
        };
        self.call(method, vec![json!(data)]).await
    }

    /// The connection's id (wasmhub), asked of the server once.
    pub async fn connection_id(&mut self) -> anyhow::Result<String> {
        if let Some(id) = &self.connection_id {
            return Ok(id.clone());
        }
        let id = self.call("GetCallerConnectionId", vec![]).await?;
        let id = id.as_str().context("connection id")?.to_owned();
        self.connection_id = Some(id.clone());
        Ok(id)
    }

    /// Joins `room`; returns when the server has confirmed it.
    pub async fn join(&mut self, room: &str) -> anyhow::Result<()> {
        if self.dialect.is_wasmhub() {
            let id = self.connection_id().await?;
            self.call("AddToGroup", vec![json!(id), json!(room)])
                .await?;
        } else {
            self.call("join", vec![json!(room)]).await?;
        }
        Ok(())
    }

    /// Sends `data` to every member of `room` as `msg`, without waiting.
    pub async fn publish(&mut self, room: &str, data: Value) -> anyhow::Result<()> {
        let frame = if self.dialect.is_wasmhub() {
            self.encode(None, "SendToGroup", vec![json!(room), json!("msg"), data])
        } else {
            self.encode(None, "send", vec![json!(room), data])
        };
        self.ws.send(frame).await?;
        Ok(())
    }

    /// Sends `data` as `msg` to one connection, wherever in the cluster
    /// it is (wasmhub only), without waiting.
    pub async fn whisper(&mut self, connection_id: &str, data: Value) -> anyhow::Result<()> {
        anyhow::ensure!(self.dialect.is_wasmhub(), "whisper is a wasmhub run");
        let args = vec![json!(connection_id), json!("msg"), data];
        let frame = self.encode(None, "SendToConnection", args);
        self.ws.send(frame).await?;
        Ok(())
    }

    /// Hands the socket over to a [`Subscriber`], which only counts
    /// what arrives. Call it once every answer the connection waits for
    /// has arrived (nothing else is buffered then).
    pub fn into_subscriber(self) -> Subscriber {
        Subscriber {
            stream: self.ws.into_inner(),
            dialect: self.dialect,
            pending: Vec::new(),
        }
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        self.ws.close(None).await.ok();
    }

    async fn call(&mut self, method: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let frame = self.encode(Some(id), method, args);
        tokio::time::timeout(DEADLINE, self.answer(id, frame))
            .await
            .with_context(|| format!("`{method}` got no answer within {DEADLINE:?}"))?
    }

    async fn answer(&mut self, id: u64, frame: Message) -> anyhow::Result<Value> {
        self.ws.send(frame).await?;
        loop {
            if let Some(position) = self.replies.iter().position(|(i, _)| *i == id)
                && let Some((_, result)) = self.replies.remove(position)
            {
                return Ok(result);
            }
            self.read().await?;
        }
    }

    fn encode(&self, id: Option<u64>, method: &str, args: Vec<Value>) -> Message {
        match self.dialect {
            Dialect::SignalrJson => {
                let mut record = json!({"type": 1, "target": method, "arguments": args});
                if let Some(id) = id {
                    record["invocationId"] = json!(id.to_string());
                }
                Message::text(format!("{record}\u{1e}"))
            }
            Dialect::SignalrMessagePack => {
                let id = id.map(|id| json!(id.to_string())).unwrap_or(Value::Null);
                let record = json!([1, {}, id, method, args, []]);
                let mut body = Vec::new();
                msgpack::encode(&record, &mut body);
                Message::binary(msgpack::frame(&body))
            }
            Dialect::SocketIo => {
                let mut event = vec![json!(method)];
                event.extend(args);
                let ack = id.map(|id| id.to_string()).unwrap_or_default();
                Message::text(format!("42{ack}{}", Value::Array(event)))
            }
        }
    }

    /// Reads one WebSocket message and queues the answers in it (a
    /// subscriber reads `msg`s with [`Subscriber::read_stamps`]).
    async fn read(&mut self) -> anyhow::Result<()> {
        let message = match self.ws.next().await {
            Some(Ok(message)) => message,
            Some(Err(error)) => bail!("connection failed: {error}"),
            None => bail!("the server closed the connection"),
        };
        match (self.dialect, message) {
            (Dialect::SignalrJson, Message::Text(text)) => {
                for record in text.split('\u{1e}').filter(|r| !r.is_empty()) {
                    let record: Value = serde_json::from_str(record)?;
                    self.signalr_record(&record)?;
                }
            }
            (Dialect::SignalrMessagePack, Message::Binary(bytes)) => {
                for mut record in msgpack::records(&bytes)? {
                    let record = msgpack::decode(&mut record)?;
                    self.signalr_messagepack_record(record)?;
                }
            }
            (Dialect::SocketIo, Message::Text(text)) => self.socketio_packet(&text).await?,
            (_, Message::Close(frame)) => bail!("the server closed the connection: {frame:?}"),
            (_, Message::Ping(_) | Message::Pong(_)) => {}
            (_, other) => bail!("unexpected WebSocket message {other:?}"),
        }
        Ok(())
    }

    fn signalr_record(&mut self, record: &Value) -> anyhow::Result<()> {
        match record["type"].as_u64() {
            Some(3) => {
                if let Some(error) = record.get("error") {
                    bail!("the call failed: {error}");
                }
                let id = record["invocationId"]
                    .as_str()
                    .and_then(|i| i.parse().ok())
                    .context("completion without our id")?;
                let result = record.get("result").cloned().unwrap_or(Value::Null);
                self.replies.push_back((id, result));
            }
            Some(7) => bail!("the server sent Close: {record}"),
            _ => {}
        }
        Ok(())
    }

    fn signalr_messagepack_record(&mut self, record: Value) -> anyhow::Result<()> {
        match record[0].as_u64() {
            // [3, headers, id, kind, result]: kind 1 error, 2 void, 3 result.
            Some(3) => {
                if record[3] == 1 {
                    bail!("the call failed: {}", record[4]);
                }
                let id = record[2]
                    .as_str()
                    .and_then(|i| i.parse().ok())
                    .context("completion without our id")?;
                let result = record.get(4).cloned().unwrap_or(Value::Null);
                self.replies.push_back((id, result));
            }
            Some(7) => bail!("the server sent Close: {record}"),
            _ => {}
        }
        Ok(())
    }

    async fn socketio_packet(&mut self, text: &str) -> anyhow::Result<()> {
        if text == "2" {
            // Engine.IO ping: the client must answer.
            self.ws.send(Message::text("3")).await?;
            return Ok(());
        }
        if let Some(rest) = text.strip_prefix("43") {
            let split = rest.find('[').context("ack without data")?;
            let id = rest[..split].parse().context("ack id")?;
            let mut data: Value = serde_json::from_str(&rest[split..])?;
            let first = data
                .as_array_mut()
                .and_then(|a| (!a.is_empty()).then(|| a.remove(0)));
            self.replies.push_back((id, first.unwrap_or(Value::Null)));
        } else if text.starts_with('1') || text.starts_with("41") {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}

/// A room member reading its socket raw: it finds the send times in
/// the bytes instead of parsing WebSocket frames and messages, so one
/// load-generator core keeps up with more deliveries than the server
/// under test makes (server frames are unmasked, the data is plain).
pub struct Subscriber {
    stream: TcpStream,
    dialect: Dialect,
    /// Bytes after the last complete send time: a marker cut by a read.
    pending: Vec<u8>,
}

impl Subscriber {
    /// Reads what has arrived and appends the send times in it.
    pub async fn read_stamps(&mut self, stamps: &mut Vec<u64>) -> anyhow::Result<()> {
        let mut chunk = [0u8; 2048];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        let chunk = &chunk[..n];
        // An Engine.IO ping is the text frame "2"; the answer is a masked "3".
        if self.dialect == Dialect::SocketIo && find(chunk, &[0x81, 0x01, b'2']).is_some() {
            self.stream
                .write_all(&[0x81, 0x81, 0, 0, 0, 0, b'3'])
                .await?;
        }
        self.pending.extend_from_slice(chunk);
        take_stamps(&mut self.pending, stamps)
    }
}

/// Moves the complete send times in `pending` to `stamps`, keeping only
/// what may be the start of one cut by a read.
fn take_stamps(pending: &mut Vec<u8>, stamps: &mut Vec<u64>) -> anyhow::Result<()> {
    let mut consumed = 0;
    while let Some(at) = find(&pending[consumed..], STAMP) {
        let start = consumed + at + STAMP.len();
        let digits = pending[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if start + digits == pending.len() {
            // Cut by the read: finish it with the next one.
            consumed += at;
            pending.drain(..consumed);
            return Ok(());
        }
        stamps.push(std::str::from_utf8(&pending[start..start + digits])?.parse()?);
        consumed = start + digits;
    }
    // Keep at most what could be the start of a cut marker.
    let keep_from = consumed.max(pending.len().saturating_sub(STAMP.len() - 1));
    pending.drain(..keep_from);
    Ok(())
}

/// Marks a send time inside a message's data.
const STAMP: &[u8] = b"sent_us=";

/// The data of a broadcast message: `sent_us` after [`STAMP`], then
/// `pad` (which must not contain the marker).
pub fn stamp(sent_us: u64, pad: &str) -> String {
    format!(
        "{}{sent_us};{pad}",
        std::str::from_utf8(STAMP).unwrap_or_default()
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A TCP connection to `server` from `source` (any free port): spreading
/// sources over 127.0.0.x gets more connections than one source's ports.
async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    {
        // Let connect() pick the port for the whole 4-tuple: a bind to
        // port 0 searches the source's ephemeral range for every socket.
        let yes: libc::c_int = 1;
        // SAFETY: a valid fd and a c_int option value.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&socket),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&yes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    }
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("connect to {server} from {source}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The SignalR negotiate POST (version 1) over one plain HTTP/1.1
/// request; returns the connection token.
async fn negotiate_token(mut stream: TcpStream, server: SocketAddr) -> anyhow::Result<String> {
    let request = format!(
        "POST /hubs/{HUB}/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: {server}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .context("negotiate answer without a body")?;
    // The body may be chunked; the JSON object is what lies between the
    // first `{` and the last `}`.
    let json = body
        .find('{')
        .zip(body.rfind('}'))
        .map(|(a, b)| &body[a..=b])
        .context("negotiate answer is not JSON")?;
    let answer: Value = serde_json::from_str(json)?;
    answer["connectionToken"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("negotiate answered {answer}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_times_cut_anywhere_by_reads_are_each_found_once() {
        let stream = [stamp(17, "xx"), stamp(123456, "x"), stamp(9, "")].concat();
        let bytes = stream.as_bytes();
        for cut in 0..bytes.len() {
            let (mut pending, mut stamps) = (Vec::new(), Vec::new());
            for part in [&bytes[..cut], &bytes[cut..]] {
                pending.extend_from_slice(part);
                take_stamps(&mut pending, &mut stamps).unwrap();
            }
            // The last one's digits end the stream: it waits for more.
            pending.extend_from_slice(b";");
            take_stamps(&mut pending, &mut stamps).unwrap();
            assert_eq!(stamps, [17, 123456, 9], "cut at {cut}");
        }
    }
}

//! The benchmarks' peer: socketioxide serving the same three operations
//! the wasmhub side runs through testhub.
//!
//! - `echo` with an ack: the ack carries the data back (testhub `Echo`);
//! - `join` with an ack: the socket joins the room (testhub `AddToGroup`);
//! - `send` (room, data): `msg` with the data to the room (testhub
//!   `SendToGroup`).
//!
//! Usage: `socketioxide-peer [ADDR]` (default 127.0.0.1:0); prints
//! `listening on ADDR` once it accepts connections, like `wasmhub serve`.

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on("echo", async |ack: AckSender, Data::<Value>(data)| {
            ack.send(&data).ok();
        });
        socket.on(
            "join",
            async |socket: SocketRef, ack: AckSender, Data::<String>(room)| {
                socket.join(room);
                ack.send(&()).ok();
            },
        );
        socket.on(
            "send",
            async |socket: SocketRef, Data::<(String, Value)>((room, data))| {
                socket.within(room).emit("msg", &data).await.ok();
            },
        );
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

//! The {{name}} hub: `Echo(text)`, and rooms: `Join(room)` then
//! `Send(room, text)`, which every member receives as `Message(from, text)`.

use wasmhub_guest::{Context, Hub, HubError, Router, clients, groups};

struct App;

impl Hub for App {
    fn router() -> Router {
        Router::new()
            .method("Echo", echo)
            .method("Join", join)
            .method("Send", send)
    }
}

wasmhub_guest::export_hub!(App);

fn echo(_: &Context, (text,): (String,)) -> Result<String, HubError> {
    Ok(text)
}

fn join(ctx: &Context, (room,): (String,)) -> Result<(), HubError> {
    groups::add(ctx.connection_id(), &room)
}

fn send(ctx: &Context, (room, text): (String, String)) -> Result<(), HubError> {
    let from = ctx.user().unwrap_or(ctx.connection_id());
    clients::with_group(&room).send("Message", (from, text))
}

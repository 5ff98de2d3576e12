//! The chat hub: rooms, whispers, and questions to other users.
//!
//! This is the chat contract that the browser page, the other-language
//! hubs and the cluster tests share:
//! - connect as `/hubs/chat?name=<you>` (or with a JWT whose `sub` is you);
//! - `Join(room)`, `Leave(room)`, `Send(room, text)`, `Whisper(user, text)`;
//! - `Who(room)`, `Online()`: sorted user names;
//! - `Ask(user, question)`, `Poll(room, question)`: ask clients for answers
//!   through their `Question(question)` handler.
//!
//! Clients receive `Message({ room, from, text })`, `room` being `null` for
//! a whisper. A room keeps its last 50 messages (in the hub's key-value
//! store, when its manifest grants one): whoever joins a room with some
//! gets them first, oldest first, as `History(room, [message, ...])`.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;
use wasmhub_guest::{
    Accepted, Context, Hub, HubError, Router, clients, groups, kv, log, presence, streams,
};

/// The hub type; all behaviour is in the functions below.
struct Chat;

impl Hub for Chat {
    fn router() -> Router {
        Router::new()
            .method("Join", join)
            .method("Leave", leave)
            .method("Send", send)
            .method("Whisper", whisper)
            .method("Who", who)
            .method("Online", online)
            .method("Ask", ask)
            .method("Poll", poll)
            .stream("Countdown", countdown)
    }

    /// Every chat connection needs a user name: the JWT's, else `?name=`.
    fn on_connected(ctx: &Context) -> Result<Accepted, HubError> {
        if ctx.user().is_some() {
            return Ok(Accepted::default());
        }
        match ctx.query("name").map(str::trim) {
            Some(name) if !name.is_empty() => Ok(Accepted::user(name)),
            _ => Err(HubError::invalid_argument(
                "a user name is required: connect with ?name=<you>",
            )),
        }
    }
}

wasmhub_guest::export_hub!(Chat);

/// What every client receives as the single argument of `Message`.
#[derive(Serialize)]
struct Message<'a> {
    /// The room it was said in; `None` (JSON `null`) for a whisper.
    room: Option<&'a str>,
    from: &'a str,
    text: &'a str,
}

/// One client's answer to a `Poll`: `answer` when it answered, else `error`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PollAnswer {
    connection_id: String,
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The caller's user name (always set: `on_connected` insists on one).
fn me(ctx: &Context) -> &str {
    ctx.user().unwrap_or_default()
}

/// `connection.stream("Countdown", 3)`: 3, 2, 1, one every 100 ms (the
/// wait is not the hub's running time); stops when the caller cancels.
fn countdown(_: &Context, (from,): (u32,)) -> Result<impl Iterator<Item = u32> + use<>, HubError> {
    if from > 100 {
        return Err(HubError::invalid_argument("count down from 100 at most"));
    }
    let tick = || streams::sleep(std::time::Duration::from_millis(100));
    Ok((1..=from).rev().take_while(move |_| tick()))
}

fn join(ctx: &Context, (room,): (String,)) -> Result<(), HubError> {
    groups::add(ctx.connection_id(), &room)?;
    // History is a courtesy: the join stands whatever becomes of it.
    if let Some(kept) = history(&room).filter(|kept| !kept.is_empty())
        && let Err(error) = clients::caller().send("History", (&room, kept))
    {
        log::warn(&format!("the history of '{room}' was not sent: {error}"));
    }
    Ok(())
}

/// Messages a room keeps for whoever joins next, their most bytes (well
/// under what one client may have waiting, so the History call fits),
/// and how long a quiet room keeps them.
const HISTORY: usize = 50;
const HISTORY_BYTES: usize = 256 << 10;
const HISTORY_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

fn history_key(room: &str) -> String {
    format!("history:{room}")
}

/// The room's kept messages, oldest first; `None` when they cannot be
/// read (no `kv` grant, the store away), so nobody overwrites them then.
fn history(room: &str) -> Option<Vec<Value>> {
    match kv::get_json::<Vec<Value>>(&history_key(room)) {
        Ok(kept) => Some(kept.unwrap_or_default()),
        Err(HubError::Unauthorized(_)) => None,
        Err(error) => {
            log::warn(&format!(
                "the history of '{room}' could not be read: {error}"
            ));
            None
        }
    }
}

/// Adds a message to the room's history, keeping the last [`HISTORY`].
/// Two nodes adding at once may lose one of the two from the history
/// (never from the room: it was sent already).
fn remember(room: &str, message: &Message) {
    let (Some(mut kept), Ok(value)) = (history(room), serde_json::to_value(message)) else {
        return;
    };
    kept.push(value);
    let mut skip = kept.len().saturating_sub(HISTORY);
    let text = loop {
        let text = serde_json::to_string(&kept[skip..]).unwrap_or_default();
        if text.len() <= HISTORY_BYTES || skip + 1 >= kept.len() {
            break text;
        }
        skip += 1;
    };
    if let Err(error) = kv::set_with_ttl(&history_key(room), &text, HISTORY_TTL) {
        log::warn(&format!("the history of '{room}' was not kept: {error}"));
    }
}

fn leave(ctx: &Context, (room,): (String,)) -> Result<(), HubError> {
    groups::remove(ctx.connection_id(), &room)
}

fn send(ctx: &Context, (room, text): (String, String)) -> Result<(), HubError> {
    let message = Message {
        room: Some(&room),
        from: me(ctx),
        text: &text,
    };
    clients::with_group(&room).send("Message", (&message,))?;
    remember(&room, &message);
    Ok(())
}

fn whisper(ctx: &Context, (user, text): (String, String)) -> Result<(), HubError> {
    if !presence::is_user_online(&user)? {
        return Err(HubError::not_found(format!("user '{user}' is not online")));
    }
    let message = Message {
        room: None,
        from: me(ctx),
        text: &text,
    };
    clients::with_user(&user).send("Message", (message,))
}

fn who(_: &Context, (room,): (String,)) -> Result<Vec<String>, HubError> {
    let users: BTreeSet<String> = presence::connections_in_group(&room)?
        .into_iter()
        .filter_map(|conn| conn.user)
        .collect();
    Ok(users.into_iter().collect())
}

fn online(_: &Context, (): ()) -> Result<Vec<String>, HubError> {
    let mut users: Vec<String> = presence::online_users()?
        .into_iter()
        .map(|presence| presence.user)
        .collect();
    users.sort();
    Ok(users)
}

fn ask(_: &Context, (user, question): (String, String)) -> Result<Value, HubError> {
    let nobody = |reasons: &str| {
        HubError::no_client_responded(format!("nobody answered: user '{user}' {reasons}"))
    };
    if !presence::is_user_online(&user)? {
        return Err(nobody("is not online"));
    }
    let result = clients::with_user(&user)
        .invoke_one::<Value>("Question", (&question,))
        .map_err(|error| match error {
            HubError::NoClientResponded(reasons) => nobody(&format!("gave no answer: {reasons}")),
            other => other,
        })?;
    result
        .value
        .map_err(|reason| nobody(&format!("gave no answer: {reason}")))
}

fn poll(_: &Context, (room, question): (String, String)) -> Result<Vec<PollAnswer>, HubError> {
    let results = clients::with_group(&room).invoke_all::<Value>("Question", (&question,))?;
    let answers = results
        .into_iter()
        .map(|result| {
            let (answer, error) = match result.value {
                Ok(answer) => (Some(answer), None),
                Err(error) => (None, Some(error)),
            };
            PollAnswer {
                connection_id: result.connection_id,
                user: result.user,
                answer,
                error,
            }
        })
        .collect();
    Ok(answers)
}

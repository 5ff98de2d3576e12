"""The chat hub in Python: the same contract as examples/chat (Rust).

- connect as `/hubs/chat-py?name=<you>` (or with a JWT whose `sub` is you);
- `Join(room)`, `Leave(room)`, `Send(room, text)`, `Whisper(user, text)`;
- `Who(room)`, `Online()`: sorted user names;
- `Ask(user, question)`, `Poll(room, question)`: ask clients for answers
  through their `Question(question)` handler.

Clients receive `Message({ room, from, text })`, `room` being `null` for a
whisper. A room keeps its last 50 messages (in the hub's key-value store,
when its manifest grants one): whoever joins a room with some gets them
first, oldest first, as `History(room, [message, ...])`. Built by `cargo xtask hubs DIR` into `DIR/chat-py.wasm`.
"""

import json
from typing import Any, List

from wasmhub import (
    Accepted,
    Context,
    Hub,
    InvalidArgument,
    NoClientResponded,
    NotFound,
    Unauthorized,
    clients,
    groups,
    kv,
    log,
    presence,
    streams,
)

hub = Hub()

# What Rust's `str::trim` removes (Unicode White_Space); Python's own
# `strip()` also removes U+001C..U+001F, and the two hubs must agree.
WHITESPACE = "".join(
    map(chr, [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
)


@hub.on_connected
def connected(ctx: Context):
    """Every chat connection needs a user name: the JWT's, else `?name=`."""
    if ctx.user is not None:
        return None
    name = (ctx.query("name") or "").strip(WHITESPACE)
    if not name:
        raise InvalidArgument("a user name is required: connect with ?name=<you>")
    return Accepted(user=name)


def message(room, sender: str, text: str) -> dict:
    """What every client receives as the single argument of `Message`;
    `room` is None (JSON null) for a whisper."""
    return {"room": room, "from": sender, "text": text}


def me(ctx: Context) -> str:
    """The caller's user name (always set: `connected` insists on one).
    It comes with every call, as the connection id does: the methods below
    read nothing else of the caller, so none of them asks the host for the
    rest of its record."""
    return ctx.user or ""


@hub.method("Join")
def join(ctx: Context, room: str) -> None:
    groups.add(ctx.connection_id, room)
    # History is a courtesy: the join stands whatever becomes of it.
    kept = history(room)
    if kept:
        try:
            clients.caller().send("History", room, kept)
        except Exception as error:
            log.warn(f"the history of '{room}' was not sent: {error}")


# Messages a room keeps for whoever joins next, their most bytes (well under
# what one client may have waiting, so the History call fits), and how long
# a quiet room keeps them (seconds).
HISTORY = 50
HISTORY_BYTES = 256 << 10
HISTORY_TTL = 7 * 24 * 3600


def history_key(room: str) -> str:
    return f"history:{room}"


def history(room: str):
    """The room's kept messages, oldest first; None when they cannot be
    read (no `kv` grant, the store away), so nobody overwrites them then."""
    try:
        kept = kv.get_json(history_key(room))
    except Unauthorized:
        return None
    except Exception as error:
        log.warn(f"the history of '{room}' could not be read: {error}")
        return None
    return kept if isinstance(kept, list) else []


def remember(room: str, sent: dict) -> None:
    """Adds a message to the room's history, keeping the last HISTORY."""
    kept = history(room)
    if kept is None:
        return
    kept.append(sent)
    skip = max(0, len(kept) - HISTORY)
    while True:
        text = json.dumps(kept[skip:], separators=(",", ":"), ensure_ascii=False)
        if len(text.encode()) <= HISTORY_BYTES or skip + 1 >= len(kept):
            break
        skip += 1
    try:
        kv.set(history_key(room), text, ttl=HISTORY_TTL)
    except Exception as error:
        log.warn(f"the history of '{room}' was not kept: {error}")


@hub.method("Leave")
def leave(ctx: Context, room: str) -> None:
    groups.remove(ctx.connection_id, room)


@hub.method("Send")
def send(ctx: Context, room: str, text: str) -> None:
    sent = message(room, me(ctx), text)
    clients.with_group(room).send("Message", sent)
    remember(room, sent)


@hub.method("Whisper")
def whisper(ctx: Context, user: str, text: str) -> None:
    if not presence.is_user_online(user):
        raise NotFound(f"user '{user}' is not online")
    clients.with_user(user).send("Message", message(None, me(ctx), text))


@hub.method("Who")
def who(ctx: Context, room: str) -> List[str]:
    users = {conn.user for conn in presence.connections_in_group(room) if conn.user is not None}
    return sorted(users)


@hub.method("Online")
def online(ctx: Context) -> List[str]:
    return sorted(p.user for p in presence.online_users())


@hub.method("Ask")
def ask(ctx: Context, user: str, question: str) -> Any:
    def nobody(reasons: str) -> NoClientResponded:
        return NoClientResponded(f"nobody answered: user '{user}' {reasons}")

    if not presence.is_user_online(user):
        raise nobody("is not online")
    try:
        result = clients.with_user(user).invoke_one("Question", question)
    except NoClientResponded as error:
        raise nobody(f"gave no answer: {error.message}") from None
    if not result.ok:
        raise nobody(f"gave no answer: {result.error}")
    return result.value


@hub.stream("Countdown")
def countdown(ctx: Context, start: int):
    """`connection.stream("Countdown", 3)`: 3, 2, 1, one every 100 ms (the
    wait is not the hub's running time); stops when the caller cancels."""
    if start > 100:
        raise InvalidArgument("count down from 100 at most")
    for n in range(start, 0, -1):
        if not streams.sleep(0.1):
            return
        yield n


@hub.method("Poll")
def poll(ctx: Context, room: str, question: str) -> List[dict]:
    answers = []
    for result in clients.with_group(room).invoke_all("Question", question):
        entry = {"connectionId": result.connection_id, "user": result.user}
        if result.ok:
            entry["answer"] = result.value
        else:
            entry["error"] = result.error
        answers.append(entry)
    return answers


Handler = hub.handler()

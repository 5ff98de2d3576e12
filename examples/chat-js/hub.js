// The chat hub in JavaScript: the same contract as examples/chat/src/lib.rs
// (the browser page, the CLI and the tests work with either):
// - connect as `/hubs/chat-js?name=<you>` (or with a JWT whose `sub` is you);
// - `Join(room)`, `Leave(room)`, `Send(room, text)`, `Whisper(user, text)`;
// - `Who(room)`, `Online()`: sorted user names;
// - `Ask(user, question)`, `Poll(room, question)`: ask clients for answers
//   through their `Question(question)` handler.
//
// Clients receive `Message({ room, from, text })`, `room` being `null` for
// a whisper. A room keeps its last 50 messages (in the hub's key-value
// store, when its manifest grants one): whoever joins a room with some gets
// them first, oldest first, as `History(room, [message, ...])`.
//
// Every method reads only the caller's id and user (`ctx.connectionId`,
// `ctx.user`), which come with the call: none makes the SDK fetch the
// caller's whole record from the host. Only onConnected reads the query,
// and it gets the whole record anyway.
//
// Built by `cargo xtask hubs DIR` into DIR/chat-js.wasm (see
// docs/hubs-javascript.md).

import {
  Router,
  HubError,
  NoClientResponded,
  Unauthorized,
  clients,
  groups,
  kv,
  log,
  presence,
  streams,
  exportHub,
  compareStrings,
  trim,
} from "../../sdks/javascript/wasmhub.js";

const router = new Router()
  .method("Join", ["string"], join)
  .method("Leave", ["string"], leave)
  .method("Send", ["string", "string"], send)
  .method("Whisper", ["string", "string"], whisper)
  .method("Who", ["string"], who)
  .method("Online", online)
  .method("Ask", ["string", "string"], ask)
  .method("Poll", ["string", "string"], poll)
  .stream("Countdown", ["integer"], countdown);

/** `connection.stream("Countdown", 3)`: 3, 2, 1, one every 100 ms (the wait
 * is not the hub's running time); stops when the caller cancels. */
function* countdown(_ctx, start) {
  if (start > 100) throw HubError.invalidArgument("count down from 100 at most");
  for (let n = start; n > 0; n--) {
    if (!streams.sleep(100)) return;
    yield n;
  }
}

export const handler = exportHub({
  router,

  // Every chat connection needs a user name: the JWT's, else `?name=`.
  onConnected(ctx) {
    if (ctx.user !== null) return;
    const name = ctx.query("name");
    if (name !== null && trim(name) !== "") return { user: trim(name) };
    throw HubError.invalidArgument("a user name is required: connect with ?name=<you>");
  },
});

/** The caller's user name (always set: onConnected insists on one). */
function me(ctx) {
  return ctx.user ?? "";
}

function join(ctx, room) {
  groups.add(ctx.connectionId, room);
  // History is a courtesy: the join stands whatever becomes of it.
  const kept = history(room);
  if (kept !== null && kept.length > 0) {
    try {
      clients.caller().send("History", room, kept);
    } catch (error) {
      log.warn(`the history of '${room}' was not sent: ${error.message}`);
    }
  }
}

// Messages a room keeps for whoever joins next, their most bytes (well
// under what one client may have waiting, so the History call fits), and
// how long a quiet room keeps them.
const HISTORY = 50;
const HISTORY_BYTES = 256 << 10;
const HISTORY_TTL_MS = 7 * 24 * 3600 * 1000;

const historyKey = (room) => `history:${room}`;

/** The room's kept messages, oldest first; null when they cannot be read
 * (no `kv` grant, the store away), so nobody overwrites them then. */
function history(room) {
  let kept;
  try {
    kept = kv.getJson(historyKey(room));
  } catch (error) {
    if (!(error instanceof Unauthorized)) log.warn(`the history of '${room}' could not be read: ${error.message}`);
    return null;
  }
  return Array.isArray(kept) ? kept : [];
}

/** Adds a message to the room's history, keeping the last HISTORY. */
function remember(room, sent) {
  const kept = history(room);
  if (kept === null) return;
  kept.push(sent);
  let skip = Math.max(0, kept.length - HISTORY);
  let text;
  for (;;) {
    text = JSON.stringify(kept.slice(skip));
    if (utf8Length(text) <= HISTORY_BYTES || skip + 1 >= kept.length) break;
    skip += 1;
  }
  try {
    kv.set(historyKey(room), text, HISTORY_TTL_MS);
  } catch (error) {
    log.warn(`the history of '${room}' was not kept: ${error.message}`);
  }
}

/** Bytes of `text` in UTF-8 (no TextEncoder in the hub's QuickJS). */
function utf8Length(text) {
  let bytes = 0;
  for (const c of text) {
    const code = c.codePointAt(0);
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

function leave(ctx, room) {
  groups.remove(ctx.connectionId, room);
}

// What every client receives as the single argument of `Message`.
function send(ctx, room, text) {
  const sent = { room, from: me(ctx), text };
  clients.withGroup(room).send("Message", sent);
  remember(room, sent);
}

function whisper(ctx, user, text) {
  if (!presence.isUserOnline(user)) {
    throw HubError.notFound(`user '${user}' is not online`);
  }
  clients.withUser(user).send("Message", { room: null, from: me(ctx), text });
}

function who(ctx, room) {
  const users = new Set();
  for (const conn of presence.connectionsInGroup(room)) {
    if (conn.user !== null) users.add(conn.user);
  }
  return [...users].sort(compareStrings);
}

function online(ctx) {
  return presence.onlineUsers().map((p) => p.user).sort(compareStrings);
}

function ask(ctx, user, question) {
  const nobody = (reasons) =>
    HubError.noClientResponded(`nobody answered: user '${user}' ${reasons}`);
  if (!presence.isUserOnline(user)) throw nobody("is not online");
  let result;
  try {
    result = clients.withUser(user).invokeOne("Question", question);
  } catch (error) {
    if (error instanceof NoClientResponded) throw nobody(`gave no answer: ${error.message}`);
    throw error;
  }
  if (!result.ok) throw nobody(`gave no answer: ${result.error}`);
  return result.value;
}

// One entry per connection of the room: `answer` when it answered, else `error`.
function poll(ctx, room, question) {
  return clients
    .withGroup(room)
    .invokeAll("Question", question)
    .map((r) =>
      r.ok
        ? { connectionId: r.connectionId, user: r.user, answer: r.value }
        : { connectionId: r.connectionId, user: r.user, error: r.error },
    );
}

#!/usr/bin/env node
// A small command-line client for the wasmhub chat hub, using the official
// @microsoft/signalr client.
//
//   node examples/chat/client/cli.mjs --url http://127.0.0.1:5000 --name alice [--room lobby]
//
// Run `--help` for the commands.

import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import { HubConnectionBuilder, LogLevel } from "@microsoft/signalr";

const USAGE = `Usage: node examples/chat/client/cli.mjs --url URL --name NAME [options]

Connects to the chat hub at URL/hubs/chat as NAME and reads commands from stdin.

Options:
  --url URL        base URL of the wasmhub host (default http://127.0.0.1:5000)
  --name NAME      your user name (required unless --token carries one)
  --room ROOM      join ROOM at start and make it the current room
  --answer TEXT    what to answer when someone asks you a Question
                   (default: "I don't know")
  --token JWT      bearer token, for a host started with --jwt-secret
  --verbose        log the SignalR client's warnings and errors
  -h, --help       print this help

Commands (one per line):
  TEXT                 send TEXT to the current room
  /join ROOM           join ROOM and make it the current room
  /leave [ROOM]        leave ROOM (default: the current room)
  /room ROOM           make ROOM (already joined) the current room
  /w USER TEXT         whisper TEXT to USER (all of USER's connections)
  /who [ROOM]          users in ROOM (default: the current room)
  /online              users online
  /ask USER QUESTION   ask USER a question and wait for one answer
  /poll QUESTION       ask everyone in the current room
  /help                this list
  /quit                disconnect and exit
`;

function fail(message) {
  process.stderr.write(`error: ${message}\n\n${USAGE}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:5000" },
      name: { type: "string" },
      room: { type: "string" },
      answer: { type: "string", default: "I don't know" },
      token: { type: "string" },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (e) {
  fail(e.message);
}

if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (!args.name && !args.token) fail("--name is required");

const out = (line) => process.stdout.write(line + "\n");
const errorText = (e) => String(e?.message ?? e).replace(/^An unexpected error occurred invoking '[^']*' on the server\. /, "");

let hubUrl = args.url.replace(/\/+$/, "") + "/hubs/chat";
if (args.name) hubUrl += `?name=${encodeURIComponent(args.name)}`;

const options = {};
if (args.token) options.accessTokenFactory = () => args.token;

const connection = new HubConnectionBuilder()
  .withUrl(hubUrl, options)
  .configureLogging(args.verbose ? LogLevel.Warning : LogLevel.None)
  .build();

let quitting = false;
let currentRoom = null;
const joined = [];

connection.on("Message", (m) => {
  if (m.room === null || m.room === undefined) out(`(whisper) ${m.from}: ${m.text}`);
  else out(`[${m.room}] ${m.from}: ${m.text}`);
});

connection.on("History", (room, messages) => {
  out(`[${room}] earlier: ${messages.length} message(s)`);
  for (const m of messages) out(`[${room}] ${m.from}: ${m.text}`);
});

connection.on("Question", (question) => {
  out(`? asked: ${question}`);
  out(`  answering: ${args.answer}`);
  return args.answer;
});

connection.onclose((error) => {
  if (quitting) return;
  out(`connection closed${error ? `: ${errorText(error)}` : ""}`);
  process.exit(1);
});

async function join(room) {
  await connection.invoke("Join", room);
  if (!joined.includes(room)) joined.push(room);
  currentRoom = room;
  out(`joined ${room}`);
}

function needRoom() {
  if (!currentRoom) throw new Error("no current room: /join ROOM first");
  return currentRoom;
}

/** Splits "word rest of line" into ["word", "rest of line"]. */
function split1(s) {
  const t = s.trim();
  const i = t.search(/\s/);
  return i < 0 ? [t, ""] : [t.slice(0, i), t.slice(i).trim()];
}

async function handle(line) {
  if (line.trim() === "") return;
  if (!line.startsWith("/")) {
    await connection.invoke("Send", needRoom(), line);
    return;
  }
  const [cmd, rest] = split1(line.slice(1));
  switch (cmd.toLowerCase()) {
    case "join": {
      if (!rest) throw new Error("usage: /join ROOM");
      await join(rest);
      break;
    }
    case "leave": {
      const room = rest || needRoom();
      await connection.invoke("Leave", room);
      const i = joined.indexOf(room);
      if (i >= 0) joined.splice(i, 1);
      if (currentRoom === room) currentRoom = joined.at(-1) ?? null;
      out(`left ${room}${currentRoom ? `; current room: ${currentRoom}` : ""}`);
      break;
    }
    case "room": {
      if (!rest) throw new Error("usage: /room ROOM");
      if (!joined.includes(rest)) throw new Error(`not in ${rest}: /join ${rest} first`);
      currentRoom = rest;
      out(`current room: ${rest}`);
      break;
    }
    case "w":
    case "whisper": {
      const [user, text] = split1(rest);
      if (!user || !text) throw new Error("usage: /w USER TEXT");
      await connection.invoke("Whisper", user, text);
      out(`(to ${user}) ${text}`);
      break;
    }
    case "who": {
      const room = rest || needRoom();
      const users = await connection.invoke("Who", room);
      out(`in ${room}: ${users.length ? users.join(", ") : "(nobody)"}`);
      break;
    }
    case "online": {
      const users = await connection.invoke("Online");
      out(`online: ${users.length ? users.join(", ") : "(nobody)"}`);
      break;
    }
    case "ask": {
      const [user, question] = split1(rest);
      if (!user || !question) throw new Error("usage: /ask USER QUESTION");
      const answer = await connection.invoke("Ask", user, question);
      out(`${user} answered: ${typeof answer === "string" ? answer : JSON.stringify(answer)}`);
      break;
    }
    case "poll": {
      if (!rest) throw new Error("usage: /poll QUESTION");
      const room = needRoom();
      const results = await connection.invoke("Poll", room, rest);
      out(`poll in ${room}: ${results.length} answer(s)`);
      for (const r of results) {
        const who = r.user ?? r.connectionId;
        out(`  ${who}: ${"answer" in r ? r.answer : `(no answer: ${r.error})`}`);
      }
      break;
    }
    case "help":
    case "?":
      process.stdout.write(USAGE.slice(USAGE.indexOf("Commands")));
      break;
    case "quit":
    case "exit":
      return "quit";
    default:
      throw new Error(`unknown command /${cmd} (try /help)`);
  }
}

try {
  await connection.start();
} catch (e) {
  process.stderr.write(`could not connect to ${hubUrl}: ${errorText(e)}\n`);
  process.exit(1);
}
out(`connected to ${args.url} as ${args.name ?? "(token user)"}; /help for commands`);

if (args.room) {
  try {
    await join(args.room);
  } catch (e) {
    out(`! ${errorText(e)}`);
  }
}

const rl = createInterface({ input: process.stdin, terminal: false });
for await (const line of rl) {
  if (connection.state !== "Connected") break;
  let result;
  try {
    result = await handle(line);
  } catch (e) {
    out(`! ${errorText(e)}`);
  }
  if (result === "quit") break;
}

quitting = true;
await connection.stop();
out("bye");
process.exit(0);

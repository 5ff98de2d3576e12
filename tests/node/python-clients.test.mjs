// Python SignalR clients against the chat hub: pysignalr and signalrcore,
// each with its default settings, with the JSON and the MessagePack hub
// protocol. Each row runs tests/python/chat_<client>.py (the chat contract:
// Join, Send, Who, Whisper, an error, messages from a peer) next to an
// official JavaScript client in the same room, and checks what both saw.
//
// WASMHUB_PYTHON_CLIENTS names a Python with both clients installed (pinned
// in tests/python/requirements.txt); `cargo xtask test` makes one in
// target/tools/pyclients and passes it.

import { describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { useHost, spec, Queue, nextMessage, eventually, withDeadline, ROOT } from "./harness.mjs";

const PYTHON = process.env.WASMHUB_PYTHON_CLIENTS;
const SCRIPTS = path.join(ROOT, "tests", "python");
/** Deadline of each step in the script, seconds; the whole run gets a few of them. */
const STEP_S = 10;

function python() {
  if (!PYTHON) {
    throw new Error(
      "WASMHUB_PYTHON_CLIENTS is not set: it names a Python with pysignalr and signalrcore installed. " +
        "`cargo xtask test` makes one (target/tools/pyclients/bin/python); by hand: " +
        "python3 -m venv target/tools/pyclients && " +
        "target/tools/pyclients/bin/pip install -r tests/python/requirements.txt, " +
        "then WASMHUB_PYTHON_CLIENTS=target/tools/pyclients/bin/python",
    );
  }
  return PYTHON;
}

/** Runs a client script; its stdout lines (JSON events) go into a Queue. */
function runScript(client, args) {
  const child = spawn(python(), [path.join(SCRIPTS, `chat_${client}.py`), "--timeout", String(STEP_S), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" },
  });
  const events = new Queue(`${client} events`);
  let buf = "";
  let err = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        events.push(JSON.parse(line));
      } catch {
        events.push({ event: "unparsable", line });
      }
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.once("error", (e) => (err += `\ncannot run ${PYTHON}: ${e.message}`));
  const run = {
    events,
    exited,
    output: () => `stdout events: ${JSON.stringify(events.all)}\nstderr:\n${err}`,
    /** The next event named `name`; fails at once (with the output) if the script exits first. */
    next: (name, ms = STEP_S * 1000) => events.next(ms, (e) => e.event === name),
    kill: () => child.exitCode === null && child.kill("SIGKILL"),
  };
  exited.then(({ code, signal }) => events.end(`script exited (code ${code}, signal ${signal})\n${run.output()}`));
  return run;
}

const ROWS = [
  { client: "pysignalr", protocol: "json" },
  { client: "signalrcore", protocol: "json" },
  { client: "pysignalr", protocol: "messagepack" },
  { client: "signalrcore", protocol: "messagepack" },
];

describe("python clients in a room with a JavaScript client", () => {
  const fx = useHost();

  for (const { client, protocol } of ROWS) {
    spec(`${client} (${protocol})`, async () => {
      python(); // fails at once, saying how to get one, when WASMHUB_PYTHON_CLIENTS is unset
      const room = `py-${client}-${protocol}`;
      const name = `${client}-${protocol}`;
      const peerName = `js-${client}-${protocol}`;
      const peer = await fx.connect("/hubs/chat", { query: { name: peerName }, record: ["Message"] });
      await peer.invoke("Join", room);
      const script = runScript(client, [
        ...["--url", `${fx.url}/hubs/chat`, "--name", name, "--room", room],
        ...["--peer", peerName, "--protocol", protocol],
      ]);
      try {
        await script.next("connected");
        assert.deepEqual((await script.next("joined")).room, room);

        // Its Send reaches the room: itself and the JavaScript client.
        const own = { room, from: name, text: `hello from ${name}` };
        assert.deepEqual((await script.next("message")).message, own);
        assert.deepEqual(await nextMessage(peer, "Message", undefined, (m) => m.from === name && m.room), own);

        // An invocation with a result, one without, one with an error.
        const who = [peerName, name].sort();
        assert.deepEqual(await script.next("result"), { event: "result", method: "Who", result: who });
        assert.deepEqual(await script.next("result"), { event: "result", method: "Whisper", result: null });
        assert.deepEqual(await nextMessage(peer, "Message", undefined, (m) => m.room === null), {
          room: null,
          from: name,
          text: `psst from ${name}`,
        });
        const error = await script.next("error");
        assert.equal(error.method, "Whisper");
        assert.match(error.error, /NotFound: user 'nobody-online' is not online/);

        // The JavaScript client's room message and whisper reach it.
        await script.next("waiting");
        await peer.invoke("Send", room, `hello ${name}`);
        await peer.invoke("Whisper", name, `psst ${name}`);
        const done = await script.next("done");
        const got = script.events.all.filter((e) => e.event === "message").map((e) => e.message);
        assert.deepEqual(got, [
          own,
          { room, from: peerName, text: `hello ${name}` },
          { room: null, from: peerName, text: `psst ${name}` },
        ]);

        // Only message types it knows reached it (pysignalr raises on others):
        // Invocation, Completion, Ping, Close; no Ack/Sequence (8/9), no streamIds.
        const unknown = done.wire.types.filter((type) => ![1, 3, 6, 7].includes(type));
        assert.deepEqual(unknown, [], JSON.stringify(done.wire));
        assert.equal(done.wire.streamIds, 0, JSON.stringify(done.wire));
        assert.ok(done.wire.types.includes(1) && done.wire.types.includes(3), JSON.stringify(done.wire));

        const { code } = await withDeadline(script.exited, STEP_S * 1000, "the script to exit");
        assert.equal(code, 0, script.output());
        // It left: the room holds the JavaScript client only.
        await eventually(() => peer.invoke("Who", room), [peerName], STEP_S * 1000, "the python client to leave");
      } catch (e) {
        e.message += `\n--- ${client} (${protocol}) ---\n${script.output()}`;
        throw e;
      } finally {
        script.kill();
        await peer.stop();
      }
    }, 60_000);
  }
});

// Node lifecycle in a cluster: a node restarted under the same --node-id
// cleans up after its predecessor at startup; SIGTERM closes the node's
// clients with allowReconnect and removes its registrations at once; a node
// timeout not above twice the heartbeat interval is refused.
//
// Slow timings here (--heartbeat-interval 1s --node-timeout 30s), so that a
// sweep cannot explain what the tests see: only the restart cleanup and the
// shutdown can.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import {
  useCluster,
  spec,
  nextMessage,
  eventually,
  withDeadline,
  runHostExpectingExit,

} from "../harness.mjs";

const CHAT = "/hubs/chat";
const TESTHUB = "/hubs/testhub";
// A round trip after connecting: the host registers a connection and runs
// on-connected after it answered the handshake (see useCluster's connect).
const CHAT_READY = ["Who", "-"];
const TH_READY = ["GetUser"];
const SLOW = { heartbeatInterval: "1s", nodeTimeout: "30s" };
// Well below node-timeout (30 s) and still several heartbeats.
const QUICK = 3_000;

describe("a node restarted with the same --node-id", () => {
  const cl = useCluster({ nodes: [{ id: "node-a", ...SLOW }, { id: "node-b", ...SLOW }] });
  let alice, ann, bobOld, tbOld;

  before(async () => {
    alice = await cl.connect("node-a", CHAT, { ready: CHAT_READY, query: { name: "alice" }, record: ["Message"] });
    ann = await cl.connect("node-a", TESTHUB, { ready: TH_READY, query: { user: "ann" } });
    bobOld = await cl.connect("node-b", CHAT, { ready: CHAT_READY, query: { name: "bob" } });
    tbOld = await cl.connect("node-b", TESTHUB, { ready: TH_READY, query: { user: "ben", "@role": "admin" } });
    await alice.invoke("Join", "r");
    await bobOld.invoke("Join", "r");
    await ann.invoke("AddToGroup", tbOld.connectionId, "tg");
  });

  async function presence() {
    return {
      online: await alice.invoke("Online"),
      who: await alice.invoke("Who", "r"),
      users: (await ann.invoke("OnlineUsers")).map((u) => u.user),
      group: await ann.invoke("GroupMembers", "tg"),
      admins: await ann.invoke("ConnectionsByAttribute", "role", "admin"),
    };
  }

  spec("after kill -9 and a restart, the old connections vanish from presence at once", async () => {
    assert.deepEqual(await presence(), {
      online: ["alice", "bob"],
      who: ["alice", "bob"],
      users: ["ann", "ben"],
      group: [tbOld.connectionId],
      admins: [tbOld.connectionId],
    });
    const tKill = Date.now();
    await cl.node("node-b").kill();
    // Dead but not timed out (30 s): its registrations are still listed.
    assert.deepEqual((await presence()).online, ["alice", "bob"]);
    const restarted = await cl.startNode("node-b", SLOW);
    const tListening = Date.now();
    const { elapsed } = await eventually(
      presence,
      { online: ["alice"], who: ["alice"], users: ["ann"], group: [], admins: [] },
      QUICK,
      "the predecessor's connections to vanish from node-a's presence",
      25,
    );
    console.log(
      `restart of node-b: old connections gone from node-a's presence ${elapsed} ms after 'listening on' ` +
        `(${Date.now() - tKill} ms after the kill; restart took ${tListening - tKill} ms)`,
    );
    assert.ok(restarted.alive());
  });

  spec("the restarted node serves new connections across the cluster", async () => {
    const bob = await cl.connect("node-b", CHAT, { ready: CHAT_READY, query: { name: "bob" }, record: ["Message"] });
    await bob.invoke("Join", "r");
    assert.deepEqual(await alice.invoke("Online"), ["alice", "bob"]);
    assert.deepEqual(await alice.invoke("Who", "r"), ["alice", "bob"]);
    await alice.invoke("Whisper", "bob", "welcome back");
    assert.equal((await nextMessage(bob, "Message", undefined, (m) => m.text === "welcome back")).from, "alice");
    await bob.invoke("Send", "r", "back in the room");
    assert.equal((await nextMessage(alice, "Message", undefined, (m) => m.text === "back in the room")).from, "bob");
  });
});

describe("SIGTERM of a node", () => {
  const cl = useCluster({ nodes: [{ id: "node-a", ...SLOW }, { id: "node-b", ...SLOW }] });
  let alice, bea, bert, raw, tb, ann;

  before(async () => {
    alice = await cl.connect("node-a", CHAT, { ready: CHAT_READY, query: { name: "alice" } });
    ann = await cl.connect("node-a", TESTHUB, { ready: TH_READY, query: { user: "ann" } });
    // Reconnects (the first retry far in the future, so the test sees the
    // "reconnecting" state and nothing else).
    bea = await cl.connect("node-b", CHAT, {
      ready: CHAT_READY,
      query: { name: "bea" },
      reconnect: { nextRetryDelayInMilliseconds: (ctx) => (ctx.previousRetryCount === 0 ? 60_000 : null) },
    });
    bert = await cl.connect("node-b", CHAT, { ready: CHAT_READY, query: { name: "bert" } });
    raw = await cl.raw("node-b", CHAT, { query: { name: "rae" } });
    assert.equal((await raw.invoke("ready", "Who", ["-"])).error, undefined);
    tb = await cl.connect("node-b", TESTHUB, { ready: TH_READY, query: { user: "ben" } });
    for (const conn of [alice, bea, bert]) await conn.invoke("Join", "r");
    await ann.invoke("AddToGroup", tb.connectionId, "tg");
  });

  spec("closes its clients with allowReconnect and leaves presence at once", async () => {
    assert.deepEqual(await alice.invoke("Online"), ["alice", "bea", "bert", "rae"]);
    assert.deepEqual(await alice.invoke("Who", "r"), ["alice", "bea", "bert"]);
    assert.deepEqual(await ann.invoke("GroupMembers", "tg"), [tb.connectionId]);
    const node = cl.node("node-b");
    const t0 = Date.now();
    node.signal("SIGTERM");

    // The raw client sees the Close message itself.
    const close = await raw.nextMessage(5_000, { predicate: (m) => m.type === 7 });
    assert.equal(close.allowReconnect, true, `Close record: ${JSON.stringify(close)}`);
    // The official client with automatic reconnect starts reconnecting ...
    await withDeadline(bea.reconnecting, 5_000, "bea's onreconnecting");
    // ... and one without it is closed.
    await withDeadline(bert.closed, 5_000, "bert's onclose");
    const exit = await withDeadline(node.exited, 10_000, "node-b to exit after SIGTERM");
    const tExit = Date.now() - t0;
    assert.notEqual(exit.signal, "SIGKILL", "node-b needed SIGKILL to stop");

    const first = await alice.invoke("Online");
    const { elapsed } = await eventually(
      async () => ({
        online: await alice.invoke("Online"),
        who: await alice.invoke("Who", "r"),
        group: await ann.invoke("GroupMembers", "tg"),
        users: (await ann.invoke("OnlineUsers")).map((u) => u.user),
      }),
      { online: ["alice"], who: ["alice"], group: [], users: ["ann"] },
      QUICK,
      "node-b's connections to leave presence on node-a",
      25,
    );
    console.log(
      `SIGTERM of node-b: exited after ${tExit} ms (code ${exit.code}, signal ${exit.signal}); ` +
        `first Online on node-a after the exit: ${JSON.stringify(first)}; presence clean ${elapsed} ms after the exit`,
    );
    assert.deepEqual(first, ["alice"], "node-b's users were still listed right after it exited");
  });
});

describe("node timeout and heartbeat settings", () => {
  const cl = useCluster();

  for (const [timeout, heartbeat] of [
    ["1s", "1s"],
    ["2s", "1s"],
    ["500ms", "300ms"],
  ]) {
    spec(`--node-timeout ${timeout} --heartbeat-interval ${heartbeat} is refused`, async () => {
      const r = await runHostExpectingExit([
        "--redis", cl.redis.url,
        "--node-id", "node-x",
        "--node-timeout", timeout,
        "--heartbeat-interval", heartbeat,
      ]);
      assert.equal(r.started, false, `the host started:\n${r.stdout}\n${r.stderr}`);
      assert.notEqual(r.code, 0, `exit code ${r.code}, signal ${r.signal}`);
      assert.equal(r.signal, null, `killed by ${r.signal}`);
      assert.match(r.stderr, /heartbeat/i, r.stderr);
      assert.match(r.stderr, /twice|2 ?x|2×|two times|double/i, r.stderr);
      console.log(`--node-timeout ${timeout} --heartbeat-interval ${heartbeat}: exit ${r.code}: ${r.stderr.trim()}`);
    });
  }

  spec("--node-timeout above twice the heartbeat interval starts", async () => {
    const node = await cl.startNode("node-ok", { heartbeatInterval: "1s", nodeTimeout: "2001ms" });
    assert.ok(node.alive());
    await node.stop();
  });
});

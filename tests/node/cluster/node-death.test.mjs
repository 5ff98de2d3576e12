// A node killed with SIGKILL (no chance to clean up): the survivors sweep it
// after --node-timeout, fail the calls pending on it, and answer for the rest.
//
// Three nodes, --heartbeat-interval 200ms --node-timeout 1s, --invoke-timeout
// 30s (so that "failed because the node is dead" cannot be confused with
// "timed out"). Deadline for everything after the kill: node-timeout +
// heartbeat + margin = 3 s. Which survivor sweeps the dead node is a race, so
// every call is made from both survivors.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import { useCluster, spec, rejection, withDeadline, deferred, eventually, waitFor } from "../harness.mjs";

const CHAT = "/hubs/chat";
const TESTHUB = "/hubs/testhub";
// A round trip after connecting: the host registers a connection and runs
// on-connected after it answered the handshake (see useCluster's connect).
const CHAT_READY = ["Who", "-"];
const TH_READY = ["GetUser"];
const AFTER_KILL_DEADLINE = 3_000;
// How long the test waits for a call that should have failed by the deadline.
const GIVE_UP = AFTER_KILL_DEADLINE + 2_000;

describe("a node killed with SIGKILL", () => {
  const timing = ["--invoke-timeout", "30s"];
  const cl = useCluster({
    nodes: [
      { id: "node-a", extraArgs: timing },
      { id: "node-b", extraArgs: timing },
      { id: "node-c", extraArgs: timing },
    ],
  });

  // Room r: alice (node-a) and carol (node-c) answer; bob and dave (node-b) never do.
  const c = {};
  const asked = { alice: 0, bob: 0, dave: 0, carol: 0 };
  const ids = {}; // label -> connection id (a client forgets its id once closed)
  // Callers, one invocation each at a time (a connection runs its
  // invocations in order): user "obs", in no room.
  const k = {};
  let ann, tb, tc, thA, thC;
  let tbId; // tb's id (the client forgets it once node-b is gone)

  before(async () => {
    const never = () => new Promise(() => {});
    for (const [label, node, answer] of [
      ["alice", "node-a", () => "alice says yes"],
      ["bob", "node-b", never],
      ["dave", "node-b", never],
      ["carol", "node-c", () => "carol says yes"],
    ]) {
      c[label] = await cl.connect(node, CHAT, {
        ready: CHAT_READY,
        query: { name: label },
        handlers: {
          Question: () => {
            asked[label]++;
            return answer();
          },
        },
      });
      await c[label].invoke("Join", "r");
      ids[label] = c[label].connectionId;
    }
    for (const side of ["a", "c"]) {
      for (const role of ["obs", "ask", "late", "poll"]) {
        k[`${role}${side.toUpperCase()}`] = await cl.connect(`node-${side}`, CHAT, { ready: CHAT_READY, query: { name: "obs" } });
      }
    }
    ann = await cl.connect("node-a", TESTHUB, { ready: TH_READY, query: { user: "ann" } });
    tb = await cl.connect("node-b", TESTHUB, { ready: TH_READY, query: { user: "ben", "@role": "admin" } });
    tc = await cl.connect("node-c", TESTHUB, { ready: TH_READY, query: { user: "cid", "@role": "admin" } });
    tbId = tb.connectionId;
    thA = await cl.connect("node-a", TESTHUB, { ready: TH_READY });
    thC = await cl.connect("node-c", TESTHUB, { ready: TH_READY });
    await ann.invoke("AddToGroup", tb.connectionId, "tg");
    await ann.invoke("AddToGroup", tc.connectionId, "tg");
  });

  /** Every presence answer of the node that `chat`/`th` are connected to. */
  async function presence(chat, th) {
    return {
      online: await chat.invoke("Online"),
      who: await chat.invoke("Who", "r"),
      onlineUsers: (await th.invoke("OnlineUsers")).map((u) => u.user),
      group: await th.invoke("GroupMembers", "tg"),
      admins: await th.invoke("ConnectionsByAttribute", "role", "admin"),
    };
  }
  const withVictim = () => ({
    online: ["alice", "bob", "carol", "dave", "obs"],
    who: ["alice", "bob", "carol", "dave"],
    onlineUsers: ["ann", "ben", "cid"],
    group: [tbId, tc.connectionId].sort(),
    admins: [tbId, tc.connectionId].sort(),
  });
  const withoutVictim = () => ({
    online: ["alice", "carol", "obs"],
    who: ["alice", "carol"],
    onlineUsers: ["ann", "cid"],
    group: [tc.connectionId],
    admins: [tc.connectionId],
  });

  spec("before the kill, every node lists node-b's connections", async () => {
    assert.deepEqual(await presence(k.obsA, ann), withVictim());
    assert.deepEqual(await presence(k.obsC, tc), withVictim());
  });

  spec("after the kill: presence forgets it, calls pending on it fail, Polls answer for the rest", async () => {
    // Pending on node-b before the kill: an Ask from each survivor (bob and
    // dave only live on node-b), and a Poll of room r from each survivor.
    const calls = {
      "Ask from node-a, pending on node-b": k.askA.invoke("Ask", "bob", "will you answer?"),
      "Ask from node-c, pending on node-b": k.askC.invoke("Ask", "dave", "will you answer?"),
      "Poll from node-a": k.pollA.invoke("Poll", "r", "lunch?"),
      "Poll from node-c": k.pollC.invoke("Poll", "r", "lunch?"),
    };
    await waitFor(
      () => asked.bob === 3 && asked.dave === 3 && asked.alice === 2 && asked.carol === 2,
      5_000,
      `every pending call to reach its clients (asked: ${JSON.stringify(asked)})`,
    );

    const t0 = Date.now();
    await cl.node("node-b").kill();
    // Sent after the kill, before node-b is declared dead: routed to a dead node.
    calls["Ask from node-a, sent after the kill"] = k.lateA.invoke("Ask", "dave", "still there?");
    calls["Ask from node-c, sent after the kill"] = k.lateC.invoke("Ask", "bob", "still there?");
    // A group change of a connection on node-b, waiting on node-b.
    calls["AddToGroup from node-a, sent after the kill"] = thA.invoke("AddToGroup", tbId, "late");
    calls["AddToGroup from node-c, sent after the kill"] = thC.invoke("AddToGroup", tbId, "late");

    const timed = (p) => p.then((v) => ({ v, ms: Date.now() - t0 }), (e) => ({ e, ms: Date.now() - t0 }));
    const names = Object.keys(calls);
    const [onA, onC, ...outcomes] = await Promise.all([
      timed(eventually(() => presence(k.obsA, ann), withoutVictim(), AFTER_KILL_DEADLINE, "node-b to vanish from presence on node-a", 25)),
      timed(eventually(() => presence(k.obsC, tc), withoutVictim(), AFTER_KILL_DEADLINE, "node-b to vanish from presence on node-c", 25)),
      ...names.map((n) => timed(withDeadline(calls[n], GIVE_UP, n))),
    ]);
    const out = Object.fromEntries(names.map((n, i) => [n, outcomes[i]]));
    const sweepers = cl.all.filter((n) => /swept a dead node node=node-b/.test(n.stderr())).map((n) => n.nodeId);
    const describe = (o) =>
      o.e
        ? /^deadline of \d+ ms passed/.test(o.e.message)
          ? `had not settled after ${o.ms} ms`
          : `failed after ${o.ms} ms: ${o.e.message}`
        : `resolved after ${o.ms} ms: ${JSON.stringify(o.v)}`;
    console.log(
      `node-b killed; swept by ${sweepers.join(", ") || "(no node logged it)"}; its connections were gone from presence ` +
        `on node-a after ${onA.ms} ms, on node-c after ${onC.ms} ms (node-timeout 1s, heartbeat 200ms)\n` +
        names.map((n) => `  ${n}: ${describe(out[n])}`).join("\n"),
    );

    if (onA.e) throw onA.e;
    if (onC.e) throw onC.e;

    const problems = [];
    for (const n of names) {
      const o = out[n];
      const isPoll = n.startsWith("Poll");
      if (o.ms >= AFTER_KILL_DEADLINE || (isPoll ? o.e : !o.e)) problems.push(`${n} ${describe(o)}`);
    }
    assert.deepEqual(
      problems,
      [],
      `within ${AFTER_KILL_DEADLINE} ms of the kill (node-b swept by ${sweepers.join(", ") || "nobody"}):\n  ` +
        problems.join("\n  "),
    );

    for (const n of names.filter((n) => n.startsWith("Ask"))) {
      assert.match(out[n].e.message, /^An unexpected error occurred invoking 'Ask' on the server\. NoClientResponded: /, n);
      assert.match(out[n].e.message, /node-b/, `${n}: the error should name the dead node`);
    }
    for (const n of names.filter((n) => n.startsWith("AddToGroup"))) {
      assert.match(out[n].e.message, /^An unexpected error occurred invoking 'AddToGroup' on the server\. /, n);
      assert.match(out[n].e.message, /node-b/, `${n}: the error should name the dead node`);
    }
    for (const n of names.filter((n) => n.startsWith("Poll"))) {
      const results = out[n].v;
      assert.equal(results.length, 4, `${n}: ${JSON.stringify(results)}`);
      const by = Object.fromEntries(results.map((r) => [r.connectionId, r]));
      assert.deepEqual(by[c.alice.connectionId], { connectionId: c.alice.connectionId, user: "alice", answer: "alice says yes" });
      assert.deepEqual(by[c.carol.connectionId], { connectionId: c.carol.connectionId, user: "carol", answer: "carol says yes" });
      for (const l of ["bob", "dave"]) {
        const r = by[ids[l]];
        assert.ok(r, `${n}: no result for ${l}: ${JSON.stringify(results)}`);
        assert.equal("answer" in r, false, `${n}: ${JSON.stringify(r)}`);
        assert.match(r.error, /node-b/, `${n}: the error for ${l} should name the dead node: ${JSON.stringify(r)}`);
      }
    }
  });

  spec("the surviving nodes keep working together", async () => {
    const got = deferred();
    c.carol.on("Message", (m) => got.resolve(m));
    await c.alice.invoke("Whisper", "carol", "still here");
    assert.deepEqual(await withDeadline(got.promise, 5_000, "the whisper"), { room: null, from: "alice", text: "still here" });
    const erin = await cl.connect("node-c", CHAT, { ready: CHAT_READY, query: { name: "erin" } });
    assert.deepEqual(await c.alice.invoke("Online"), ["alice", "carol", "erin", "obs"]);
    await erin.stop();
    const e = await rejection(c.alice.invoke("Ask", "bob", "gone?"));
    assert.match(e.message, /NoClientResponded: .*not online/);
  });
});

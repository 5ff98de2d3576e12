// Every cluster operation across two nodes on one Redis: sends to users,
// rooms, groups and attributes; presence; invoke-one / invoke-all; group
// membership of connections on the other node. Chat hub and testhub.
//
// Runs whatever WASMHUB_TEST_BACKEND says: it starts its own Redis and nodes.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import { useCluster, spec, inbox, nextMessage, rejection, eventually } from "../harness.mjs";

const CHAT = "/hubs/chat";
const TESTHUB = "/hubs/testhub";
// A round trip after connecting: the host registers a connection and runs
// on-connected after it answered the handshake (see useCluster's connect).
const CHAT_READY = ["Who", "-"];
const TH_READY = ["GetUser"];

describe("cluster routing across two nodes", () => {
  const cl = useCluster({
    nodes: [
      { id: "node-a", extraArgs: ["--invoke-timeout", "10s"] },
      { id: "node-b", extraArgs: ["--invoke-timeout", "10s"] },
    ],
  });

  describe("chat", () => {
    // label -> connection; each label's node is in `layout`.
    const c = {};
    const behaviour = {};
    const asked = []; // { label, q } in the order the Questions arrived
    let active = 0;
    let maxActive = 0;
    const layout = [
      ["alice", "alice", "node-a"],
      ["bob1", "bob", "node-a"],
      ["carol", "carol", "node-a"],
      ["bob3", "bob", "node-a"],
      ["bob2", "bob", "node-b"],
      ["dave", "dave", "node-b"],
      ["bob4", "bob", "node-b"],
    ];
    const BOBS = ["bob1", "bob2", "bob3", "bob4"];

    before(async () => {
      for (const [label, name, node] of layout) {
        c[label] = await cl.connect(node, CHAT, {
          ready: CHAT_READY,
          query: { name },
          record: ["Message"],
          handlers: {
            Question: async (q) => {
              asked.push({ label, q });
              active++;
              maxActive = Math.max(maxActive, active);
              try {
                const fn = behaviour[label];
                return fn ? await fn(q) : `${label} answers ${q}`;
              } finally {
                active--;
              }
            },
          },
        });
      }
    });

    const msg = (label, pred) => nextMessage(c[label], "Message", undefined, pred);
    const hasText = (text) => (m) => m && m.text === text;
    const texts = (label) => inbox(c[label], "Message").all.map((a) => a[0].text);
    /** Waits for `marker` on `label`; returns the texts that arrived before it. */
    async function beforeMarker(label, marker) {
      await msg(label, hasText(marker));
      const all = texts(label);
      return all.slice(0, all.indexOf(marker));
    }
    const delay = (ms) => new Promise((r) => setTimeout(r, ms));

    spec("Online on either node lists the users of both nodes, sorted and distinct", async () => {
      const everyone = ["alice", "bob", "carol", "dave"];
      assert.deepEqual(await c.alice.invoke("Online"), everyone);
      assert.deepEqual(await c.dave.invoke("Online"), everyone);
    });

    spec("Whisper reaches every connection of a user on both nodes, and nobody else", async () => {
      await c.dave.invoke("Whisper", "bob", "psst bob");
      for (const l of BOBS) {
        assert.deepEqual(await msg(l, hasText("psst bob")), { room: null, from: "dave", text: "psst bob" }, l);
      }
      for (const l of ["alice", "carol", "dave"]) {
        await c.bob2.invoke("Whisper", l, `marker-w-${l}`);
        const seen = await beforeMarker(l, `marker-w-${l}`);
        assert.equal(seen.includes("psst bob"), false, `${l} got ${JSON.stringify(seen)}`);
      }
    });

    spec("Send reaches the room's members on both nodes, the sender included", async () => {
      for (const l of ["alice", "bob1", "bob2", "dave"]) await c[l].invoke("Join", "lobby");
      await c.alice.invoke("Send", "lobby", "hello lobby");
      for (const l of ["alice", "bob1", "bob2", "dave"]) {
        assert.deepEqual(await msg(l, hasText("hello lobby")), { room: "lobby", from: "alice", text: "hello lobby" }, l);
      }
      // Not in the room: carol (node a), bob4 (node b).
      await c.dave.invoke("Whisper", "carol", "marker-r1");
      await c.alice.invoke("Whisper", "bob", "marker-r1");
      for (const l of ["carol", "bob4"]) {
        const seen = await beforeMarker(l, "marker-r1");
        assert.equal(seen.includes("hello lobby"), false, `${l} got ${JSON.stringify(seen)}`);
      }
      // And from the other node.
      await c.dave.invoke("Send", "lobby", "hello from b");
      for (const l of ["alice", "bob1", "bob2", "dave"]) await msg(l, hasText("hello from b"));
    });

    spec("Who lists the room's users of both nodes, sorted and distinct, on either node", async () => {
      assert.deepEqual(await c.carol.invoke("Who", "lobby"), ["alice", "bob", "dave"]);
      assert.deepEqual(await c.bob4.invoke("Who", "lobby"), ["alice", "bob", "dave"]);
      await c.carol.invoke("Join", "lobby");
      assert.deepEqual(await c.bob4.invoke("Who", "lobby"), ["alice", "bob", "carol", "dave"]);
      await c.carol.invoke("Leave", "lobby");
      assert.deepEqual(await c.bob4.invoke("Who", "lobby"), ["alice", "bob", "dave"]);
      assert.deepEqual(await c.bob4.invoke("Who", "empty-room"), []);
    });

    spec("Ask is answered by a client on the other node", async () => {
      asked.length = 0;
      assert.equal(await c.alice.invoke("Ask", "dave", "from a?"), "dave answers from a?");
      assert.equal(await c.dave.invoke("Ask", "carol", "from b?"), "carol answers from b?");
      assert.deepEqual(asked, [
        { label: "dave", q: "from a?" },
        { label: "carol", q: "from b?" },
      ]);
    });

    spec("Ask runs Question on exactly one of a user's connections spread over both nodes", async () => {
      for (const l of BOBS) behaviour[l] = async (q) => {
        await delay(20); // a client that takes a moment: overlapping calls would show
        return `${l}: ${q}`;
      };
      for (let i = 0; i < 6; i++) {
        asked.length = 0;
        maxActive = 0;
        const asker = i % 2 === 0 ? c.alice : c.dave;
        const answer = await asker.invoke("Ask", "bob", `q${i}`);
        // A later whisper reaches all of bob's connections; no second Question came before it.
        await c.carol.invoke("Whisper", "bob", `marker-ask-${i}`);
        for (const l of BOBS) await msg(l, hasText(`marker-ask-${i}`));
        assert.equal(asked.length, 1, `round ${i}: Question ran on ${JSON.stringify(asked)}`);
        assert.equal(answer, `${asked[0].label}: q${i}`);
      }
    });

    spec("Ask falls over across nodes one client at a time, never two at once", async () => {
      // Only bob4 (node b) answers; the others fail after a moment.
      for (const l of BOBS) behaviour[l] = async () => {
        await delay(30);
        if (l !== "bob4") throw new Error(`${l} cannot answer`);
        return "bob4 answers";
      };
      for (const asker of [c.carol, c.dave]) {
        asked.length = 0;
        maxActive = 0;
        assert.equal(await asker.invoke("Ask", "bob", "who answers?"), "bob4 answers");
        const labels = asked.map((a) => a.label);
        assert.equal(labels.at(-1), "bob4", JSON.stringify(labels));
        assert.equal(new Set(labels).size, labels.length, `a connection was asked twice: ${labels}`);
        assert.equal(maxActive, 1, `Question ran on ${maxActive} clients at once (${labels})`);
        console.log(`invoke-one order from ${asker === c.carol ? "node-a" : "node-b"}: ${labels.join(", ")}`);
      }
    });

    spec("Ask fails with NoClientResponded listing the reasons from both nodes", async () => {
      asked.length = 0;
      maxActive = 0;
      for (const l of BOBS) behaviour[l] = async () => {
        await delay(10);
        throw new Error(`${l} refuses`);
      };
      const e = await rejection(c.alice.invoke("Ask", "bob", "anything?"));
      assert.match(e.message, /NoClientResponded/);
      for (const l of BOBS) assert.match(e.message, new RegExp(`${l} refuses`));
      assert.equal(asked.length, 4, JSON.stringify(asked));
      assert.equal(maxActive, 1);
    });

    spec("Poll asks a room spread over both nodes: every answer and every failure", async () => {
      behaviour.alice = () => "alice votes yes";
      behaviour.carol = () => {
        throw new Error("carol has no idea");
      };
      behaviour.bob2 = () => "bob2 votes no";
      behaviour.dave = () => {
        throw new Error("dave has no idea");
      };
      for (const l of ["alice", "carol", "bob2", "dave"]) await c[l].invoke("Join", "poll-room");
      for (const asker of [c.alice, c.dave]) {
        const results = await asker.invoke("Poll", "poll-room", "pizza?");
        assert.equal(results.length, 4, JSON.stringify(results));
        const by = Object.fromEntries(results.map((r) => [r.connectionId, r]));
        assert.deepEqual(by[c.alice.connectionId], { connectionId: c.alice.connectionId, user: "alice", answer: "alice votes yes" });
        assert.deepEqual(by[c.bob2.connectionId], { connectionId: c.bob2.connectionId, user: "bob", answer: "bob2 votes no" });
        for (const l of ["carol", "dave"]) {
          const r = by[c[l].connectionId];
          assert.ok(r, `no result for ${l}: ${JSON.stringify(results)}`);
          assert.equal(r.user, l);
          assert.equal("answer" in r, false, JSON.stringify(r));
          assert.match(r.error, new RegExp(`${l} has no idea`));
        }
      }
    });

    spec("a user who disconnects from one node leaves Online and Who on the other", async () => {
      const erin = await cl.connect("node-b", CHAT, { ready: CHAT_READY, query: { name: "erin" } });
      await erin.invoke("Join", "lobby");
      assert.deepEqual(await c.alice.invoke("Online"), ["alice", "bob", "carol", "dave", "erin"]);
      assert.deepEqual(await c.alice.invoke("Who", "lobby"), ["alice", "bob", "dave", "erin"]);
      await erin.stop();
      await eventually(() => c.alice.invoke("Online"), ["alice", "bob", "carol", "dave"], 2_000, "erin to leave Online on node a");
      assert.deepEqual(await c.alice.invoke("Who", "lobby"), ["alice", "bob", "dave"]);
    });
  });

  describe("testhub", () => {
    let ta, tx, tb, tb2, ty;
    const sorted = (...ids) => [...ids].sort();

    before(async () => {
      ta = await cl.connect("node-a", TESTHUB, { ready: TH_READY, query: { user: "ann", "@role": "admin" }, record: ["Note"] });
      tx = await cl.connect("node-a", TESTHUB, { ready: TH_READY, record: ["Note"] });
      tb = await cl.connect("node-b", TESTHUB, { ready: TH_READY, query: { user: "ben", "@role": "ADMIN" }, record: ["Note"] });
      tb2 = await cl.connect("node-b", TESTHUB, { ready: TH_READY, query: { user: "ann", "@role": "user" }, record: ["Note"] });
      ty = await cl.connect("node-b", TESTHUB, { ready: TH_READY, record: ["Note"] });
    });

    const notes = (conn) => inbox(conn, "Note").all.map((x) => x[0]);
    const note = (conn, text) => nextMessage(conn, "Note", undefined, (x) => x === text);

    spec("AddToGroup of a connection on the other node, then SendToGroup reaches it", async () => {
      await ta.invoke("AddToGroup", tb.connectionId, "g1"); // a adds b's connection
      await ty.invoke("AddToGroup", tx.connectionId, "g1"); // b adds a's connection
      await ta.invoke("SendToGroup", "g1", "Note", "to g1 from a");
      await ty.invoke("SendToGroup", "g1", "Note", "to g1 from b");
      for (const conn of [tb, tx]) {
        await note(conn, "to g1 from a");
        await note(conn, "to g1 from b");
      }
      // Not in g1: ta, tb2, ty. A marker group of all of them proves nothing else came.
      for (const conn of [ta, tb2, ty]) await tx.invoke("AddToGroup", conn.connectionId, "marker");
      await tb.invoke("SendToGroup", "marker", "Note", "marker-1");
      for (const conn of [ta, tb2, ty]) {
        await note(conn, "marker-1");
        assert.deepEqual(notes(conn), ["marker-1"]);
      }
    });

    spec("GroupMembers lists the members of both nodes, sorted, on either node", async () => {
      for (const conn of [ta, tb]) {
        assert.deepEqual(await conn.invoke("GroupMembers", "g1"), sorted(tb.connectionId, tx.connectionId));
        assert.deepEqual(
          await conn.invoke("GroupMembers", "marker"),
          sorted(ta.connectionId, tb2.connectionId, ty.connectionId),
        );
        assert.deepEqual(await conn.invoke("GroupMembers", "no-such-group"), []);
      }
      // Adding again is idempotent, from either node.
      await tb.invoke("AddToGroup", tx.connectionId, "g1");
      await ta.invoke("AddToGroup", tb.connectionId, "g1");
      assert.deepEqual(await ta.invoke("GroupMembers", "g1"), sorted(tb.connectionId, tx.connectionId));
    });

    spec("RemoveFromGroup of a connection on the other node stops delivery", async () => {
      await ta.invoke("RemoveFromGroup", tb.connectionId, "g1");
      await tb2.invoke("RemoveFromGroup", tx.connectionId, "g1");
      assert.deepEqual(await ta.invoke("GroupMembers", "g1"), []);
      assert.deepEqual(await tb.invoke("GroupMembers", "g1"), []);
      await ta.invoke("SendToGroup", "g1", "Note", "g1 after remove");
      await ta.invoke("AddToGroup", tb.connectionId, "marker");
      await ta.invoke("AddToGroup", tx.connectionId, "marker");
      await ty.invoke("SendToGroup", "marker", "Note", "marker-2");
      for (const conn of [tb, tx]) {
        await note(conn, "marker-2");
        assert.equal(notes(conn).includes("g1 after remove"), false, JSON.stringify(notes(conn)));
      }
      // Removing again is not an error.
      assert.equal(await ta.invoke("RemoveFromGroup", tb.connectionId, "g1"), null);
    });

    spec("AddToGroup of an unknown connection fails quickly with NotFound", async () => {
      const t0 = Date.now();
      const e = await rejection(ta.invoke("AddToGroup", "no-such-connection", "g1"), 5_000);
      const elapsed = Date.now() - t0;
      assert.match(e.message, /^An unexpected error occurred invoking 'AddToGroup' on the server\. NotFound: /);
      assert.ok(elapsed < 2_000, `NotFound took ${elapsed} ms`);
      assert.deepEqual(await ta.invoke("GroupMembers", "g1"), []);
    });

    spec("ConnectionsByAttribute spans both nodes, values case-insensitive with wildcards", async () => {
      for (const conn of [tx, ty]) {
        assert.deepEqual(await conn.invoke("ConnectionsByAttribute", "role", "admin"), sorted(ta.connectionId, tb.connectionId));
        assert.deepEqual(await conn.invoke("ConnectionsByAttribute", "ROLE", "Ad*"), sorted(ta.connectionId, tb.connectionId));
        assert.deepEqual(await conn.invoke("ConnectionsByAttribute", "role", "us?r"), [tb2.connectionId]);
        assert.deepEqual(
          await conn.invoke("ConnectionsByAttribute", "role", null),
          sorted(ta.connectionId, tb.connectionId, tb2.connectionId),
        );
        assert.deepEqual(await conn.invoke("ConnectionsByAttribute", "no-such-key", null), []);
      }
    });

    spec("SendToAttribute reaches the matching connections on both nodes", async () => {
      await tx.invoke("SendToAttribute", "role", "ADMIN", "Note", "to admins");
      await note(ta, "to admins");
      await note(tb, "to admins");
      await ty.invoke("SendToAttribute", "role", null, "Note", "marker-3");
      for (const conn of [ta, tb, tb2]) await note(conn, "marker-3");
      const seen = notes(tb2);
      assert.equal(seen.includes("to admins"), false, JSON.stringify(seen));
    });

    spec("OnlineUsers lists each user with its connections on both nodes", async () => {
      const expected = [
        { user: "ann", connections: sorted(ta.connectionId, tb2.connectionId) },
        { user: "ben", connections: [tb.connectionId] },
      ];
      assert.deepEqual(await tx.invoke("OnlineUsers"), expected);
      assert.deepEqual(await ty.invoke("OnlineUsers"), expected);
    });

    spec("InvokeAllGroup returns answers and errors of clients on both nodes", async () => {
      const ok = await cl.connect("node-a", TESTHUB, { ready: TH_READY, handlers: { Result: () => 10 } });
      const bad = await cl.connect("node-b", TESTHUB, {
        ready: TH_READY,
        handlers: {
          Result: () => {
            throw new Error("from callback");
          },
        },
      });
      const silent = await cl.connect("node-b", TESTHUB, { ready: TH_READY });
      for (const x of [ok, bad, silent]) await ta.invoke("AddToGroup", x.connectionId, "voters");
      for (const asker of [ta, tb]) {
        const results = await asker.invoke("InvokeAllGroup", "voters", "Result");
        assert.equal(results.length, 3, JSON.stringify(results));
        const by = Object.fromEntries(results.map((r) => [r.connectionId, r]));
        assert.deepEqual(by[ok.connectionId], { connectionId: ok.connectionId, value: 10 });
        assert.equal("value" in by[bad.connectionId], false, JSON.stringify(by[bad.connectionId]));
        assert.match(by[bad.connectionId].error, /Error: from callback/);
        assert.match(by[silent.connectionId].error, /Client didn't provide a result\./);
      }
      await Promise.all([ok.stop(), bad.stop(), silent.stop()]);
    });

    spec("a connection that disconnects from one node leaves groups and presence on the other", async () => {
      const gone = await cl.connect("node-b", TESTHUB, { ready: TH_READY, query: { user: "gus", "@role": "admin" } });
      await ta.invoke("AddToGroup", gone.connectionId, "g3");
      assert.deepEqual(await ta.invoke("GroupMembers", "g3"), [gone.connectionId]);
      await gone.stop();
      await eventually(() => ta.invoke("GroupMembers", "g3"), [], 2_000, "gus to leave g3 as seen from node a");
      assert.deepEqual(await ta.invoke("ConnectionsByAttribute", "role", "admin"), sorted(ta.connectionId, tb.connectionId));
      assert.deepEqual(
        (await ta.invoke("OnlineUsers")).map((u) => u.user),
        ["ann", "ben"],
      );
    });
  });
  describe("accepting connections", () => {
    spec("a connection is listed on both nodes as soon as its start() resolves", async () => {
      const obsA = await cl.connect("node-a", CHAT, { ready: CHAT_READY, query: { name: "obs-a" } });
      const obsB = await cl.connect("node-b", CHAT, { ready: CHAT_READY, query: { name: "obs-b" } });
      const misses = [];
      const ROUNDS = 40;
      for (let i = 0; i < ROUNDS; i++) {
        const node = i % 2 === 0 ? "node-a" : "node-b";
        const name = `newcomer-${i}`;
        const conn = await cl.connect(node, CHAT, { query: { name } }); // no round trip first
        const [seenA, seenB] = await Promise.all([obsA.invoke("Online"), obsB.invoke("Online")]);
        if (!seenA.includes(name)) misses.push(`${name} (on ${node}) missing on node-a`);
        if (!seenB.includes(name)) misses.push(`${name} (on ${node}) missing on node-b`);
        await conn.stop();
      }
      assert.deepEqual(misses, [], `${misses.length} of ${2 * ROUNDS} presence answers right after start() missed the new connection`);
    });
  });
});

// Two nodes on one Redis, clients of both hub protocols and several
// transports in one room: the backplane carries messages protocol-neutral
// and each node encodes them for its own clients. A MessagePack client on
// node B and a JSON client on node A see each other's room messages and
// whispers, and each can answer the other's questions (invoke-one across
// nodes); a long-polling MessagePack client and a Server-Sent Events JSON
// client join in.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import { useCluster, spec, nextMessage } from "../harness.mjs";

const CHAT = "/hubs/chat";

describe("cluster: JSON and MessagePack clients on two nodes", () => {
  const cl = useCluster({ nodes: [{ id: "node-a" }, { id: "node-b" }] });
  const c = {};
  const layout = [
    ["ann", "node-a", { protocol: "json" }],
    ["ben", "node-b", { protocol: "messagepack" }],
    ["lp", "node-b", { protocol: "messagepack", transport: "LongPolling" }],
    ["sse", "node-a", { protocol: "json", transport: "ServerSentEvents" }],
  ];

  before(async () => {
    for (const [name, node, opts] of layout) {
      c[name] = await cl.connect(node, CHAT, {
        ...opts,
        ready: ["Who", "-"],
        query: { name },
        record: ["Message"],
        handlers: { Question: (q) => `${name} says yes to ${q}` },
      });
      await c[name].invoke("Join", "mixed");
    }
  });

  spec("a room message reaches every member, whatever its node and protocol", async () => {
    await c.ben.invoke("Send", "mixed", "from ben (msgpack, node-b)");
    await c.ann.invoke("Send", "mixed", "from ann (json, node-a)");
    for (const [name] of layout) {
      for (const text of ["from ben (msgpack, node-b)", "from ann (json, node-a)"]) {
        const m = await nextMessage(c[name], "Message", undefined, (m) => m.text === text);
        assert.equal(m.room, "mixed", `${name} got ${text}`);
      }
    }
  });

  spec("whispers and questions cross nodes and protocols", async () => {
    await c.ann.invoke("Whisper", "ben", "psst ben");
    assert.equal((await nextMessage(c.ben, "Message", undefined, (m) => m.text === "psst ben")).from, "ann");
    await c.lp.invoke("Whisper", "sse", "psst sse");
    assert.equal((await nextMessage(c.sse, "Message", undefined, (m) => m.text === "psst sse")).from, "lp");
    assert.equal(await c.ann.invoke("Ask", "ben", "lunch?"), "ben says yes to lunch?");
    assert.equal(await c.ben.invoke("Ask", "sse", "tea?"), "sse says yes to tea?");
    assert.deepEqual(await c.lp.invoke("Who", "mixed"), ["ann", "ben", "lp", "sse"]);
  });
});

// Per-publisher ordering across nodes: what one client sends to one target on
// another node arrives in the order sent, each message once.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import { useCluster, spec, inbox, nextMessage } from "../harness.mjs";

const CHAT = "/hubs/chat";
const TESTHUB = "/hubs/testhub";
// A round trip after connecting: the host registers a connection and runs
// on-connected after it answered the handshake (see useCluster's connect).
const CHAT_READY = ["Who", "-"];
const TH_READY = ["GetUser"];
const N = 500;

describe("ordering across nodes", () => {
  const cl = useCluster({ nodes: [{ id: "node-a" }, { id: "node-b" }] });
  let alice, carol, dave, bob;

  before(async () => {
    alice = await cl.connect("node-a", CHAT, { ready: CHAT_READY, query: { name: "alice" } });
    carol = await cl.connect("node-a", CHAT, { ready: CHAT_READY, query: { name: "carol" } });
    dave = await cl.connect("node-b", CHAT, { ready: CHAT_READY, query: { name: "dave" } });
    bob = await cl.connect("node-b", CHAT, { ready: CHAT_READY, query: { name: "bob" }, record: ["Message"] });
  });

  /**
   * Waits for `<prefix>end` from `from` on bob; returns the texts starting
   * with `prefix` that `from` sent to bob before it, in arrival order.
   */
  async function receivedFrom(from, prefix) {
    const marker = `${prefix}end`;
    await nextMessage(bob, "Message", 30_000, (m) => m.from === from && m.text === marker);
    const texts = inbox(bob, "Message")
      .all.map((a) => a[0])
      .filter((m) => m.from === from && m.text.startsWith(prefix))
      .map((m) => m.text);
    const end = texts.indexOf(marker);
    assert.equal(texts.lastIndexOf(marker), end, `marker ${marker} arrived twice`);
    return texts.slice(0, end);
  }

  const expected = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

  function assertInOrder(got, want, who) {
    if (got.length !== want.length || got.some((t, i) => t !== want[i])) {
      const firstBad = got.findIndex((t, i) => t !== want[i]);
      const dups = got.length - new Set(got).size;
      assert.fail(
        `${who}: got ${got.length} messages (${dups} duplicates), expected ${want.length}; ` +
          `first difference at ${firstBad}: got ${JSON.stringify(got.slice(firstBad, firstBad + 5))}, ` +
          `expected ${JSON.stringify(want.slice(firstBad, firstBad + 5))}`,
      );
    }
  }

  spec(`${N} pipelined Whisper invocations from node-a arrive on node-b in order, once each`, async () => {
    const t0 = Date.now();
    await Promise.all(expected("inv-", N).map((text) => alice.invoke("Whisper", "bob", text)));
    await alice.invoke("Whisper", "bob", "inv-end");
    assertInOrder(await receivedFrom("alice", "inv-"), expected("inv-", N), "alice");
    console.log(`${N} pipelined Whispers a -> b in ${Date.now() - t0} ms`);
  }, 60_000);

  spec(`${N} fire-and-forget Whispers (send) from node-a arrive on node-b in order, once each`, async () => {
    const t0 = Date.now();
    for (const text of expected("snd-", N)) alice.send("Whisper", "bob", text).catch(() => {});
    await alice.invoke("Whisper", "bob", "snd-end");
    assertInOrder(await receivedFrom("alice", "snd-"), expected("snd-", N), "alice");
    console.log(`${N} fire-and-forget Whispers a -> b in ${Date.now() - t0} ms`);
  }, 60_000);

  spec("three publishers at once (two on node-a, one on node-b): each one's messages in order", async () => {
    const M = 200;
    const senders = { alice, carol, dave };
    await Promise.all(
      Object.entries(senders).map(async ([name, conn]) => {
        await Promise.all(expected(`${name}-`, M).map((text) => conn.invoke("Whisper", "bob", text)));
        await conn.invoke("Whisper", "bob", `${name}-end`);
      }),
    );
    for (const name of Object.keys(senders)) {
      assertInOrder(await receivedFrom(name, `${name}-`), expected(`${name}-`, M), name);
    }
  }, 60_000);

  spec(`${N} testhub SendToGroup from node-a to a member on node-b arrive in order, once each`, async () => {
    const sender = await cl.connect("node-a", TESTHUB, { ready: TH_READY });
    const target = await cl.connect("node-b", TESTHUB, { ready: TH_READY, record: ["Seq"] });
    await sender.invoke("AddToGroup", target.connectionId, "seq");
    await Promise.all(Array.from({ length: N }, (_, i) => sender.invoke("SendToGroup", "seq", "Seq", i)));
    await sender.invoke("SendToGroup", "seq", "Seq", "end");
    await nextMessage(target, "Seq", 30_000, (x) => x === "end");
    const got = inbox(target, "Seq").all.map((a) => a[0]);
    assertInOrder(got, [...Array.from({ length: N }, (_, i) => i), "end"], "SendToGroup");
  }, 60_000);
});

// A node must never go deaf: its pub/sub link to Redis can be killed by
// Redis (CLIENT KILL), stall with a paused Redis (SIGSTOP), or go half-open
// without any error (a NAT or load balancer forgot the flow: a socket that
// delivers nothing while the heartbeat, on its own link, is fine). In each
// case a whisper from node-a reaches bob on node-b again within a bound.

import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { useCluster, startNode, spec, nextMessage, eventually, startTcpProxy } from "../harness.mjs";

const CHAT = "/hubs/chat";
// With --heartbeat-interval 200ms: a PING every 200 ms, a PONG due within
// 1 s, then a reconnect: well inside this.
const HEARS_AGAIN = 8_000;

/** Whispers from alice until bob hears one; resolves with how long it took. */
async function whisperUntilHeard(alice, bob, label) {
  let n = 0;
  const t0 = Date.now();
  await eventually(
    async () => {
      const text = `${label} ${n++}`;
      await alice.invoke("Whisper", "bob", text).catch(() => {});
      return nextMessage(bob, "Message", 300, (m) => m && m.text === text).then(
        () => true,
        () => false,
      );
    },
    true,
    HEARS_AGAIN,
    `bob on node-b to hear a whisper again (${label})`,
    0,
  );
  return Date.now() - t0;
}

describe("deaf node: the pub/sub link fails in three ways", () => {
  const cl = useCluster({ nodes: [{ id: "node-a" }] });
  let proxy, nodeB, alice, bob;

  before(async () => {
    proxy = await startTcpProxy(cl.redis.port);
    nodeB = await startNode({ redis: `redis://127.0.0.1:${proxy.port}`, nodeId: "node-b" });
    cl.all.push(nodeB);
    alice = await cl.connect("node-a", CHAT, { query: { name: "alice" }, ready: ["Who", "-"] });
    bob = await cl.connect(nodeB, CHAT, { query: { name: "bob" }, record: ["Message"], ready: ["Who", "-"] });
    await whisperUntilHeard(alice, bob, "warm-up");
  });

  after(async () => {
    if (proxy) await proxy.stop();
  });

  spec("CLIENT KILL TYPE pubsub: node-b resubscribes", async () => {
    const killed = await cl.redis.cli("CLIENT", "KILL", "TYPE", "pubsub");
    assert.ok(Number(killed) >= 2, `killed ${killed} pub/sub clients, expected both nodes'`);
    const took = await whisperUntilHeard(alice, bob, "after kill");
    console.log(`# CLIENT KILL TYPE pubsub: bob heard a whisper again ${took} ms later`);
  });

  spec("every link of node-b half-open (no error, no data): node-b notices and hears again", async () => {
    const links = proxy.halfOpen();
    assert.ok(links >= 2, `only ${links} links through the proxy`);
    const took = await whisperUntilHeard(alice, bob, "after half-open");
    console.log(`# ${links} half-open links: bob heard a whisper again ${took} ms later`);
    // node-b's own heartbeat came back too: it is still in presence.
    assert.deepEqual(await alice.invoke("Online"), ["alice", "bob"]);
  });

  spec("Redis paused (SIGSTOP) for 3 s, then resumed: node-b hears again", async () => {
    cl.redis.signal("SIGSTOP");
    const paused = Date.now();
    try {
      // The fault itself lasts 3 s (a duration, not a synchronisation).
      await new Promise((r) => setTimeout(r, 3_000));
    } finally {
      cl.redis.signal("SIGCONT");
    }
    const took = await whisperUntilHeard(alice, bob, "after pause");
    console.log(`# Redis paused ${Date.now() - paused - took} ms: bob heard a whisper again ${took} ms after SIGCONT`);
    assert.deepEqual(await alice.invoke("Online"), ["alice", "bob"]);
  });
});

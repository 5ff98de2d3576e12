// The backplane's metrics on two nodes: whispers from node-a to node-b
// counted as published on one and received on the other, the PUBLISH round
// trips timed, the nodes alive; then node-b killed with SIGKILL and swept.
// /metrics is read by prometheus_client's parser (scrapeMetrics).

import { describe } from "node:test";
import assert from "node:assert/strict";
import { useCluster, spec, eventually, inbox, scrapeMetrics } from "../harness.mjs";

const TESTHUB = "/hubs/testhub";
const WHISPERS = 5;

describe("backplane metrics", () => {
  const cl = useCluster({ nodes: [{ id: "node-a" }, { id: "node-b" }] });

  spec("whispers across nodes are published, received and timed; a killed node is swept", async () => {
    const a = cl.node("node-a");
    const b = cl.node("node-b");
    for (const node of [a, b]) {
      await eventually(
        () => scrapeMetrics(node.url),
        (m) => m.value("wasmhub_backplane_nodes_alive") === 2,
        10_000,
        `${node.nodeId} to see two nodes alive`,
      );
    }
    const receiver = await cl.connect("node-b", TESTHUB, { ready: ["GetUser"], record: ["msg"] });
    const receiverId = await receiver.invoke("GetCallerConnectionId");
    const sender = await cl.connect("node-a", TESTHUB, { ready: ["GetUser"] });

    const aBefore = await scrapeMetrics(a.url);
    const bBefore = await scrapeMetrics(b.url);
    const got = inbox(receiver, "msg");
    for (let i = 0; i < WHISPERS; i++) await sender.invoke("SendToConnection", receiverId, "msg", `w${i}`);
    for (let i = 0; i < WHISPERS; i++) assert.deepEqual(await got.next(10_000), [`w${i}`]);

    const aAfter = await scrapeMetrics(a.url);
    const bAfter = await scrapeMetrics(b.url);
    const send = { kind: "send" };
    assert.equal(
      aAfter.value("wasmhub_backplane_published_total", send) - aBefore.value("wasmhub_backplane_published_total", send),
      WHISPERS,
    );
    assert.equal(
      bAfter.value("wasmhub_backplane_received_total", send) - bBefore.value("wasmhub_backplane_received_total", send),
      WHISPERS,
    );
    const rtt = "wasmhub_backplane_publish_duration_seconds_count";
    assert.ok(aAfter.value(rtt) - aBefore.value(rtt) >= WHISPERS);
    assert.equal(aAfter.types.wasmhub_backplane_publish_duration_seconds, "histogram");
    assert.equal(bAfter.value("wasmhub_backplane_dropped_total"), 0);

    b.signal("SIGKILL");
    const { value: swept } = await eventually(
      () => scrapeMetrics(a.url),
      (m) => m.value("wasmhub_backplane_sweeps_total") - aBefore.value("wasmhub_backplane_sweeps_total") === 1,
      15_000,
      "node-a to sweep the killed node-b",
    );
    assert.equal(swept.value("wasmhub_backplane_nodes_alive"), 1);
  });
});

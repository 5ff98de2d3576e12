// GET /metrics: known traffic, then the exposition read by Prometheus's own
// Python parser (prometheus_client, tests/python/parse_metrics.py), and the
// counters checked to have moved by exactly what was sent.
//
// WASMHUB_PYTHON_CLIENTS names the Python that has prometheus_client (the
// virtualenv `cargo xtask test` makes from tests/python/requirements.txt).

import { describe } from "node:test";
import assert from "node:assert/strict";
import { useHost, spec, eventually, scrapeMetrics as scrape, RS, deferred } from "./harness.mjs";

const HUB = "/hubs/testhub";

describe("metrics", () => {
  // No pings from the server during the test: the sent count stays exact.
  const fx = useHost(["--keep-alive", "60s"]);

  spec("a raw client's messages, invocations and errors move the counters by exactly that much", async () => {
    const before = await scrape(fx.url);
    const raw = await fx.raw(HUB);
    const sent = [];
    const invoke = async (invocationId, target, args) => {
      const record = JSON.stringify({ type: 1, invocationId, target, arguments: args });
      sent.push(record);
      raw.send(record + RS);
      return raw.completion(invocationId);
    };
    for (let i = 0; i < 5; i++) {
      const done = await invoke(`e${i}`, "Echo", [`hello ${i}`]);
      assert.equal(done.result, `hello ${i}`);
    }
    assert.match((await invoke("t", "ThrowException", ["boom"])).error, /boom/);
    assert.match((await invoke("u", "NoSuchMethodHere", [])).error, /NoSuchMethodHere|not found|unknown/i);

    const during = await scrape(fx.url);
    const hub = { hub: "testhub" };
    assert.equal(during.value("wasmhub_connections", { ...hub, transport: "WebSockets" }), 1);
    assert.equal(
      during.value("wasmhub_connections_opened_total", { ...hub, transport: "WebSockets" }) -
        before.value("wasmhub_connections_opened_total", { ...hub, transport: "WebSockets" }),
      1,
    );
    const delta = (name, labels) => during.value(name, labels) - before.value(name, labels);
    assert.equal(delta("wasmhub_messages_received_total", hub), 7);
    const receivedBytes = sent.reduce((n, r) => n + Buffer.byteLength(r) + 1, 0);
    assert.equal(delta("wasmhub_received_bytes_total", hub), receivedBytes);
    // The handshake answer and seven Completions.
    assert.equal(delta("wasmhub_messages_sent_total", hub), 8);
    const sentBytes = raw.records.all.reduce((n, r) => n + Buffer.byteLength(r) + 1, 0);
    assert.equal(delta("wasmhub_sent_bytes_total", hub), sentBytes);
    assert.equal(delta("wasmhub_invocations_total", { ...hub, method: "Echo" }), 5);
    assert.equal(delta("wasmhub_invocation_duration_seconds_count", { ...hub, method: "Echo" }), 5);
    assert.ok(delta("wasmhub_invocation_duration_seconds_sum", { ...hub, method: "Echo" }) > 0);
    assert.equal(
      delta("wasmhub_invocation_errors_total", { ...hub, method: "ThrowException", kind: "HubException" }),
      1,
    );
    // A method the hub does not have is no label of its own.
    assert.equal(
      delta("wasmhub_invocation_errors_total", { ...hub, method: "_unknown", kind: "MethodNotFound" }),
      1,
    );
    assert.ok(!during.samples.some((s) => s.labels.method === "NoSuchMethodHere"));
    assert.equal(during.types.wasmhub_invocation_duration_seconds, "histogram");
    assert.equal(during.types.wasmhub_connections, "gauge");

    // A Close message from the client: the connection leaves the gauge
    // and is counted closed by the client.
    raw.send(JSON.stringify({ type: 7 }) + RS);
    await eventually(
      () => scrape(fx.url),
      (after) => after.value("wasmhub_connections", { ...hub, transport: "WebSockets" }) === 0,
      10_000,
      "the connection to leave wasmhub_connections",
    );
    const after = await scrape(fx.url);
    assert.equal(
      after.value("wasmhub_connections_closed_total", { ...hub, reason: "client_closed" }) -
        before.value("wasmhub_connections_closed_total", { ...hub, reason: "client_closed" }),
      1,
    );
    // The Close counts as a message received.
    assert.equal(after.value("wasmhub_messages_received_total", hub) - before.value("wasmhub_messages_received_total", hub), 8);
  });

  spec("the hub runtime: the version serving, swaps, instances and a trap by kind", async () => {
    const health = await (await fetch(`${fx.url}/healthz`)).json();
    const sha256 = health.hubs.find((h) => h.name === "testhub").sha256;
    const before = await scrape(fx.url);
    const hub = { hub: "testhub" };
    assert.equal(before.value("wasmhub_hub_serving_info", { ...hub, sha256 }), 1);
    assert.equal(before.samples.filter((s) => s.name === "wasmhub_hub_serving_info" && s.labels.hub === "testhub").length, 1);
    assert.ok(before.value("wasmhub_hub_swaps_total", { ...hub, result: "applied" }) >= 1);
    assert.ok(before.value("wasmhub_hub_instances_created_total", hub) >= 1);

    const conn = await fx.connect(HUB);
    await assert.rejects(conn.invoke("Panic", "on purpose"), /HubTrap/);
    assert.equal(await conn.invoke("Echo", "after"), "after");
    await conn.stop();
    const after = await scrape(fx.url);
    const delta = (name, labels) => after.value(name, labels) - before.value(name, labels);
    assert.equal(delta("wasmhub_hub_traps_total", { ...hub, kind: "panic" }), 1);
    assert.equal(delta("wasmhub_hub_instances_recycled_total", { ...hub, reason: "trap" }), 1);
    assert.equal(delta("wasmhub_invocation_errors_total", { ...hub, method: "Panic", kind: "HubTrap" }), 1);
    // The trapped instance is gone: the next call needed a new one.
    assert.ok(delta("wasmhub_hub_instances_created_total", hub) >= 1);
    assert.ok(after.value("wasmhub_hub_instances_warm", hub) >= 1);
  });

  spec("the official JavaScript client over WebSockets and long polling, in JSON and MessagePack", async () => {
    const before = await scrape(fx.url);
    const rows = [
      { transport: "WebSockets", protocol: "json" },
      { transport: "WebSockets", protocol: "messagepack" },
      { transport: "LongPolling", protocol: "json" },
    ];
    for (const row of rows) {
      const conn = await fx.connect(HUB, row);
      for (let i = 0; i < 3; i++) assert.equal(await conn.invoke("Echo", "x"), "x");
      await conn.stop();
    }
    const hub = { hub: "testhub" };
    const { value: after } = await eventually(
      () => scrape(fx.url),
      (m) =>
        ["WebSockets", "LongPolling"].every(
          (transport) => m.value("wasmhub_connections", { ...hub, transport }) === 0,
        ),
      10_000,
      "the clients to leave wasmhub_connections",
    );
    const delta = (name, labels) => after.value(name, labels) - before.value(name, labels);
    assert.equal(delta("wasmhub_invocations_total", { ...hub, method: "Echo" }), 9);
    assert.equal(delta("wasmhub_connections_opened_total", { ...hub, transport: "WebSockets" }), 2);
    assert.equal(delta("wasmhub_connections_opened_total", { ...hub, transport: "LongPolling" }), 1);
    assert.equal(delta("wasmhub_connections_closed_total", { ...hub, reason: "client_closed" }), 3);
  });

  spec("streaming calls count once each, when they end, with their errors", async () => {
    const collect = (stream) => {
      const done = deferred();
      const items = [];
      stream.subscribe({ next: (i) => items.push(i), complete: () => done.resolve(items), error: (e) => done.reject(e) });
      return done.promise;
    };
    const before = await scrape(fx.url);
    const conn = await fx.connect(HUB);
    assert.deepEqual(await collect(conn.stream("Stream")), ["a", "b", "c"]);
    assert.deepEqual(await collect(conn.stream("Stream")), ["a", "b", "c"]);
    await assert.rejects(collect(conn.stream("StreamThrowException", "boom")), /boom/);
    await conn.stop();
    const after = await scrape(fx.url);
    const hub = { hub: "testhub" };
    const delta = (name, labels) => after.value(name, labels) - before.value(name, labels);
    assert.equal(delta("wasmhub_invocations_total", { ...hub, method: "Stream" }), 2);
    assert.equal(delta("wasmhub_invocation_duration_seconds_count", { ...hub, method: "Stream" }), 2);
    assert.equal(
      delta("wasmhub_invocation_errors_total", { ...hub, method: "StreamThrowException", kind: "HubException" }),
      1,
    );
  });

  spec("client results: asked, and how each ask ended (answered, the client's error)", async () => {
    const before = await scrape(fx.url);
    const conn = await fx.connect(HUB, { handlers: { Answer: () => 42 } });
    assert.equal(await conn.invoke("ClientResult", "Answer"), 42);
    // No handler for it: the official client answers with an error.
    await assert.rejects(conn.invoke("ClientResult", "NobodyHandlesThis"));
    await conn.stop();
    const after = await scrape(fx.url);
    const delta = (outcome) =>
      after.value("wasmhub_client_results_total", { hub: "testhub", outcome }) -
      before.value("wasmhub_client_results_total", { hub: "testhub", outcome });
    assert.equal(delta("asked"), 2);
    assert.equal(delta("answered"), 1);
    assert.equal(delta("error"), 1);
    assert.equal(delta("timed_out"), 0);
  });
});


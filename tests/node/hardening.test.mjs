// Connection lifecycle edges: a client that stops reading, a reader that
// must keep reading while its invocations pile up, stream ids that look
// like client-result ids, JSON nulls, hub messages over the outbound budget.
// Hub-facing: runs against both backends (WASMHUB_TEST_BACKEND).

import { describe } from "node:test";
import assert from "node:assert/strict";
import {
  useHost,
  startHost,
  spec,
  rawConnect,
  negotiate,
  eventually,
  rejection,
  withDeadline,
  nextMessage,
  inbox,
  DEADLINE,
  scrapeMetrics,
} from "./harness.mjs";

const CHAT = "/hubs/chat";
const HUB = "/hubs/testhub";

describe("a client that stops reading", () => {
  const fx = useHost(["--outbound-buffer", "64KiB", "--write-timeout", "1s"]);

  spec("leaves presence once its outbound queue overflows, and the room goes on", async () => {
    const stalled = await rawConnect(fx.url, CHAT, { query: { name: "stalled" } });
    assert.equal((await stalled.invoke("j", "Join", ["lobby"])).error, undefined);
    const sender = await fx.connect(CHAT, { query: { name: "sender" }, record: ["Message"] });
    await sender.invoke("Join", "lobby");
    assert.deepEqual(await sender.invoke("Who", "lobby"), ["sender", "stalled"]);

    const metricsBefore = await scrapeMetrics(fx.url);
    // Stop reading: the kernel's buffers fill, then the host's writes block.
    stalled.ws._socket.pause();
    const text = "x".repeat(16 * 1024);
    const t0 = Date.now();
    let sends = 0;
    const { value: who } = await eventually(
      async () => {
        for (let i = 0; i < 20; i++, sends++) await sender.invoke("Send", "lobby", text);
        return sender.invoke("Who", "lobby");
      },
      (users) => users.length === 1,
      20_000,
      "the stalled client to leave the room",
    );
    assert.deepEqual(who, ["sender"]);
    console.log(`# stalled client left presence ${Date.now() - t0} ms after it stopped reading (${sends} sends of 16 KiB)`);
    assert.deepEqual(await sender.invoke("Online"), ["sender"]);
    // The sender was never affected.
    assert.equal(sender.state, "Connected");
    await sender.invoke("Send", "lobby", "still here");
    await sender.stop();
    // Counted once as a slow-client close (whichever bound it hit first),
    // and what was queued for it left the queued-bytes gauge.
    const { value: metrics } = await eventually(
      () => scrapeMetrics(fx.url),
      (m) => m.value("wasmhub_outbound_queued_bytes", { hub: "chat" }) === 0,
      10_000,
      "the chat hub's queued bytes to drain",
    );
    const closes = (m) => m.sum("wasmhub_slow_client_closes_total", { hub: "chat" });
    assert.equal(closes(metrics) - closes(metricsBefore), 1);
    stalled.ws._socket.resume();
    await stalled.stop();
  });
});

describe("a reader that never waits for the invocation queue", () => {
  const fx = useHost(["--invoke-timeout", "20s"]);

  spec("a call asking its own caller for a result, behind more pipelined calls than the queue holds, answers at once", async () => {
    const raw = await rawConnect(fx.url, HUB);
    const t0 = Date.now();
    raw.sendJson({ type: 1, invocationId: "cr", target: "ClientResult", arguments: ["Answer"] });
    // 100 echoes of 20 KB: about 2 MB, twice what may wait (32 records of
    // the 32 KiB message limit), four records to a frame.
    const payload = (i) => `v${i}-` + "p".repeat(20_000);
    for (let i = 0; i < 100; i += 4) {
      let frame = "";
      for (let j = i; j < i + 4; j++) {
        frame += JSON.stringify({ type: 1, invocationId: `e${j}`, target: "Echo", arguments: [payload(j)] }) + "\x1e";
      }
      raw.send(frame);
    }
    // The hub's question to this client arrives while the echoes wait.
    const question = await raw.nextMessage(DEADLINE, { predicate: (m) => m.type === 1 && m.target === "Answer" });
    raw.sendJson({ type: 3, invocationId: question.invocationId, result: 42 });
    const answered = await raw.completion("cr");
    const took = Date.now() - t0;
    assert.deepEqual(answered, { type: 3, invocationId: "cr", result: 42 });
    assert.ok(took < 10_000, `the client result took ${took} ms: it waited for the invoke timeout`);
    // Every echo is answered: run in order, or refused as busy at once.
    let ran = 0;
    let busy = 0;
    for (let i = 0; i < 100; i++) {
      const c = await raw.completion(`e${i}`);
      if (c.result !== undefined) {
        assert.equal(c.result, payload(i));
        ran++;
      } else {
        assert.equal(
          c.error,
          "An unexpected error occurred invoking 'Echo' on the server. Busy: this connection's invocations waiting to run already hold 1 MiB.",
        );
        busy++;
      }
    }
    assert.ok(ran >= 40 && busy > 0, `${ran} echoes ran, ${busy} were refused`);
    assert.equal(ran + busy, 100);
    console.log(`# client result answered in ${took} ms; ${ran} echoes ran, ${busy} refused as busy`);
    await raw.stop();
  });

  spec("500 small pipelined calls all run, in order", async () => {
    const raw = await rawConnect(fx.url, HUB);
    let frame = "";
    for (let i = 0; i < 500; i++) {
      frame += JSON.stringify({ type: 1, invocationId: `s${i}`, target: "Echo", arguments: [`n${i}`] }) + "\x1e";
      if (i % 50 === 49) {
        raw.send(frame);
        frame = "";
      }
    }
    for (let i = 0; i < 500; i++) assert.deepEqual(await raw.completion(`s${i}`), { type: 3, invocationId: `s${i}`, result: `n${i}` });
    const order = raw.messages().filter((m) => m.type === 3).map((m) => m.invocationId);
    assert.deepEqual(order, Array.from({ length: 500 }, (_, i) => `s${i}`));
    await raw.stop();
  });

  spec("an upload stream's end is not taken for the answer to a client result with the same id", async () => {
    const raw = await rawConnect(fx.url, HUB);
    raw.sendJson({ type: 1, invocationId: "cr", target: "ClientResult", arguments: ["Answer"] });
    const question = await raw.nextMessage(DEADLINE, { predicate: (m) => m.type === 1 && m.target === "Answer" });
    // An upload whose id is the host's own invocation id, then its end.
    const stream = question.invocationId;
    raw.sendJson({ type: 1, invocationId: "up", target: "StreamingConcat", arguments: [], streamIds: [stream] });
    raw.sendJson({ type: 2, invocationId: stream, item: "uploaded" });
    raw.sendJson({ type: 3, invocationId: stream });
    assert.deepEqual(await raw.completion("up"), { type: 3, invocationId: "up", result: "uploaded" });
    raw.sendJson({ type: 3, invocationId: stream, result: "the real answer" });
    assert.deepEqual(await raw.completion("cr"), { type: 3, invocationId: "cr", result: "the real answer" });
    await raw.stop();
  });

  spec("JSON null for an optional field is absent, as in ASP.NET", async () => {
    const raw = await rawConnect(fx.url, HUB);
    raw.sendJson({ type: 1, invocationId: "n1", target: "Echo", arguments: ["x"], streamIds: null });
    assert.deepEqual(await raw.completion("n1"), { type: 3, invocationId: "n1", result: "x" });
    // A null id is a non-blocking invocation: no Completion, nothing closed.
    raw.sendJson({ type: 1, invocationId: null, target: "Echo", arguments: ["y"] });
    raw.sendJson({ type: 6, error: null });
    assert.deepEqual(await raw.invoke("n2", "Echo", ["z"]), { type: 3, invocationId: "n2", result: "z" });
    assert.deepEqual(
      raw.messages().filter((m) => m.type === 3).map((m) => m.invocationId),
      ["n1", "n2"],
    );
    await raw.stop();
  });
});

describe("invocations of a client that has gone", () => {
  const fx = useHost();

  spec("still queued when it leaves, they are dropped, not run", async () => {
    const observer = await fx.connect(HUB, { record: ["Note"] });
    await observer.invoke("AddToGroup", observer.connectionId, "watch");
    const raw = await rawConnect(fx.url, HUB, { query: { "@probe": "gone" } });
    // A call that runs until the client leaves (it waits for this client's
    // answer), and three queued behind it.
    raw.sendJson({ type: 1, invocationId: "cr", target: "ClientResult", arguments: ["Answer"] });
    await raw.nextMessage(DEADLINE, { predicate: (m) => m.type === 1 && m.target === "Answer" });
    let frame = "";
    for (let i = 0; i < 3; i++) {
      frame += JSON.stringify({ type: 1, target: "SendToGroup", arguments: ["watch", "Note", `queued-${i}`] }) + "\x1e";
    }
    await new Promise((resolve) => raw.ws.send(frame, resolve));
    raw.ws.terminate();
    // It leaves presence only after its invoker ended.
    await eventually(() => observer.invoke("ConnectionsByAttribute", "probe", null), [], DEADLINE, "the client to leave");
    await observer.invoke("SendToGroup", "watch", "Note", "marker");
    const notes = [];
    for (;;) {
      const note = await nextMessage(observer, "Note");
      notes.push(note);
      if (note === "marker") break;
    }
    assert.deepEqual(notes, ["marker"], "queued invocations of the gone client ran");
    await observer.stop();
  });
});

describe("invoke-one over several clients", () => {
  const fx = useHost(["--invoke-timeout", "1s"]);

  spec("one timeout bounds the whole call, not one per client asked", async () => {
    // Three connections of bob that never answer a Question.
    const silent = [];
    for (let i = 0; i < 3; i++) silent.push(await rawConnect(fx.url, CHAT, { query: { name: "bob" } }));
    const alice = await fx.connect(CHAT, { query: { name: "alice" } });
    const t0 = Date.now();
    const e = await rejection(alice.invoke("Ask", "bob", "anyone?"), DEADLINE, "Ask to fail");
    const took = Date.now() - t0;
    assert.match(e.message, /NoClientResponded: nobody answered: user 'bob' gave no answer/);
    assert.match(e.message, /the client did not answer within 1s/);
    assert.ok(took < 2_500, `Ask took ${took} ms: each client got the whole timeout`);
    console.log(`# invoke-one over 3 silent clients with --invoke-timeout 1s failed after ${took} ms`);
    await alice.stop();
    await Promise.all(silent.map((r) => r.stop()));
  });
});

describe("what hubs are told and allowed", () => {
  const fx = useHost(["--invoke-timeout", "1s"]);

  spec("a hub's own invoke timeout is capped at --invoke-timeout", async () => {
    const raw = await rawConnect(fx.url, HUB);
    const t0 = Date.now();
    // The hub asks for 60 s; the client never answers.
    raw.sendJson({ type: 1, invocationId: "w", target: "ClientResultWithin", arguments: ["Answer", 60_000] });
    const failed = await raw.completion("w", DEADLINE);
    const took = Date.now() - t0;
    assert.match(failed.error, /the client did not answer within 1s/);
    assert.ok(took < 5_000, `the hub's 60 s timeout was used: ${took} ms`);
    await raw.stop();
  });

  spec("on-disconnected says why a client went: no error after a Close, a reason after a drop", async () => {
    const observer = await fx.connect(HUB, { record: ["Disconnected"] });
    await observer.invoke("AddToGroup", observer.connectionId, "disconnects");
    const left = (id) => inbox(observer, "Disconnected").next(DEADLINE, (args) => args[0] === id);
    const polite = await rawConnect(fx.url, HUB);
    const politeId = (await polite.invoke("1", "GetCallerConnectionId", [])).result;
    polite.sendJson({ type: 7 });
    assert.deepEqual(await left(politeId), [politeId, null]);
    const dropped = await rawConnect(fx.url, HUB);
    const droppedId = (await dropped.invoke("1", "GetCallerConnectionId", [])).result;
    dropped.ws.terminate();
    assert.deepEqual(await left(droppedId), [droppedId, "The connection was lost without a Close message."]);
    await polite.stop();
    await observer.stop();
  });

  spec("a hub's log lines are rate-limited: 100 a second, the rest counted in one warning", async () => {
    const conn = await fx.connect(HUB);
    await conn.invoke("LogMany", 500);
    // The count of what was dropped is logged with the next line a second on.
    await eventually(
      async () => {
        await conn.invoke("LogMany", 1);
        return fx.host.stderr();
      },
      // 400 of the 500, and the polls' own lines within that second.
      (log) => Number(/hub log lines dropped.*dropped=(\d+)/.exec(log)?.[1]) >= 400,
      DEADLINE,
      "the dropped-lines warning",
      100,
    );
    const log = fx.host.stderr();
    assert.match(log, /log-many line 99\b/);
    assert.doesNotMatch(log, /log-many line 100\b/);
    assert.doesNotMatch(log, /log-many line 499\b/);
    await conn.stop();
  });
});

describe("a hub message larger than the outbound budget", () => {
  const fx = useHost(["--outbound-buffer", "16KiB"]);

  spec("is the hub's error; the recipients stay connected", async () => {
    const a = await fx.connect(HUB, { record: ["Big"] });
    const b = await fx.connect(HUB, { record: ["Big"] });
    await a.invoke("AddToGroup", a.connectionId, "g");
    await a.invoke("AddToGroup", b.connectionId, "g");
    const e = await rejection(a.invoke("SendToGroup", "g", "Big", "x".repeat(20_000)), DEADLINE, "an oversize send to fail");
    assert.match(e.message, /InvalidArgument: the message is \d+ bytes, more than the 16 KiB a connection may have waiting/);
    await a.invoke("SendToGroup", "g", "Big", "small");
    for (const c of [a, b]) {
      assert.equal(c.state, "Connected");
      assert.equal(await c.invoke("Echo", "alive"), "alive");
    }
    await Promise.all([a.stop(), b.stop()]);
  });
});

describe("graceful shutdown", () => {
  spec("refuses new negotiates and WebSockets with 503 while it closes the open connections", async () => {
    const host = await startHost();
    try {
      const open = await rawConnect(host.url, HUB);
      // A client that reads nothing keeps the node in its goodbye (it
      // waits a bounded time for the client's close frame).
      open.ws._socket.pause();
      host.signal("SIGTERM");
      const { value: refused } = await eventually(
        () => negotiate(host.url, HUB, { negotiateVersion: 1 }),
        (r) => r.status !== 200,
        5_000,
        "negotiate to be refused",
        5,
      );
      assert.equal(refused.status, 503);
      assert.equal(refused.body, "This node is shutting down: connect again to reach another node.");
      const e = await rejection(rawConnect(host.url, HUB), DEADLINE, "a WebSocket during shutdown to be refused");
      assert.equal(e.statusCode, 503);
      const exit = await withDeadline(host.exited, 10_000, "the host to exit");
      assert.notEqual(exit.signal, "SIGKILL");
      open.ws._socket.resume();
      await open.stop();
    } finally {
      await host.stop();
    }
  });
});

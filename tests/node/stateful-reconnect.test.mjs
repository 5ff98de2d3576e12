// Stateful reconnect (ASP.NET Core 8+) with the official client's
// `withStatefulReconnect()`: the WebSocket under a live connection is cut
// (a TCP proxy resets it) and the client comes back on a new socket with
// the same token. Every message arrives once and in order both ways, the
// connection id, its groups and a pending client result survive.

import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  useHost,
  spec,
  inbox,
  nextMessage,
  negotiate,
  connect,
  startTcpProxy,
  waitFor,
  deferred,
  withDeadline,
} from "./harness.mjs";

const HUB = "/hubs/testhub";

describe("stateful reconnect", () => {
  const fx = useHost(["--disconnect-timeout", "5s", "--keep-alive", "2s"]);
  let proxy;
  before(async () => {
    proxy = await startTcpProxy(Number(new URL(fx.url).port));
  });
  after(async () => {
    await proxy?.stop();
  });
  const viaProxy = () => `http://127.0.0.1:${proxy.port}`;

  spec("negotiate grants it only to clients that ask", async () => {
    const asked = await negotiate(fx.url, HUB, { negotiateVersion: 1, useStatefulReconnect: true });
    assert.equal(asked.json.useStatefulReconnect, true);
    const plain = await negotiate(fx.url, HUB, { negotiateVersion: 1 });
    assert.equal(plain.json.useStatefulReconnect, undefined);
  });

  for (const protocol of ["json", "messagepack"]) {
    spec(`a cut socket resumes with nothing lost or repeated (${protocol})`, async () => {
      const answer = deferred();
      const conn = await connect(viaProxy(), HUB, {
        protocol,
        statefulReconnect: true,
        record: ["Message"],
        handlers: { Result: () => answer.promise },
      });
      const sender = await fx.connect(HUB);
      try {
        const id = conn.connectionId;
        const group = `g-${protocol}`;
        await conn.invoke("AddToGroup", id, group);
        // A client result the hub is waiting for across the cut.
        const pending = conn.invoke("ClientResult", "Result");
        const total = 200;
        let cuts = 0;
        for (let i = 0; i < total; i++) {
          await sender.invoke("SendToGroup", group, "Message", i);
          if (i === 50 || i === 120) cuts += proxy.cut();
        }
        assert.ok(cuts >= 2, `the proxy cut ${cuts} links`);
        // Client to server across the cut too: these invocations went
        // out while the socket was dying or gone.
        answer.resolve(42);
        assert.equal(await withDeadline(pending, 10_000, "the pending client result"), 42);
        await waitFor(() => inbox(conn, "Message").all.length >= total, 10_000, `${total} messages`);
        const got = inbox(conn, "Message").all.map((args) => args[0]);
        assert.deepEqual(got, Array.from({ length: total }, (_, i) => i), "each once, in order");
        assert.equal(conn.connectionId, id);
        assert.equal(await conn.invoke("GetCallerConnectionId"), id, "the same connection on the server");
        assert.deepEqual(await sender.invoke("GroupMembers", group), [id], "its groups are intact");
        const echoes = await Promise.all([1, 2, 3].map((n) => conn.invoke("Echo", `after ${n}`)));
        assert.deepEqual(echoes, ["after 1", "after 2", "after 3"]);
        assert.equal(conn.isClosed, false);
      } finally {
        await conn.stop();
      }
    });
  }

  spec("a client that does not come back is gone after the disconnect timeout", async () => {
    const conn = await connect(viaProxy(), HUB, { statefulReconnect: true });
    const sender = await fx.connect(HUB);
    const id = conn.connectionId;
    await conn.invoke("AddToGroup", id, "leaves");
    // The proxy refuses nothing, so stop the client from reconnecting by
    // stopping the proxy's links and the client's retries at once.
    await proxy.stop();
    proxy = await startTcpProxy(1); // nothing listens on port 1
    const started = Date.now();
    await waitFor(async () => (await sender.invoke("GroupMembers", "leaves")).length === 0, 15_000, "the connection to end");
    assert.ok(Date.now() - started >= 4_000, "kept for the disconnect timeout of 5s");
    await conn.stop().catch(() => {});
  }, 40_000);

  spec("clients that did not negotiate it never see Ack or Sequence, even on version 2", async () => {
    const raw = await fx.raw(HUB, { negotiate: true, handshake: false });
    raw.send('{"protocol":"json","version":2}\u001e');
    assert.equal(await raw.nextRecord(), "{}");
    raw.handshakeRecords = 1;
    assert.equal((await raw.invoke("1", "Echo", ["x"])).result, "x");
    // An Ack would come 1 s after the invocation; the keep-alive Ping
    // (2 s of silence) comes after it would have.
    await raw.nextMessage(10_000, { keepPings: true, predicate: (m) => m.type === 6 });
    const types = raw.messages().map((m) => m.type);
    assert.deepEqual(types, [3], JSON.stringify(raw.messages()));
  });
});

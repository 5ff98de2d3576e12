// The JSON hub protocol on the wire, with a raw WebSocket (the `ws` package)
// and no SignalR client: handshake, framing, parser tolerance, errors,
// size limit, keep-alive and client timeout.

import { describe } from "node:test";
import assert from "node:assert/strict";
import { useHost, spec, rawConnect, RawConnection, RS, hubUrl, withDeadline, DEADLINE } from "./harness.mjs";

const HUB = "/hubs/testhub";

/** A raw socket to the testhub without the handshake sent yet. */
function open(fx, query) {
  return fx.raw(HUB, { handshake: false, query });
}

describe("protocol (raw WebSocket)", () => {
  describe("handshake, framing and parsing", () => {
    const fx = useHost(["--max-message-size", "1024"]);

    spec("handshake answers exactly {}\\x1e", async () => {
      const r = await open(fx);
      r.send(`{"protocol":"json","version":1}${RS}`);
      assert.equal(await r.frames.next(), `{}${RS}`);
      const c = await r.invoke("1", "Echo", ["after handshake"]);
      assert.deepEqual(c, { type: 3, invocationId: "1", result: "after handshake" });
    });

    spec("handshake with extra keys and key order reversed", async () => {
      const r = await open(fx);
      r.send(`{"version":1,"extra":[1,{"a":2}],"protocol":"json"}${RS}`);
      assert.equal(await r.nextRecord(), "{}");
    });

    spec("handshake split across two frames", async () => {
      const r = await open(fx);
      r.send(`{"protocol":"js`);
      r.send(`on","version":1}${RS}`);
      assert.equal(await r.nextRecord(), "{}");
      assert.equal((await r.invoke("1", "Echo", ["split handshake"])).result, "split handshake");
    });

    spec("handshake followed by an invocation in the same frame", async () => {
      const r = await open(fx);
      r.send(`{"protocol":"json","version":1}${RS}{"type":1,"invocationId":"1","target":"Echo","arguments":["same frame"]}${RS}`);
      assert.equal(await r.nextRecord(), "{}");
      assert.equal((await r.completion("1")).result, "same frame");
    });

    spec("an unsupported protocol is refused with the .NET text, then closed", async () => {
      const r = await open(fx);
      r.send(`{"protocol":"foo","version":1}${RS}`);
      assert.deepEqual(JSON.parse(await r.nextRecord()), { error: "The protocol 'foo' is not supported." });
      await withDeadline(r.closed, DEADLINE, "the socket to close");
    });

    spec("an unsupported version is refused with the .NET text, then closed", async () => {
      const r = await open(fx);
      r.send(`{"protocol":"json","version":99}${RS}`);
      assert.deepEqual(JSON.parse(await r.nextRecord()), {
        error: "The server does not support version 99 of the 'json' protocol.",
      });
      await withDeadline(r.closed, DEADLINE, "the socket to close");
    });

    spec("a malformed handshake gets an error and the socket closes", async () => {
      const r = await open(fx);
      r.send(`this is not json${RS}`);
      const rec = JSON.parse(await r.nextRecord());
      assert.equal(typeof rec.error, "string");
      await withDeadline(r.closed, DEADLINE, "the socket to close");
    });

    spec("two records in one frame", async () => {
      const r = await fx.raw(HUB);
      r.send(
        `{"type":1,"invocationId":"1","target":"Echo","arguments":["one"]}${RS}` +
          `{"type":1,"invocationId":"2","target":"Echo","arguments":["two"]}${RS}`,
      );
      assert.equal((await r.completion("1")).result, "one");
      assert.equal((await r.completion("2")).result, "two");
      // Serial per connection: the completions come in order.
      const order = r.messages().filter((m) => m.type === 3).map((m) => m.invocationId);
      assert.deepEqual(order, ["1", "2"]);
    });

    spec("one record split across two frames", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":1,"invocationId":"1","tar`);
      r.send(`get":"Echo","arguments":["split"]}${RS}`);
      assert.deepEqual(await r.completion("1"), { type: 3, invocationId: "1", result: "split" });
    });

    spec("one record split inside a multi-byte UTF-8 character", async () => {
      const r = await fx.raw(HUB);
      const bytes = Buffer.from(`{"type":1,"invocationId":"1","target":"Echo","arguments":["你好"]}${RS}`, "utf8");
      const cut = bytes.indexOf(Buffer.from("你", "utf8")) + 1; // inside the 3-byte sequence
      // Binary frames carry arbitrary byte boundaries (text frames must be valid UTF-8).
      r.ws.send(bytes.subarray(0, cut), { binary: true });
      r.ws.send(bytes.subarray(cut), { binary: true });
      assert.equal((await r.completion("1")).result, "你好");
    });

    spec("an invocation without the separator waits for it in the next frame", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":1,"invocationId":"1","target":"Echo","arguments":["first"]}`);
      r.send(`${RS}{"type":1,"invocationId":"2","target":"Echo","arguments":["second"]}${RS}`);
      assert.equal((await r.completion("1")).result, "first");
      assert.equal((await r.completion("2")).result, "second");
    });

    spec("keys in any order", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"arguments":["x"],"target":"Echo","type":1,"invocationId":"7"}${RS}`);
      assert.deepEqual(await r.completion("7"), { type: 3, invocationId: "7", result: "x" });
    });

    spec("unknown keys are ignored", async () => {
      const r = await fx.raw(HUB);
      r.send(
        `{"type":1,"invocationId":"8","target":"Echo","arguments":["y"],"extra":{"nested":[1,2,{"a":null}]},"headers":{"k":"v"},"zzz":true}${RS}`,
      );
      assert.deepEqual(await r.completion("8"), { type: 3, invocationId: "8", result: "y" });
    });

    spec("whitespace around a record is accepted", async () => {
      const r = await fx.raw(HUB);
      r.send(` \n{ "type" : 1 , "invocationId" : "9", "target" : "Echo", "arguments" : [ "z" ] }\r\n${RS}`);
      assert.equal((await r.completion("9")).result, "z");
    });

    spec("an unknown message type is ignored and the connection keeps working", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":99}${RS}`);
      r.send(`{"type":99,"whatever":[1,2,3]}${RS}`);
      assert.equal((await r.invoke("1", "Echo", ["still alive"])).result, "still alive");
      assert.equal(r.closeInfo, null);
      assert.deepEqual(
        r.messages().map((m) => m.type),
        [3],
      );
    });

    spec("Ping is accepted", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":6}${RS}`);
      assert.equal((await r.invoke("1", "Echo", ["after ping"])).result, "after ping");
      assert.equal(r.closeInfo, null);
    });

    spec("a blocking invocation of an unknown method gets `Unknown hub method`", async () => {
      const r = await fx.raw(HUB);
      assert.deepEqual(await r.invoke("1", "Nope", []), {
        type: 3,
        invocationId: "1",
        error: "Unknown hub method 'Nope'",
      });
    });

    spec("a non-blocking invocation of an unknown method gets no Completion", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":1,"target":"Nope","arguments":[]}${RS}`);
      assert.equal((await r.invoke("2", "Echo", ["marker"])).result, "marker");
      // Only the Echo's Completion arrived.
      assert.deepEqual(r.messages(), [{ type: 3, invocationId: "2", result: "marker" }]);
    });

    spec("a non-blocking invocation that fails gets no Completion", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":1,"target":"ThrowException","arguments":["quiet"]}${RS}`);
      assert.equal((await r.invoke("2", "Echo", ["marker"])).result, "marker");
      assert.deepEqual(r.messages(), [{ type: 3, invocationId: "2", result: "marker" }]);
    });

    spec("a server-to-client message has no invocationId and no streamIds", async () => {
      const r = await fx.raw(HUB);
      r.sendJson({ type: 1, invocationId: "1", target: "InvokeWithString", arguments: ["hi"] });
      const msgs = [await r.nextMessage(), await r.nextMessage()];
      assert.deepEqual(msgs, [
        { type: 1, target: "Message", arguments: ["hi"] },
        { type: 3, invocationId: "1", result: null },
      ]);
    });

    spec("a Completion for an unknown invocation id is ignored", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":3,"invocationId":"does-not-exist","result":1}${RS}`);
      assert.equal((await r.invoke("1", "Echo", ["ok"])).result, "ok");
    });

    spec("malformed JSON: Close with an error, then the socket closes", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":1,"invocationId":"1","target":"Echo",${RS}`);
      const close = await r.nextMessage();
      assert.equal(close.type, 7);
      assert.equal(typeof close.error, "string");
      assert.ok(close.error.length > 0);
      await withDeadline(r.closed, DEADLINE, "the socket to close");
    });

    spec("a record that is not an object: Close with an error", async () => {
      const r = await fx.raw(HUB);
      r.send(`[1,2,3]${RS}`);
      const close = await r.nextMessage();
      assert.equal(close.type, 7);
      assert.equal(typeof close.error, "string");
      await withDeadline(r.closed, DEADLINE, "the socket to close");
    });

    spec("an invocation missing its target: Close with an error", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":1,"invocationId":"1","arguments":[]}${RS}`);
      const close = await r.nextMessage();
      assert.equal(close.type, 7);
      assert.equal(typeof close.error, "string");
      await withDeadline(r.closed, DEADLINE, "the socket to close");
    });

    spec("a message over --max-message-size: Close with an error; other connections unaffected", async () => {
      const other = await fx.raw(HUB);
      const r = await fx.raw(HUB);
      r.sendJson({ type: 1, invocationId: "1", target: "Echo", arguments: ["x".repeat(2000)] });
      const close = await r.nextMessage();
      assert.equal(close.type, 7, JSON.stringify(close));
      assert.equal(typeof close.error, "string");
      await withDeadline(r.closed, DEADLINE, "the socket to close");
      assert.equal((await other.invoke("1", "Echo", ["fine"])).result, "fine");
    });

    spec("an unterminated record growing past --max-message-size also ends the connection", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":1,"invocationId":"1","target":"Echo","arguments":["`);
      // ~1060 bytes in three frames, no separator: over the limit with the last one.
      for (let i = 0; i < 2; i++) r.send("y".repeat(500));
      await withDeadline(r.closed, DEADLINE, "the socket to close");
      const closes = r.messages().filter((m) => m.type === 7);
      assert.equal(closes.length, 1, JSON.stringify(r.messages()));
      assert.equal(typeof closes[0].error, "string");
    });

    spec("a client that keeps sending after a protocol error still gets the Close message (graceful close)", async () => {
      // The server must not drop the TCP connection with unread input: that
      // makes the kernel send RST and the client loses the Close message and
      // the close frame (1006). Repeated, because it is a race.
      for (let i = 0; i < 10; i++) {
        const r = await fx.raw(HUB);
        r.send(`{"type":1,${RS}`);
        for (let k = 0; k < 5; k++) r.send(`{"type":6}${RS}`);
        const info = await withDeadline(r.closed, DEADLINE, "the socket to close");
        const closes = r.messages().filter((m) => m.type === 7);
        assert.equal(closes.length, 1, `round ${i}: no Close message; socket closed with ${info.code}`);
        assert.equal(info.code, 1000, `round ${i}: socket closed with ${info.code}`);
        fx.connections.delete(r);
      }
    });

    spec("a message just under the limit is fine", async () => {
      const r = await fx.raw(HUB);
      const overhead = JSON.stringify({ type: 1, invocationId: "1", target: "Echo", arguments: [""] }).length + 1;
      const arg = "z".repeat(1000 - overhead);
      assert.equal((await r.invoke("1", "Echo", [arg])).result, arg);
    });

    spec("a client Close message ends the connection", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":7}${RS}`);
      await withDeadline(r.closed, DEADLINE, "the socket to close");
    });
  });

  describe("negotiate and connection ids", () => {
    const fx = useHost();

    spec("negotiate v1, then connect with ?id=<connectionToken>", async () => {
      const r = await fx.raw(HUB, { negotiate: true, negotiateVersion: 1 });
      assert.equal((await r.invoke("1", "GetCallerConnectionId", [])).result, r.negotiation.connectionId);
    });

    spec("negotiate v0, then connect with ?id=<connectionId> (Python clients)", async () => {
      const r = await fx.raw(HUB, { negotiate: true, negotiateVersion: 0 });
      assert.equal("connectionToken" in r.negotiation, false);
      assert.equal((await r.invoke("1", "GetCallerConnectionId", [])).result, r.negotiation.connectionId);
    });

    spec("an unknown id is 404", async () => {
      const url = hubUrl(fx.url, HUB, { id: "no-such-token" }).replace(/^http/, "ws");
      const r = new RawConnection(url);
      const e = await r.opened.then(
        () => null,
        (err) => err,
      );
      assert.ok(e, "the upgrade succeeded");
      assert.equal(e.statusCode, 404);
    });

    spec("a connection token cannot be used twice", async () => {
      const first = await fx.raw(HUB, { negotiate: true, negotiateVersion: 1 });
      const url = hubUrl(fx.url, HUB, { id: first.negotiation.connectionToken }).replace(/^http/, "ws");
      const second = new RawConnection(url);
      const e = await second.opened.then(
        () => null,
        (err) => err,
      );
      if (e === null) {
        // Upgraded: then it must not become a second live connection.
        second.send(`{"protocol":"json","version":1}${RS}`);
        await withDeadline(second.closed, DEADLINE, "the duplicate socket to close");
      } else {
        assert.ok([404, 409].includes(e.statusCode), String(e));
      }
      assert.equal((await first.invoke("1", "Echo", ["first still works"])).result, "first still works");
    });

    spec("GET on negotiate is 405", async () => {
      const res = await fetch(hubUrl(fx.url, HUB + "/negotiate", { negotiateVersion: 1 }));
      await res.arrayBuffer();
      assert.equal(res.status, 405);
    });
  });

  describe("keep-alive", () => {
    const fx = useHost(["--keep-alive", "200ms"]);

    spec("an idle connection receives a Ping", async () => {
      const r = await fx.raw(HUB);
      const ping = await r.nextMessage(5_000, { keepPings: true });
      assert.deepEqual(ping, { type: 6 });
      const ping2 = await r.nextMessage(5_000, { keepPings: true });
      assert.deepEqual(ping2, { type: 6 });
      assert.equal(r.closeInfo, null);
    });
  });

  describe("client timeout", () => {
    const fx = useHost(["--client-timeout", "500ms", "--keep-alive", "100ms"]);

    spec("after the first Ping, silence makes the server close the connection", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":6}${RS}`);
      const t0 = Date.now();
      await withDeadline(r.closed, 10_000, "the server to close the silent connection");
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 400, `closed after ${elapsed} ms, before the client timeout`);
      const closes = r.messages().filter((m) => m.type === 7);
      assert.equal(closes.length, 1, JSON.stringify(r.messages()));
      assert.equal(typeof closes[0].error, "string");
    });

    spec("a client that keeps pinging stays connected", async () => {
      const r = await fx.raw(HUB);
      r.send(`{"type":6}${RS}`);
      // Answer each server ping with a ping, for well over the client timeout.
      const t0 = Date.now();
      let pings = 0;
      while (Date.now() - t0 < 1_500) {
        await r.nextMessage(2_000, { keepPings: true, predicate: (m) => m.type === 6 });
        r.send(`{"type":6}${RS}`);
        pings++;
      }
      assert.ok(pings >= 5, `only ${pings} pings`);
      assert.equal(r.closeInfo, null);
      assert.equal((await r.invoke("1", "Echo", ["alive"])).result, "alive");
    });
  });

  describe("handshake timeout", () => {
    const fx = useHost(["--handshake-timeout", "300ms"]);

    spec("no handshake in time: the server closes the socket", async () => {
      const r = await open(fx);
      await withDeadline(r.closed, 10_000, "the server to close the socket");
      for (const rec of r.records.all) assert.equal(typeof JSON.parse(rec).error, "string");
    });
  });
});

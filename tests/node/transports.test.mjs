// Every transport x every hub protocol with the official client: the
// TestHub contract's core and the chat contract's core, once per cell of
// the matrix (MessagePack cannot ride Server-Sent Events, which carry
// text only), plus the wire rules of the HTTP transports and CORS.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  useHost,
  spec,
  inbox,
  nextMessage,
  rejection,
  connectRefused,
  negotiate,
  waitFor,
  ROOT,
  MATRIX,
} from "./harness.mjs";

const UNEXPECTED = (m) => `An unexpected error occurred invoking '${m}' on the server.`;


describe("transports x protocols", () => {
  const fx = useHost(["--web", path.join(ROOT, "examples", "chat", "web")]);

  for (const [transport, protocol] of MATRIX) {
    describe(`${transport} + ${protocol}`, () => {
      const opts = { transport, protocol };
      let conn;
      before(async () => {
        conn = await fx.connect("/hubs/testhub", {
          ...opts,
          record: ["Message", "CustomObject"],
          handlers: { Result: () => 42 },
        });
      });

      spec("the hub sees the transport it runs on", async () => {
        assert.equal(await conn.invoke("GetActiveTransportName"), transport);
      });

      spec("Echo round-trips text, unicode included", async () => {
        assert.equal(await conn.invoke("Echo", "你好，世界！"), "你好，世界！");
        const mixed = "quote \" backslash \\ newline \n record separator \u001e";
        assert.equal(await conn.invoke("Echo", mixed), mixed);
      });

      spec("numbers, booleans, null, arrays and maps keep their types", async () => {
        const value = { Int: 7, Negative: -300000, Float: 1.5, Big: 2 ** 40, Yes: true, Nothing: null, List: [1, "a", [2]] };
        assert.deepEqual(await conn.invoke("EchoComplexObject", value), value);
      });

      spec("GetCallerConnectionId equals the client's connectionId", async () => {
        assert.equal(await conn.invoke("GetCallerConnectionId"), conn.connectionId);
      });

      spec("a hub error arrives with its text", async () => {
        const e = await rejection(conn.invoke("ThrowException", "boom"));
        assert.equal(e.message, `${UNEXPECTED("ThrowException")} HubException: InvalidOperationException: boom`);
      });

      spec("an unknown method is refused by name", async () => {
        const e = await rejection(conn.invoke("NoSuchMethod"));
        assert.equal(e.message, "Unknown hub method 'NoSuchMethod'");
      });

      spec("the hub sends to its caller", async () => {
        await conn.invoke("InvokeWithString", "to the caller");
        assert.deepEqual(await nextMessage(conn, "Message", undefined, (m) => m === "to the caller"), "to the caller");
        await conn.invoke("SendCustomObject", { Name: "test", Value: 42 });
        assert.deepEqual(await nextMessage(conn, "CustomObject"), { Name: "test", Value: 42 });
      });

      spec("send() runs without an answer, in order with invoke()", async () => {
        await conn.send("InvokeWithString", "sent");
        assert.equal(await nextMessage(conn, "Message", undefined, (m) => m === "sent"), "sent");
      });

      spec("the hub asks the client for a result", async () => {
        assert.equal(await conn.invoke("ClientResult", "Result"), 42);
      });

      spec("many invocations in flight all complete, in order", async () => {
        const texts = Array.from({ length: 50 }, (_, i) => `n${i}`);
        assert.deepEqual(await Promise.all(texts.map((t) => conn.invoke("Echo", t))), texts);
      });

      spec("a message larger than one poll or event still arrives whole", async () => {
        const big = "x".repeat(30_000);
        assert.equal(await conn.invoke("Echo", big), big);
      });

      spec("the chat contract: a room, a whisper and a question", async () => {
        const alice = await fx.connect("/hubs/chat", { ...opts, query: { name: `alice-${transport}-${protocol}` }, record: ["Message"] });
        // The other party speaks the other protocol over WebSockets: a
        // send to many serialises once per protocol in use.
        const other = protocol === "json" ? "messagepack" : "json";
        const bob = await fx.connect("/hubs/chat", {
          protocol: other,
          query: { name: `bob-${transport}-${protocol}` },
          record: ["Message"],
          handlers: { Question: (q) => `bob says yes to ${q}` },
        });
        const room = `room-${transport}-${protocol}`;
        await alice.invoke("Join", room);
        await bob.invoke("Join", room);
        await alice.invoke("Send", room, "hello");
        for (const c of [alice, bob]) {
          assert.deepEqual(await nextMessage(c, "Message", undefined, (m) => m.text === "hello"), {
            room,
            from: `alice-${transport}-${protocol}`,
            text: "hello",
          });
        }
        await bob.invoke("Whisper", `alice-${transport}-${protocol}`, "psst");
        assert.equal((await nextMessage(alice, "Message", undefined, (m) => m.text === "psst")).from, `bob-${transport}-${protocol}`);
        assert.deepEqual(await alice.invoke("Who", room), [`alice-${transport}-${protocol}`, `bob-${transport}-${protocol}`].sort());
        assert.equal(await alice.invoke("Ask", `bob-${transport}-${protocol}`, "lunch?"), "bob says yes to lunch?");
        await alice.stop();
        await waitFor(
          async () => !(await bob.invoke("Who", room)).includes(`alice-${transport}-${protocol}`),
          5_000,
          "alice to leave the room after stop()",
        );
      });

      spec("stop() ends the connection without an error", async () => {
        const c = await fx.connect("/hubs/testhub", opts);
        assert.equal(await c.invoke("Echo", "last"), "last");
        await c.stop();
        assert.equal(await c.closed, undefined);
      });
    });
  }

  describe("MessagePack values", () => {
    spec("binary arrives as base64 text and dates as ISO 8601 text", async () => {
      const conn = await fx.connect("/hubs/testhub", { protocol: "messagepack" });
      const echoed = await conn.invoke("EchoComplexObject", {
        ByteArray: new Uint8Array([0x68, 0x65, 0x6c, 0x6c, 0x6f]),
        DateTime: new Date(Date.UTC(2002, 3, 1, 10, 20, 15)),
      });
      assert.deepEqual(echoed, { ByteArray: "aGVsbG8=", DateTime: "2002-04-01T10:20:15Z" });
    });
  });

  describe("negotiate", () => {
    spec("lists every transport with its transfer formats", async () => {
      const { json: body } = await negotiate(fx.url, "/hubs/testhub", { negotiateVersion: 1 });
      assert.deepEqual(body.availableTransports, [
        { transport: "WebSockets", transferFormats: ["Text", "Binary"] },
        { transport: "ServerSentEvents", transferFormats: ["Text"] },
        { transport: "LongPolling", transferFormats: ["Text", "Binary"] },
      ]);
    });
  });

  describe("HTTP transport rules", () => {
    async function negotiated() {
      const { json: body } = await negotiate(fx.url, "/hubs/testhub", { negotiateVersion: 1 });
      return `${fx.url}/hubs/testhub?id=${encodeURIComponent(body.connectionToken)}`;
    }

    spec("MessagePack over Server-Sent Events is refused at the handshake", async () => {
      const e = await connectRefused(fx.url, "/hubs/testhub", { transport: "ServerSentEvents", protocol: "messagepack" });
      assert.match(String(e.message ?? e), /transport|ServerSentEvents|Binary/i);
    });

    spec("a POST without an id is 400, to an unknown id 404", async () => {
      assert.equal((await fetch(`${fx.url}/hubs/testhub`, { method: "POST", body: "x" })).status, 400);
      assert.equal((await fetch(`${fx.url}/hubs/testhub?id=nope`, { method: "POST", body: "x" })).status, 404);
    });

    spec("long polling: the first poll answers at once, DELETE ends it with 202", async () => {
      const url = await negotiated();
      const first = await fetch(url);
      assert.equal(first.status, 200);
      assert.equal((await first.arrayBuffer()).byteLength, 0);
      const handshake = await fetch(url, { method: "POST", body: '{"protocol":"json","version":1}\u001e' });
      assert.equal(handshake.status, 200);
      const answer = await fetch(url);
      assert.equal(answer.status, 200);
      assert.equal(await answer.text(), "{}\u001e");
      const poll = fetch(url);
      assert.equal((await fetch(url, { method: "DELETE" })).status, 202);
      // The poll ends with 204 when it was open at the DELETE; if the
      // DELETE overtook it, it takes the Close message the server says
      // goodbye with, and the next poll gets 204.
      const ended = await poll;
      if (ended.status === 200) {
        assert.match(await ended.text(), /^\{"type":7[^\u001e]*\}\u001e$/);
        assert.equal((await fetch(url)).status, 204);
      } else {
        assert.equal(ended.status, 204);
      }
    });

    spec("long polling: a second poll ends the one already waiting with 204", async () => {
      const url = await negotiated();
      await fetch(url);
      // Whichever of the two reaches the host second supersedes the other:
      // one answers 204 while the other is still open.
      const polls = [fetch(url), fetch(url)];
      const first = await Promise.race(polls);
      assert.equal(first.status, 204);
      assert.equal((await fetch(url, { method: "DELETE" })).status, 202);
      const statuses = (await Promise.all(polls)).map((r) => r.status);
      assert.deepEqual(statuses, [204, 204]);
    });

    spec("Server-Sent Events: the stream is text/event-stream and opens with a comment", async () => {
      const url = await negotiated();
      const controller = new AbortController();
      const response = await fetch(url, { headers: { Accept: "text/event-stream" }, signal: controller.signal });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "text/event-stream");
      const reader = response.body.getReader();
      const { value } = await reader.read();
      assert.equal(new TextDecoder().decode(value), ":\r\n");
      await fetch(url, { method: "POST", body: '{"protocol":"json","version":1}\u001e' });
      const next = await reader.read();
      assert.equal(new TextDecoder().decode(next.value), "data: {}\u001e\r\n\r\n");
      controller.abort();
    });
  });
});

describe("HTTP transports end when their client is gone", () => {
  const fx = useHost(["--disconnect-timeout", "1s"]);

  /** A connection by hand on an HTTP transport, in group `group`; returns its URL. */
  async function joined(group, accept) {
    const { json: body } = await negotiate(fx.url, "/hubs/testhub", { negotiateVersion: 1 });
    const url = `${fx.url}/hubs/testhub?id=${encodeURIComponent(body.connectionToken)}`;
    const controller = new AbortController();
    const first = await fetch(url, { headers: accept ? { Accept: accept } : {}, signal: controller.signal });
    assert.equal(first.status, 200);
    const post = (text) => fetch(url, { method: "POST", body: text });
    assert.equal((await post('{"protocol":"json","version":1}\u001e')).status, 200);
    const add = { type: 1, target: "AddToGroup", arguments: [body.connectionId, group] };
    assert.equal((await post(JSON.stringify(add) + "\u001e")).status, 200);
    return { id: body.connectionId, controller };
  }

  async function members(watcher, group) {
    return watcher.invoke("GroupMembers", group);
  }

  spec("closing the event stream ends the connection at once", async () => {
    const watcher = await fx.connect("/hubs/testhub");
    const sse = await joined("sse-group", "text/event-stream");
    await waitFor(async () => (await members(watcher, "sse-group")).includes(sse.id), 5_000, "the SSE client to join");
    sse.controller.abort();
    await waitFor(async () => (await members(watcher, "sse-group")).length === 0, 5_000, "the SSE client to leave");
  });

  spec("a long-polling client that stops polling is gone after the disconnect timeout", async () => {
    const watcher = await fx.connect("/hubs/testhub");
    const lp = await joined("lp-group");
    await waitFor(async () => (await members(watcher, "lp-group")).includes(lp.id), 5_000, "the polling client to join");
    const started = Date.now();
    await waitFor(async () => (await members(watcher, "lp-group")).length === 0, 5_000, "the silent client to leave");
    assert.ok(Date.now() - started >= 900, "not before the disconnect timeout of 1s");
  });
});

describe("CORS", () => {
  const fx = useHost(["--cors-origin", "http://allowed.example:8080"]);

  spec("a preflight from an allowed origin is answered with credentials", async () => {
    const response = await fetch(`${fx.url}/hubs/testhub/negotiate?negotiateVersion=1`, {
      method: "OPTIONS",
      headers: {
        Origin: "http://allowed.example:8080",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-requested-with,x-signalr-user-agent,authorization",
      },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("access-control-allow-origin"), "http://allowed.example:8080");
    assert.equal(response.headers.get("access-control-allow-credentials"), "true");
    assert.match(response.headers.get("access-control-allow-methods"), /POST/);
    assert.equal(response.headers.get("access-control-allow-headers"), "x-requested-with,x-signalr-user-agent,authorization");
  });

  spec("the negotiate answer to an allowed origin carries the CORS headers", async () => {
    const response = await fetch(`${fx.url}/hubs/testhub/negotiate?negotiateVersion=1`, {
      method: "POST",
      headers: { Origin: "http://allowed.example:8080" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("access-control-allow-origin"), "http://allowed.example:8080");
  });

  spec("another origin gets no CORS headers and a 403 preflight", async () => {
    const preflight = await fetch(`${fx.url}/hubs/testhub/negotiate`, {
      method: "OPTIONS",
      headers: { Origin: "http://evil.example", "Access-Control-Request-Method": "POST" },
    });
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers.get("access-control-allow-origin"), null);
    const post = await fetch(`${fx.url}/hubs/testhub/negotiate?negotiateVersion=1`, {
      method: "POST",
      headers: { Origin: "http://evil.example" },
    });
    assert.equal(post.headers.get("access-control-allow-origin"), null);
  });

  spec("a WebSocket from an origin not allowed gets 403; clients outside browsers connect", async () => {
    const { default: WebSocket } = await import("ws");
    const status = (origin) =>
      new Promise((resolve) => {
        const ws = new WebSocket(`${fx.url.replace("http", "ws")}/hubs/testhub`, origin ? { origin } : {});
        ws.on("unexpected-response", (_, res) => resolve(res.statusCode));
        ws.on("open", () => {
          ws.close();
          resolve(101);
        });
        ws.on("error", () => {});
      });
    assert.equal(await status("http://evil.example"), 403);
    assert.equal(await status("http://allowed.example:8080"), 101);
    assert.equal(await status(undefined), 101);
    assert.equal(await status(fx.url), 101, "the host's own origin");
  });
});

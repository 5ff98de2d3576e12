// The TestHub contract (signalr-protocol.md §7.3) with the official client.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import { HttpTransportType } from "@microsoft/signalr";
import { getUserAgentHeader } from "@microsoft/signalr/dist/cjs/Utils.js";
import {
  useHost,
  spec,
  inbox,
  nextMessage,
  rejection,
  negotiate,
  withDeadline,
  connectRefused,
  deferred,
  DEADLINE,
} from "./harness.mjs";

const HUB = "/hubs/testhub";
const UNEXPECTED = (m) => `An unexpected error occurred invoking '${m}' on the server.`;

describe("testhub", () => {
  const fx = useHost();

  describe("invocations", () => {
    let conn;
    before(async () => {
      conn = await fx.connect(HUB, { record: ["Message", "CustomObject"] });
    });

    spec("connects with negotiation and gets a connection id", async () => {
      assert.equal(typeof conn.connectionId, "string");
      assert.ok(conn.connectionId.length > 0);
    });

    spec("Echo returns its argument", async () => {
      assert.equal(await conn.invoke("Echo", "hello"), "hello");
    });

    spec("Echo keeps unicode intact", async () => {
      assert.equal(await conn.invoke("Echo", "你好，世界！"), "你好，世界！");
      const mixed = "emoji 😀 \u0000 nul, quote \" backslash \\ record separator \u001e, its symbol \u241e";
      assert.equal(await conn.invoke("Echo", mixed), mixed);
    });

    spec("method names match case-insensitively", async () => {
      assert.equal(await conn.invoke("echo", "lower"), "lower");
      assert.equal(await conn.invoke("ECHO", "upper"), "upper");
    });

    spec("GetCallerConnectionId equals the client's connectionId", async () => {
      assert.equal(await conn.invoke("GetCallerConnectionId"), conn.connectionId);
    });

    spec("ThrowException surfaces the hub's error text", async () => {
      const e = await rejection(conn.invoke("ThrowException", "An error occurred."));
      assert.equal(
        e.message,
        `${UNEXPECTED("ThrowException")} HubException: InvalidOperationException: An error occurred.`,
      );
    });

    spec("an unknown method gives `Unknown hub method`", async () => {
      const e = await rejection(conn.invoke("NoSuchMethod", 1));
      assert.equal(e.message, "Unknown hub method 'NoSuchMethod'");
    });

    spec("a wrong number of arguments is reported", async () => {
      const e = await rejection(conn.invoke("Echo", "a", "b"));
      assert.match(e.message, /Invocation provides 2 argument\(s\) but target expects 1\./);
      const e2 = await rejection(conn.invoke("AddToGroup", "only-one"));
      assert.match(e2.message, /Invocation provides 1 argument\(s\) but target expects 2\./);
    });

    spec("InvokeWithString sends Message to the caller (handler with odd casing) then completes with null", async () => {
      const got = [];
      const handler = (s) => got.push(s);
      conn.on("mEssage", handler);
      const result = await conn.invoke("InvokeWithString", "message from server");
      assert.equal(result, null);
      // The Message was sent before the Completion on the same socket.
      assert.deepEqual(got, ["message from server"]);
      conn.off("mEssage", handler);
      assert.equal(await nextMessage(conn, "Message"), "message from server");
    });

    spec("SendCustomObject sends CustomObject back to the caller", async () => {
      const obj = { Name: "test", Value: 42 };
      assert.equal(await conn.invoke("SendCustomObject", obj), null);
      const got = await nextMessage(conn, "CustomObject");
      assert.equal(got.Name, "test");
      assert.equal(got.Value, 42);
    });

    spec("EchoComplexObject round-trips", async () => {
      const obj = {
        ByteArray: "aGVsbG8=",
        DateTime: "2002-04-01T10:20:15Z",
        Guid: "00010203-0405-0607-0706-050403020100",
        IntArray: [1, 2, 3, 255],
        String: "Hello, World!",
      };
      assert.deepEqual(await conn.invoke("EchoComplexObject", obj), obj);
    });

    spec("SendComplexObject returns the known object", async () => {
      assert.deepEqual(await conn.invoke("SendComplexObject"), {
        String: "hello world",
        IntArray: [1, 2, 3],
        ByteArray: "AQID",
        Guid: "00010203-0405-0607-0706-050403020100",
        DateTime: "2000-01-01T00:00:00Z",
      });
    });

    spec("GetActiveTransportName is WebSockets", async () => {
      assert.equal(await conn.invoke("GetActiveTransportName"), "WebSockets");
    });

    spec("send() is processed in order before a following invoke()", async () => {
      const messages = inbox(conn, "Message");
      const before = messages.length;
      await conn.send("InvokeWithString", "sent-1");
      await conn.send("InvokeWithString", "sent-2");
      assert.equal(await conn.invoke("Echo", "after-send"), "after-send");
      // Both non-blocking invocations ran, in order, before the Echo completed.
      assert.deepEqual(
        messages.all.slice(before).map((a) => a[0]),
        ["sent-1", "sent-2"],
      );
    });

    spec("send() to an unknown method is ignored and the connection keeps working", async () => {
      await conn.send("NoSuchMethod", 1);
      assert.equal(await conn.invoke("Echo", "still here"), "still here");
      assert.equal(conn.state, "Connected");
    });
  });

  describe("headers and query", () => {
    spec("GetHeader sees the client's User-Agent and user headers", async () => {
      const conn = await fx.connect(HUB, { headers: { "X-HEADER": "VALUE" } });
      const [, ua] = getUserAgentHeader();
      assert.match(ua, /^Microsoft SignalR\/10\.0 \(10\.0\.11; /);
      assert.equal(await conn.invoke("GetHeader", "User-Agent"), ua);
      assert.equal(await conn.invoke("GetHeader", "X-HEADER"), "VALUE");
      assert.equal(await conn.invoke("GetHeader", "x-header"), "VALUE");
      await conn.stop();
    });

    spec("GetHeader with skipNegotiation reads the upgrade request", async () => {
      const conn = await fx.connect(HUB, { skipNegotiation: true, headers: { "X-HEADER": "VALUE" } });
      assert.equal(await conn.invoke("GetHeader", "X-HEADER"), "VALUE");
      await conn.stop();
    });

    spec("GetNumRedirects reads the numRedirects query parameter", async () => {
      const conn = await fx.connect(HUB, { query: { numRedirects: 3 } });
      assert.equal(await conn.invoke("GetNumRedirects"), 3);
      await conn.stop();
    });

    spec("GetQuery reads query parameters of the connect request", async () => {
      const conn = await fx.connect(HUB, { query: { color: "blue", word: "a b&c" } });
      assert.equal(await conn.invoke("GetQuery", "color"), "blue");
      assert.equal(await conn.invoke("GetQuery", "word"), "a b&c");
      assert.equal(await conn.invoke("GetQuery", "missing"), null);
      // The transport's secret `id` is not visible to the hub.
      assert.equal(await conn.invoke("GetQuery", "id"), null);
      await conn.stop();
    });
  });

  describe("client results", () => {
    spec("ClientResult returns what the client's handler returned", async () => {
      const conn = await fx.connect(HUB, { handlers: { Result: () => 10 } });
      assert.equal(await conn.invoke("ClientResult", "Result"), 10);
      await conn.stop();
    });

    spec("ClientResult with an async handler", async () => {
      const conn = await fx.connect(HUB, {
        handlers: { Result: async () => ({ deep: ["value", 1] }) },
      });
      assert.deepEqual(await conn.invoke("ClientResult", "Result"), { deep: ["value", 1] });
      await conn.stop();
    });

    spec("ClientResult reports the client's thrown error", async () => {
      const conn = await fx.connect(HUB, {
        handlers: {
          Result: () => {
            throw new Error("from callback");
          },
        },
      });
      const e = await rejection(conn.invoke("ClientResult", "Result"));
      assert.match(e.message, /Error: from callback/);
      assert.ok(e.message.startsWith(UNEXPECTED("ClientResult")), e.message);
      await conn.stop();
    });

    spec("ClientResult without a client handler", async () => {
      const conn = await fx.connect(HUB);
      const e = await rejection(conn.invoke("ClientResult", "Result"));
      assert.match(e.message, /Client didn't provide a result\./);
      // Still usable afterwards.
      assert.equal(await conn.invoke("Echo", "ok"), "ok");
      await conn.stop();
    });
  });

  describe("negotiation", () => {
    spec("skipNegotiation over WebSockets: connectionId is null, the hub still works", async () => {
      const conn = await fx.connect(HUB, { skipNegotiation: true });
      assert.equal(conn.connectionId, null);
      assert.equal(await conn.invoke("Echo", "skip"), "skip");
      const id = await conn.invoke("GetCallerConnectionId");
      assert.equal(typeof id, "string");
      assert.ok(id.length > 0);
      await conn.stop();
    });

    spec("explicit WebSockets transport with negotiation", async () => {
      const conn = await fx.connect(HUB, { transport: HttpTransportType.WebSockets });
      assert.equal(await conn.invoke("GetCallerConnectionId"), conn.connectionId);
      await conn.stop();
    });

    spec("negotiate version 0: negotiateVersion 0 and no connectionToken", async () => {
      const { status, json, headers } = await negotiate(fx.url, HUB);
      assert.equal(status, 200);
      assert.match(headers.get("content-type") ?? "", /application\/json/);
      assert.equal(json.negotiateVersion, 0);
      assert.equal(typeof json.connectionId, "string");
      assert.ok(json.connectionId.length > 0);
      assert.equal("connectionToken" in json, false);
      const ws = json.availableTransports.find((t) => t.transport === "WebSockets");
      assert.ok(ws, JSON.stringify(json));
      assert.ok(ws.transferFormats.includes("Text"));
      for (const t of json.availableTransports) assert.ok(t.transferFormats.length > 0);
    });

    spec("negotiate version 1: has a connectionToken different from the connectionId", async () => {
      const { status, json } = await negotiate(fx.url, HUB, { negotiateVersion: 1 });
      assert.equal(status, 200);
      assert.equal(json.negotiateVersion, 1);
      assert.equal(typeof json.connectionId, "string");
      assert.equal(typeof json.connectionToken, "string");
      assert.notEqual(json.connectionToken, json.connectionId);
      assert.equal("useStatefulReconnect" in json, false);
    });

    spec("negotiate for an unknown hub is 404", async () => {
      const { status } = await negotiate(fx.url, "/hubs/nosuchhub", { negotiateVersion: 1 });
      assert.equal(status, 404);
    });

    spec("the client fails to start against an unknown hub", async () => {
      const e = await rejection(fx.connect("/hubs/nosuchhub"), DEADLINE, "start() to fail");
      assert.match(String(e), /404/);
    });
  });

  describe("many clients", () => {
    spec("20 clients echo concurrently and get their own answers", async () => {
      const conns = await Promise.all(Array.from({ length: 20 }, () => fx.connect(HUB)));
      const ids = new Set(conns.map((c) => c.connectionId));
      assert.equal(ids.size, 20);
      const results = await withDeadline(
        Promise.all(
          conns.flatMap((c, i) =>
            Array.from({ length: 5 }, (_, j) => c.invoke("Echo", `client ${i} call ${j}`)),
          ),
        ),
        20_000,
        "100 concurrent echoes",
      );
      results.forEach((r, k) => assert.equal(r, `client ${Math.floor(k / 5)} call ${k % 5}`));
      const callerIds = await Promise.all(conns.map((c) => c.invoke("GetCallerConnectionId")));
      assert.deepEqual(
        callerIds,
        conns.map((c) => c.connectionId),
      );
      await Promise.all(conns.map((c) => c.stop()));
    });
  });

  describe("on-connected", () => {
    spec("?refuse=<reason> makes the hub refuse the connection with that reason", async () => {
      const e = await connectRefused(fx.url, HUB, { query: { refuse: "go away, tester" } });
      assert.match(e.message, /Unauthorized: go away, tester/);
    });

    spec("?user=<u> sets the user id", async () => {
      const conn = await fx.connect(HUB, { query: { user: "uma" } });
      assert.equal(await conn.invoke("GetUser"), "uma");
      await conn.stop();
    });
  });

  describe("stopping", () => {
    spec("stop() closes cleanly: onclose gets undefined", async () => {
      const conn = await fx.connect(HUB);
      assert.equal(await conn.invoke("Echo", "x"), "x");
      await conn.stop();
      const err = await withDeadline(conn.closed, DEADLINE, "onclose");
      assert.equal(err, undefined);
      assert.equal(conn.state, "Disconnected");
    });

    spec("a stopped connection can start again with a new connectionId", async () => {
      const conn = await fx.connect(HUB, { record: ["Message"] });
      const first = conn.connectionId;
      await conn.stop();
      await conn.start();
      assert.notEqual(conn.connectionId, first);
      assert.equal(await conn.invoke("GetCallerConnectionId"), conn.connectionId);
      await conn.invoke("InvokeWithString", "after restart");
      assert.equal(await nextMessage(conn, "Message"), "after restart");
      await conn.stop();
    });
  });

  describe("client result timeout", () => {
    const fx2 = useHost(["--invoke-timeout", "500ms"]);

    spec("a client that never answers fails the call after --invoke-timeout", async () => {
      const asked = deferred();
      const conn = await fx2.connect(HUB, {
        handlers: {
          Result: () => {
            asked.resolve();
            return new Promise(() => {}); // never answers
          },
        },
      });
      const t0 = Date.now();
      const e = await rejection(conn.invoke("ClientResult", "Result"), 10_000, "ClientResult to time out");
      const elapsed = Date.now() - t0;
      await asked.promise;
      assert.ok(elapsed >= 450, `failed after ${elapsed} ms, before the 500 ms timeout`);
      assert.ok(elapsed < 5_000, `failed only after ${elapsed} ms`);
      assert.match(e.message, /^An unexpected error occurred invoking 'ClientResult' on the server\. /);
      assert.match(e.message, /within 500 ?ms|timed? ?out/i);
      // The connection is still usable.
      assert.equal(await conn.invoke("Echo", "after timeout"), "after timeout");
      await conn.stop();
    });
  });
});

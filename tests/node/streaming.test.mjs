// Streaming both ways with the official client, on every transport and
// protocol: the TestHub contract's streaming methods (signalr-protocol.md
// §7.3), the chat hubs' Countdown in every hub language, cancellation,
// uploads, backpressure and the deadline rules.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import { Subject } from "@microsoft/signalr";
import { useHost, spec, nextMessage, rejection, waitFor, deferred, withDeadline, MATRIX } from "./harness.mjs";

const UNEXPECTED = (m) => `An unexpected error occurred invoking '${m}' on the server.`;

/** Collects a stream: resolves with its items at completion, rejects on error. */
function collect(stream) {
  const items = [];
  const done = deferred();
  const subscription = stream.subscribe({
    next: (item) => items.push(item),
    complete: () => done.resolve(items),
    error: (error) => done.reject(error),
  });
  return { items, done: done.promise, subscription };
}

describe("streaming", () => {
  // A short deadline: a stream that waits (sleeps, uploads, a slow
  // client) must outlive it; a busy loop must not.
  const fx = useHost(["--hub-deadline", "1s"]);

  for (const [transport, protocol] of MATRIX) {
    describe(`${transport} + ${protocol}`, () => {
      let conn;
      before(async () => {
        conn = await fx.connect("/hubs/testhub", { transport, protocol, record: ["StreamCanceled"] });
      });

      spec("Stream yields a, b, c, then completes", async () => {
        assert.deepEqual(await withDeadline(collect(conn.stream("Stream")).done, 5_000, "the stream"), ["a", "b", "c"]);
      });

      spec("EmptyStream completes at once; invoke() on it is refused with ASP.NET's text", async () => {
        assert.deepEqual(await collect(conn.stream("EmptyStream")).done, []);
        const e = await rejection(conn.invoke("EmptyStream"));
        assert.equal(
          e.message,
          "The client attempted to invoke the streaming 'EmptyStream' method with a non-streaming invocation.",
        );
      });

      spec("stream() on a plain method is refused with ASP.NET's text", async () => {
        const e = await rejection(collect(conn.stream("Echo", "x")).done);
        assert.equal(
          e.message,
          "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.",
        );
      });

      spec("StreamThrowException fails the stream with the hub's error", async () => {
        const e = await rejection(collect(conn.stream("StreamThrowException", "boom")).done);
        assert.equal(e.message, `${UNEXPECTED("StreamThrowException")} HubException: InvalidOperationException: boom`);
      });

      spec("cancelling InfiniteStream reaches the hub, which says StreamCanceled", async () => {
        const { subscription } = collect(conn.stream("InfiniteStream"));
        // Past the 1 s deadline: waiting in a sleep is not the hub's time.
        await new Promise((r) => setTimeout(r, 1_500));
        subscription.dispose();
        await nextMessage(conn, "StreamCanceled", 5_000);
        assert.equal(await conn.invoke("Echo", "still here"), "still here");
      });

      spec("StreamingConcat reads an upload until the client completes it", async () => {
        const subject = new Subject();
        const result = conn.invoke("StreamingConcat", subject);
        subject.next("Hello ");
        subject.next("world");
        subject.next("!");
        subject.complete();
        assert.equal(await result, "Hello world!");
      });

      spec("an upload the client fails fails the call with the client's error", async () => {
        const subject = new Subject();
        const result = conn.invoke("StreamingConcat", subject);
        subject.next("Hello ");
        subject.error(new Error("Something bad"));
        const e = await rejection(result);
        assert.equal(e.message, `${UNEXPECTED("StreamingConcat")} HubException: Something bad`);
      });
    });
  }

  describe("in every hub language", () => {
    for (const hub of ["chat", "chat-py", "chat-js"]) {
      spec(`${hub}: Countdown streams 3, 2, 1 and stops when cancelled`, async () => {
        const conn = await fx.connect(`/hubs/${hub}`, { query: { name: `counter-${hub}` } });
        assert.deepEqual(await withDeadline(collect(conn.stream("Countdown", 3)).done, 5_000, "Countdown"), [3, 2, 1]);
        // 100 items at 100 ms would take 10 s: cancelled after the first.
        const long = collect(conn.stream("Countdown", 100));
        await waitFor(() => long.items.length >= 1, 5_000, "the first item");
        long.subscription.dispose();
        assert.deepEqual(await conn.invoke("Who", "nowhere"), [], "the connection goes on");
        assert.ok(long.items.length < 10, `stopped early: ${long.items.length} items`);
        const e = await rejection(collect(conn.stream("Countdown", 1000)).done);
        assert.match(e.message, /InvalidArgument: count down from 100 at most/);
      });
    }
  });

  describe("bounds", () => {
    spec("a stream and a plain call of one client run side by side", async () => {
      const conn = await fx.connect("/hubs/testhub");
      const infinite = collect(conn.stream("InfiniteStream"));
      // Plain invocations still run one at a time, but not behind the stream.
      assert.equal(await withDeadline(conn.invoke("Echo", "beside"), 2_000, "Echo beside a stream"), "beside");
      infinite.subscription.dispose();
    });

    spec("a stream ends when its client leaves", async () => {
      const conn = await fx.connect("/hubs/testhub");
      const watcher = await fx.connect("/hubs/testhub");
      await conn.invoke("AddToGroup", conn.connectionId, "streamers");
      // The client fails its own end of the stream when it stops.
      collect(conn.stream("InfiniteStream")).done.catch(() => {});
      await conn.stop();
      await waitFor(async () => (await watcher.invoke("GroupMembers", "streamers")).length === 0, 5_000, "the client to leave");
      // The hub's instance was released: plain calls are served at once.
      assert.equal(await watcher.invoke("Echo", "after"), "after");
    });
  });
});

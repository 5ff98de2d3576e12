// Groups and presence through the testhub: membership of other connections,
// group sends, invoke-all on a group, online users, cleanup on disconnect.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import { useHost, spec, inbox, nextMessage, rejection, waitFor } from "./harness.mjs";

const HUB = "/hubs/testhub";

describe("groups and presence", () => {
  const fx = useHost();
  let a, b, b2, anon;

  before(async () => {
    a = await fx.connect(HUB, { query: { user: "ann" }, record: ["Note"] });
    b = await fx.connect(HUB, { query: { user: "ben" }, record: ["Note"] });
    b2 = await fx.connect(HUB, { query: { user: "ben" }, record: ["Note"] });
    anon = await fx.connect(HUB, { record: ["Note"] });
  });

  const notes = (conn) => inbox(conn, "Note").all.map((x) => x[0]);

  describe("groups", () => {
    spec("AddToGroup of another connection, then SendToGroup reaches it", async () => {
      await a.invoke("AddToGroup", b.connectionId, "g1");
      await a.invoke("SendToGroup", "g1", "Note", "to g1");
      assert.equal(await nextMessage(b, "Note"), "to g1");
      // a (the sender, not in g1) and b2 (same user, other connection) got nothing:
      // prove it with a marker group both are in.
      await a.invoke("AddToGroup", a.connectionId, "marker");
      await a.invoke("AddToGroup", b2.connectionId, "marker");
      await a.invoke("SendToGroup", "marker", "Note", "marker-1");
      await nextMessage(a, "Note", undefined, (x) => x === "marker-1");
      await nextMessage(b2, "Note", undefined, (x) => x === "marker-1");
      assert.deepEqual(notes(a), ["marker-1"]);
      assert.deepEqual(notes(b2), ["marker-1"]);
    });

    spec("GroupMembers lists sorted connection ids", async () => {
      assert.deepEqual(await anon.invoke("GroupMembers", "g1"), [b.connectionId]);
      assert.deepEqual(await anon.invoke("GroupMembers", "marker"), [a.connectionId, b2.connectionId].sort());
      assert.deepEqual(await anon.invoke("GroupMembers", "no-such-group"), []);
      // Adding twice is idempotent.
      await anon.invoke("AddToGroup", b.connectionId, "g1");
      assert.deepEqual(await anon.invoke("GroupMembers", "g1"), [b.connectionId]);
    });

    spec("group names are case-sensitive", async () => {
      assert.deepEqual(await anon.invoke("GroupMembers", "G1"), []);
    });

    spec("RemoveFromGroup stops delivery", async () => {
      await a.invoke("AddToGroup", b.connectionId, "marker");
      await a.invoke("RemoveFromGroup", b.connectionId, "g1");
      assert.deepEqual(await anon.invoke("GroupMembers", "g1"), []);
      await a.invoke("SendToGroup", "g1", "Note", "g1 after remove");
      await a.invoke("SendToGroup", "marker", "Note", "marker-2");
      await nextMessage(b, "Note", undefined, (x) => x === "marker-2");
      assert.equal(notes(b).includes("g1 after remove"), false, JSON.stringify(notes(b)));
      // Removing again is not an error.
      assert.equal(await a.invoke("RemoveFromGroup", b.connectionId, "g1"), null);
    });

    spec("AddToGroup of an unknown connection fails with NotFound", async () => {
      const e = await rejection(a.invoke("AddToGroup", "no-such-connection", "g1"));
      assert.match(e.message, /^An unexpected error occurred invoking 'AddToGroup' on the server\. NotFound: /);
    });

    spec("a connection leaves its groups when it disconnects", async () => {
      const c = await fx.connect(HUB);
      await a.invoke("AddToGroup", c.connectionId, "g2");
      await a.invoke("AddToGroup", b.connectionId, "g2");
      assert.deepEqual(await a.invoke("GroupMembers", "g2"), [b.connectionId, c.connectionId].sort());
      await c.stop();
      await waitFor(
        async () => JSON.stringify(await a.invoke("GroupMembers", "g2")) === JSON.stringify([b.connectionId]),
        5_000,
        "the disconnected connection to leave g2",
      );
      // And sending to the group still works for the rest.
      await a.invoke("SendToGroup", "g2", "Note", "g2 after disconnect");
      await nextMessage(b, "Note", undefined, (x) => x === "g2 after disconnect");
    });
  });

  describe("invoke-all", () => {
    spec("InvokeAllGroup returns each client's value or error", async () => {
      const ok = await fx.connect(HUB, { handlers: { Result: () => 10 } });
      const bad = await fx.connect(HUB, {
        handlers: {
          Result: () => {
            throw new Error("from callback");
          },
        },
      });
      const silent = await fx.connect(HUB);
      for (const x of [ok, bad, silent]) await a.invoke("AddToGroup", x.connectionId, "voters");
      const results = await a.invoke("InvokeAllGroup", "voters", "Result");
      assert.equal(results.length, 3, JSON.stringify(results));
      const by = Object.fromEntries(results.map((r) => [r.connectionId, r]));
      assert.deepEqual(by[ok.connectionId], { connectionId: ok.connectionId, value: 10 });
      assert.equal("value" in by[bad.connectionId], false);
      assert.match(by[bad.connectionId].error, /Error: from callback/);
      assert.match(by[silent.connectionId].error, /Client didn't provide a result\./);
      await Promise.all([ok.stop(), bad.stop(), silent.stop()]);
    });

    spec("InvokeAllGroup on an empty group returns []", async () => {
      assert.deepEqual(await a.invoke("InvokeAllGroup", "nobody-here", "Result"), []);
    });

    spec("InvokeAllGroup including the caller itself does not deadlock", async () => {
      const self = await fx.connect(HUB, { handlers: { Result: () => "me" } });
      await self.invoke("AddToGroup", self.connectionId, "self-group");
      const results = await self.invoke("InvokeAllGroup", "self-group", "Result");
      assert.deepEqual(results, [{ connectionId: self.connectionId, value: "me" }]);
      await self.stop();
    });
  });

  describe("presence", () => {
    spec("OnlineUsers lists users with their sorted connections", async () => {
      const users = await anon.invoke("OnlineUsers");
      assert.deepEqual(users, [
        { user: "ann", connections: [a.connectionId] },
        { user: "ben", connections: [b.connectionId, b2.connectionId].sort() },
      ]);
    });

    spec("a user's last disconnect removes the user from OnlineUsers", async () => {
      const cid = await fx.connect(HUB, { query: { user: "cid" } });
      const names = async () => (await anon.invoke("OnlineUsers")).map((u) => u.user);
      assert.deepEqual(await names(), ["ann", "ben", "cid"]);
      await cid.stop();
      await waitFor(
        async () => JSON.stringify(await names()) === JSON.stringify(["ann", "ben"]),
        5_000,
        "cid to go offline",
      );
    });

    spec("GetUser reflects the on-connected user", async () => {
      assert.equal(await b2.invoke("GetUser"), "ben");
      assert.equal(await anon.invoke("GetUser"), null);
    });
  });
});

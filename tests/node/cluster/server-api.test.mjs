// The server API across two nodes on one Redis: a backend talks to
// node-a only, and reaches, sees, regroups and disconnects clients on
// node-b as well; /api/v1/cluster shows both nodes with what they serve.

import { describe } from "node:test";
import assert from "node:assert/strict";
import { useCluster, spec, inbox, eventually } from "../harness.mjs";

const KEY = "cluster-key-5e1b7a90c3d2f468";
const TESTHUB = "/hubs/testhub";
const extraArgs = ["--api-key", KEY];

async function api(node, method, path, body) {
  const response = await fetch(`${node.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  return { status: response.status, json };
}

describe("server API on two nodes", () => {
  const cl = useCluster({ nodes: [{ id: "node-a", extraArgs }, { id: "node-b", extraArgs }] });

  spec("send, invoke, presence, groups and disconnect through node-a reach node-b's clients", async () => {
    const a = cl.node("node-a");
    const opts = (user) => ({ query: { user }, ready: ["GetUser"], record: ["Note", "GroupMessage"] });
    const onA = await cl.connect("node-a", TESTHUB, opts("gina"));
    const onB = await cl.connect("node-b", TESTHUB, opts("gina"));
    const hank = await cl.connect("node-b", TESTHUB, opts("hank"));

    // Presence from node-a sees node-b's connections, with their node.
    const all = await api(a, "GET", "/hubs/testhub/connections");
    const byId = new Map(all.json.connections.map((c) => [c.id, c]));
    assert.equal(byId.get(onA.connectionId).node, "node-a");
    assert.equal(byId.get(onB.connectionId).node, "node-b");
    const gina = (await api(a, "GET", "/hubs/testhub/users")).json.users.find((u) => u.user === "gina");
    assert.deepEqual(gina.nodes, ["node-a", "node-b"]);
    assert.deepEqual((await api(a, "GET", "/hubs/testhub/users/hank")).json.online, true);

    // A send to a user spans both nodes; to one connection, its owner only.
    assert.equal((await api(a, "POST", "/hubs/testhub/send", { to: { user: "gina" }, method: "Note", arguments: ["to gina"] })).status, 200);
    assert.deepEqual(await inbox(onA, "Note").next(), ["to gina"]);
    assert.deepEqual(await inbox(onB, "Note").next(), ["to gina"]);
    await api(a, "POST", "/hubs/testhub/send", { to: { connection: hank.connectionId }, method: "Note", arguments: ["to hank"] });
    assert.deepEqual(await inbox(hank, "Note").next(), ["to hank"]);

    // Group changes of node-b's connections, made on node-a.
    const joined = await api(a, "PUT", "/hubs/testhub/groups/crew/users/gina");
    assert.deepEqual(joined.json.connections.sort(), [onA.connectionId, onB.connectionId].sort());
    assert.equal((await api(a, "PUT", `/hubs/testhub/groups/crew/connections/${hank.connectionId}`)).status, 200);
    const crew = await api(a, "GET", "/hubs/testhub/groups/crew/connections");
    assert.deepEqual(crew.json.connections.map((c) => c.id).sort(), [onA.connectionId, onB.connectionId, hank.connectionId].sort());

    // A server call on node-a whose hub sends to the group reaches node-b.
    const sent = await api(a, "POST", "/hubs/testhub/invoke/SendToGroup", { arguments: ["crew", "GroupMessage", "all hands"] });
    assert.equal(sent.status, 200, JSON.stringify(sent.json));
    for (const conn of [onA, onB, hank]) assert.deepEqual(await inbox(conn, "GroupMessage").next(), ["all hands"]);

    // Disconnecting gina closes her connections on both nodes (a closed
    // client forgets its id: keep them).
    const ginas = [onA.connectionId, onB.connectionId].sort();
    const closed = await api(a, "POST", "/hubs/testhub/disconnect", { user: "gina", reason: "account closed" });
    assert.deepEqual(closed.json.disconnected.sort(), ginas);
    assert.match(String(await onA.closed), /account closed/);
    assert.match(String(await onB.closed), /account closed/);
    assert.equal(await hank.invoke("Echo", "still here"), "still here");
    await eventually(
      () => api(a, "GET", "/hubs/testhub/users/gina"),
      (r) => r.json.online === false,
      10_000,
      "gina to be offline on every node",
    );
  });

  spec("/api/v1/cluster shows both nodes, the versions they serve and the connections per node", async () => {
    const a = cl.node("node-a");
    const b = cl.node("node-b");
    const health = await (await fetch(`${b.url}/healthz`)).json();
    const sha256 = health.hubs.find((h) => h.name === "testhub").sha256;
    await cl.connect("node-b", TESTHUB, { query: { user: "ivy" }, ready: ["GetUser"] });
    // Other nodes' statuses are up to a second old: wait for ivy's.
    const testhubOf = (r) => r.json.hubs.find((h) => h.name === "testhub");
    const { value: view } = await eventually(
      () => api(a, "GET", "/cluster"),
      (r) => r.json.nodes.length === 2 && r.json.nodes.every((n) => n.status !== null) && testhubOf(r)?.byNode["node-b"] >= 1,
      10_000,
      "node-a to see node-b's status with ivy's connection",
    );
    const nodes = new Map(view.json.nodes.map((n) => [n.node, n]));
    assert.equal(nodes.get("node-a").self, true);
    assert.equal(nodes.get("node-b").alive, true);
    const served = nodes.get("node-b").status.hubs.find((h) => h.name === "testhub");
    assert.equal(served.sha256, sha256);
    const hub = testhubOf(view);
    assert.equal(hub.usersExact, true);
    assert.ok(hub.users >= 1, JSON.stringify(hub));
  });

  spec("a send while Redis is away is a 503: this node's clients got it, the backend knows the rest did not", async () => {
    const a = cl.node("node-a");
    const here = await cl.connect("node-a", TESTHUB, { query: { user: "jo" }, ready: ["GetUser"], record: ["Note"] });
    await cl.redis.stop();
    try {
      const { value: refused } = await eventually(
        () => api(a, "POST", "/hubs/testhub/send", { to: { user: "jo" }, method: "Note", arguments: ["while away"] }),
        (r) => r.status === 503,
        15_000,
        "a send to answer 503 while Redis is stopped",
      );
      assert.equal(refused.json.error.code, "unavailable");
      assert.match(refused.json.error.message, /this node only/);
      assert.deepEqual(await inbox(here, "Note").next(), ["while away"]);
    } finally {
      await cl.redis.start();
    }
  });
});

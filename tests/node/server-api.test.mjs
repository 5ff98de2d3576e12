// The server API (/api/v1) on one node, through real HTTP, with the
// official JavaScript client on the receiving end: keys, send to every
// kind of selection, invoke as the server, the six presence snapshots,
// group changes, disconnects, and a JSON 400 naming the field for bad
// input. Runs against the memory and the Redis backend like every
// hub-facing suite (WASMHUB_TEST_BACKEND).

import { describe } from "node:test";
import assert from "node:assert/strict";
import { useHost, spec, inbox, eventually, startHost, scrapeMetrics } from "./harness.mjs";

const KEY = "test-key-0f3a9c2e7b41d8a6";
const HUB = "/hubs/testhub";

/** A request to the API with the key (or `key`), JSON in and out. */
async function api(url, method, path, body, key = KEY) {
  const headers = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${url}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${path}: ${response.status} answered no JSON: ${text}`);
  }
  return { status: response.status, json, headers: response.headers };
}

/**
 * Sends `marker` to everyone, waits until each of `conns` has it, and
 * returns which of them got `Selected` before it: a connection's messages
 * arrive in order, so nobody else can still get one late.
 */
async function receivedBefore(url, conns, boxes, marker) {
  const sent = await api(url, "POST", "/hubs/testhub/send", { method: "Marker", arguments: [marker] });
  assert.equal(sent.status, 200, JSON.stringify(sent.json));
  const got = [];
  for (const [i, conn] of conns.entries()) {
    await boxes.marker[i].next(10_000, (args) => args[0] === marker);
    if (boxes.selected[i].pending().length > 0) got.push(conn);
    boxes.selected[i].all.length = 0;
    boxes.selected[i].consumed.clear();
  }
  return got;
}

describe("server API", () => {
  const fx = useHost(["--api-key", KEY]);

  spec("without a valid key every endpoint answers 401, and the key never reaches the log", async () => {
    for (const key of [null, "not-the-key-0123456789"]) {
      const r = await api(fx.url, "GET", "/hubs/testhub/connections", undefined, key);
      assert.equal(r.status, 401);
      assert.equal(r.json.error.code, "unauthorized");
      assert.equal(r.headers.get("www-authenticate"), "Bearer");
    }
    const viaHeader = await fetch(`${fx.url}/api/v1/hubs/testhub/connections`, { headers: { "x-api-key": KEY } });
    assert.equal(viaHeader.status, 200);
    assert.equal((await api(fx.url, "GET", "/cluster")).status, 200);
    // The document is public; unknown endpoints are JSON 404s.
    const doc = await (await fetch(`${fx.url}/api/v1/openapi.json`)).json();
    assert.equal(doc.openapi, "3.1.0");
    assert.ok(doc.paths["/hubs/{hub}/send"].post);
    const unknown = await api(fx.url, "GET", "/nothing/here");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, "not-found");
    assert.ok(!fx.host.stderr().includes(KEY), "the key was logged");
    assert.ok(!fx.host.stdout().includes(KEY), "the key was printed");
  });

  spec("send reaches exactly the selection: connection, user, group, attribute, all, excluding", async () => {
    const specs = [
      { user: "alice", query: { user: "alice", "@tier": "gold" } },
      { user: "alice", query: { user: "alice" } },
      { user: "bob", query: { user: "bob", "@tier": "silver" } },
    ];
    const conns = [];
    const boxes = { selected: [], marker: [] };
    for (const s of specs) {
      const conn = await fx.connect(HUB, { query: s.query });
      boxes.selected.push(inbox(conn, "Selected"));
      boxes.marker.push(inbox(conn, "Marker"));
      conns.push(conn);
    }
    const [a1, a2, b] = conns;
    await a2.invoke("AddToGroup", a2.connectionId, "room");
    await b.invoke("AddToGroup", b.connectionId, "room");

    const cases = [
      [{ connection: a2.connectionId }, [a2]],
      [{ user: "alice" }, [a1, a2]],
      [{ groups: ["room"] }, [a2, b]],
      [{ attributes: { tier: "g*" } }, [a1]],
      [{ attributes: { TIER: null } }, [a1, b]],
      [{}, [a1, a2, b]],
      [{ groups: ["room"], excluding: [b.connectionId] }, [a2]],
      [{ user: "alice", groups: ["room"] }, [a2]],
      [{ user: "nobody" }, []],
    ];
    for (const [n, [to, expected]] of cases.entries()) {
      const r = await api(fx.url, "POST", "/hubs/testhub/send", { to, method: "Selected", arguments: [n, { deep: [1] }] });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(typeof r.json.queuedOnThisNode, "number");
      const got = await receivedBefore(fx.url, conns, boxes, `m${n}`);
      assert.deepEqual(
        got.map((c) => c.connectionId).sort(),
        expected.map((c) => c.connectionId).sort(),
        `selection ${JSON.stringify(to)}`,
      );
    }
    // The arguments arrive as sent.
    const r = await api(fx.url, "POST", "/hubs/TESTHUB/send", { to: { connection: b.connectionId }, method: "Selected", arguments: ["x", { deep: [1, 2] }, null] });
    assert.equal(r.status, 200);
    assert.deepEqual(await boxes.selected[2].next(), ["x", { deep: [1, 2] }, null]);
  });

  spec("bad input is a 400 naming the field; an unknown hub a 404", async () => {
    const bad = [
      [{}, "method"],
      [{ method: "" }, "method"],
      [{ method: 5 }, "method"],
      [{ method: "M", arguments: { not: "an array" } }, "arguments"],
      [{ method: "M", to: { groups: ["ok", 3] } }, "to.groups[1]"],
      [{ method: "M", to: { groups: [""] } }, "to.groups[0]"],
      [{ method: "M", to: { connection: "" } }, "to.connection"],
      [{ method: "M", to: { colour: "red" } }, "to.colour"],
      [{ method: "M", extra: 1 }, "extra"],
    ];
    for (const [body, field] of bad) {
      const r = await api(fx.url, "POST", "/hubs/testhub/send", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.code, "invalid-argument");
      assert.equal(r.json.error.field, field, `${JSON.stringify(body)}: ${r.json.error.message}`);
    }
    const notJson = await api(fx.url, "POST", "/hubs/testhub/send", "{not json");
    assert.equal(notJson.status, 400);
    const huge = await api(fx.url, "POST", "/hubs/testhub/send", { method: "M", arguments: ["x".repeat(1_100_000)] });
    assert.ok([400, 413].includes(huge.status), `a message over the outbound buffer: ${huge.status}`);
    const disconnect = await api(fx.url, "POST", "/hubs/testhub/disconnect", { reason: "x" });
    assert.equal(disconnect.status, 400);
    assert.equal(disconnect.json.error.field, "connection");
    for (const [method, path] of [
      ["POST", "/hubs/nohub/send"],
      ["POST", "/hubs/nohub/invoke/Echo"],
      ["GET", "/hubs/nohub/connections"],
      ["GET", "/hubs/nohub/users"],
      ["PUT", "/hubs/nohub/groups/g/users/u"],
    ]) {
      const r = await api(fx.url, method, path, method === "POST" ? { method: "M" } : undefined);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(r.json.error.code, "hub-not-found");
    }
  });

  spec("invoke runs the hub's method as the server and answers its result or its error", async () => {
    const before = await scrapeMetrics(fx.url);
    const echo = await api(fx.url, "POST", "/hubs/testhub/invoke/Echo", { arguments: ["hello"] });
    assert.equal(echo.status, 200);
    assert.deepEqual(echo.json, { result: "hello" });
    const complex = await api(fx.url, "POST", "/hubs/testhub/invoke/EchoComplexObject", { arguments: [{ a: [1, { b: null }] }] });
    assert.deepEqual(complex.json, { result: { a: [1, { b: null }] } });
    // The server caller: no connection, no user, no details.
    assert.deepEqual((await api(fx.url, "POST", "/hubs/testhub/invoke/GetCallerConnectionId")).json, { result: "" });
    assert.deepEqual((await api(fx.url, "POST", "/hubs/testhub/invoke/GetUser", {})).json, { result: null });
    assert.deepEqual((await api(fx.url, "POST", "/hubs/testhub/invoke/GetAttributes", { arguments: [] })).json, { result: {} });

    const unknown = await api(fx.url, "POST", "/hubs/testhub/invoke/NoSuchMethod", { arguments: [] });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, "method-not-found");
    const thrown = await api(fx.url, "POST", "/hubs/testhub/invoke/ThrowException", { arguments: ["boom"] });
    assert.equal(thrown.status, 500);
    assert.equal(thrown.json.error.code, "hub-error");
    assert.match(thrown.json.error.message, /boom/);
    const trapped = await api(fx.url, "POST", "/hubs/testhub/invoke/Panic", { arguments: ["on purpose"] });
    assert.equal(trapped.status, 500);
    assert.equal(trapped.json.error.code, "hub-trap");
    const wrongArgs = await api(fx.url, "POST", "/hubs/testhub/invoke/Echo", { arguments: [1, 2, 3] });
    assert.equal(wrongArgs.status, 400, JSON.stringify(wrongArgs.json));
    assert.equal(wrongArgs.json.error.field, "arguments");

    // A hub's own sends from a server call reach clients.
    const conn = await fx.connect(HUB);
    const box = inbox(conn, "GroupMessage");
    await conn.invoke("AddToGroup", conn.connectionId, "news");
    const sent = await api(fx.url, "POST", "/hubs/testhub/invoke/SendToGroup", { arguments: ["news", "GroupMessage", "from a backend"] });
    assert.equal(sent.status, 200, JSON.stringify(sent.json));
    assert.deepEqual(await box.next(), ["from a backend"]);

    const after = await scrapeMetrics(fx.url);
    // The API counts its requests by route template and status.
    const requests = (status) =>
      after.value("wasmhub_api_requests_total", { endpoint: "/api/v1/hubs/{hub}/invoke/{method}", status }) -
      before.value("wasmhub_api_requests_total", { endpoint: "/api/v1/hubs/{hub}/invoke/{method}", status });
    assert.equal(requests("200"), 6);
    assert.equal(requests("400"), 1);
    assert.equal(requests("404"), 1);
    assert.equal(requests("500"), 2);
    assert.ok(!after.samples.some((s) => s.name === "wasmhub_api_requests_total" && s.labels.endpoint.includes("testhub")));
    const delta = (labels) => after.value("wasmhub_invocations_total", { hub: "testhub", ...labels }) - before.value("wasmhub_invocations_total", { hub: "testhub", ...labels });
    assert.equal(delta({ method: "Echo" }), 2);
    assert.equal(delta({ method: "GetCallerConnectionId" }), 1);
  });

  spec("presence: the six snapshots, and group changes by connection and by user", async () => {
    const a1 = await fx.connect(HUB, { query: { user: "carol", "@role": "admin" } });
    const a2 = await fx.connect(HUB, { query: { user: "carol" } });
    const d = await fx.connect(HUB, { query: { user: "dave" } });
    const ids = (r) => r.json.connections.map((c) => c.id).sort();
    const all = await api(fx.url, "GET", "/hubs/testhub/connections");
    for (const conn of [a1, a2, d]) assert.ok(ids(all).includes(conn.connectionId));
    const mine = all.json.connections.find((c) => c.id === a1.connectionId);
    assert.equal(mine.user, "carol");
    assert.deepEqual(mine.attributes.role, ["admin"]);
    assert.equal(typeof mine.node, "string");

    assert.deepEqual(ids(await api(fx.url, "GET", "/hubs/testhub/users/carol/connections")), [a1.connectionId, a2.connectionId].sort());
    assert.deepEqual(ids(await api(fx.url, "GET", "/hubs/testhub/attributes/ROLE/connections?value=ad*")), [a1.connectionId]);
    assert.deepEqual(ids(await api(fx.url, "GET", "/hubs/testhub/attributes/role/connections?value=nobody")), []);
    assert.deepEqual((await api(fx.url, "GET", "/hubs/testhub/users/carol")).json, { user: "carol", online: true });
    assert.deepEqual((await api(fx.url, "GET", "/hubs/testhub/users/nobody")).json, { user: "nobody", online: false });
    const users = (await api(fx.url, "GET", "/hubs/testhub/users")).json.users;
    const carol = users.find((u) => u.user === "carol");
    assert.deepEqual(carol.connections, [a1.connectionId, a2.connectionId].sort());
    assert.equal(carol.nodes.length, 1);

    // By user: both of carol's connections join; dave's stays out.
    const joined = await api(fx.url, "PUT", "/hubs/testhub/groups/team%20a/users/carol");
    assert.equal(joined.status, 200);
    assert.deepEqual(joined.json.connections.sort(), [a1.connectionId, a2.connectionId].sort());
    assert.deepEqual(ids(await api(fx.url, "GET", "/hubs/testhub/groups/team%20a/connections")), [a1.connectionId, a2.connectionId].sort());
    // The hub sees it too.
    assert.deepEqual((await d.invoke("GroupMembers", "team a")).sort(), [a1.connectionId, a2.connectionId].sort());
    // By connection.
    assert.equal((await api(fx.url, "PUT", `/hubs/testhub/groups/team%20a/connections/${d.connectionId}`)).status, 200);
    assert.equal((await api(fx.url, "DELETE", `/hubs/testhub/groups/team%20a/connections/${a1.connectionId}`)).status, 200);
    assert.deepEqual(ids(await api(fx.url, "GET", "/hubs/testhub/groups/team%20a/connections")), [a2.connectionId, d.connectionId].sort());
    const left = await api(fx.url, "DELETE", "/hubs/testhub/groups/team%20a/users/carol");
    assert.deepEqual(left.json.connections.sort(), [a1.connectionId, a2.connectionId].sort());
    assert.deepEqual(ids(await api(fx.url, "GET", "/hubs/testhub/groups/team%20a/connections")), [d.connectionId]);
    const missing = await api(fx.url, "PUT", "/hubs/testhub/groups/g/connections/no-such-connection");
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, "not-found");
    assert.deepEqual((await api(fx.url, "PUT", "/hubs/testhub/groups/g/users/nobody")).json.connections, []);
  });

  spec("disconnect closes a connection or a user's connections, with the reason and allowReconnect", async () => {
    const e1 = await fx.connect(HUB, { query: { user: "erin" } });
    const e2 = await fx.raw(HUB, { query: { user: "erin" } });
    const other = await fx.connect(HUB, { query: { user: "frank" } });
    // The client forgets its id once closed: keep them.
    const id1 = e1.connectionId;
    const id2 = (await e2.invoke("1", "GetCallerConnectionId", [])).result;
    const one = await api(fx.url, "POST", "/hubs/testhub/disconnect", { connection: id1, reason: "maintenance" });
    assert.equal(one.status, 200);
    assert.deepEqual(one.json.disconnected, [id1]);
    const error = await e1.closed;
    assert.match(String(error), /maintenance/);
    const rest = await api(fx.url, "POST", "/hubs/testhub/disconnect", { user: "erin", allowReconnect: true });
    assert.deepEqual(rest.json.disconnected, [id2]);
    const close = await e2.nextMessage(10_000, { predicate: (m) => m.type === 7 });
    assert.deepEqual(close, { type: 7, allowReconnect: true });
    assert.equal(await other.invoke("Echo", "still here"), "still here");
    await eventually(
      () => api(fx.url, "GET", "/hubs/testhub/users/erin"),
      (r) => r.json.online === false,
      10_000,
      "erin to be offline",
    );
    const gone = await api(fx.url, "POST", "/hubs/testhub/disconnect", { connection: id1 });
    assert.equal(gone.status, 404);
    assert.deepEqual((await api(fx.url, "POST", "/hubs/testhub/disconnect", { user: "nobody" })).json, { disconnected: [] });
  });
});

describe("server API off", () => {
  spec("without --api-key the API and the dashboard answer 404 and say how to turn them on", async () => {
    const host = await startHost([]);
    try {
      const r = await api(host.url, "GET", "/hubs/testhub/connections");
      assert.equal(r.status, 404);
      assert.equal(r.json.error.code, "api-off");
      assert.match(r.json.error.message, /--api-key/);
      const page = await fetch(`${host.url}/dashboard`);
      assert.equal(page.status, 404);
      assert.match(await page.text(), /--api-key/);
    } finally {
      await host.stop();
    }
  });
});

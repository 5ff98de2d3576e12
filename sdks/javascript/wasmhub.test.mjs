// Unit tests of the JavaScript SDK, on node with a fake host standing in
// for the WIT imports (test/fake-host.mjs). `cargo xtask hubs` runs them
// before building any JavaScript hub; by hand:
//   node --test sdks/javascript/wasmhub.test.mjs

import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { register } from "node:module";

register("./test/hooks.mjs", import.meta.url);
const sdk = await import("./wasmhub.js");
const { fake } = await import("./test/fake-host.mjs");
const {
  Router,
  HubError,
  NotFound,
  NoClientResponded,
  Internal,
  Unavailable,
  Context,
  Selection,
  clients,
  groups,
  presence,
  exportHub,
  compareStrings,
  trim,
  installSandboxGlobals,
  BINDING_ERROR,
} = sdk;

beforeEach(() => fake.reset());

const conn = (over = {}) => ({
  id: "c1",
  user: "alice",
  hub: "chat",
  node: "n1",
  transport: "WebSockets",
  attributes: [["role", ["admin", "dev"]]],
  groups: ["lobby"],
  query: [
    ["name", "alice"],
    ["Name", "other"],
  ],
  headers: [["x-custom", "42"]],
  ...over,
});

/** What `invoke` gets: the caller's id and user. */
const caller = (over = {}) => ({ id: "c1", user: "alice", ...over });

/** The WIT selector with these conditions. */
const selector = (over = {}) => ({
  connection: null,
  user: null,
  groups: [],
  attributes: [],
  excluding: [],
  ...over,
});

const router = () =>
  new Router()
    .method("Echo", ["string"], (ctx, text) => text)
    .method("Add", ["integer", "integer"], (ctx, a, b) => a + b)
    .method("Nothing", () => undefined)
    .method("Caller", (ctx) => ctx.connectionId)
    .method("Maybe", ["string?"], (ctx, text) => text)
    .method("Any", ["any", "boolean", "array", "object", "number"], (ctx, ...all) => all)
    .method("Fail", () => {
      throw HubError.notFound("gone");
    });

const dispatch = (name, args) => router().dispatch(new Context(conn()), name, args);

/** The InvalidArgument a call fails with. */
function bindingError(name, args) {
  try {
    dispatch(name, args);
  } catch (error) {
    assert.ok(error instanceof HubError, String(error));
    assert.equal(error.kind, "InvalidArgument");
    return error.message;
  }
  assert.fail(`${name}(${args}) did not fail`);
}

test("methods match case-insensitively; results are JSON", () => {
  assert.equal(dispatch("echo", '["hi"]'), '"hi"');
  assert.equal(dispatch("ECHO", '["hi"]'), '"hi"');
  assert.equal(dispatch("add", "[2, 3]"), "5");
  assert.equal(dispatch("caller", "[]"), '"c1"');
  assert.equal(dispatch("Nothing", "[]"), "null");
  assert.equal(dispatch("Maybe", "[null]"), "null");
  assert.equal(dispatch("Any", '[{"a":1}, true, [1], {}, 1.5]'), '[{"a":1},true,[1],{},1.5]');
  assert.ok(router().contains("NoThInG"));
});

test("unknown methods are MethodNotFound with the name used", () => {
  assert.throws(() => dispatch("Nope", "[]"), (e) => e.kind === "MethodNotFound" && e.message === "Nope");
});

test("handler errors pass through", () => {
  assert.throws(() => dispatch("Fail", "[]"), (e) => e instanceof NotFound && e.message === "gone");
});

test("arity mismatches use the ASP.NET text", () => {
  assert.equal(bindingError("Add", "[1]"), "Invocation provides 1 argument(s) but target expects 2.");
  assert.equal(bindingError("Nothing", "[1, 2, 3]"), "Invocation provides 3 argument(s) but target expects 0.");
});

test("type mismatches read as serde_json's, as in the Rust SDK", () => {
  const cases = [
    ["[5]", "integer `5`"],
    ["[-3]", "integer `-3`"],
    ["[12345678901234567890]", "integer `12345678901234567890`"],
    ["[1.5]", "floating point `1.5`"],
    ["[2.0]", "floating point `2.0`"],
    ["[-0]", "floating point `-0.0`"],
    ["[1E2]", "floating point `100.0`"],
    ["[1e300]", "floating point `1e+300`"],
    ["[1e-7]", "floating point `1e-7`"],
    ["[1e-5]", "floating point `0.00001`"],
    ["[1e15]", "floating point `1000000000000000.0`"],
    ["[1e16]", "floating point `1e+16`"],
    ["[-1.5e-9]", "floating point `-1.5e-9`"],
    ["[true]", "boolean `true`"],
    ["[null]", "null"],
    ["[[1, 2]]", "sequence"],
    ['[{"a": [1, "]"]}]', "map"],
  ];
  for (const [args, what] of cases) {
    assert.equal(
      bindingError("Echo", args),
      `${BINDING_ERROR} Argument 0: invalid type: ${what}, expected a string`,
      args,
    );
  }
  assert.equal(
    bindingError("Add", '[1, "b"]'),
    `${BINDING_ERROR} Argument 1: invalid type: string "b", expected i64`,
  );
  assert.equal(
    bindingError("Add", '[1, "q\\"\\n"]'),
    `${BINDING_ERROR} Argument 1: invalid type: string "q\\"\\n", expected i64`,
  );
  assert.match(bindingError("Echo", '{"a": 1}'), /^Error binding arguments.* The arguments are not a JSON array/);
});

test("a method name is taken once, in any case", () => {
  assert.throws(() => new Router().method("Echo", () => 1).method("echo", () => 2), /defined twice/);
  assert.throws(() => new Router().method("Bad", ["strin"], () => 1), /unknown type/);
});

test("results that are not JSON, and Promises, are Internal errors", () => {
  const r = new Router()
    .method("Big", () => 1n)
    .method("Async", async () => 1);
  const ctx = new Context(conn());
  assert.throws(() => r.dispatch(ctx, "Big", "[]"), (e) => e instanceof Internal && /not JSON/.test(e.message));
  assert.throws(() => r.dispatch(ctx, "Async", "[]"), (e) => e instanceof Internal && /Promise/.test(e.message));
});

test("the context follows the naming rules", () => {
  const ctx = new Context(conn());
  assert.equal(ctx.connectionId, "c1");
  assert.equal(ctx.user, "alice");
  assert.equal(ctx.query("Name"), "other");
  assert.equal(ctx.query("NAME"), "alice");
  assert.equal(ctx.query("missing"), null);
  assert.equal(ctx.header("X-Custom"), "42");
  assert.equal(ctx.attribute("ROLE"), "admin");
  assert.deepEqual(ctx.attributes("role"), ["admin", "dev"]);
  assert.deepEqual(ctx.attributes("none"), []);
  assert.deepEqual(ctx.groups, ["lobby"]);
  assert.equal(new Context(conn({ user: null })).user, null);
});

test("the export turns errors into the WIT variant", () => {
  const handler = exportHub({
    router: new Router()
      .method("NotFound", () => {
        throw new NotFound("no such room");
      })
      .method("Bug", () => null.x)
      .method("Str", () => {
        throw "plain";
      }),
  });
  const raises = (f) => {
    try {
      f();
    } catch (error) {
      return error;
    }
    assert.fail("did not throw");
  };
  assert.deepEqual(raises(() => handler.invoke(caller(), "notfound", "[]")), { tag: "not-found", val: "no such room" });
  assert.deepEqual(raises(() => handler.invoke(caller(), "Nope", "[]")), { tag: "method-not-found", val: "Nope" });
  const bug = raises(() => handler.invoke(caller(), "Bug", "[]"));
  assert.equal(bug.tag, "internal");
  assert.match(bug.val, /^TypeError: /);
  assert.equal(fake.logs.at(-1)[0], "error");
  assert.deepEqual(raises(() => handler.invoke(caller(), "Str", "[]")), { tag: "internal", val: 'uncaught "plain"' });
});

test("onConnected: nothing, a name or { user }; a throw refuses", () => {
  const accept = (fn) => exportHub({ router: new Router(), onConnected: fn }).onConnected(conn());
  assert.deepEqual(accept(undefined), { user: null });
  assert.deepEqual(accept(() => {}), { user: null });
  assert.deepEqual(accept(() => "bob"), { user: "bob" });
  assert.deepEqual(accept(() => ({ user: "carol" })), { user: "carol" });
  assert.throws(
    () => accept(() => { throw HubError.unauthorized("no"); }),
    (e) => e.tag === "unauthorized" && e.val === "no",
  );
  // onDisconnected and init.
  const seen = [];
  const handler = exportHub({
    router: new Router(),
    init: () => seen.push("init"),
    onDisconnected: (ctx, error) => {
      seen.push([ctx.connectionId, error]);
      throw new Error("ignored");
    },
  });
  handler.init();
  handler.onDisconnected(conn(), undefined);
  assert.deepEqual(seen, ["init", ["c1", null]]);
  assert.throws(() => exportHub({ router: new Router(), init: () => { throw new Unavailable("x"); } }).init());
});

test("an invoke gets the caller's id and user; details are fetched once, when asked for", () => {
  const seen = [];
  const handler = exportHub({
    router: new Router()
      .method("Who", (ctx) => [ctx.connectionId, ctx.user])
      .method("Name", (ctx) => [ctx.query("name"), ctx.attribute("role"), ctx.groups, ctx.hub, ctx.transport])
      .method("Keep", (ctx) => {
        seen.push(ctx);
      }),
  });
  fake.details = conn();
  assert.equal(handler.invoke(caller(), "Who", "[]"), '["c1","alice"]');
  assert.equal(handler.invoke(caller({ user: null }), "Who", "[]"), '["c1",null]');
  assert.deepEqual(fake.calls, [], "no details for the id and user");
  assert.equal(handler.invoke(caller(), "Name", "[]"), '["alice","admin",["lobby"],"chat","WebSockets"]');
  assert.deepEqual(fake.calls, [["details"]], "one details call for every lookup of a call");

  // The caller is gone: an empty record, with the id and user it had.
  fake.calls = [];
  fake.details = null;
  assert.equal(handler.invoke(caller(), "Name", "[]"), '[null,null,[],"",""]');
  assert.deepEqual(fake.calls, [["details"]]);

  // A context kept past its call never reads the next caller's record.
  handler.invoke(caller(), "Keep", "[]");
  fake.details = conn({ id: "c2", query: [["name", "bob"]] });
  fake.calls = [];
  assert.equal(seen[0].query("name"), null);
  assert.deepEqual(fake.calls, []);
  assert.equal(seen[0].connectionId, "c1");
});

test("onConnected and onDisconnected get the whole record; no details call", () => {
  const seen = [];
  const handler = exportHub({
    router: new Router(),
    onConnected: (ctx) => {
      seen.push(ctx.query("name"), ctx.header("x-custom"), clients.caller().selector.connection);
    },
    onDisconnected: (ctx) => seen.push(ctx.attributes("role")),
  });
  handler.onConnected(conn());
  handler.onDisconnected(conn(), null);
  assert.deepEqual(seen, ["alice", "42", "c1", ["admin", "dev"]]);
  assert.deepEqual(fake.calls, []);
});

test("selections build the WIT selector in memory; the host sees it on use", () => {
  const room = clients.withGroup("room");
  const narrowed = room.except("c1", ["c2"]).withAttribute("role").withGroup("vip").withAttribute("tier", "g*");
  assert.deepEqual(fake.calls, [], "narrowing calls nobody");
  narrowed.send("Message", { a: 1 }, undefined);
  room.send("Message");
  assert.deepEqual(fake.calls, [
    [
      "send",
      selector({ groups: ["room", "vip"], attributes: [["role", null], ["tier", "g*"]], excluding: ["c1", "c2"] }),
      "Message",
      '[{"a":1},null]',
    ],
    ["send", selector({ groups: ["room"] }), "Message", "[]"],
  ]);
  assert.deepEqual(clients.all().selector, selector());
  assert.deepEqual(new Selection().selector, selector());
  assert.deepEqual(clients.connection("c9").withUser("bob").selector, selector({ connection: "c9", user: "bob" }));
  assert.deepEqual(clients.withAttribute("k", "v").except([]).selector, selector({ attributes: [["k", "v"]] }));
  assert.deepEqual(clients.withUser("bob").withUser("bob").selector, selector({ user: "bob" }));
  // A connection has one user: two different users select nobody.
  assert.deepEqual(clients.withUser("a").withUser("b").selector, selector({ connection: "", user: "a" }));
});

test("clients.caller() is the running call's connection, nobody outside a call", () => {
  assert.deepEqual(clients.caller().selector, selector({ connection: "" }));
  const handler = exportHub({
    router: new Router().method("Ping", (ctx) => clients.caller().send("Pong", ctx.connectionId)),
  });
  handler.invoke(caller({ id: "c7" }), "Ping", "[]");
  assert.deepEqual(fake.calls, [["send", selector({ connection: "c7" }), "Pong", '["c7"]']]);
  assert.deepEqual(clients.caller().selector, selector({ connection: "" }), "cleared after the call");
  const failing = exportHub({
    router: new Router().method("Fail", () => {
      throw new NotFound("x");
    }),
  });
  assert.throws(() => failing.invoke(caller({ id: "c8" }), "Fail", "[]"));
  assert.equal(clients.caller().selector.connection, "", "cleared after a failed call");
});

test("invokeOne and invokeAll return plain results", () => {
  fake.answers.invokeOne = { connectionId: "c2", user: null, value: { tag: "ok", val: '"42"' } };
  const one = clients.withUser("bob").timeout(1500).invokeOne("Question", "q?");
  assert.deepEqual(one, { connectionId: "c2", user: null, ok: true, value: "42" });
  assert.deepEqual(fake.calls[0], ["invokeOne", selector({ user: "bob" }), "Question", '["q?"]', 1500]);
  fake.answers.invokeAll = [
    { connectionId: "c1", user: "a", value: { tag: "ok", val: "null" } },
    { connectionId: "c2", user: "b", value: { tag: "err", val: "Error: busy" } },
  ];
  assert.deepEqual(clients.all().invokeAll("Question"), [
    { connectionId: "c1", user: "a", ok: true, value: null },
    { connectionId: "c2", user: "b", ok: false, error: "Error: busy" },
  ]);
  assert.deepEqual(fake.calls[1], ["invokeAll", selector(), "Question", "[]", null]);
  assert.equal(clients.withGroup("g").timeout(-5).timeoutMs, 0);
  assert.equal(clients.withGroup("g").timeout(1e20).withUser("u").timeoutMs, 0xffffffff);
  fake.answers.connectionIds = ["c1", "c2"];
  assert.deepEqual(clients.withGroup("g").connectionIds(), ["c1", "c2"]);
  assert.deepEqual(fake.calls[2], ["connectionIds", selector({ groups: ["g"] })]);
});

test("import errors are thrown as HubErrors", () => {
  fake.failNext = { tag: "no-client-responded", val: "no connection is selected" };
  assert.throws(
    () => clients.withUser("nobody").invokeOne("Question", "q"),
    (e) => e instanceof NoClientResponded && e.message === "no connection is selected",
  );
  fake.failNext = { tag: "unavailable", val: "backplane away" };
  assert.throws(() => clients.all().send("M"), (e) => e instanceof Unavailable);
  fake.failNext = { tag: "not-found", val: "connection 'x' does not exist" };
  assert.throws(() => groups.add("x", "g"), (e) => e instanceof NotFound && e.kind === "NotFound");
  fake.answers.isUserOnline = true;
  assert.equal(presence.isUserOnline("bob"), true);
  assert.deepEqual(presence.onlineUsers(), []);
});

test("arguments the WIT types as strings are checked before the host is called", () => {
  assert.throws(() => clients.withUser(5), /user must be a string, not number/);
  assert.throws(() => clients.all().withGroup(null), /group must be a string, not null/);
  assert.throws(() => clients.all().except(["c1", 2]), /connection id must be a string/);
  assert.throws(() => clients.connection(undefined), /connection id must be a string, not undefined/);
  assert.throws(() => clients.withAttribute("k", 1), /attribute value must be a string/);
  assert.throws(() => groups.add("c1", undefined), /group must be a string, not undefined/);
  assert.throws(() => presence.isUserOnline(["bob"]), /user must be a string, not an array/);
  assert.throws(() => clients.all().send(1, "x"), /method must be a string/);
  assert.throws(() => sdk.log.log("loud", "x"), /log level/);
  assert.deepEqual(fake.calls, []);
});

test("a client result that is not JSON is that client's error", () => {
  fake.answers.invokeOne = { connectionId: "c2", user: "bob", value: { tag: "ok", val: "{nope" } };
  const r = clients.withUser("bob").invokeOne("Question");
  assert.equal(r.ok, false);
  assert.match(r.error, /not JSON/);
});

test("strings sort as in Rust; trim is Rust's", () => {
  assert.deepEqual(["b", "a", "\u{1F600}", "\uFF5E", "B"].sort(compareStrings), ["B", "a", "b", "\uFF5E", "\u{1F600}"]);
  assert.equal(trim("  \u0085bob\u3000\t"), "bob");
  assert.equal(trim("\uFEFFbob"), "\uFEFFbob");
});

test("the sandbox's clock, crypto and Math.random come from the host's system import", () => {
  const g = { Date, Math: Object.create(Math), console: {} };
  installSandboxGlobals(g);
  fake.now = 1_234_567_890_123;
  assert.equal(g.Date.now(), 1_234_567_890_123);
  assert.equal(new g.Date().getTime(), 1_234_567_890_123);
  assert.equal(g.Date(), new Date(1_234_567_890_123).toString());
  assert.equal(new g.Date(5).getTime(), 5, "given values are left alone");
  assert.equal(new g.Date("2020-01-01T00:00:00Z").getTime(), 1577836800000);
  assert.equal(g.Date.UTC(2020, 0, 1), 1577836800000);
  assert.ok(new g.Date() instanceof Date && new g.Date() instanceof g.Date);
  class Later extends g.Date {}
  assert.equal(new Later().getTime(), 1_234_567_890_123);
  assert.equal(g.performance.now(), 1_234_567_890_123);
  assert.equal(g.performance.timeOrigin, 0);

  const bytes = g.crypto.getRandomValues(new Uint8Array(4));
  assert.deepEqual([...bytes], [0, 1, 2, 3]);
  const words = g.crypto.getRandomValues(new Uint16Array(new ArrayBuffer(8), 2, 2));
  assert.deepEqual([...new Uint8Array(words.buffer)], [0, 0, 4, 5, 6, 7, 0, 0]);
  assert.throws(() => g.crypto.getRandomValues(new Float64Array(1)), TypeError);
  assert.throws(() => g.crypto.getRandomValues([1, 2]), TypeError);
  assert.throws(() => g.crypto.getRandomValues(new Uint8Array(65537)), (e) => e.name === "QuotaExceededError");
  assert.equal(g.crypto.getRandomValues(new Uint8Array(65536)).length, 65536);
  fake.nextByte = 0xff;
  assert.match(g.crypto.randomUUID(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

  // Seeded from the host on first use; different seeds, different sequences.
  fake.nextByte = 1;
  const first = Array.from({ length: 1000 }, () => g.Math.random());
  assert.ok(first.every((x) => x >= 0 && x < 1));
  assert.ok(new Set(first).size === 1000);
  const mean = first.reduce((a, b) => a + b) / first.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  const other = { Date, Math: Object.create(Math), console: {} };
  installSandboxGlobals(other);
  fake.nextByte = 1;
  assert.equal(other.Math.random(), first[0], "same seed, same sequence");
  const third = { Date, Math: Object.create(Math), console: {} };
  installSandboxGlobals(third);
  fake.nextByte = 77;
  assert.notEqual(third.Math.random(), first[0]);
  assert.equal(Date.now === g.Date.now, false, "node's own Date is untouched");
});

test("at build time (before the host's first call) the clock and crypto say why they fail", async () => {
  // A fresh copy of the SDK: no export of it has been called yet.
  const fresh = await import("./wasmhub.js?build-time");
  const g = { Date, Math: Object.create(Math), console: {} };
  fresh.installSandboxGlobals(g);
  assert.throws(() => g.Date.now(), /Date\.now\(\) is not available at the top level of a hub module/);
  assert.throws(() => new g.Date(), /new Date\(\) is not available/);
  assert.throws(() => g.performance.now(), /performance\.now\(\) is not available/);
  assert.throws(() => g.crypto.getRandomValues(new Uint8Array(1)), /crypto\.getRandomValues\(\) is not available/);
  assert.equal(typeof g.Math.random(), "number", "the engine's own generator");
  assert.equal(new g.Date(7).getTime(), 7);
  fresh.exportHub({ router: new fresh.Router() }).init();
  assert.equal(g.Date.now(), fake.now);
});

test("a streaming method yields items to the host and stops when the caller cancels", () => {
  const router = new Router()
    .stream("Count", ["integer"], function* (_ctx, to) {
      for (let i = 1; i <= to; i++) yield i;
    })
    .method("Echo", ["string"], (_ctx, text) => text);
  const handler = exportHub({ router });
  handler.invokeStream({ id: "c1", user: null }, "count", "[3]");
  assert.deepEqual(fake.items, ["1", "2", "3"]);
  fake.reset();
  fake.cancelAfter = 2;
  handler.invokeStream({ id: "c1", user: null }, "Count", "[100]");
  assert.deepEqual(fake.items, ["1", "2"], "nothing after the cancel");
  assert.throws(
    () => handler.invoke({ id: "c1", user: null }, "Count", "[1]"),
    (e) =>
      e.tag === "wrong-invocation" &&
      e.val === "The client attempted to invoke the streaming 'Count' method with a non-streaming invocation.",
  );
  assert.throws(
    () => handler.invokeStream({ id: "c1", user: null }, "Echo", '["x"]'),
    (e) =>
      e.tag === "wrong-invocation" &&
      e.val === "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.",
  );
});

test("ctx.upload reads an upload stream item by item", () => {
  fake.uploads = [['"Hello "', '"world"', '"!"']];
  const router = new Router().method("Concat", (ctx) => [...ctx.upload(0)].join(""));
  const handler = exportHub({ router });
  assert.equal(handler.invoke({ id: "c1", user: null }, "Concat", "[]"), '"Hello world!"');
});

test("kv wraps the store: text values, JSON helpers, counters", () => {
  sdk.kv.set("room:a", "hi");
  assert.equal(sdk.kv.get("room:a"), "hi");
  assert.equal(sdk.kv.get("absent"), null);
  sdk.kv.setJson("room:b", [{ from: "ann" }], 5000);
  assert.deepEqual(sdk.kv.getJson("room:b"), [{ from: "ann" }]);
  assert.deepEqual(fake.calls.find((c) => c[0] === "kv.set" && c[1] === "room:b"), ["kv.set", "room:b", '[{"from":"ann"}]', 5000]);
  assert.equal(sdk.kv.increment("n", 2), 2);
  assert.deepEqual(sdk.kv.keys("room:"), ["room:a", "room:b"]);
  assert.equal(sdk.kv.delete("room:a"), true);
  assert.throws(() => sdk.kv.get(7), /key/);
});

test("fetch sends the request as fetch's init says and reads the whole response", () => {
  fake.reset();
  const response = sdk.fetch("http://api.test/echo", {
    method: "post",
    headers: { "X-Trace": "1" },
    body: "héllo ✓ 𝄞",
    timeoutMs: 1500.7,
  });
  const [, sent] = fake.calls.find((c) => c[0] === "http.send");
  assert.equal(sent.method, "POST");
  assert.equal(sent.url, "http://api.test/echo");
  assert.deepEqual(sent.headers, [["x-trace", "1"]]);
  assert.equal(sent.timeoutMs, 1500);
  assert.equal(response.status, 200);
  assert.equal(response.ok, true);
  assert.equal(response.text(), "héllo ✓ 𝄞", "UTF-8 both ways");
  assert.deepEqual([...response.bytes()], [...new TextEncoder().encode("héllo ✓ 𝄞")]);
  assert.equal(response.headers.get("Content-Type"), "text/plain");
  assert.equal(response.headers.get("set-cookie"), "a=1, b=2");
  assert.equal(response.headers.get("absent"), null);
  assert.equal(sdk.fetch("http://api.test/").text(), "", "GET, no body");
});

test("fetch: any status is a response, JSON bodies parse, host errors are HubErrors", () => {
  fake.reset();
  fake.answers.http = { status: 404, headers: [], body: new TextEncoder().encode('{"gone":true}') };
  const response = sdk.fetch("http://api.test/x");
  assert.equal(response.ok, false);
  assert.deepEqual(response.json(), { gone: true });
  fake.answers.http = { status: 200, headers: [], body: new Uint8Array([0xff, 0x41]) };
  assert.equal(sdk.fetch("http://api.test/x").text(), "\uFFFDA", "malformed UTF-8");
  assert.throws(() => sdk.fetch("http://api.test/x").json(), sdk.Internal);
  fake.failNext = { tag: "unauthorized", val: "grant it" };
  assert.throws(() => sdk.fetch("http://other.test/"), (e) => e instanceof sdk.Unauthorized && /grant it/.test(e.message));
  assert.throws(() => sdk.fetch("http://api.test/", { body: 7 }), sdk.InvalidArgument);
});

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
  clients,
  groups,
  presence,
  exportHub,
  compareStrings,
  trim,
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
  assert.deepEqual(raises(() => handler.invoke(conn(), "notfound", "[]")), { tag: "not-found", val: "no such room" });
  assert.deepEqual(raises(() => handler.invoke(conn(), "Nope", "[]")), { tag: "method-not-found", val: "Nope" });
  const bug = raises(() => handler.invoke(conn(), "Bug", "[]"));
  assert.equal(bug.tag, "internal");
  assert.match(bug.val, /^TypeError: /);
  assert.equal(fake.logs.at(-1)[0], "error");
  assert.deepEqual(raises(() => handler.invoke(conn(), "Str", "[]")), { tag: "internal", val: 'uncaught "plain"' });
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

test("selections narrow, send JSON argument lists and drop every handle", () => {
  clients.withGroup("room").except("c1", ["c2"]).withAttribute("role").send("Message", { a: 1 }, undefined);
  assert.deepEqual(fake.calls, [
    [
      "send",
      [["withGroup", "room"], ["except", ["c1", "c2"]], ["withAttribute", "role", null]],
      "Message",
      '[{"a":1},null]',
    ],
  ]);
  assert.equal(fake.live.size, 0);
});

test("invokeOne and invokeAll return plain results", () => {
  fake.answers.invokeOne = { connectionId: "c2", user: null, value: { tag: "ok", val: '"42"' } };
  const one = clients.withUser("bob").timeout(1500).invokeOne("Question", "q?");
  assert.deepEqual(one, { connectionId: "c2", user: null, ok: true, value: "42" });
  assert.deepEqual(fake.calls[0], ["invokeOne", [["withUser", "bob"]], "Question", '["q?"]', 1500]);
  fake.answers.invokeAll = [
    { connectionId: "c1", user: "a", value: { tag: "ok", val: "null" } },
    { connectionId: "c2", user: "b", value: { tag: "err", val: "Error: busy" } },
  ];
  assert.deepEqual(clients.all().invokeAll("Question"), [
    { connectionId: "c1", user: "a", ok: true, value: null },
    { connectionId: "c2", user: "b", ok: false, error: "Error: busy" },
  ]);
  assert.equal(fake.calls[1][4], null);
  assert.equal(fake.live.size, 0);
});

test("import errors are thrown as HubErrors, and handles are dropped anyway", () => {
  fake.failNext = { tag: "no-client-responded", val: "no connection is selected" };
  assert.throws(
    () => clients.withUser("nobody").invokeOne("Question", "q"),
    (e) => e instanceof NoClientResponded && e.message === "no connection is selected",
  );
  assert.equal(fake.live.size, 0);
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
  assert.throws(() => groups.add("c1", undefined), /group must be a string, not undefined/);
  assert.throws(() => presence.isUserOnline(["bob"]), /user must be a string, not an array/);
  assert.throws(() => clients.all().send(1, "x"), /method must be a string/);
  assert.throws(() => sdk.log.log("loud", "x"), /log level/);
  assert.deepEqual(fake.calls, []);
  assert.equal(fake.live.size, 0);
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

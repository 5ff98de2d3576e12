// A fake host for the SDK's unit tests: every import of the hub world
// (`wasmhub:hub/clients`, `groups`, `presence`, `caller`, `system`, `log`),
// recording calls and failing as componentize-qjs does (an Error whose
// `payload` is the WIT `{ tag, val }`). hooks.mjs maps the `wasmhub:hub/*`
// specifiers here.

/** What the tests arrange and inspect. */
export const fake = {
  calls: [],
  logs: [],
  /** Error to throw from the next import call, as `{ tag, val }`. */
  failNext: null,
  /** What invokeOne/invokeAll/connectionIds/presence calls return. */
  answers: {},
  /** The record `caller.details()` returns (null: none). */
  details: null,
  /** The time `system.now()` returns (ms since the epoch). */
  now: 1_700_000_000_000,
  /** The next byte `system.randomBytes` returns (they count up from it). */
  nextByte: 0,
  reset() {
    this.calls = [];
    this.logs = [];
    this.failNext = null;
    this.answers = {};
    this.details = null;
    this.now = 1_700_000_000_000;
    this.nextByte = 0;
    this.items = [];
    this.uploads = [];
    this.cancelAfter = undefined;
  },
};

function record(name, ...args) {
  fake.calls.push([name, ...args]);
  if (fake.failNext) {
    const payload = fake.failNext;
    fake.failNext = null;
    const error = new Error("[object Object] (see error.payload)");
    error.payload = payload;
    throw error;
  }
}

/** A deep copy of what the SDK passed, as the canonical ABI would lower it. */
const copy = (value) => JSON.parse(JSON.stringify(value));

// clients
export function send(to, method, args) {
  // One module fakes every interface: `http.send(request)` has one
  // argument, a record with a url.
  if (method === undefined && to && typeof to.url === "string") return httpSend(to);
  record("send", copy(to), method, args);
}
export function invokeOne(to, method, args, timeout) {
  record("invokeOne", copy(to), method, args, timeout);
  return fake.answers.invokeOne;
}
export function invokeAll(to, method, args, timeout) {
  record("invokeAll", copy(to), method, args, timeout);
  return fake.answers.invokeAll;
}
export function connectionIds(to) {
  record("connectionIds", copy(to));
  return fake.answers.connectionIds ?? [];
}

// groups
export function add(connectionId, group) {
  record("groups.add", connectionId, group);
}
export function remove(connectionId, group) {
  record("groups.remove", connectionId, group);
}

// presence
function presence(name, ...args) {
  record(name, ...args);
  return fake.answers[name] ?? [];
}
export const connections = () => presence("connections");
export const connectionsByUser = (user) => presence("connectionsByUser", user);
export const connectionsInGroup = (group) => presence("connectionsInGroup", group);
export const connectionsByAttribute = (key, value) => presence("connectionsByAttribute", key, value);
export const onlineUsers = () => presence("onlineUsers");
export const isUserOnline = (user) => {
  record("isUserOnline", user);
  return fake.answers.isUserOnline ?? false;
};

// caller
export function details() {
  record("details");
  return fake.details;
}

// system (not recorded in `calls`: the clock and random source are
// inspected through `now` and `nextByte`)
export const now = () => fake.now;
export function randomBytes(len) {
  const bytes = new Uint8Array(Math.min(len, 65536));
  for (let i = 0; i < bytes.length; i++) bytes[i] = fake.nextByte++ & 0xff;
  return bytes;
}

// streams
export function sendItem(item) {
  record("sendItem", item);
  fake.items = [...(fake.items ?? []), item];
  if (fake.cancelAfter !== undefined && fake.items.length >= fake.cancelAfter) {
    const error = new Error("[object Object] (see error.payload)");
    error.payload = { tag: "cancelled" };
    throw error;
  }
}
export const uploadCount = () => (fake.uploads ?? []).length;
export function nextUpload(index) {
  record("nextUpload", index);
  const items = fake.uploads?.[index];
  if (!items || items.length === 0) return undefined;
  return items.shift();
}
export const isCancelled = () => false;
export function sleep(ms) {
  record("sleep", ms);
  return true;
}

// log
export function log(level, message, fields) {
  fake.logs.push([level, message, fields]);
}

// kv: a map, as the host's memory store (no expiry here).
const store = new Map();
export const get = (key) => {
  record("kv.get", key);
  return store.get(key);
};
export const set = (key, value, ttlMs) => {
  record("kv.set", key, value, ttlMs);
  store.set(key, value);
};
function kvDelete(key) {
  record("kv.delete", key);
  return store.delete(key);
}
export { kvDelete as delete };
export const increment = (key, by) => {
  record("kv.increment", key, by);
  const sum = Number(store.get(key) ?? 0) + by;
  store.set(key, String(sum));
  return sum;
};
export const keys = (prefix, limit) => {
  record("kv.keys", prefix, limit);
  return [...store.keys()].filter((k) => k.startsWith(prefix)).sort().slice(0, limit);
};

// http: answers what `fake.answers.http` says (status 200 and an echo of
// the request by default).
function httpSend(request) {
  record("http.send", { ...request, body: [...request.body] });
  if (fake.answers.http) return fake.answers.http;
  return {
    status: 200,
    headers: [["content-type", "text/plain"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]],
    body: request.body,
  };
}

// A fake host for the SDK's unit tests: every import of the hub world
// (`wasmhub:hub/clients`, `groups`, `presence`, `log`), recording calls and
// failing as componentize-qjs does (an Error whose `payload` is the WIT
// `{ tag, val }`). hooks.mjs maps the `wasmhub:hub/*` specifiers here.

/** What the tests arrange and inspect. */
export const fake = {
  calls: [],
  logs: [],
  /** Live selection handles (dropped ones are removed). */
  live: new Set(),
  /** Error to throw from the next import call, as `{ tag, val }`. */
  failNext: null,
  /** What invokeOne/invokeAll/presence calls return. */
  answers: {},
  reset() {
    this.calls = [];
    this.logs = [];
    this.live = new Set();
    this.failNext = null;
    this.answers = {};
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

class Selection {
  constructor(steps) {
    this.steps = steps;
    fake.live.add(this);
  }
  #step(step) {
    return new Selection([...this.steps, step]);
  }
  withUser(user) { return this.#step(["withUser", user]); }
  withGroup(group) { return this.#step(["withGroup", group]); }
  withAttribute(key, value) { return this.#step(["withAttribute", key, value]); }
  except(ids) { return this.#step(["except", ids]); }
  send(method, args) {
    record("send", this.steps, method, args);
  }
  invokeOne(method, args, timeout) {
    record("invokeOne", this.steps, method, args, timeout);
    return fake.answers.invokeOne;
  }
  invokeAll(method, args, timeout) {
    record("invokeAll", this.steps, method, args, timeout);
    return fake.answers.invokeAll;
  }
  connectionIds() {
    record("connectionIds", this.steps);
    return fake.answers.connectionIds ?? [];
  }
  [Symbol.dispose]() {
    fake.live.delete(this);
  }
}

// clients
export const all = () => new Selection([["all"]]);
export const caller = () => new Selection([["caller"]]);
export const connection = (id) => new Selection([["connection", id]]);
export const withUser = (user) => new Selection([["withUser", user]]);
export const withGroup = (group) => new Selection([["withGroup", group]]);
export const withAttribute = (key, value) => new Selection([["withAttribute", key, value]]);

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

// log
export function log(level, message, fields) {
  fake.logs.push([level, message, fields]);
}

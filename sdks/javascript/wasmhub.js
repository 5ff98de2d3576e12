// wasmhub for JavaScript: write a hub as plain functions, like the Rust SDK
// (guest-sdk/). Built into a component with componentize-qjs (QuickJS):
//
//   import { Router, HubError, clients, groups, exportHub } from "../../sdks/javascript/wasmhub.js";
//
//   const router = new Router()
//     .method("Join", ["string"], (ctx, room) => groups.add(ctx.connectionId, room))
//     .method("Send", ["string", "string"], (ctx, room, text) =>
//       clients.withGroup(room).send("Message", { room, from: ctx.user, text }));
//
//   export const handler = exportHub({ router });
//
// - `Router` maps method names (case-insensitive) to handlers; a handler
//   gets the caller's `Context` and the bound arguments and returns any JSON
//   value (`undefined` is `null`). Wrong argument counts and types get
//   ASP.NET Core SignalR's texts, exactly as the Rust SDK words them.
// - `clients`, `groups`, `presence`, `log` wrap the host's imports; their
//   errors are thrown as `HubError`s (never componentize's `{ tag, val }`).
//   A selection (`clients.withGroup(room).except(id)`) is built in the
//   hub's memory; the host sees it only when it is used.
// - `Date.now()`, `new Date()`, `performance.now()`, `crypto` and
//   `Math.random()` work through the host's `system` import (every WASI
//   import of the component is a trapping stub).
// - A handler throws a `HubError` (`throw HubError.notFound("...")` or
//   `throw new NotFound("...")`) to fail a call with that kind; anything
//   else it throws becomes `internal` ("HubException: TypeError: ...").
// - Hubs keep no state in memory that must survive: an instance may be
//   recycled after any call. State belongs in groups, users and attributes.
//
// docs/hubs-javascript.md is the guide; wit/hub.wit documents every call.

import * as witClients from "wasmhub:hub/clients@0.1.0";
import * as witGroups from "wasmhub:hub/groups@0.1.0";
import * as witPresence from "wasmhub:hub/presence@0.1.0";
import * as witCaller from "wasmhub:hub/caller@0.1.0";
import * as witSystem from "wasmhub:hub/system@0.1.0";
import * as witLog from "wasmhub:hub/log@0.1.0";
import * as witStreams from "wasmhub:hub/streams@0.1.0";
import * as witKv from "wasmhub:hub/kv@0.1.0";
import * as witHttp from "wasmhub:hub/http@0.1.0";

// ---------------------------------------------------------------------------
// Errors

/** ASP.NET Core SignalR's text for arguments of the wrong type. */
export const BINDING_ERROR =
  "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.";

/** WIT case name -> the kind the client reads (`NotFound`, ...). */
const KINDS = {
  "method-not-found": "MethodNotFound",
  "invalid-argument": "InvalidArgument",
  unauthorized: "Unauthorized",
  "not-found": "NotFound",
  timeout: "Timeout",
  "no-client-responded": "NoClientResponded",
  unavailable: "Unavailable",
  internal: "Internal",
  "wrong-invocation": "WrongInvocation",
};

/**
 * Why a hub call or a host import failed: the WIT `hub-error` variant.
 * `kind` is `NotFound`, ...; `tag` the WIT case (`not-found`); `message`
 * the text it carries. The client reads `<Kind>: <message>` (`Internal`
 * reads `HubException`), or `Unknown hub method '<M>'` for MethodNotFound.
 */
export class HubError extends Error {
  constructor(message, tag = "internal") {
    super(String(message));
    if (!(tag in KINDS)) throw new TypeError(`'${tag}' is not a hub-error case`);
    this.tag = tag;
    this.kind = KINDS[tag];
    this.name = this.kind;
  }

  /** The WIT value a componentize-qjs export throws. */
  toWit() {
    return { tag: this.tag, val: this.message };
  }

  toString() {
    return `${this.kind}: ${this.message}`;
  }

  /** The subclass for a WIT `{ tag, val }` value. */
  static fromWit({ tag, val }) {
    const Class = CLASSES[tag];
    return Class ? new Class(val) : new Internal(`${tag}: ${val}`);
  }

  static methodNotFound(method) { return new MethodNotFound(method); }
  static invalidArgument(message) { return new InvalidArgument(message); }
  static unauthorized(message) { return new Unauthorized(message); }
  static notFound(message) { return new NotFound(message); }
  static timeout(message) { return new Timeout(message); }
  static noClientResponded(message) { return new NoClientResponded(message); }
  static unavailable(message) { return new Unavailable(message); }
  static internal(message) { return new Internal(message); }
}

/** No hub method has this name; carries the name the client used. */
export class MethodNotFound extends HubError { constructor(m) { super(m, "method-not-found"); } }
/** The arguments do not fit the method, or a value is not acceptable. */
export class InvalidArgument extends HubError { constructor(m) { super(m, "invalid-argument"); } }
/** The caller may not do this. */
export class Unauthorized extends HubError { constructor(m) { super(m, "unauthorized"); } }
/** A connection, user or group the call names does not exist. */
export class NotFound extends HubError { constructor(m) { super(m, "not-found"); } }
/** Something took longer than allowed. */
export class Timeout extends HubError { constructor(m) { super(m, "timeout"); } }
/** invokeOne/invokeAll got no result; the message says why. */
export class NoClientResponded extends HubError { constructor(m) { super(m, "no-client-responded"); } }
/** The host (or another node of its cluster) cannot serve this now. */
export class Unavailable extends HubError { constructor(m) { super(m, "unavailable"); } }
/** Anything else: a bug or a failure the caller cannot fix. */
export class Internal extends HubError { constructor(m) { super(m, "internal"); } }
/** A streaming method invoked without stream(), or a plain one with it;
 * the message is the client's whole error text. */
export class WrongInvocation extends HubError { constructor(m) { super(m, "wrong-invocation"); } }

const CLASSES = {
  "method-not-found": MethodNotFound,
  "invalid-argument": InvalidArgument,
  unauthorized: Unauthorized,
  "not-found": NotFound,
  timeout: Timeout,
  "no-client-responded": NoClientResponded,
  unavailable: Unavailable,
  internal: Internal,
  "wrong-invocation": WrongInvocation,
};

/** Whether `value` is a WIT `hub-error` as componentize-qjs spells it. */
function isWitError(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof value.tag === "string" &&
    value.tag in KINDS &&
    typeof value.val === "string"
  );
}

/**
 * Calls an import; componentize-qjs throws an import's `result` error as an
 * `Error` whose `payload` is the WIT `{ tag, val }`: rethrow it as a HubError.
 */
function host(call) {
  try {
    return call();
  } catch (error) {
    if (error && isWitError(error.payload)) throw HubError.fromWit(error.payload);
    throw error;
  }
}

/** Anything a handler threw, as the WIT value the export throws. */
function toWitError(error, what) {
  if (error instanceof HubError) return error.toWit();
  if (isWitError(error)) return error;
  if (error && isWitError(error.payload)) return error.payload;
  const text =
    error instanceof Error ? `${error.name}: ${error.message}` : `uncaught ${describe(error)}`;
  witLog.log("error", `${what} threw ${text}`, stackField(error));
  return { tag: "internal", val: text };
}

function stackField(error) {
  return error instanceof Error && error.stack ? [["stack", String(error.stack)]] : [];
}

function describe(value) {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

// ---------------------------------------------------------------------------
// Arguments

/**
 * The types a method's parameters may declare, with serde's wording of
 * what was expected (so that errors read as the Rust SDK's do):
 * `string`, `number` (f64), `integer` (i64), `boolean`, `array`, `object`,
 * `any`; a `?` suffix also accepts `null` (Rust's `Option<T>`). A function
 * is a custom binder: it gets the value and returns what the handler gets,
 * or throws (a HubError, or an Error whose message is the reason).
 */
const TYPES = {
  string: { expected: "a string", accepts: (v) => typeof v === "string" },
  number: { expected: "f64", accepts: (v) => typeof v === "number" },
  integer: { expected: "i64", accepts: (v, raw) => isInteger(v, raw) },
  boolean: { expected: "a boolean", accepts: (v) => typeof v === "boolean" },
  array: { expected: "a sequence", accepts: (v) => Array.isArray(v) },
  object: {
    expected: "a map",
    accepts: (v) => v !== null && typeof v === "object" && !Array.isArray(v),
  },
  any: { expected: "any value", accepts: () => true },
};

/** Turns a parameter list into binders; throws on an unknown type name. */
function compileParams(params, method) {
  if (!Array.isArray(params)) {
    throw new TypeError(`hub method '${method}': parameters must be an array of type names`);
  }
  return params.map((param, index) => {
    if (typeof param === "function") return param;
    const nullable = typeof param === "string" && param.endsWith("?");
    const name = nullable ? param.slice(0, -1) : param;
    const type = TYPES[name];
    if (!type) {
      throw new TypeError(
        `hub method '${method}': parameter ${index} has unknown type ${describe(param)} ` +
          `(use ${Object.keys(TYPES).join(", ")}, with ? for nullable, or a function)`,
      );
    }
    return (value, raw) => {
      if (nullable && value === null) return null;
      if (type.accepts(value, raw)) return value;
      throw new BindError(invalidType(value, raw, type.expected));
    };
  });
}

class BindError extends Error {}

/** serde_json's `invalid type: <what it got>, expected <what>`. */
function invalidType(value, raw, expected) {
  return `invalid type: ${unexpected(value, raw)}, expected ${expected}`;
}

/** How serde_json names a JSON value it did not expect. */
function unexpected(value, raw) {
  if (value === null) return "null";
  if (typeof value === "boolean") return `boolean \`${value}\``;
  if (typeof value === "string") return `string ${rustDebugString(value)}`;
  if (Array.isArray(value)) return "sequence";
  if (typeof value === "object") return "map";
  const integer = integerLiteral(raw);
  if (integer !== null) return `integer \`${integer}\``;
  return `floating point \`${floatText(value)}\``;
}

/** The number literal as serde_json reads it: an integer when it has no
 * fraction or exponent and fits u64/i64 (`-0` is a float), else a float. */
function integerLiteral(raw) {
  if (raw === undefined || raw === "-0" || !/^-?\d+$/.test(raw)) return null;
  const big = BigInt(raw);
  if (big > 18446744073709551615n || big < -9223372036854775808n) return null;
  return big.toString();
}

function isInteger(value, raw) {
  if (typeof value !== "number") return false;
  const integer = integerLiteral(raw ?? String(value));
  return integer !== null && BigInt(integer) <= 9223372036854775807n;
}

/** A finite f64 as serde_json prints it (the `zmij` crate: shortest digits,
 * fixed notation for exponents -5..=15 with a `.0` on whole numbers, else
 * `1.5e+300`, `1e-7`). */
function floatText(value) {
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const [mantissa, exponent] = Math.abs(value).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const e = Number(exponent);
  const sign = value < 0 ? "-" : "";
  if (e >= -5 && e <= 15) {
    if (digits.length - 1 <= e) return `${sign}${digits}${"0".repeat(e + 1 - digits.length)}.0`;
    if (e >= 0) return `${sign}${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
    return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
  }
  const fraction = digits.length > 1 ? `.${digits.slice(1)}` : "";
  return `${sign}${digits[0]}${fraction}e${e < 0 ? "-" : "+"}${Math.abs(e)}`;
}

/** Rust's `{:?}` of a string: quotes, with \" \\ \n \r \t \0 and \u{..}
 * for other control characters escaped. */
function rustDebugString(text) {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\0") out += "\\0";
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) out += `\\u{${code.toString(16)}}`;
    else out += ch;
  }
  return out + '"';
}

/**
 * The raw text of each element of a JSON array (only numbers need it: JSON
 * tells `2` from `2.0`, and serde's errors do). Assumes valid JSON.
 */
function rawElements(json) {
  const raws = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (depth === 1 && start < 0 && c !== "," && c !== "]" && !/\s/.test(c)) start = i;
    if (c === '"') {
      for (i++; i < json.length && json[i] !== '"'; i++) if (json[i] === "\\") i++;
    } else if (c === "[" || c === "{") {
      depth++;
    } else if (c === "]" || c === "}") {
      if (depth === 1 && start >= 0) raws.push(json.slice(start, i).trim());
      depth--;
    } else if (c === "," && depth === 1) {
      raws.push(json.slice(start, i).trim());
      start = -1;
    }
  }
  return raws;
}

/** Parses `json` (the invocation's JSON array) and binds it to `params`. */
function bind(json, params) {
  let values;
  try {
    values = JSON.parse(json);
  } catch (error) {
    throw new InvalidArgument(`${BINDING_ERROR} The arguments are not a JSON array: ${error.message}`);
  }
  if (!Array.isArray(values)) {
    throw new InvalidArgument(
      `${BINDING_ERROR} The arguments are not a JSON array: invalid type: ${unexpected(values, json.trim())}, expected a sequence`,
    );
  }
  if (values.length !== params.length) {
    throw new InvalidArgument(
      `Invocation provides ${values.length} argument(s) but target expects ${params.length}.`,
    );
  }
  let raws = null;
  return values.map((value, index) => {
    if (typeof value === "number" && raws === null) raws = rawElements(json);
    try {
      return params[index](value, raws ? raws[index] : undefined);
    } catch (error) {
      if (error instanceof HubError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new InvalidArgument(`${BINDING_ERROR} Argument ${index}: ${reason}`);
    }
  });
}

// ---------------------------------------------------------------------------
// Context

/** Passed to the Context constructor by the export: a caller, whose
 * details are fetched when first needed. */
const LAZY = Symbol("lazy");

/** The id of the connection whose call is running (invoke, onConnected),
 * for `clients.caller()`; null between calls. */
let currentCaller = null;

/**
 * The connection a call is about, with lookups that follow the contract's
 * naming rules. An `invoke` brings only the caller's id and user; the rest
 * (query, headers, attributes, groups, hub, node, transport) is fetched
 * from the host (`caller.details()`) the first time it is asked for, once
 * per call. onConnected and onDisconnected get the whole record at once.
 */
export class Context {
  #id;
  #user;
  #details;

  /** Upload stream `index` of the running call (0-based, in the order the
   * client attached them): an iterator of its items. */
  upload(index = 0) {
    return upload(index);
  }

  /** Wraps a whole WIT `connection` record (camelCase fields); hub authors
   * may build one in their own tests. */
  constructor(conn, lazy) {
    this.#id = conn.id;
    this.#user = conn.user ?? null;
    this.#details = lazy === LAZY ? undefined : conn;
  }

  /** The raw WIT `connection` record. In an invoke, the first use (of this
   * or of any lookup below but connectionId and user) asks the host. */
  get connection() {
    if (this.#details === undefined) this.#details = fetchDetails(this.#id, this.#user);
    return this.#details;
  }

  /** The public connection id, to address this connection later. */
  get connectionId() { return this.#id; }
  /** The user id (a JWT's `sub`, or what onConnected chose), or null. */
  get user() { return this.#user; }
  /** The hub's name, as in `/hubs/<name>`. */
  get hub() { return this.connection.hub; }
  /** The id of the node that owns the connection. */
  get node() { return this.connection.node; }
  /** The transport name, e.g. `WebSockets`. */
  get transport() { return this.connection.transport; }
  /** The groups the connection is in, sorted (as of the first lookup). */
  get groups() { return this.connection.groups; }

  /** A query parameter of the connect request, or null. An exact name
   * wins; otherwise names compare ASCII case-insensitively, as in ASP.NET. */
  query(name) {
    const pairs = this.connection.query;
    const exact = pairs.find(([key]) => key === name);
    if (exact) return exact[1];
    const folded = pairs.find(([key]) => asciiEqualFold(key, name));
    return folded ? folded[1] : null;
  }

  /** A header of the connect request (case-insensitive name), or null. */
  header(name) {
    const found = this.connection.headers.find(([key]) => asciiEqualFold(key, name));
    return found ? found[1] : null;
  }

  /** The first value of an attribute (key case-insensitive), or null. */
  attribute(key) {
    return this.attributes(key)[0] ?? null;
  }

  /** Every value of an attribute (key case-insensitive); [] when absent. */
  attributes(key) {
    const found = this.connection.attributes.find(([name]) => asciiEqualFold(name, key));
    return found ? found[1] : [];
  }

  /** Every attribute as `[key, values]` pairs, keys lowercase. */
  get allAttributes() { return this.connection.attributes; }
}

/**
 * The caller's whole record from the host. Only while the call of `id`
 * runs (a Context kept past its call must not read another caller's), and
 * an empty one (no attributes, groups, query, headers) when the host has
 * none: the caller is gone.
 */
function fetchDetails(id, user) {
  const conn = currentCaller === id ? witCaller.details() : null;
  if (conn && conn.id === id) return conn;
  return {
    id,
    user,
    hub: "",
    node: "",
    transport: "",
    attributes: [],
    groups: [],
    query: [],
    headers: [],
  };
}

function asciiEqualFold(a, b) {
  return a.length === b.length && a.replace(/[A-Z]/g, lower) === b.replace(/[A-Z]/g, lower);
}

function lower(c) {
  return c.toLowerCase();
}

// ---------------------------------------------------------------------------
// Router

/** The hub's methods by name (case-insensitive, as in ASP.NET Core). */
export class Router {
  constructor() {
    this.methods = new Map();
  }

  /**
   * Adds the method `name`. `params` lists its parameter types (see TYPES
   * above; its length is the method's arity); `handler(ctx, ...args)`
   * returns any JSON value. Omit `params` for a method without arguments.
   * Throws when `name` is taken, compared case-insensitively.
   */
  method(name, params, handler) {
    if (typeof params === "function" && handler === undefined) {
      handler = params;
      params = [];
    }
    if (typeof handler !== "function") {
      throw new TypeError(`hub method '${name}' needs a handler function`);
    }
    const key = name.toLowerCase();
    if (this.methods.has(key)) throw new Error(`hub method '${name}' is defined twice`);
    this.methods.set(key, { name, params: compileParams(params, name), handler });
    return this;
  }

  /**
   * Adds the streaming method `name`: `handler(ctx, ...args)` is a
   * generator function (or returns any iterable); the client calls it
   * with `stream()` and gets every value it yields as it is produced. The
   * stream ends when the generator returns, or early when the caller
   * cancels (the generator is closed then). `params` as for `method`.
   */
  stream(name, params, handler) {
    this.method(name, params, handler);
    this.methods.get(name.toLowerCase()).streaming = true;
    return this;
  }

  /** Whether a method of this name (any case) exists. */
  contains(name) {
    return this.methods.has(name.toLowerCase());
  }

  /** The method `name`, called the way it is meant to be (ASP.NET Core's
   * texts otherwise). */
  #entry(name, streaming) {
    const method = this.methods.get(name.toLowerCase());
    if (!method) throw new MethodNotFound(name);
    if (!!method.streaming !== streaming) {
      const [kind, how] = method.streaming ? ["streaming", "non-streaming"] : ["non-streaming", "streaming"];
      throw new WrongInvocation(
        `The client attempted to invoke the ${kind} '${method.name}' method with a ${how} invocation.`,
      );
    }
    return method;
  }

  /** Runs the streaming method `name`, handing each item (JSON text) to
   * `emit`, which returns false when the caller cancelled. */
  dispatchStream(ctx, name, args, emit) {
    const method = this.#entry(name, true);
    const values = bind(args, method.params);
    const items = method.handler(ctx, ...values);
    if (items === null || typeof items !== "object" || typeof items[Symbol.iterator] !== "function") {
      throw new Internal(`'${method.name}' must return an iterable (a generator function) to stream`);
    }
    const iterator = items[Symbol.iterator]();
    for (;;) {
      const { value, done } = iterator.next();
      if (done) return;
      let json;
      try {
        json = JSON.stringify(value === undefined ? null : value);
      } catch (error) {
        throw new Internal(`an item of '${method.name}' is not JSON: ${error.message}`);
      }
      if (!emit(json)) {
        if (typeof iterator.return === "function") iterator.return();
        return;
      }
    }
  }

  /** Runs the method `name` with `args` (JSON array text) and returns its
   * result as JSON text; throws a HubError (MethodNotFound(name) when there
   * is no such method). */
  dispatch(ctx, name, args) {
    const method = this.#entry(name, false);
    const values = bind(args, method.params);
    const result = method.handler(ctx, ...values);
    if (result !== null && typeof result === "object" && typeof result.then === "function") {
      throw new Internal(`'${method.name}' returned a Promise; hub methods are synchronous`);
    }
    let json;
    try {
      json = JSON.stringify(result === undefined ? null : result);
    } catch (error) {
      throw new Internal(`the result of '${method.name}' is not JSON: ${error.message}`);
    }
    if (json === undefined) {
      throw new Internal(`the result of '${method.name}' is not JSON: ${describe(String(result))}`);
    }
    return json;
  }
}

// ---------------------------------------------------------------------------
// Export

/**
 * The component's `handler` export for a hub:
 * `export const handler = exportHub({ router, init, onConnected, onDisconnected })`.
 *
 * - `router`: a Router (required).
 * - `init()`: runs once on every new instance and when the host loads the
 *   file; throwing there refuses the file.
 * - every method: `handler(ctx, ...args)`, `ctx` a Context of the caller.
 * - `onConnected(ctx)`: return nothing to accept the connection as is, a
 *   string or `{ user }` to accept it as that user; throw to refuse it.
 * - `onDisconnected(ctx, error)`: `error` is null after a clean close.
 */
export function exportHub({ router, init, onConnected, onDisconnected }) {
  if (!(router instanceof Router)) throw new TypeError("exportHub needs { router: new Router()... }");
  return {
    init() {
      running = true;
      try {
        if (init) init();
      } catch (error) {
        throw toWitError(error, "init");
      }
    },
    onConnected(conn) {
      running = true;
      currentCaller = conn.id;
      try {
        const accepted = onConnected ? onConnected(new Context(conn)) : undefined;
        if (accepted === undefined || accepted === null) return { user: null };
        if (typeof accepted === "string") return { user: accepted };
        return { user: accepted.user ?? null };
      } catch (error) {
        throw toWitError(error, "onConnected");
      } finally {
        currentCaller = null;
      }
    },
    onDisconnected(conn, error) {
      running = true;
      try {
        if (onDisconnected) onDisconnected(new Context(conn), error ?? null);
      } catch (thrown) {
        toWitError(thrown, "onDisconnected"); // logs it; nobody to tell
      }
    },
    // `caller` is `{ id, user }`; the Context fetches the rest if asked.
    invoke(caller, method, args) {
      running = true;
      currentCaller = caller.id;
      try {
        return router.dispatch(new Context(caller, LAZY), method, args);
      } catch (error) {
        throw toWitError(error, `'${method}'`);
      } finally {
        currentCaller = null;
      }
    },
    invokeStream(caller, method, args) {
      running = true;
      currentCaller = caller.id;
      try {
        router.dispatchStream(new Context(caller, LAZY), method, args, sendItem);
      } catch (error) {
        throw toWitError(error, `'${method}'`);
      } finally {
        currentCaller = null;
      }
    },
  };
}

// ---------------------------------------------------------------------------
// streams

/** A WIT `stream-error` as the HubError a hub sees. */
function streamError(payload) {
  switch (payload?.tag) {
    case "cancelled":
      return new Unavailable("the caller cancelled the call or left");
    case "upload-failed": // reads as `HubException: <text>`, as in ASP.NET Core
      return new Internal(payload.val);
    case "no-stream":
      return new NotFound(payload.val);
    default:
      return new InvalidArgument(payload?.val ?? String(payload));
  }
}

/** Sends one item (JSON text) of a streaming call; false once the caller
 * cancelled. */
function sendItem(json) {
  try {
    witStreams.sendItem(json);
    return true;
  } catch (error) {
    if (error?.payload?.tag === "cancelled") return false;
    throw streamError(error?.payload);
  }
}

/** The items of upload stream `index` of the running call, parsed from
 * JSON, as the client sends them. */
function* upload(index) {
  for (;;) {
    let item;
    try {
      item = witStreams.nextUpload(index);
    } catch (error) {
      throw streamError(error?.payload);
    }
    if (item === undefined || item === null) return;
    yield JSON.parse(item);
  }
}

/**
 * The running call's streams: `sleep(ms)` waits outside the hub's deadline
 * (at most the host's `--invoke-timeout` per call) and returns false when
 * the caller cancelled; `isCancelled()`; `uploadCount()`. Read an upload
 * with `ctx.upload(index)`.
 */
export const streams = {
  sleep(ms) {
    return witStreams.sleep(Math.max(0, Math.min(Math.floor(ms), 0xffffffff)));
  },
  isCancelled() {
    return witStreams.isCancelled();
  },
  uploadCount() {
    return witStreams.uploadCount();
  },
};

// ---------------------------------------------------------------------------
// clients

/** `value`, which must be a string: componentize-qjs traps (with a bare
 * wasm backtrace) on anything else passed where the WIT says `string`. */
function text(value, what) {
  if (typeof value === "string") return value;
  const kind = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
  throw new TypeError(`${what} must be a string, not ${kind}`);
}

/** An `option<string>`: null (or undefined) for none. */
function optionalText(value, what) {
  return value === undefined || value === null ? null : text(value, what);
}

/** The WIT `selector` that selects every connection of the hub. */
const EVERYONE = Object.freeze({
  connection: null,
  user: null,
  groups: Object.freeze([]),
  attributes: Object.freeze([]),
  excluding: Object.freeze([]),
});

/**
 * A set of this hub's connections, narrowed step by step and resolved by
 * the host when used: `clients.withUser("bob").except(ctx.connectionId)`.
 * Narrowing builds the WIT `selector` record in the hub's memory (no host
 * call; every condition is ANDed); each step returns a new Selection, so
 * one can be kept and narrowed several ways. Nothing to dispose.
 */
export class Selection {
  /** `selector`: the WIT record `{ connection, user, groups, attributes,
   * excluding }` (read-only); `timeoutMs`: see timeout(). */
  constructor(selector = EVERYONE, timeoutMs = null) {
    this.selector = selector;
    this.timeoutMs = timeoutMs;
  }

  #with(changes) {
    return new Selection({ ...this.selector, ...changes }, this.timeoutMs);
  }

  /** Only connections of this user. A second, different user selects
   * nobody (a connection has one user), as the host would resolve it. */
  withUser(user) {
    text(user, "user");
    const current = this.selector.user;
    // No connection has the id "": that keeps both conditions.
    if (current !== null && current !== user) return this.#with({ connection: "" });
    return this.#with({ user });
  }
  /** Only connections in this group (and in every group named before). */
  withGroup(group) {
    text(group, "group");
    return this.#with({ groups: [...this.selector.groups, group] });
  }
  /** Only connections with the attribute `key` (any value when `value` is
   * omitted, else one matching it; `*` and `?` are wildcards). */
  withAttribute(key, value = null) {
    text(key, "attribute key");
    const wanted = optionalText(value, "attribute value");
    return this.#with({ attributes: [...this.selector.attributes, [key, wanted]] });
  }
  /** Without these connections: `except(id)`, `except(a, b)` or `except([a, b])`. */
  except(...ids) {
    const list = ids.flat().map((id) => text(id, "connection id"));
    return this.#with({ excluding: [...this.selector.excluding, ...list] });
  }
  /** How long an invoke waits for each client (ms); the host's default
   * (`--invoke-timeout`) when not set. */
  timeout(ms) {
    const clamped = Math.min(Math.max(Math.round(Number(ms)), 0), 0xffffffff);
    return new Selection(this.selector, Number.isFinite(clamped) ? clamped : 0xffffffff);
  }

  /** Fire and forget: calls `method(...args)` on every selected client.
   * Nothing selected is not an error. */
  send(method, ...args) {
    text(method, "method");
    const json = encodeArgs(args);
    host(() => witClients.send(this.selector, method, json));
  }

  /** Calls `method(...args)` on one selected client at a time until one
   * answers; returns its ClientResult. Throws NoClientResponded when none
   * did (its message says why each failed). */
  invokeOne(method, ...args) {
    text(method, "method");
    const json = encodeArgs(args);
    return clientResult(host(() => witClients.invokeOne(this.selector, method, json, this.timeoutMs)));
  }

  /** Calls `method(...args)` on every selected client at once; returns a
   * ClientResult for each, answer or error, sorted by connection id. */
  invokeAll(method, ...args) {
    text(method, "method");
    const json = encodeArgs(args);
    return host(() => witClients.invokeAll(this.selector, method, json, this.timeoutMs)).map(clientResult);
  }

  /** The ids of the selected connections, sorted. */
  connectionIds() {
    return host(() => witClients.connectionIds(this.selector));
  }
}

/**
 * What one client answered: `{ connectionId, user, ok, value, error }`;
 * `ok` is true with the parsed JSON `value`, else `error` says why (what
 * its handler threw, a timeout, a disconnect).
 */
function clientResult({ connectionId, user, value }) {
  const base = { connectionId, user: user ?? null };
  if (value.tag !== "ok") return { ...base, ok: false, error: value.val };
  try {
    return { ...base, ok: true, value: JSON.parse(value.val) };
  } catch (error) {
    return { ...base, ok: false, error: `the client's result is not JSON: ${error.message}` };
  }
}

/** An argument list as the JSON array the host sends. */
function encodeArgs(args) {
  let json;
  try {
    json = JSON.stringify(args.map((arg) => (arg === undefined ? null : arg)));
  } catch (error) {
    throw new Internal(`the arguments are not JSON: ${error.message}`);
  }
  return json;
}

/** Sending to clients and asking them for results. */
export const clients = {
  /** Every connection of this hub. */
  all: () => new Selection(),
  /** The connection whose call is running (invoke, onConnected); outside
   * a call, nobody. */
  caller: () => new Selection({ ...EVERYONE, connection: currentCaller ?? "" }),
  /** One connection, by id. */
  connection: (id) => new Selection({ ...EVERYONE, connection: text(id, "connection id") }),
  /** Every connection of `user`. */
  withUser: (user) => clients.all().withUser(user),
  /** Every connection in `group`. */
  withGroup: (group) => clients.all().withGroup(group),
  /** Every connection with the attribute `key` (matching `value` if given). */
  withAttribute: (key, value = null) => clients.all().withAttribute(key, value),
};

// ---------------------------------------------------------------------------
// groups, presence, log

/** Group membership of any connection of this hub. */
export const groups = {
  /** Throws NotFound when the connection does not exist. */
  add: (connectionId, group) =>
    host(() => witGroups.add(text(connectionId, "connection id"), text(group, "group"))),
  /** Removing from a group it is not in is not an error. */
  remove: (connectionId, group) =>
    host(() => witGroups.remove(text(connectionId, "connection id"), text(group, "group"))),
};

/**
 * The hub's own key-value store, shared by every node of the cluster. Needs
 * the grant in the hub's manifest (`<name>.toml` beside the `.wasm`:
 * `[grants]` then `kv = true`); without it every call throws Unauthorized.
 * Values are strings; `getJson` / `setJson` keep JavaScript values as JSON.
 * Counters are JavaScript numbers: exact up to 2^53.
 */
export const kv = {
  /** The value of `key`; null when it is absent or expired. */
  get: (key) => host(() => witKv.get(text(key, "key"))) ?? null,
  /** Sets `key` to `value`; with `ttlMs` it expires after that long. */
  set: (key, value, ttlMs = null) =>
    host(() => witKv.set(text(key, "key"), text(value, "value"), ttlMs === null ? null : Math.max(1, Math.floor(ttlMs)))),
  /** Removes `key`; whether it was there. */
  delete: (key) => host(() => witKv.delete(text(key, "key"))),
  /** Adds `by` to the integer at `key` (0 when absent); the sum. Atomic. */
  increment: (key, by = 1) => host(() => witKv.increment(text(key, "key"), by)),
  /** The keys that start with `prefix`, sorted, at most `limit`. */
  keys: (prefix = "", limit = 1000) => host(() => witKv.keys(text(prefix, "prefix"), limit)),
  /** The value of `key` parsed as JSON; null when absent. */
  getJson(key) {
    const value = kv.get(key);
    return value === null ? null : JSON.parse(value);
  },
  /** Sets `key` to `value` as JSON. */
  setJson: (key, value, ttlMs = null) => kv.set(key, JSON.stringify(value), ttlMs),
};

// ---------------------------------------------------------------------------
// Outbound HTTP

/** UTF-8 bytes of `text` (QuickJS has no TextEncoder). */
function utf8Encode(text) {
  const bytes = [];
  for (const char of text) {
    const c = char.codePointAt(0);
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(bytes);
}

/** `bytes` read as UTF-8; malformed sequences become U+FFFD. */
function utf8Decode(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const need = b < 0x80 ? 0 : b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 && b < 0xe0 ? 1 : -1;
    let c = need === 0 ? b : need === 1 ? b & 31 : need === 2 ? b & 15 : b & 7;
    let ok = need >= 0;
    for (let k = 1; ok && k <= need; k++) {
      const next = bytes[i + k];
      if (next === undefined || (next & 0xc0) !== 0x80) ok = false;
      else c = (c << 6) | (next & 63);
    }
    if (ok && need > 0 && (c < [0, 0x80, 0x800, 0x10000][need] || c > 0x10ffff || (c >= 0xd800 && c < 0xe000))) ok = false;
    if (!ok) {
      out += "\uFFFD";
      i += 1;
      continue;
    }
    out += String.fromCodePoint(c);
    i += need + 1;
  }
  return out;
}

/** Response headers: names lowercase, one name's values together; `get`
 * joins repeated values with ", " as fetch's Headers does. */
export class Headers {
  #items;
  constructor(items = []) {
    const pairs = Array.isArray(items) ? items : items instanceof Headers ? [...items] : Object.entries(items);
    this.#items = pairs.map(([name, value]) => [String(name).toLowerCase(), String(value)]);
  }
  get(name) {
    const key = String(name).toLowerCase();
    const values = this.#items.filter(([n]) => n === key).map(([, v]) => v);
    return values.length ? values.join(", ") : null;
  }
  has(name) {
    return this.get(name) !== null;
  }
  forEach(fn) {
    for (const [name, value] of this.#items) fn(value, name, this);
  }
  entries() {
    return this.#items.map((pair) => [...pair])[Symbol.iterator]();
  }
  [Symbol.iterator]() {
    return this.entries();
  }
}

/** A whole response, shaped like fetch's: `status`, `ok`, `headers`, and
 * the body through `text()`, `json()`, `bytes()` or `arrayBuffer()`, which
 * return at once (the body is already here). */
export class Response {
  #body;
  constructor(url, status, headers, body) {
    this.url = url;
    this.status = status;
    this.ok = status >= 200 && status < 300;
    this.redirected = false;
    this.headers = new Headers(headers);
    this.#body = body instanceof Uint8Array ? body : new Uint8Array(body);
  }
  bytes() {
    return this.#body;
  }
  arrayBuffer() {
    return this.#body.slice().buffer;
  }
  text() {
    return utf8Decode(this.#body);
  }
  json() {
    try {
      return JSON.parse(this.text());
    } catch (error) {
      throw new Internal(`the response from ${this.url} is not JSON: ${error.message}`);
    }
  }
}

/** A request body as bytes: a string (UTF-8), a typed array or an
 * ArrayBuffer. */
function bodyBytes(body) {
  if (body === undefined || body === null) return new Uint8Array(0);
  if (typeof body === "string") return utf8Encode(body);
  if (body instanceof Uint8Array) return body;
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new InvalidArgument("a request body is a string, a typed array or an ArrayBuffer");
}

/**
 * Sends one HTTP request, like the web's `fetch(url, { method, headers,
 * body })`, and returns its whole `Response`: synchronously, as every host
 * call of a hub is (hub methods are synchronous); `await fetch(...)` reads
 * the same. `timeoutMs` may only shorten the hub's `http-timeout`.
 *
 * Needs the grant in the hub's manifest (`<name>.toml`: `[grants]` then
 * `http = ["api.example.com"]`) and the operator's `--http-allow`;
 * otherwise it throws Unauthorized saying which to add. No whole answer in
 * time throws Timeout; a refused connection, DNS or TLS failure or a body
 * over `http-max-response` throws Unavailable. Any status is a response.
 * Redirects are returned, not followed.
 */
export function fetch(url, init = {}) {
  const method = String(init.method ?? "GET").toUpperCase();
  const headers = [...new Headers(init.headers ?? [])];
  // Not a finite number (null, Infinity): the hub's own http-timeout.
  const timeoutMs = Number.isFinite(init.timeoutMs)
    ? Math.min(0xffffffff, Math.max(1, Math.floor(init.timeoutMs)))
    : null;
  const target = String(url);
  const answer = host(() =>
    witHttp.send({ method, url: target, headers, body: bodyBytes(init.body), timeoutMs }),
  );
  return new Response(target, answer.status, answer.headers, answer.body);
}

/**
 * Snapshots of who is connected to this hub, sorted. A connection info is
 * `{ id, user, node, groups, attributes: [[key, [values]]] }`; a user
 * presence `{ user, connections, nodes }`.
 */
export const presence = {
  connections: () => host(() => witPresence.connections()),
  connectionsByUser: (user) => host(() => witPresence.connectionsByUser(text(user, "user"))),
  connectionsInGroup: (group) => host(() => witPresence.connectionsInGroup(text(group, "group"))),
  connectionsByAttribute: (key, value = null) =>
    host(() =>
      witPresence.connectionsByAttribute(text(key, "attribute key"), optionalText(value, "attribute value")),
    ),
  onlineUsers: () => host(() => witPresence.onlineUsers()),
  isUserOnline: (user) => host(() => witPresence.isUserOnline(text(user, "user"))),
};

/** Structured fields as the WIT list of pairs: `{ a: 1 }` or `[["a", "1"]]`. */
function fieldPairs(fields) {
  if (!fields) return [];
  const entries = Array.isArray(fields) ? fields : Object.entries(fields);
  return entries.map(([key, value]) => [String(key), typeof value === "string" ? value : describe(value)]);
}

const LEVELS = ["trace", "debug", "info", "warn", "error"];

function logAt(level) {
  return (message, fields) => witLog.log(level, String(message), fieldPairs(fields));
}

/** The host's log (tagged with the hub, connection and method). */
export const log = {
  /** `level` is `trace`, `debug`, `info`, `warn` or `error`. */
  log: (level, message, fields) => {
    if (!LEVELS.includes(level)) throw new TypeError(`log level must be one of ${LEVELS.join(", ")}`);
    witLog.log(level, String(message), fieldPairs(fields));
  },
  trace: logAt("trace"),
  debug: logAt("debug"),
  info: logAt("info"),
  warn: logAt("warn"),
  error: logAt("error"),
};

// ---------------------------------------------------------------------------
// The sandbox's globals

/** Most bytes one `crypto.getRandomValues` call fills (the Web Crypto
 * limit, and what one `system.random-bytes` call returns). */
const MAX_RANDOM_BYTES = 65536;

/** The typed arrays `crypto.getRandomValues` fills (integers only). */
const INTEGER_ARRAYS = [
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array",
].flatMap((name) => (typeof globalThis[name] === "function" ? [globalThis[name]] : []));

/**
 * Whether the host has called the component: false while the module's top
 * level runs, which is when the component is built (the componentizer
 * snapshots the engine after it), where there is no host to ask; the
 * export sets it on every call (the first of an instance is `init`).
 */
let running = false;

/** Fails a host read at build time with a JavaScript error that says why,
 * rather than a trap with a bare wasm backtrace. */
function atRunTime(what) {
  if (!running) {
    throw new Error(
      `${what} is not available at the top level of a hub module (it runs when the component is built, ` +
        "where there is no host): use it in a method, init or onConnected",
    );
  }
}

/** Milliseconds since the Unix epoch, from the host. */
function hostNow(what) {
  atRunTime(what);
  return Number(witSystem.now());
}

/** `len` (at most 65536) bytes from the host's cryptographic source. */
function hostRandomBytes(len, what) {
  atRunTime(what);
  const bytes = witSystem.randomBytes(len);
  if (bytes.length !== len) throw new Error(`the host returned ${bytes.length} random bytes, not ${len}`);
  return bytes;
}

/**
 * Gives the globals that QuickJS would serve from WASI (stubbed out in a
 * hub: every WASI import traps) the host's `system` import instead, and
 * adds what QuickJS lacks:
 *
 * - `Date.now()`, `new Date()`, `Date()`: the host's clock (milliseconds);
 * - `performance.now()`: the same clock (`performance.timeOrigin` is 0, so
 *   it is wall-clock time, not monotonic: fine for measuring a call);
 * - `crypto.getRandomValues(typedArray)` (up to 65536 bytes) and
 *   `crypto.randomUUID()`: the host's cryptographic random source;
 * - `Math.random()`: a xoshiro128** generator seeded from that source on
 *   its first use in each instance (QuickJS's own is seeded when the
 *   component is built, so every instance of a build would repeat it);
 * - `console.*`: the host's log.
 *
 * Each reads the host only when called. The module's top level runs while
 * the component is built, where there is no host: there the clock and
 * `crypto` throw an Error that says so, and `Math.random()` is the
 * engine's own. The SDK installs them on its own `globalThis` inside a
 * component (not on node, which has all of these); exported for the
 * SDK's tests.
 */
export function installSandboxGlobals(g) {
  const RealDate = g.Date;
  const now = () => hostNow("Date.now()");
  const DateWithClock = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      return Reflect.construct(target, args.length === 0 ? [hostNow("new Date()")] : args, newTarget);
    },
    apply() {
      return new RealDate(hostNow("Date()")).toString();
    },
    get(target, key, receiver) {
      return key === "now" ? now : Reflect.get(target, key, receiver);
    },
  });
  define(g, "Date", DateWithClock);
  define(g, "performance", Object.freeze({ timeOrigin: 0, now: () => hostNow("performance.now()") }));
  define(g, "crypto", Object.freeze({ getRandomValues, randomUUID }));
  define(g.Math, "random", seededRandom(g.Math.random));
  if (typeof g.console === "undefined") {
    const line = (level) => (...parts) =>
      witLog.log(level, parts.map((p) => (typeof p === "string" ? p : describe(p))).join(" "), []);
    define(g, "console", {
      log: line("info"),
      info: line("info"),
      debug: line("debug"),
      trace: line("trace"),
      warn: line("warn"),
      error: line("error"),
    });
  }
}

function define(g, name, value) {
  Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
}

/** Web Crypto's `crypto.getRandomValues`. */
function getRandomValues(array) {
  if (!INTEGER_ARRAYS.some((Type) => array instanceof Type)) {
    throw new TypeError("crypto.getRandomValues needs an integer typed array (Uint8Array, ...)");
  }
  if (array.byteLength > MAX_RANDOM_BYTES) {
    const error = new Error(
      `crypto.getRandomValues: ${array.byteLength} bytes asked for, at most ${MAX_RANDOM_BYTES} at once`,
    );
    error.name = "QuotaExceededError";
    throw error;
  }
  const bytes = hostRandomBytes(array.byteLength, "crypto.getRandomValues()");
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
  return array;
}

/** Web Crypto's `crypto.randomUUID`: a version 4 UUID. */
function randomUUID() {
  const b = hostRandomBytes(16, "crypto.randomUUID()");
  const hex = [];
  for (let i = 0; i < 16; i++) {
    let byte = b[i];
    if (i === 6) byte = (byte & 0x0f) | 0x40; // version 4
    if (i === 8) byte = (byte & 0x3f) | 0x80; // RFC 4122 variant
    hex.push(byte.toString(16).padStart(2, "0"));
  }
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** `Math.random` as xoshiro128** (53-bit doubles), seeded from the host
 * on first use: the state is unseeded in the build's snapshot, so every
 * instance seeds its own. At build time (a module's top level) it is the
 * engine's own, `builtIn`. About 0.45 µs a number in QuickJS (its own
 * takes 0.05 µs), hence the state in locals and the steps inlined. */
function seededRandom(builtIn) {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let seeded = false;
  return function random() {
    if (!seeded) {
      if (!running) return builtIn();
      const seed = new Int32Array(4);
      getRandomValues(seed);
      [a, b, c, d] = seed;
      if ((a | b | c | d) === 0) d = 1; // the all-zero state never moves
      seeded = true;
    }
    // Two steps: 27 + 26 bits.
    let high = Math.imul(b, 5);
    high = Math.imul((high << 7) | (high >>> 25), 9);
    let t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = (d << 11) | (d >>> 21);
    let low = Math.imul(b, 5);
    low = Math.imul((low << 7) | (low >>> 25), 9);
    t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = (d << 11) | (d >>> 21);
    return ((high >>> 5) * 67108864 + (low >>> 6)) / 9007199254740992;
  };
}

// Inside a component only: node (the SDK's unit tests) has all of these.
if (typeof globalThis.process === "undefined" && !globalThis[Symbol.for("wasmhub.sandbox")]) {
  installSandboxGlobals(globalThis);
  globalThis[Symbol.for("wasmhub.sandbox")] = true;
}

// ---------------------------------------------------------------------------
// Helpers

/**
 * Orders strings as the host and Rust do (by Unicode code point, which is
 * UTF-8 byte order), not as `Array.prototype.sort` does (UTF-16 units):
 * `names.sort(compareStrings)`.
 */
export function compareStrings(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF: they sort
    // after every other unit, which UTF-16 order puts before 0xE000-0xFFFF.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Rust's `str::trim`: strips Unicode White_Space from both ends (unlike
 * `String.prototype.trim`, not U+FEFF, but U+0085). */
export function trim(text) {
  return text.replace(RUST_TRIM, "");
}

const WS = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const RUST_TRIM = new RegExp(`^[${WS}]+|[${WS}]+$`, "g");

// Test harness for the end-to-end suite: starts a real `wasmhub` host process
// and connects the official @microsoft/signalr client (or raw WebSockets) to it.
//
// Rules kept here and in every test file: no sleeps as synchronisation. Every
// wait is on an event, or a poll with a deadline. To prove that something did
// NOT arrive, a later marker is sent and ordering is checked.
//
// Environment:
//   WASMHUB_BIN         host binary (default <root>/target/debug/wasmhub)
//   WASMHUB_HUBS        directory with chat.wasm and testhub.wasm (default <root>/target/hubs)
//   WASMHUB_CLIENT_LOG  SignalR client log level: none (default), error, warning, information, debug, trace
//   WASMHUB_SHOW_LOGS   if set, print the host's stderr after every test (not only failed ones)
//   WASMHUB_TEST_BACKEND  memory (default) or redis: with redis, every host that startHost starts
//                       gets its own private redis-server (`--redis`); the cluster suites
//                       (tests/node/cluster/) always run their own Redis and nodes

import { execFile, spawn } from "node:child_process";
import { createHmac, sign as cryptoSign } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { before, after, beforeEach, afterEach, test } from "node:test";
import WebSocket from "ws";
import { HubConnectionBuilder, HttpTransportType, LogLevel } from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Default deadline for waits, in ms. */
export const DEADLINE = 10_000;

// ---------------------------------------------------------------------------
// Child processes

/** Every process this file spawned that has not exited yet. */
const children = new Set();

function track(child) {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function killChildren() {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
}

// A test file that crashes or is interrupted must not leave hosts or Redis
// servers behind.
process.once("exit", killChildren);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    killChildren();
    process.kill(process.pid, sig);
  });
}

/** Resolves with `{ code, signal }` when `child` exits (at once if it already has). */
function exitOf(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** A free TCP port on 127.0.0.1 (free when asked; callers retry on a clash). */
/**
 * A TCP proxy on a free loopback port to `targetPort`. `halfOpen()` makes
 * every link open now silent in both directions without closing it (what
 * a NAT that dropped the flows does); `cut()` resets every link open now
 * (a dropped connection); links made afterwards work. Returns how many
 * links it touched.
 */
export async function startTcpProxy(targetPort) {
  const links = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    const link = { client, upstream, dead: false };
    links.add(link);
    client.on("data", (d) => link.dead || upstream.write(d));
    upstream.on("data", (d) => link.dead || client.write(d));
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port,
    halfOpen() {
      for (const link of links) link.dead = true;
      return links.size;
    },
    cut() {
      const n = links.size;
      for (const link of [...links]) {
        link.client.resetAndDestroy();
        link.upstream.destroy();
      }
      return n;
    },
    async stop() {
      for (const link of links) {
        link.client.destroy();
        link.upstream.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------
// Backend

/**
 * The backend the hub-facing suites run against: `memory` (default) or
 * `redis` (WASMHUB_TEST_BACKEND=redis: every host started by startHost gets
 * a private redis-server and `--redis`).
 */
export function testBackend() {
  const value = (process.env.WASMHUB_TEST_BACKEND || "memory").trim().toLowerCase();
  if (value !== "memory" && value !== "redis") {
    throw new Error(`WASMHUB_TEST_BACKEND must be 'memory' or 'redis', not '${process.env.WASMHUB_TEST_BACKEND}'`);
  }
  return value;
}

// ---------------------------------------------------------------------------
// Redis

// WASMHUB_REDIS_SERVER / WASMHUB_REDIS_CLI: another Redis-compatible server
// (`cargo xtask test` runs the cluster suites once more with Valkey's).
const REDIS_SERVER = process.env.WASMHUB_REDIS_SERVER || "redis-server";
const REDIS_CLI = process.env.WASMHUB_REDIS_CLI || "redis-cli";

/** `redis-cli -p PORT ...args`; resolves with its stdout (trimmed), rejects on failure. */
export function redisCli(port, args, timeoutMs = 2_000) {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(" ")}: ${error.message} ${stderr}`.trim()));
      else resolve(stdout.trim());
    });
  });
}

/** A private redis-server (no persistence), see startRedis. */
export class RedisServer {
  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.child = null;
    this.output = "";
  }

  /** Whether the server process runs. */
  get running() {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts (or restarts) redis-server on this.port and waits until
   * `redis-cli ping` answers PONG (10 s at most).
   */
  async start(deadlineMs = 10_000) {
    if (this.running) throw new Error(`redis-server on port ${this.port} is already running`);
    const args = [
      "--port", String(this.port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--dir", os.tmpdir(),
      "--daemonize", "no",
    ];
    const child = track(spawn(REDIS_SERVER, args, { stdio: ["ignore", "pipe", "pipe"] }));
    this.child = child;
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d) => (this.output += d));
    child.stderr.on("data", (d) => (this.output += d));
    let spawnError = null;
    child.once("error", (e) => (spawnError = e));
    const end = Date.now() + deadlineMs;
    let last = "";
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const e = new Error(
          `redis-server on port ${this.port} exited (code ${child.exitCode}, signal ${child.signalCode}):\n${indent(this.output)}`,
        );
        e.portInUse = /address already in use/i.test(this.output);
        throw e;
      }
      if (spawnError) {
        throw new Error(
          `cannot run ${REDIS_SERVER} (${spawnError.message}): install Redis 7 (redis-server and redis-cli); ` +
            "WASMHUB_TEST_BACKEND=redis and the cluster suites in tests/node/cluster need it",
        );
      }
      try {
        last = await redisCli(this.port, ["ping"], 1_000);
        if (last === "PONG") return this;
      } catch (e) {
        last = e.message;
      }
      if (Date.now() >= end) {
        child.kill("SIGKILL");
        throw new Error(`redis-server on port ${this.port} did not answer PING within ${deadlineMs} ms (last: ${last})`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Graceful stop (SIGTERM; SIGKILL after 5 s). Keeps nothing: it has no persistence. */
  async stop() {
    if (!this.running) return;
    const child = this.child;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exitOf(child);
    clearTimeout(killer);
  }

  /** SIGKILL. */
  async kill() {
    if (!this.running) return;
    const child = this.child;
    child.kill("SIGKILL");
    await exitOf(child);
  }

  /** Sends `sig` (SIGSTOP pauses it, SIGCONT resumes it). */
  signal(sig) {
    if (this.running) this.child.kill(sig);
  }

  /** redis-cli against this server. */
  cli(...args) {
    return redisCli(this.port, args);
  }
}

/**
 * Spawns `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no`
 * on a free port and waits for PING. Returns a RedisServer: `{ port, url,
 * stop(), start() (again, on the same port), kill(), cli(...args) }`.
 */
export async function startRedis() {
  for (let attempt = 1; ; attempt++) {
    const redis = new RedisServer(await freePort());
    try {
      return await redis.start();
    } catch (e) {
      if (!e.portInUse || attempt >= 5) throw e;
    }
  }
}

// ---------------------------------------------------------------------------
// Host process

function hostPaths() {
  const bin = process.env.WASMHUB_BIN || path.join(ROOT, "target", "debug", "wasmhub");
  const hubs = process.env.WASMHUB_HUBS || path.join(ROOT, "target", "hubs");
  const problems = [];
  if (!existsSync(bin) || !statSync(bin).isFile()) {
    problems.push(`host binary not found at ${bin} (set WASMHUB_BIN)`);
  }
  for (const hub of ["chat.wasm", "testhub.wasm"]) {
    if (!existsSync(path.join(hubs, hub))) {
      problems.push(`${hub} not found in ${hubs} (set WASMHUB_HUBS)`);
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `cannot start wasmhub: ${problems.join("; ")}. ` +
        "Build the host and the hubs first: run `cargo xtask test` (it builds both and runs this suite).",
    );
  }
  return { bin, hubs };
}

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const LISTENING = /listening on (http:\/\/[0-9A-Za-z.\-:[\]]+)/;

/**
 * Spawns `wasmhub serve --hubs DIR --listen 127.0.0.1:0 ...args`, collecting
 * its output. DIR is `hubsDir` when given (a test's own directory), else
 * WASMHUB_HUBS.
 */
function spawnHost(args, hubsDir) {
  const { bin, hubs } = hostPaths();
  const full = ["serve", "--hubs", hubsDir ?? hubs, "--listen", "127.0.0.1:0", ...args];
  // The host reads WASMHUB_* settings from its environment too (e.g.
  // WASMHUB_JWT_SECRET); each test file configures its host by arguments only.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WASMHUB_")));
  const child = track(
    spawn(bin, full, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...env, NO_COLOR: "1" },
    }),
  );
  const proc = { child, out: "", err: "", exitInfo: null, describe: `${bin} ${full.join(" ")}` };
  proc.exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      proc.exitInfo = { code, signal };
      resolve(proc.exitInfo);
    });
  });
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (d) => (proc.out += d));
  child.stderr.on("data", (d) => (proc.err += d));
  return proc;
}

/** Resolves with the URL once `listening on http://...` was printed; rejects if the host exits first. */
function listeningUrl(proc, deadlineMs = 30_000) {
  const { child } = proc;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no 'listening on http://...' line within ${deadlineMs / 1000} s`)), deadlineMs);
    const check = () => {
      const m = LISTENING.exec(proc.out.replace(ANSI, ""));
      if (m) {
        cleanup();
        resolve(m[1].replace(/\/+$/, ""));
      }
    };
    const onExit = (code, signal) => fail(new Error(`host exited early (code ${code}, signal ${signal})`));
    const onError = (e) => fail(e);
    function cleanup() {
      clearTimeout(timer);
      child.stdout.off("data", check);
      child.off("exit", onExit);
      child.off("error", onError);
    }
    function fail(e) {
      cleanup();
      if (proc.exitInfo === null) child.kill("SIGKILL");
      reject(
        new Error(
          `${e.message}\n  command: ${proc.describe}\n  stdout:\n${indent(proc.out)}\n  stderr:\n${indent(proc.err)}`,
        ),
      );
    }
    // Registered after spawnHost's own listener, so proc.out already holds the chunk.
    child.stdout.on("data", check);
    child.once("exit", onExit);
    child.once("error", onError);
    check();
  });
}

/** The value of `--flag VALUE` in `args` (last one wins), or undefined. */
function flagValue(args, flag) {
  let value;
  for (let i = 0; i < args.length - 1; i++) if (args[i] === flag) value = args[i + 1];
  return value;
}

/**
 * Spawns `wasmhub serve --hubs DIR --listen 127.0.0.1:0 ...extraArgs` and waits
 * (30 s at most) for the line `listening on http://IP:PORT` on stdout.
 *
 * With WASMHUB_TEST_BACKEND=redis (or opts.backend "redis"), and unless
 * extraArgs already name `--redis`, a private redis-server is started for
 * this host and passed as `--redis`; it is stopped after the host.
 *
 * `opts.hubs` serves that directory instead of WASMHUB_HUBS (the hot-reload
 * tests give each host its own directory to change).
 *
 * @returns {Promise<{url: string, stop: () => Promise<{code, signal}>, kill: () => Promise<{code, signal}>,
 *   signal: (sig: string) => void, stderr: () => string, stdout: () => string, alive: () => boolean,
 *   exited: Promise<{code: number|null, signal: string|null}>, pid: number, args: string[],
 *   nodeId: string|undefined, redis: RedisServer|null}>}
 */
export async function startHost(extraArgs = [], opts = {}) {
  const backend = opts.backend ?? testBackend();
  let args = [...extraArgs];
  let redis = null;
  if (backend === "redis" && !args.includes("--redis")) {
    redis = await startRedis();
    args = ["--redis", redis.url, ...args];
  }
  const proc = spawnHost(args, opts.hubs);
  let url;
  try {
    url = await listeningUrl(proc);
  } catch (e) {
    if (redis) await redis.stop();
    throw e;
  }
  const { child } = proc;

  let stopping = null;
  const host = {
    url,
    pid: child.pid,
    args,
    nodeId: flagValue(args, "--node-id"),
    /** The private Redis of this host (WASMHUB_TEST_BACKEND=redis), else null. */
    redis,
    exited: proc.exited,
    stdout: () => proc.out,
    stderr: () => proc.err,
    alive: () => proc.exitInfo === null,
    /** Sends `sig` and returns at once. */
    signal(sig) {
      if (proc.exitInfo === null) child.kill(sig);
    },
    /** SIGTERM, SIGKILL after 5 s; resolves with the exit info. Stops the private Redis after. */
    stop() {
      if (stopping) return stopping;
      stopping = (async () => {
        if (proc.exitInfo === null) {
          child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
          await proc.exited;
          clearTimeout(killer);
        }
        if (redis) await redis.stop();
        return proc.exitInfo;
      })();
      return stopping;
    },
    /** SIGKILL (no cleanup in the host); resolves with the exit info. Stops the private Redis after. */
    async kill() {
      if (proc.exitInfo === null) child.kill("SIGKILL");
      const info = await proc.exited;
      if (redis) await redis.stop();
      return info;
    },
  };
  return host;
}

/**
 * Starts one node of a cluster: startHost with `--redis URL`, `--node-id ID`
 * and fast timings unless extraArgs name their own (`--heartbeat-interval
 * 200ms --node-timeout 1s`).
 *
 * @param {{redis: RedisServer|string, nodeId?: string, extraArgs?: string[],
 *   heartbeatInterval?: string, nodeTimeout?: string}} opts
 */
export async function startNode({ redis, nodeId, extraArgs = [], heartbeatInterval = "200ms", nodeTimeout = "1s" }) {
  if (!redis) throw new Error("startNode needs { redis }");
  const args = ["--redis", typeof redis === "string" ? redis : redis.url];
  if (nodeId !== undefined) args.push("--node-id", nodeId);
  if (!extraArgs.includes("--heartbeat-interval")) args.push("--heartbeat-interval", heartbeatInterval);
  if (!extraArgs.includes("--node-timeout")) args.push("--node-timeout", nodeTimeout);
  return startHost([...args, ...extraArgs], { backend: "memory" });
}

/**
 * Runs `wasmhub serve ... extraArgs` expecting it NOT to start: resolves with
 * `{ code, signal, stdout, stderr, started }` once it exits (deadline
 * `deadlineMs`). If it prints `listening on` instead, it is killed and
 * `started` is true.
 */
export async function runHostExpectingExit(extraArgs, deadlineMs = DEADLINE) {
  const proc = spawnHost(extraArgs);
  let started = false;
  try {
    // Rejects when the host exits, or kills it after the deadline.
    await listeningUrl(proc, deadlineMs);
    started = true;
    proc.child.kill("SIGKILL");
  } catch {
    /* exited (or killed at the deadline): see code and signal */
  }
  const { code, signal } = await proc.exited;
  return { code, signal, started, stdout: proc.out.replace(ANSI, ""), stderr: proc.err.replace(ANSI, "") };
}

function indent(s) {
  const text = s.replace(ANSI, "").trimEnd();
  return text === "" ? "    (empty)" : text.split("\n").map((l) => "    " + l).join("\n");
}

/**
 * Registers before/after hooks in the current describe(): one host for the
 * suite, every connection made through `fx.connect` stopped at the end, and
 * the host's log printed for each failed test.
 */
export function useHost(extraArgs = []) {
  const fx = {
    host: null,
    get url() {
      return fx.host.url;
    },
    connections: new Set(),
    /** connect() to this host; the connection is stopped after the suite. */
    async connect(hubPath, opts = {}) {
      const conn = await connect(fx.host.url, hubPath, opts);
      fx.connections.add(conn);
      return conn;
    },
    /** rawConnect() to this host; closed after the suite. */
    async raw(hubPath, opts = {}) {
      const r = await rawConnect(fx.host.url, hubPath, opts);
      fx.connections.add(r);
      return r;
    },
  };
  let mark = 0;
  before(async () => {
    fx.host = await startHost(extraArgs);
  });
  after(async () => {
    await Promise.allSettled([...fx.connections].map((c) => c.stop()));
    if (fx.host) await fx.host.stop();
  });
  beforeEach(() => {
    mark = fx.host ? fx.host.stderr().length : 0;
  });
  afterEach((t) => {
    if (!fx.host) return;
    if (!t.passed || process.env.WASMHUB_SHOW_LOGS) {
      const log = fx.host.stderr().slice(mark);
      if (log.trim() === "" && fx.host.alive()) return;
      console.error(
        `--- wasmhub log during '${t.name}' (host ${fx.host.alive() ? "alive" : "EXITED"}) ---\n` +
          indent(log) +
          "\n--- end ---",
      );
    }
  });
  return fx;
}

/**
 * Registers before/after hooks in the current describe() for a cluster: one
 * private redis-server, then the nodes of `nodes` ([{ id, extraArgs,
 * heartbeatInterval, nodeTimeout }], started in order with startNode). Every
 * node (also those started later with `cl.startNode`) and every connection
 * made through `cl.connect`/`cl.raw` is stopped after the suite, and each
 * failed test prints the log of every node.
 *
 * `cl.node(id)` is the newest node started with that id.
 */
export function useCluster({ nodes = [] } = {}) {
  const marks = new Map();
  const cl = {
    redis: null,
    /** Every node started, in order (restarted ones too). */
    all: [],
    connections: new Set(),
    node(id) {
      const found = cl.all.filter((n) => n.nodeId === id).at(-1);
      if (!found) throw new Error(`no node '${id}' was started`);
      return found;
    },
    /** startNode on this cluster's Redis; stopped after the suite. */
    async startNode(id, opts = {}) {
      const node = await startNode({ redis: cl.redis, nodeId: id, ...opts });
      cl.all.push(node);
      marks.set(node, 0);
      return node;
    },
    /**
     * connect() to `node` (a node or its id); stopped after the suite.
     * `opts.ready`: `[method, ...args]` invoked once after the start. The host
     * answers the handshake before it registers the connection and runs
     * on-connected, so a completed invocation is what shows the connection
     * is fully accepted; tests that are not about that moment use it.
     */
    async connect(node, hubPath, opts = {}) {
      const n = typeof node === "string" ? cl.node(node) : node;
      const conn = await connect(n.url, hubPath, opts);
      conn.node = n.nodeId;
      cl.connections.add(conn);
      if (opts.ready) await conn.invoke(...opts.ready);
      return conn;
    },
    /** rawConnect() to `node`; closed after the suite. */
    async raw(node, hubPath, opts = {}) {
      const n = typeof node === "string" ? cl.node(node) : node;
      const r = await rawConnect(n.url, hubPath, opts);
      cl.connections.add(r);
      return r;
    },
  };
  before(async () => {
    cl.redis = await startRedis();
    for (const { id, ...opts } of nodes) await cl.startNode(id, opts);
  });
  after(async () => {
    await Promise.allSettled([...cl.connections].map((c) => c.stop()));
    await Promise.allSettled(cl.all.map((n) => n.stop()));
    if (cl.redis) await cl.redis.stop();
  });
  beforeEach(() => {
    for (const n of cl.all) marks.set(n, n.stderr().length);
  });
  afterEach((t) => {
    if (t.passed && !process.env.WASMHUB_SHOW_LOGS) return;
    for (const n of cl.all) {
      const log = n.stderr().slice(marks.get(n) ?? 0);
      if (log.trim() === "" && n.alive()) continue;
      console.error(
        `--- wasmhub log of node '${n.nodeId}' (${n.url}) during '${t.name}' (${n.alive() ? "alive" : "EXITED"}) ---\n` +
          indent(log) +
          "\n--- end ---",
      );
    }
  });
  return cl;
}

/** A test with a timeout, so that a hung promise fails instead of hanging the suite. */
export function spec(name, fn, timeoutMs = 30_000) {
  return test(name, { timeout: timeoutMs }, fn);
}

// ---------------------------------------------------------------------------
// SignalR client

function clientLogLevel() {
  const v = (process.env.WASMHUB_CLIENT_LOG || "none").toLowerCase();
  const map = {
    none: LogLevel.None,
    critical: LogLevel.Critical,
    error: LogLevel.Error,
    warning: LogLevel.Warning,
    warn: LogLevel.Warning,
    information: LogLevel.Information,
    info: LogLevel.Information,
    debug: LogLevel.Debug,
    trace: LogLevel.Trace,
  };
  return map[v] ?? LogLevel.None;
}

/** `base + path`, with `query` (object or string) appended. */
export function hubUrl(base, hubPath, query) {
  let url = base.replace(/\/+$/, "") + hubPath;
  let qs = "";
  if (typeof query === "string") qs = query.replace(/^\?/, "");
  else if (query && typeof query === "object") {
    qs = Object.entries(query)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join("&");
  }
  if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  return url;
}

/**
 * [transport, protocol] cells, as the official functional tests run them
 * (MessagePack is binary: Server-Sent Events cannot carry it).
 */
export const MATRIX = [
  ["WebSockets", "json"],
  ["WebSockets", "messagepack"],
  ["ServerSentEvents", "json"],
  ["LongPolling", "json"],
  ["LongPolling", "messagepack"],
];

/**
 * Builds a HubConnection, registers handlers and starts it.
 *
 * opts: query (object or string), accessTokenFactory, headers, handlers
 * ({method: fn}), record ([method names] to record into inboxes before the
 * start), skipNegotiation (implies WebSockets), transport (an
 * HttpTransportType or its name: "WebSockets", "ServerSentEvents",
 * "LongPolling"), protocol ("json", the default, or "messagepack"),
 * statefulReconnect (true or the options of `withStatefulReconnect`), start
 * (default true), reconnect (true, an array of delays in ms or an
 * IRetryPolicy: `withAutomaticReconnect`).
 *
 * The returned connection has `closed` (a promise of the onclose error) and
 * `closeError` (undefined until it closed); with `reconnect`, also
 * `reconnecting` (a promise of the error passed to onreconnecting).
 */
export async function connect(url, hubPath, opts = {}) {
  const options = {};
  if (opts.accessTokenFactory) options.accessTokenFactory = opts.accessTokenFactory;
  if (opts.headers) options.headers = opts.headers;
  if (opts.skipNegotiation) {
    options.skipNegotiation = true;
    options.transport = HttpTransportType.WebSockets;
  } else if (opts.transport !== undefined) {
    options.transport =
      typeof opts.transport === "string" ? HttpTransportType[opts.transport] : opts.transport;
  }
  const builder = new HubConnectionBuilder()
    .withUrl(hubUrl(url, hubPath, opts.query), options)
    .configureLogging(clientLogLevel());
  if (opts.protocol === "messagepack") builder.withHubProtocol(new MessagePackHubProtocol());
  else if (opts.protocol !== undefined && opts.protocol !== "json") throw new Error(`unknown protocol ${opts.protocol}`);
  if (opts.statefulReconnect === true) builder.withStatefulReconnect();
  else if (opts.statefulReconnect) builder.withStatefulReconnect(opts.statefulReconnect);
  if (opts.reconnect === true) builder.withAutomaticReconnect();
  else if (opts.reconnect) builder.withAutomaticReconnect(opts.reconnect);
  const conn = builder.build();
  conn.isClosed = false;
  if (opts.reconnect) {
    conn.reconnecting = new Promise((resolve) => conn.onreconnecting((error) => resolve(error)));
  }
  conn.closed = new Promise((resolve) => {
    conn.onclose((error) => {
      conn.isClosed = true;
      conn.closeError = error;
      for (const q of inboxes.get(conn)?.values() ?? []) q.end(`connection closed: ${error ?? "no error"}`);
      resolve(error);
    });
  });
  for (const [method, fn] of Object.entries(opts.handlers ?? {})) conn.on(method, fn);
  for (const method of opts.record ?? []) inbox(conn, method);
  if (opts.start !== false) await conn.start();
  return conn;
}

/**
 * Starts a connection that the server is expected to refuse and returns the
 * error the client reports: either start() rejects, or start() succeeds and
 * onclose fires with an error (the server sent a Close after the handshake).
 */
export async function connectRefused(url, hubPath, opts = {}, deadlineMs = DEADLINE) {
  const conn = await connect(url, hubPath, { ...opts, start: false });
  try {
    await conn.start();
  } catch (e) {
    return e;
  }
  const error = await withDeadline(conn.closed, deadlineMs, "onclose of a connection the server should refuse");
  if (error === undefined) {
    throw new Error("the connection was closed without an error; expected a refusal with a reason");
  }
  return error;
}

// ---------------------------------------------------------------------------
// Waiting

/** Rejects if `promise` does not settle within `ms`. */
export function withDeadline(promise, ms, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`deadline of ${ms} ms passed waiting for ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/** Polls `predicate` (may be async) until it returns a truthy value, which is returned. */
export async function waitFor(predicate, deadlineMs = DEADLINE, what = "condition", intervalMs = 20) {
  const end = Date.now() + deadlineMs;
  let lastError;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= end) {
      throw new Error(
        `deadline of ${deadlineMs} ms passed waiting for ${what}` + (lastError ? `; last error: ${lastError}` : ""),
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Polls `fn` (may be async) until `check(value)` is truthy, or, when `check`
 * is not a function, until the value deep-equals it. Resolves with `{ value,
 * elapsed }` (ms since the call); on the deadline, rejects naming the last
 * value (or error) seen.
 */
export async function eventually(fn, check, deadlineMs = DEADLINE, what = "condition", intervalMs = 20) {
  const ok = typeof check === "function" ? check : (v) => isDeepStrictEqual(v, check);
  const start = Date.now();
  let last = "(nothing yet)";
  for (;;) {
    try {
      const value = await fn();
      if (ok(value)) return { value, elapsed: Date.now() - start };
      last = `value ${JSON.stringify(value)}`;
    } catch (e) {
      last = `error ${e?.message ?? e}`;
    }
    if (Date.now() - start >= deadlineMs) {
      const wanted = typeof check === "function" ? "" : ` (wanted ${JSON.stringify(check)})`;
      throw new Error(`deadline of ${deadlineMs} ms passed waiting for ${what}${wanted}; last: ${last}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A FIFO with deadline-bounded reads. */
export class Queue {
  constructor(label = "queue") {
    this.label = label;
    this.all = []; // everything ever pushed, in arrival order
    this.consumed = new Set(); // indices already returned by next()
    this.waiters = [];
    this.ended = null; // why no more items will come
  }
  /** No more items will come: waits that find nothing fail at once with `reason`. */
  end(reason) {
    if (this.ended === null) this.ended = reason;
    for (const w of this.waiters.splice(0)) w();
  }
  push(item) {
    this.all.push(item);
    for (const w of this.waiters.splice(0)) w();
  }
  get length() {
    return this.all.length;
  }
  /** Everything pushed so far and not returned by next(), in arrival order. */
  pending() {
    return this.all.filter((_, i) => !this.consumed.has(i));
  }
  /** Waits for the oldest unread item matching `predicate` (default: any); returns it. */
  async next(deadlineMs = DEADLINE, predicate = () => true) {
    const end = Date.now() + deadlineMs;
    for (;;) {
      for (let i = 0; i < this.all.length; i++) {
        if (!this.consumed.has(i) && predicate(this.all[i])) {
          this.consumed.add(i);
          return this.all[i];
        }
      }
      if (this.ended !== null) {
        throw new Error(
          `${this.label} ended (${this.ended}) while waiting; unread: ${JSON.stringify(this.pending())}`,
        );
      }
      const left = end - Date.now();
      if (left <= 0) {
        throw new Error(
          `deadline of ${deadlineMs} ms passed waiting for ${this.label}; unread: ${JSON.stringify(this.pending())}`,
        );
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

const inboxes = new WeakMap();

/**
 * The inbox of `method` calls on `conn` (created and registered on first use:
 * call it before triggering the messages, or use connect's `record` option).
 * Items are argument arrays; `inbox.all` keeps every call in arrival order.
 */
export function inbox(conn, method) {
  let map = inboxes.get(conn);
  if (!map) {
    map = new Map();
    inboxes.set(conn, map);
  }
  const key = method.toLowerCase();
  let q = map.get(key);
  if (!q) {
    q = new Queue(`'${method}' on connection ${conn.connectionId ?? "(no id)"}`);
    map.set(key, q);
    conn.on(method, (...args) => q.push(args));
  }
  return q;
}

/** The first argument of the next `method` call on `conn`. */
export async function nextMessage(conn, method, deadlineMs = DEADLINE, predicate = () => true) {
  const args = await inbox(conn, method).next(deadlineMs, (a) => predicate(a[0], a));
  return args[0];
}

/** Awaits `promise`, which must reject; returns the error. */
export async function rejection(promise, deadlineMs = DEADLINE, what = "a rejection") {
  let value;
  try {
    value = await withDeadline(promise, deadlineMs, what);
  } catch (e) {
    return e;
  }
  throw new Error(`expected ${what}, but it resolved with ${JSON.stringify(value)}`);
}

/** A promise with its resolve/reject exposed. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// ---------------------------------------------------------------------------
// JWT (HS256) without a library

function b64url(input) {
  return Buffer.from(input).toString("base64").replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/**
 * A JWT for `claims`, HS256 with a secret (default) or RS256 with a private
 * key (`alg: "RS256"`). `exp` defaults to one hour from now (exp: null omits it).
 */
export function makeJwt(claims, key, alg = "HS256") {
  const now = Math.floor(Date.now() / 1000);
  const body = { iat: now, exp: now + 3600, ...claims };
  if (body.exp === null) delete body.exp;
  const head = b64url(JSON.stringify({ alg, typ: "JWT" }));
  const payload = b64url(JSON.stringify(body));
  const input = `${head}.${payload}`;
  let sig;
  if (alg === "HS256") sig = createHmac("sha256", key).update(input).digest("base64url");
  else if (alg === "RS256") sig = cryptoSign("sha256", Buffer.from(input), key).toString("base64url");
  else throw new Error(`makeJwt: unsupported alg ${alg}`);
  return `${input}.${sig}`;
}

// ---------------------------------------------------------------------------
// Raw WebSocket client (no SignalR client): the JSON hub protocol by hand.

export const RS = "\x1e";

/**
 * Opens a raw WebSocket to the hub. opts: negotiate (default false: connect
 * without id, like skipNegotiation), negotiateVersion (default 1), query,
 * headers, handshake (default true: send the JSON handshake and check the
 * `{}` answer).
 */
export async function rawConnect(base, hubPath, opts = {}) {
  let id = null;
  let negotiation = null;
  if (opts.negotiate) {
    const v = opts.negotiateVersion ?? 1;
    const q = { ...(opts.query ?? {}) };
    if (v > 0) q.negotiateVersion = v;
    const nurl = hubUrl(base, hubPath + "/negotiate", q);
    const res = await fetch(nurl, { method: "POST", headers: opts.headers });
    if (res.status !== 200) throw new Error(`negotiate answered ${res.status}`);
    negotiation = await res.json();
    id = negotiation.connectionToken ?? negotiation.connectionId;
  }
  let url = hubUrl(base, hubPath, opts.query).replace(/^http/, "ws");
  if (id !== null) url += (url.includes("?") ? "&" : "?") + `id=${encodeURIComponent(id)}`;
  const raw = new RawConnection(url, opts.headers);
  raw.negotiation = negotiation;
  await raw.opened;
  if (opts.handshake !== false) {
    raw.send(`{"protocol":"json","version":1}${RS}`);
    const first = await raw.nextRecord();
    if (first !== "{}") throw new Error(`handshake answered ${JSON.stringify(first)}, expected {}`);
    raw.handshakeRecords = 1;
  }
  return raw;
}

export class RawConnection {
  constructor(url, headers) {
    this.url = url;
    this.frames = new Queue("raw frames"); // every text frame as received
    this.records = new Queue("raw records"); // record texts (without the separator)
    this.buffer = "";
    this.ws = new WebSocket(url, { headers });
    this.closeInfo = null;
    this.unexpected = null;
    this.handshakeRecords = 0; // records that belong to the handshake (left out of messages())
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_req, res) => {
        this.unexpected = res;
        const e = new Error(`WebSocket upgrade answered ${res.statusCode}`);
        e.statusCode = res.statusCode;
        reject(e);
        res.resume();
      });
    });
    this.opened.catch(() => {});
    this.ws.on("error", () => {});
    this.closed = new Promise((resolve) => {
      this.ws.once("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        const why = `socket closed with ${code} ${this.closeInfo.reason}`.trim();
        this.frames.end(why);
        this.records.end(why);
        resolve(this.closeInfo);
      });
    });
    this.ws.on("message", (data, isBinary) => {
      const text = isBinary ? Buffer.from(data).toString("utf8") : data.toString();
      this.frames.push(text);
      this.buffer += text;
      let i;
      while ((i = this.buffer.indexOf(RS)) >= 0) {
        this.records.push(this.buffer.slice(0, i));
        this.buffer = this.buffer.slice(i + 1);
      }
    });
  }
  /** Sends one text frame. */
  send(text) {
    this.ws.send(text);
  }
  /** Sends `obj` as one JSON record (with the separator) in one frame. */
  sendJson(obj) {
    this.ws.send(JSON.stringify(obj) + RS);
  }
  /** The next record text. */
  nextRecord(deadlineMs = DEADLINE) {
    return this.records.next(deadlineMs);
  }
  /** The next parsed message; pings (type 6) skipped unless `keepPings`. */
  async nextMessage(deadlineMs = DEADLINE, { keepPings = false, predicate = () => true } = {}) {
    const rec = await this.records.next(deadlineMs, (r) => {
      let m;
      try {
        m = JSON.parse(r);
      } catch {
        return true;
      }
      if (!keepPings && m && m.type === 6) return false;
      return predicate(m);
    });
    return JSON.parse(rec);
  }
  /** The Completion for `invocationId`. */
  completion(invocationId, deadlineMs = DEADLINE) {
    return this.nextMessage(deadlineMs, { predicate: (m) => m.type === 3 && m.invocationId === invocationId });
  }
  /** Invokes `target` with `args` under `invocationId` and returns its Completion. */
  async invoke(invocationId, target, args) {
    this.sendJson({ type: 1, invocationId, target, arguments: args });
    return this.completion(invocationId);
  }
  /** Parsed hub messages received so far (handshake and pings excluded). */
  messages() {
    return this.records.all
      .slice(this.handshakeRecords)
      .map((r) => {
        try {
          return JSON.parse(r);
        } catch {
          return { unparsable: r };
        }
      })
      .filter((m) => m.type !== 6);
  }
  async stop() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
    }
    await withDeadline(this.closed, 5_000, "raw socket close").catch(() => {});
  }
}

/** POSTs to `<hub>/negotiate` (query appended) and returns { status, body, json }. */
export async function negotiate(base, hubPath, query, init = {}) {
  const res = await fetch(hubUrl(base, hubPath + "/negotiate", query), { method: "POST", ...init });
  const body = await res.text();
  let json = null;
  try {
    json = JSON.parse(body);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, json, headers: res.headers };
}

const METRICS_PARSER = path.join(ROOT, "tests", "python", "parse_metrics.py");

/**
 * GETs `<url>/metrics` and parses it with Prometheus's own Python parser
 * (prometheus_client, in the Python of WASMHUB_PYTHON_CLIENTS, which
 * `cargo xtask test` installs). Returns { types, samples, value, sum }:
 * `value(name, labels)` is the first sample whose labels include `labels`
 * (0 when there is none), `sum(name, labels)` adds up every such sample.
 */
export async function scrapeMetrics(url) {
  const python = process.env.WASMHUB_PYTHON_CLIENTS;
  if (!python) {
    throw new Error(
      "WASMHUB_PYTHON_CLIENTS is not set: it names a Python with prometheus_client installed " +
        "(`cargo xtask test` makes target/tools/pyclients from tests/python/requirements.txt)",
    );
  }
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const type = res.headers.get("content-type") ?? "";
  if (!type.startsWith("text/plain; version=0.0.4")) throw new Error(`GET /metrics has content-type ${type}`);
  const text = await res.text();
  const child = spawn(python, [METRICS_PARSER], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise((resolve) => child.on("close", resolve));
  child.stdin.end(text);
  const code = await withDeadline(exited, 10_000, "the metrics parser");
  if (code !== 0) throw new Error(`prometheus_client refused /metrics (exit ${code}): ${err}\n${text}`);
  const parsed = JSON.parse(out);
  const matching = (name, labels) =>
    parsed.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    ...parsed,
    value: (name, labels = {}) => matching(name, labels)[0]?.value ?? 0,
    sum: (name, labels = {}) => matching(name, labels).reduce((n, s) => n + s.value, 0),
  };
}

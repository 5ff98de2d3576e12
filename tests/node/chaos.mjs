#!/usr/bin/env node
// Chaos soak: three wasmhub nodes on one Redis, a few hundred official
// SignalR clients in rooms under steady traffic (room sends, whispers,
// invoke-all polls), while faults are injected: a node SIGKILLed (and
// started again), Redis restarted empty, the pub/sub connections killed, a
// node paused (SIGSTOP / SIGCONT) past its node timeout, a client that
// stops reading. Every message is accounted for: what each client that
// was connected throughout should have received, what it did, and what was
// lost only inside a fault window (from the fault until presence converged
// again). Prints a table and exits 1 on any loss outside a fault window, a
// ghost left in presence, or a live user missing from it.
//
//   node tests/node/chaos.mjs [--duration 60] [--clients 120] [--rooms 12]
//                             [--rate 0.5] [--spacing SECONDS] [--json FILE]
//
// Each of the five faults runs at least once, `--spacing` seconds apart
// (default: spread over the run); longer runs repeat them.
//
// Needs WASMHUB_BIN / WASMHUB_HUBS like the other node tests, and
// redis-server (or WASMHUB_REDIS_SERVER). `cargo xtask test` runs a short
// pass through tests/node/cluster/chaos.test.mjs.

import { parseArgs } from "node:util";
import { writeFileSync } from "node:fs";
import { startRedis, startNode, connect, rawConnect, withDeadline } from "./harness.mjs";

const CHAT = "/hubs/chat";
const NODES = ["node-a", "node-b", "node-c"];
// Node timings: a dead or paused node is swept within about 1.2 s.
const HEARTBEAT = "200ms";
const NODE_TIMEOUT = "1s";
// A delivery that has not arrived this long after its send returned and
// outside every fault window is lost.
const GRACE_MS = 1_500;
// A fault window ends at least this long after the fault ended, and not
// before presence agrees again on every node.
const SETTLE_MS = 2_000;
const CONVERGE_DEADLINE_MS = 20_000;

const { values: opts } = parseArgs({
  options: {
    duration: { type: "string", default: "60" },
    clients: { type: "string", default: "120" },
    rooms: { type: "string", default: "12" },
    rate: { type: "string", default: "0.5" },
    spacing: { type: "string" },
    json: { type: "string" },
    quiet: { type: "boolean", default: false },
  },
});
const DURATION_MS = Number(opts.duration) * 1000;
const CLIENTS = Number(opts.clients);
const ROOMS = Number(opts.rooms);
const RATE = Number(opts.rate); // operations per client per second
const log = (...args) => opts.quiet || console.error(`[chaos ${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...args);
const T0 = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// The cluster

const redis = await startRedis();
const nodes = new Map(); // id -> host
const nodeArgs = ["--write-timeout", "1s", "--outbound-buffer", "256KiB", "--invoke-timeout", "3s"];
async function startClusterNode(id) {
  const host = await startNode({ redis, nodeId: id, heartbeatInterval: HEARTBEAT, nodeTimeout: NODE_TIMEOUT, extraArgs: nodeArgs });
  nodes.set(id, host);
  return host;
}
for (const id of NODES) await startClusterNode(id);

// ---------------------------------------------------------------------------
// Clients and what they should and did receive

/** @type {Map<string, Client>} */
const clients = new Map();
let nextClient = 0;

class Client {
  constructor(name, node, room) {
    this.name = name;
    this.node = node;
    this.room = room;
    this.conn = null;
    this.joinedAt = null; // member of its room from then on
    this.leftAt = null; // not counted on from then on (killed node, stalled, closed)
    this.received = new Set();
    this.seq = 0;
  }
  /** Connected and in its room over [from, to]. */
  presentDuring(from, to) {
    return this.joinedAt !== null && this.joinedAt <= from && (this.leftAt === null || this.leftAt >= to);
  }
}

async function addClient(node, room) {
  const name = `u${nextClient++}`;
  const c = new Client(name, node, room);
  c.conn = await connect(nodes.get(node).url, CHAT, {
    query: { name },
    handlers: {
      Message: (m) => {
        if (m && typeof m.text === "string" && m.text.startsWith("m:")) c.received.add(m.text);
      },
      Question: (q) => `a:${name}:${q}`,
    },
  });
  c.conn.onclose(() => {
    if (c.leftAt === null) c.leftAt = Date.now();
  });
  await c.conn.invoke("Join", room);
  c.joinedAt = Date.now();
  clients.set(name, c);
  return c;
}

const roomOf = (i) => `room-${i % ROOMS}`;
for (let i = 0; i < CLIENTS; i++) await addClient(NODES[i % NODES.length], roomOf(i));
log(`${CLIENTS} clients connected over ${NODES.length} nodes, ${ROOMS} rooms`);

// ---------------------------------------------------------------------------
// Traffic

/** Every message sent: { id, kind, to: [names expected], sentAt, doneAt, ok } */
const sent = [];
const polls = { asked: 0, answered: 0, errorsInWindow: 0, errorsOutside: 0, errors: [] };
let running = true;

function liveClients() {
  return [...clients.values()].filter((c) => c.leftAt === null && c.joinedAt !== null);
}

async function operate(c) {
  const roll = Math.random();
  const id = `m:${c.name}:${c.seq++}`;
  const sentAt = Date.now();
  if (roll < 0.7) {
    const record = { id, kind: "room", room: c.room, sentAt, doneAt: null, ok: false };
    sent.push(record);
    try {
      await c.conn.invoke("Send", c.room, id);
      record.ok = true;
    } catch {
      /* not expected anywhere */
    }
    record.doneAt = Date.now();
  } else if (roll < 0.95) {
    const others = liveClients().filter((o) => o !== c);
    if (others.length === 0) return;
    const target = others[Math.floor(Math.random() * others.length)];
    const record = { id, kind: "whisper", user: target.name, sentAt, doneAt: null, ok: false };
    sent.push(record);
    try {
      await c.conn.invoke("Whisper", target.name, id);
      record.ok = true;
    } catch {
      /* the target may be gone: not expected */
    }
    record.doneAt = Date.now();
  } else {
    polls.asked++;
    try {
      const answers = await c.conn.invoke("Poll", c.room, id);
      for (const a of answers) {
        if (a.answer !== undefined) polls.answered++;
        else if (inWindow(sentAt, Date.now())) polls.errorsInWindow++;
        else {
          polls.errorsOutside++;
          polls.errors.push(`${a.user}: ${a.error}`);
        }
      }
    } catch {
      /* Unavailable during an outage */
    }
  }
}

async function drive(c) {
  while (running && c.leftAt === null) {
    await sleep((1000 / RATE) * (0.5 + Math.random()));
    if (!running || c.leftAt !== null) return;
    await operate(c).catch(() => {});
  }
}
const drivers = new Set();
function startDriving(c) {
  const d = drive(c).finally(() => drivers.delete(d));
  drivers.add(d);
}
for (const c of clients.values()) startDriving(c);

// ---------------------------------------------------------------------------
// Faults

/** { name, start, end, converged (ms after end), windowEnd } */
const faults = [];
function inWindow(from, to) {
  return faults.some((f) => f.start <= to && (f.windowEnd === null || f.windowEnd >= from));
}

/** Presence from every live node, until each lists exactly the live users. */
async function converge() {
  const t0 = Date.now();
  for (;;) {
    const want = liveClients()
      .map((c) => c.name)
      .sort();
    let ok = true;
    for (const c of pickObservers()) {
      try {
        const online = await withDeadline(c.conn.invoke("Online"), 3_000, "Online");
        if (JSON.stringify(online) !== JSON.stringify(want)) ok = false;
      } catch {
        ok = false;
      }
    }
    if (ok) return Date.now() - t0;
    if (Date.now() - t0 > CONVERGE_DEADLINE_MS) return null;
    await sleep(100);
  }
}

/** One live client per live node, to ask presence. */
function pickObservers() {
  const byNode = new Map();
  for (const c of liveClients()) if (!byNode.has(c.node)) byNode.set(c.node, c);
  return [...byNode.values()];
}

async function fault(name, inject) {
  const f = { name, start: Date.now(), end: null, converged: null, windowEnd: null };
  faults.push(f);
  log(`fault: ${name}`);
  await inject();
  f.end = Date.now();
  f.converged = await converge();
  f.windowEnd = Math.max(f.end + SETTLE_MS, Date.now());
  log(`  ${name}: converged ${f.converged === null ? "NEVER" : `${f.converged} ms`} after the fault ended`);
}

const FAULTS = [
  [
    "pub/sub connections killed (CLIENT KILL TYPE pubsub)",
    async () => {
      await redis.cli("CLIENT", "KILL", "TYPE", "pubsub");
    },
  ],
  [
    "a client stops reading (zero window), its room flooded",
    async () => {
      const room = `stall-room-${faults.length}`;
      const raw = await rawConnect(nodes.get("node-a").url, CHAT, { query: { name: `stalled-${faults.length}` } });
      await raw.invoke("j", "Join", [room]);
      raw.ws._socket.pause();
      stalled.push(raw);
      // 30 KB messages until its queue overflows: it must leave presence.
      const flooder = liveClients().find((c) => c.node !== "node-c");
      const big = "f".repeat(30_000);
      for (let i = 0; i < 400; i++) {
        await flooder.conn.invoke("Send", room, big).catch(() => {});
        if (i % 25 === 24) {
          const who = await flooder.conn.invoke("Who", room).catch(() => ["?"]);
          if (who.length === 0) break;
        }
      }
    },
  ],
  [
    "node-c paused (SIGSTOP 2 s, past its node timeout)",
    async () => {
      nodes.get("node-c").signal("SIGSTOP");
      await sleep(2_000); // the fault's duration
      nodes.get("node-c").signal("SIGCONT");
    },
  ],
  [
    "Redis restarted empty",
    async () => {
      await redis.stop();
      await sleep(1_000); // the outage's duration
      await redis.start();
    },
  ],
  [
    "node-b killed (SIGKILL), started again with new clients",
    async () => {
      const now = Date.now();
      await nodes.get("node-b").kill();
      for (const c of clients.values()) if (c.node === "node-b" && c.leftAt === null) c.leftAt = now;
      await sleep(1_500); // down for longer than its node timeout
      await startClusterNode("node-b");
      const lost = [...clients.values()].filter((c) => c.node === "node-b" && c.leftAt === now);
      for (const old of lost) {
        const c = await addClient("node-b", old.room);
        startDriving(c);
      }
    },
  ],
];
const stalled = [];

// The faults, one after another after a warm-up: each at least once.
const warmup = Math.min(5_000, DURATION_MS / 10);
const end = T0 + DURATION_MS;
const spacing = opts.spacing ? Number(opts.spacing) * 1000 : Math.max(6_000, (DURATION_MS - warmup) / FAULTS.length);
for (let k = 0; ; k++) {
  const at = T0 + warmup + k * spacing;
  if (k >= FAULTS.length && at + spacing > end) break;
  if (at > Date.now()) await sleep(at - Date.now()); // the schedule, not a synchronisation
  const [name, inject] = FAULTS[k % FAULTS.length];
  await fault(name, inject);
}
if (end > Date.now()) await sleep(end - Date.now());
running = false;
await withDeadline(Promise.allSettled([...drivers]), 10_000, "the traffic to stop").catch(() => {});
await sleep(GRACE_MS); // the last deliveries' grace (a duration, not a synchronisation)

// ---------------------------------------------------------------------------
// Accounting

const totals = { sent: 0, expected: 0, delivered: 0, lostInWindow: 0, lostOutside: 0 };
const outsideExamples = [];
for (const m of sent) {
  if (!m.ok) continue;
  totals.sent++;
  const to =
    m.kind === "room"
      ? [...clients.values()].filter((c) => c.room === m.room)
      : [...clients.values()].filter((c) => c.name === m.user);
  for (const c of to) {
    if (!c.presentDuring(m.sentAt, m.doneAt + GRACE_MS)) continue;
    totals.expected++;
    if (c.received.has(m.id)) totals.delivered++;
    else if (inWindow(m.sentAt, m.doneAt + GRACE_MS)) totals.lostInWindow++;
    else {
      totals.lostOutside++;
      if (outsideExamples.length < 10) outsideExamples.push(`${m.id} (${m.kind}) to ${c.name} on ${c.node}`);
    }
  }
}

// Ghosts: who presence lists that is not connected, on every node.
const finalConverge = await converge();
const want = new Set(liveClients().map((c) => c.name));
const ghosts = new Set();
const missing = new Set();
for (const c of pickObservers()) {
  const online = await c.conn.invoke("Online").catch(() => []);
  for (const u of online) if (!want.has(u)) ghosts.add(`${u} (listed by ${c.node})`);
  for (const u of want) if (!online.includes(u)) missing.add(`${u} (not listed by ${c.node})`);
}

const maxConverge = Math.max(...faults.map((f) => (f.converged === null ? Infinity : f.converged)));
const rows = [
  ["faults injected", faults.length],
  ["messages sent (accepted)", totals.sent],
  ["deliveries expected", totals.expected],
  ["delivered", totals.delivered],
  ["lost inside fault windows", totals.lostInWindow],
  ["lost outside fault windows", totals.lostOutside],
  ["poll answers / errors in windows / errors outside", `${polls.answered} / ${polls.errorsInWindow} / ${polls.errorsOutside}`],
  ["ghosts in presence after the run", ghosts.size],
  ["live users missing from presence", missing.size],
  ["max time to converge after a fault", Number.isFinite(maxConverge) ? `${maxConverge} ms` : "never"],
];
const table = [
  `| chaos run: ${opts.duration} s, ${CLIENTS} clients, ${ROOMS} rooms, ${RATE} ops/s each | |`,
  "| --- | ---: |",
  ...rows.map(([k, v]) => `| ${k} | ${v} |`),
  "",
  "| fault | converged after |",
  "| --- | ---: |",
  ...faults.map((f) => `| ${f.name} | ${f.converged === null ? "never" : `${f.converged} ms`} |`),
].join("\n");
console.log(table);
if (outsideExamples.length) console.log(`\nlost outside fault windows, e.g.:\n  ${outsideExamples.join("\n  ")}`);
if (ghosts.size) console.log(`\nghosts: ${[...ghosts].join(", ")}`);
if (missing.size) console.log(`\nmissing: ${[...missing].join(", ")}`);
if (polls.errors.length) console.log(`\npoll errors outside windows, e.g.:\n  ${polls.errors.slice(0, 5).join("\n  ")}`);
if (opts.json) writeFileSync(opts.json, JSON.stringify({ totals, polls, faults, ghosts: [...ghosts], missing: [...missing], finalConverge }, null, 2));

// ---------------------------------------------------------------------------
// Teardown

await Promise.allSettled([...clients.values()].map((c) => c.conn.stop()));
for (const raw of stalled) await raw.stop().catch(() => {});
await Promise.allSettled([...nodes.values()].map((n) => n.stop()));
await redis.stop();
const failed =
  totals.lostOutside > 0 || ghosts.size > 0 || missing.size > 0 || polls.errorsOutside > 0 || finalConverge === null || totals.delivered === 0;
process.exit(failed ? 1 : 0);

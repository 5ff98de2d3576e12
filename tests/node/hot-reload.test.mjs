// Hot reload of the hubs directory: a new `<name>.wasm` adds a hub, a changed
// file swaps it (validated first: a refused file never serves), a removed
// file retires it. Each test runs its own host on its own temporary copy of
// the hubs directory, with `--compile-cache off` so that the user's cache is
// never touched.
//
// Versions that behave alike but differ in bytes (and sha256) are testhub
// with a custom section appended; chat.wasm under the name of a testhub copy
// is a version with observably different code (it has no `Echo`).
// Every swap is confirmed by the sha256 that /healthz reports.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  ROOT,
  connect,
  deferred,
  eventually,
  nextMessage,
  negotiate,
  rawConnect,
  rejection,
  scrapeMetrics,
  startHost,
  withDeadline,
} from "./harness.mjs";

const HUBS = process.env.WASMHUB_HUBS || path.join(ROOT, "target", "hubs");
const TEST_HUBS = process.env.WASMHUB_TEST_HUBS || path.join(ROOT, "target", "test-hubs");

/** The hub every test swaps; it starts as a copy of testhub.wasm. */
const SWAP = "/hubs/swap";

/** How long a swap may take to show in /healthz (debounce + compile + init). */
const SWAP_DEADLINE = 10_000;

// ---------------------------------------------------------------------------
// Hub files

/** The bytes of a built hub: `dir` is HUBS or TEST_HUBS. */
function hubFile(dir, file) {
  const full = path.join(dir, file);
  if (!existsSync(full)) {
    throw new Error(`${full} not found: run \`cargo xtask test\` (it builds target/hubs and target/test-hubs)`);
  }
  return readFileSync(full);
}

const testhub = () => hubFile(HUBS, "testhub.wasm");
const chat = () => hubFile(HUBS, "chat.wasm");

/** Hex sha256, as /healthz reports it. */
function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

function leb128(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return Buffer.from(out);
}

/**
 * `component` with a custom section appended (id 0, size, name, payload):
 * different bytes and sha256, identical behaviour.
 */
function variant(component, tag) {
  const name = Buffer.from("wasmhub-test-variant");
  const body = Buffer.concat([leb128(name.length), name, Buffer.from(String(tag))]);
  return Buffer.concat([component, Buffer.from([0]), leb128(body.length), body]);
}

/**
 * Writes `bytes` in place (open with truncation, then `chunks` writes),
 * pausing `pauseMs` between chunks: a slow writer, as a copy over a network
 * or an editor saving in parts. The pauses are the writer's behaviour, not
 * synchronisation.
 */
async function writeInChunks(file, bytes, chunks, pauseMs) {
  const handle = await open(file, "w");
  try {
    const size = Math.ceil(bytes.length / chunks);
    for (let offset = 0; offset < bytes.length; offset += size) {
      if (offset > 0) await new Promise((r) => setTimeout(r, pauseMs));
      await handle.write(bytes, offset, Math.min(size, bytes.length - offset));
    }
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------
// One host on its own hubs directory

/**
 * A temporary hubs directory holding copies of chat.wasm and testhub.wasm,
 * `swap.wasm` (a copy of testhub.wasm) and `files` ({ name: bytes }), served
 * by a host started with `--compile-cache off` and `args`.
 */
async function reloadHost({ files = {}, args = [] } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "wasmhub-reload-"));
  const initial = { "chat.wasm": chat(), "testhub.wasm": testhub(), "swap.wasm": testhub(), ...files };
  for (const [name, bytes] of Object.entries(initial)) writeFileSync(path.join(dir, name), bytes);
  const connections = new Set();

  const env = {
    dir,
    /** The first host; `hosts` holds it and any started with env.startHost. */
    host: null,
    hosts: [],
    get url() {
      return env.host.url;
    },
    file: (name) => path.join(dir, name),
    /** Another host on the same directory (stopped with the first). */
    async startHost(extra) {
      const host = await startHost(["--compile-cache", "off", ...extra], { hubs: dir });
      env.hosts.push(host);
      return host;
    },
    /** The official client on `host` (default: the first host). */
    async connect(hubPath, opts = {}, host = env.host) {
      const conn = await connect(host.url, hubPath, opts);
      connections.add(conn);
      return conn;
    },
    async raw(hubPath, opts = {}) {
      const raw = await rawConnect(env.url, hubPath, opts);
      connections.add(raw);
      return raw;
    },
    /** Replaces `name` the way deploy tools do: write a temp file, rename it over. */
    put(name, bytes) {
      const temp = env.file(`${name}.tmp`);
      writeFileSync(temp, bytes);
      renameSync(temp, env.file(name));
    },
    async health(host = env.host) {
      const res = await fetch(`${host.url}/healthz`);
      assert.equal(res.status, 200);
      return res.json();
    },
    /** The /healthz entry of hub `name`, or undefined. */
    async hub(name, host = env.host) {
      return (await env.health(host)).hubs.find((h) => h.name === name);
    },
    /** Waits until `name` serves the file with `sha` and has no lastError. */
    async waitServing(name, sha, host = env.host) {
      const { value } = await eventually(
        () => env.hub(name, host),
        (h) => h !== undefined && h.sha256 === sha && h.lastError === undefined,
        SWAP_DEADLINE,
        `hub '${name}' to serve ${sha.slice(0, 12)}.. without lastError`,
      );
      return value;
    },
    /**
     * Waits until /healthz names the file with `sha` as `name`'s lastError,
     * and fails at once if that file serves instead.
     */
    async waitRefused(name, sha) {
      const { value } = await eventually(
        () => env.hub(name),
        (h) => h?.lastError?.sha256 === sha || h?.sha256 === sha,
        SWAP_DEADLINE,
        `hub '${name}' to refuse ${sha.slice(0, 12)}..`,
      );
      assert.notEqual(value.sha256, sha, `the file that should be refused serves: ${JSON.stringify(value)}`);
      return value;
    },
    async close() {
      await Promise.allSettled([...connections].map((c) => c.stop()));
      await Promise.allSettled(env.hosts.map((h) => h.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    env.host = await env.startHost(args);
  } catch (e) {
    await env.close();
    throw e;
  }
  return env;
}

/**
 * A test with its own host (see reloadHost); the hosts' logs are printed
 * when it fails (always with WASMHUB_SHOW_LOGS).
 */
function reloadSpec(name, setup, body, timeoutMs = 40_000) {
  return test(name, { timeout: timeoutMs }, async () => {
    const env = await reloadHost(setup);
    let failed = true;
    try {
      await body(env);
      failed = false;
    } finally {
      if (failed || process.env.WASMHUB_SHOW_LOGS) {
        for (const host of env.hosts) {
          console.error(
            `--- wasmhub log (${host.args.join(" ")}) during '${name}' ---\n${host.stderr().trimEnd()}\n--- end ---`,
          );
        }
      }
      await env.close();
    }
  });
}

// ---------------------------------------------------------------------------
// Swaps

reloadSpec("32 clients calling Echo in a loop through 12 swaps: no failed call, no closed connection", {}, async (env) => {
  const CLIENTS = 32;
  const SWAPS = 12;
  const versions = [variant(testhub(), "a"), variant(testhub(), "b")];
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => env.connect(SWAP)));

  let running = true;
  let served = 0;
  const failures = [];
  const loops = clients.map(async (conn, i) => {
    for (let n = 0; running; n++) {
      const message = `client ${i} call ${n}`;
      try {
        const answer = await conn.invoke("Echo", message);
        if (answer === message) served++;
        else failures.push(`${message}: answered ${JSON.stringify(answer)}`);
      } catch (e) {
        failures.push(`${message}: ${e.message}`);
        if (conn.isClosed) return;
      }
    }
  });

  // The load is on once every client has had an answer.
  await eventually(() => served, (n) => n >= CLIENTS, 10_000, "the first calls to be served");
  const servedBefore = served;
  const t0 = Date.now();
  for (let i = 0; i < SWAPS; i++) {
    const bytes = versions[i % 2];
    // Both ways of replacing a file: renamed over, and rewritten in place.
    if (i % 2 === 0) env.put("swap.wasm", bytes);
    else writeFileSync(env.file("swap.wasm"), bytes);
    await env.waitServing("swap", sha256(bytes));
  }
  const duringSwaps = served - servedBefore;
  const took = Date.now() - t0;
  running = false;
  await withDeadline(Promise.all(loops), 10_000, "the call loops to stop");

  console.log(
    `hot reload under load: ${CLIENTS} clients, ${SWAPS} swaps in ${took} ms, ` +
      `${duringSwaps} calls served during the swaps, ${served} in all, ${failures.length} failed`,
  );
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} calls failed`);
  const closed = clients.filter((c) => c.isClosed).map((c) => `${c.connectionId}: ${c.closeError}`);
  assert.deepEqual(closed, [], "connections closed during the swaps");
  assert.ok(duringSwaps > 0, "no call was served during the swaps");
  // Every connection is still served, by the last version.
  for (const [i, conn] of clients.entries()) assert.equal(await conn.invoke("Echo", `after ${i}`), `after ${i}`);
});

reloadSpec("a file written in place in chunks, or renamed in, serves; temp files next to it are ignored", {}, async (env) => {
  const conn = await env.connect(SWAP);

  // Four chunks, 100 ms apart: the whole write outlasts the 250 ms debounce,
  // no single pause does.
  const inPlace = variant(testhub(), "in place");
  await writeInChunks(env.file("swap.wasm"), inPlace, 4, 100);
  await env.waitServing("swap", sha256(inPlace));
  assert.equal(await conn.invoke("Echo", "after in-place"), "after in-place");

  const renamed = variant(testhub(), "renamed");
  writeFileSync(env.file("incoming.tmp"), renamed);
  renameSync(env.file("incoming.tmp"), env.file("swap.wasm"));
  await env.waitServing("swap", sha256(renamed));
  assert.equal(await conn.invoke("Echo", "after rename"), "after rename");

  // Editor and copy temp files, valid components or not, are no hubs.
  writeFileSync(env.file("swap.wasm.tmp"), randomBytes(4096));
  writeFileSync(env.file(".swap.wasm.swp"), variant(testhub(), "swp"));
  writeFileSync(env.file("swap.wasm~"), variant(testhub(), "backup"));
  writeFileSync(env.file(".hidden.wasm"), variant(testhub(), "hidden"));
  // A hub written after them is the marker: once it serves, the temp files'
  // events (older, debounced alike) have been dealt with.
  const marker = variant(testhub(), "marker");
  env.put("marker.wasm", marker);
  await env.waitServing("marker", sha256(marker));

  const health = await env.health();
  assert.deepEqual(
    health.hubs.map((h) => h.name),
    ["chat", "marker", "swap", "testhub"],
  );
  const swap = health.hubs.find((h) => h.name === "swap");
  assert.equal(swap.sha256, sha256(renamed));
  assert.equal(swap.lastError, undefined, `lastError: ${JSON.stringify(swap.lastError)}`);
  assert.equal(await conn.invoke("Echo", "still"), "still");
});

reloadSpec("a call running when the file is swapped finishes on the version it started on", {}, async (env) => {
  const handlerCalled = deferred();
  const answer = deferred();
  const asker = await env.connect(SWAP, {
    handlers: {
      Result: () => {
        handlerCalled.resolve();
        return answer.promise;
      },
    },
  });
  const other = await env.connect(SWAP);

  // testhub's ClientResult asks the caller's `Result` handler and returns
  // its value; the handler answers only after the swap.
  const pending = asker.invoke("ClientResult", "Result");
  await withDeadline(handlerCalled.promise, 10_000, "the client's Result handler to be called");

  const next = chat();
  env.put("swap.wasm", next);
  await env.waitServing("swap", sha256(next));
  // A new invocation runs chat, which has no Echo.
  const e = await rejection(other.invoke("Echo", "x"), 10_000, "Echo on chat to fail");
  assert.equal(e.message, "Unknown hub method 'Echo'");

  answer.resolve({ answer: 42 });
  assert.deepEqual(await withDeadline(pending, 10_000, "ClientResult to complete"), { answer: 42 });
  // The asker's next invocation runs chat too.
  const e2 = await rejection(asker.invoke("Echo", "y"), 10_000, "Echo on chat to fail");
  assert.equal(e2.message, "Unknown hub method 'Echo'");
  assert.deepEqual(await asker.invoke("Who", "nowhere"), []);
});

reloadSpec("connections keep their user, groups and attributes across swaps and run the new code", {}, async (env) => {
  const alice = await env.connect(SWAP, { query: { user: "alice", "@role": "admin" }, record: ["Message"] });
  await alice.invoke("AddToGroup", alice.connectionId, "lobby");
  assert.deepEqual(await alice.invoke("GroupMembers", "lobby"), [alice.connectionId]);

  // To chat: its Who lists the users in a room (a group), Send talks to it.
  const chatBytes = chat();
  env.put("swap.wasm", chatBytes);
  await env.waitServing("swap", sha256(chatBytes));
  assert.deepEqual(await alice.invoke("Who", "lobby"), ["alice"]);
  await alice.invoke("Send", "lobby", "hello after the swap");
  assert.deepEqual(await nextMessage(alice, "Message"), { room: "lobby", from: "alice", text: "hello after the swap" });

  // And back to testhub.
  const back = variant(testhub(), "back");
  env.put("swap.wasm", back);
  await env.waitServing("swap", sha256(back));
  assert.deepEqual(await alice.invoke("GroupMembers", "lobby"), [alice.connectionId]);
  assert.equal(await alice.invoke("GetUser"), "alice");
  assert.deepEqual(await alice.invoke("GetAttributes"), { role: ["admin"] });
  assert.equal(alice.isClosed, false, `alice was closed: ${alice.closeError}`);
  assert.equal(alice.state, "Connected");
});

// ---------------------------------------------------------------------------
// Refused files

const REFUSED = [
  { what: "random bytes", bytes: () => randomBytes(64 * 1024), why: /./ },
  { what: "a truncated testhub.wasm", bytes: () => testhub().subarray(0, 50_000), why: /./ },
  { what: "the uses-fs fixture", bytes: () => hubFile(TEST_HUBS, "uses-fs.wasm"), why: /wasi:filesystem/ },
  { what: "the trap-on-init fixture", bytes: () => hubFile(TEST_HUBS, "trap-on-init.wasm"), why: /init|panic/i },
  // Its start code loops inside instantiation: refused at the deadline,
  // and the watcher goes on (the good file below still swaps in).
  {
    what: "the loop-on-start fixture",
    bytes: () => hubFile(TEST_HUBS, "loop-on-start.wasm"),
    why: /start-up check.*ran past its deadline of 1s/,
    args: ["--hub-deadline", "1s"],
  },
];

for (const { what, bytes, why, args = [] } of REFUSED) {
  reloadSpec(`${what} is refused: the previous version serves on, lastError says why until a good file lands`, { args }, async (env) => {
    const serving = sha256(testhub());
    const conn = await env.connect(SWAP);
    assert.equal(await conn.invoke("Echo", "before"), "before");

    const bad = bytes();
    env.put("swap.wasm", bad);
    const refused = await env.waitRefused("swap", sha256(bad));
    assert.equal(refused.sha256, serving, "the refused file replaced the serving one");
    assert.match(refused.lastError.message, why);
    assert.ok(!Number.isNaN(Date.parse(refused.lastError.at)), `lastError.at: ${refused.lastError.at}`);
    console.log(`refused ${what}: ${refused.lastError.message.split("\n")[0]}`);

    // Calls keep working, on the old connection and on a new one.
    assert.equal(await conn.invoke("Echo", "after"), "after");
    const fresh = await env.connect(SWAP);
    assert.equal(await fresh.invoke("Echo", "fresh"), "fresh");

    const good = variant(testhub(), "good");
    env.put("swap.wasm", good);
    await env.waitServing("swap", sha256(good));
    assert.equal(await conn.invoke("Echo", "good"), "good");
  });
}

reloadSpec("a file whose name cannot be a hub name (chat:user:x.wasm) is refused, naming why", {}, async (env) => {
  const bytes = testhub();
  env.put("chat:user:x.wasm", bytes);
  const refused = await env.waitRefused("chat:user:x", sha256(bytes));
  assert.equal(refused.sha256, null, "nothing serves under that name");
  assert.match(refused.lastError.message, /'chat:user:x' cannot be a hub name: ':' is not allowed/);
  const res = await fetch(`${env.url}/hubs/chat:user:x/negotiate?negotiateVersion=1`, { method: "POST" });
  assert.equal(res.status, 404);
  // The other hubs are untouched.
  const conn = await env.connect("/hubs/chat", { query: { name: "ann" } });
  assert.deepEqual(await conn.invoke("Online"), ["ann"]);
});

reloadSpec("the serving file's bytes written again change nothing, and clear a refusal", {}, async (env) => {
  const published = () => env.host.stderr().split("\n").filter((l) => /hub published.*hub=swap/.test(l)).length;
  const serving = testhub();
  const conn = await env.connect(SWAP);
  const before = await env.hub("swap");
  const publishedBefore = published();

  const bad = randomBytes(1024);
  env.put("swap.wasm", bad);
  await env.waitRefused("swap", sha256(bad));
  // The serving file again: no new version, and the refusal is gone.
  env.put("swap.wasm", serving);
  const after = await env.waitServing("swap", sha256(serving));
  assert.equal(after.loadedAt, before.loadedAt);
  assert.equal(published(), publishedBefore, "the same bytes were published again");
  assert.equal(await conn.invoke("Echo", "same"), "same");
});

reloadSpec("a hub whose only file was refused is listed with sha256 null and its lastError", { files: { "broken.wasm": randomBytes(4096) } }, async (env) => {
  const broken = await env.hub("broken");
  assert.ok(broken, "broken is not listed in /healthz");
  assert.equal(broken.sha256, null);
  assert.equal(broken.lastError.sha256, sha256(readFileSync(env.file("broken.wasm"))));
  assert.ok(broken.lastError.message.length > 0);
  assert.equal((await negotiate(env.url, "/hubs/broken")).status, 404);

  const good = variant(testhub(), "repaired");
  env.put("broken.wasm", good);
  await env.waitServing("broken", sha256(good));
  assert.equal((await negotiate(env.url, "/hubs/broken")).status, 200);
  const conn = await env.connect("/hubs/broken");
  assert.equal(await conn.invoke("Echo", "repaired"), "repaired");
});

// ---------------------------------------------------------------------------
// Delete and re-add, bursts, --watch false

reloadSpec("a deleted file retires the hub: clients are closed with allowReconnect; re-added, it serves again", {}, async (env) => {
  const CLOSE = "The hub 'swap' is no longer served here.";
  const raw = await env.raw(SWAP, { negotiate: true });
  assert.equal((await raw.invoke("1", "Echo", ["raw"])).result, "raw");
  const plain = await env.connect(SWAP);
  const reconnecting = await env.connect(SWAP, { reconnect: { nextRetryDelayInMilliseconds: () => 100 } });
  const reconnected = new Promise((resolve) => reconnecting.onreconnected(resolve));
  const bystander = await env.connect("/hubs/testhub");

  unlinkSync(env.file("swap.wasm"));
  const close = await raw.nextMessage(SWAP_DEADLINE, { predicate: (m) => m.type === 7 });
  assert.equal(close.error, CLOSE, `Close record: ${JSON.stringify(close)}`);
  assert.equal(close.allowReconnect, true, `Close record: ${JSON.stringify(close)}`);
  await withDeadline(raw.closed, 5_000, "the raw socket to close");
  const closeError = await withDeadline(plain.closed, 5_000, "onclose of the client without reconnect");
  assert.ok(closeError?.message.includes(CLOSE), `onclose error: ${closeError}`);
  const reconnectError = await withDeadline(reconnecting.reconnecting, 5_000, "onreconnecting");
  assert.ok(reconnectError?.message.includes(CLOSE), `onreconnecting error: ${reconnectError}`);

  assert.equal(await env.hub("swap"), undefined, "swap is still listed in /healthz");
  assert.equal((await negotiate(env.url, SWAP)).status, 404);
  assert.equal(await bystander.invoke("Echo", "unaffected"), "unaffected");

  const again = variant(testhub(), "again");
  env.put("swap.wasm", again);
  await env.waitServing("swap", sha256(again));
  assert.equal((await negotiate(env.url, SWAP)).status, 200);
  const fresh = await env.connect(SWAP);
  assert.equal(await fresh.invoke("Echo", "back"), "back");
  // The client that kept retrying is back too.
  await withDeadline(reconnected, SWAP_DEADLINE, "the reconnecting client to reconnect");
  assert.equal(await reconnecting.invoke("Echo", "reconnected"), "reconnected");
});

reloadSpec("a burst of 10 writes ends serving the last one, with no refusal left", {}, async (env) => {
  const conn = await env.connect(SWAP);
  const versions = Array.from({ length: 10 }, (_, i) => variant(testhub(), `burst ${i}`));
  for (const bytes of versions) writeFileSync(env.file("swap.wasm"), bytes);
  const last = sha256(versions.at(-1));
  await env.waitServing("swap", last);

  // A hub written after the burst is the marker: once it serves, every
  // event of the burst has been dealt with, and the last write still won.
  const marker = variant(testhub(), "after the burst");
  env.put("marker.wasm", marker);
  await env.waitServing("marker", sha256(marker));
  const swap = await env.hub("swap");
  assert.equal(swap.sha256, last);
  assert.equal(swap.lastError, undefined, `lastError: ${JSON.stringify(swap.lastError)}`);
  assert.equal(await conn.invoke("Echo", "after the burst"), "after the burst");
  const loads = env.host.stderr().split("\n").filter((l) => /hub published.*hub=swap/.test(l)).length;
  console.log(`burst of 10 writes: swap was published ${loads} times (the first at start-up)`);
});

reloadSpec("with --watch false, new and changed files are not picked up", { args: ["--watch", "false"] }, async (env) => {
  const conn = await env.connect(SWAP);
  const servingBefore = (await env.hub("swap")).sha256;
  // A second host on the same directory that does watch: its reloads are
  // the markers that the first host would have reloaded by then.
  const watching = await env.startHost([]);

  const late = variant(testhub(), "late");
  const changed = variant(testhub(), "changed");
  env.put("late.wasm", late);
  env.put("swap.wasm", changed);
  await env.waitServing("late", sha256(late), watching);
  await env.waitServing("swap", sha256(changed), watching);
  // Twice over, so that the first writes are long settled.
  const late2 = variant(testhub(), "late again");
  env.put("late.wasm", late2);
  await env.waitServing("late", sha256(late2), watching);

  assert.equal(await env.hub("late"), undefined, "the non-watching host picked up late.wasm");
  assert.equal((await env.hub("swap")).sha256, servingBefore, "the non-watching host swapped swap.wasm");
  assert.equal((await negotiate(env.url, "/hubs/late")).status, 404);
  assert.equal(await conn.invoke("Echo", "unchanged"), "unchanged");
  assert.match(watching.stderr(), /watching for hub changes/);
  assert.doesNotMatch(env.host.stderr(), /watching for hub changes/);
});

reloadSpec("the metrics follow a swap: the serving version's info moves, applied and refused are counted", {}, async (env) => {
  const labels = (sha) => ({ hub: "swap", sha256: sha });
  const first = sha256(testhub());
  const before = await scrapeMetrics(env.url);
  assert.equal(before.value("wasmhub_hub_serving_info", labels(first)), 1);
  const next = variant(testhub(), "metrics");
  env.put("swap.wasm", next);
  await env.waitServing("swap", sha256(next));
  const bad = randomBytes(512);
  env.put("swap.wasm", bad);
  await env.waitRefused("swap", sha256(bad));
  const after = await scrapeMetrics(env.url);
  const serving = after.samples.filter((s) => s.name === "wasmhub_hub_serving_info" && s.labels.hub === "swap");
  assert.deepEqual(serving.map((s) => [s.labels.sha256, s.value]), [[sha256(next), 1]], "one info series, the new version's");
  const delta = (result) =>
    after.value("wasmhub_hub_swaps_total", { hub: "swap", result }) - before.value("wasmhub_hub_swaps_total", { hub: "swap", result });
  assert.equal(delta("applied"), 1);
  // Each load of a refused file counts (the watcher may see one write as
  // two events: a serving file seen again is no load, a refused one is).
  assert.ok(delta("refused") >= 1, `refused ${delta("refused")}`);
});

// The chat page in a real browser (Debian's chromium, driven by
// playwright-core): the page the host serves with `--web`, used through its
// own form fields by two users; and a page from another origin that connects
// across origins when the host allows it (`--cors-origin`) and cannot when it
// does not (the default: same origin only).
//
// The browser comes from ./chromium.mjs (skipped, with the reason, when
// there is none).

import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import WebSocket from "ws";
import { useHost, spec, withDeadline, ROOT } from "./harness.mjs";
import { newPage, WAIT } from "./chromium.mjs";

const WEB = path.join(ROOT, "examples", "chat", "web");

/** The texts of the page's message list. */
const lines = (page) => page.locator("#messages li").allTextContents();

/** Waits until a line of the page's message list contains `text`. */
async function seeLine(page, text) {
  await page.locator("#messages li", { hasText: text }).first().waitFor({ timeout: WAIT });
}

/** Opens the served chat page (`query` appended), connects as `name` and joins `room`, through its forms. */
async function joinAs(page, url, name, room, query = "") {
  await page.bringToFront();
  await page.goto(url + "/" + query);
  await page.fill("#name", name);
  await page.click("#connect");
  await page.locator("#status", { hasText: `online as ${name}` }).waitFor();
  await page.fill("#room", room);
  await page.click("#room-form button[type=submit]");
  await seeLine(page, `joined ${room}`);
}

/**
 * Types `text` into the composer and sends it. The page acting comes to the
 * front first: a background tab gets no animation frames, which Playwright's
 * actionability checks wait for (seconds per click).
 */
async function say(page, text) {
  await page.bringToFront();
  await page.fill("#text", text);
  await page.click("#send-form button[type=submit]");
}

describe("the chat page served with --web", () => {
  const fx = useHost(["--web", WEB]);

  spec("two users in one room see each other's messages", async (t) => {
    const alice = await newPage(t);
    if (!alice) return;
    const bob = await newPage(t);
    await joinAs(alice, fx.url, "alice", "lobby");
    await joinAs(bob, fx.url, "bob", "lobby");
    await say(alice, "hello bob");
    for (const page of [alice, bob]) await seeLine(page, "alice:hello bob");
    await say(bob, "hi alice");
    for (const page of [alice, bob]) await seeLine(page, "bob:hi alice");
    assert.ok((await lines(alice)).includes("[lobby]bob:hi alice"), JSON.stringify(await lines(alice)));
    assert.equal(await alice.inputValue("#text"), "");
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await Promise.all([alice.close(), bob.close()]);
  });

  spec("a MessagePack user (?protocol=messagepack) and a JSON user talk", async (t) => {
    const dana = await newPage(t);
    if (!dana) return;
    const erin = await newPage(t);
    await joinAs(dana, fx.url, "dana", "mixed", "?protocol=messagepack");
    await dana.locator("#status", { hasText: "(MessagePack)" }).waitFor();
    await joinAs(erin, fx.url, "erin", "mixed");
    await say(dana, "binary hello");
    for (const page of [dana, erin]) await seeLine(page, "dana:binary hello");
    await say(erin, "text hello");
    for (const page of [dana, erin]) await seeLine(page, "erin:text hello");
    assert.deepEqual([...dana.errors, ...erin.errors], []);
    await Promise.all([dana.close(), erin.close()]);
  });

  spec("the composer keeps what is typed while a send is in flight, and restores a failed send", async (t) => {
    const page = await newPage(t);
    if (!page) return;
    await joinAs(page, fx.url, "carol", "den");
    // Hold each Send in the page until the test releases it (or fails it).
    await page.evaluate(() => {
      const invoke = signalR.HubConnection.prototype.invoke;
      window.held = [];
      signalR.HubConnection.prototype.invoke = function (method, ...args) {
        if (method !== "Send") return invoke.call(this, method, ...args);
        return new Promise((resolve, reject) =>
          window.held.push({
            release: () => invoke.call(this, method, ...args).then(resolve, reject),
            fail: () => reject(new Error("send failed on purpose")),
          }),
        );
      };
    });
    await say(page, "first");
    await page.waitForFunction(() => window.held.length === 1);
    assert.equal(await page.inputValue("#text"), "", "cleared when the send starts");
    await page.fill("#text", "typed meanwhile");
    await page.evaluate(() => window.held.shift().release());
    await seeLine(page, "carol:first");
    assert.equal(await page.inputValue("#text"), "typed meanwhile");

    // A failed send puts its text back when the box is empty ...
    await say(page, "lost?");
    await page.waitForFunction(() => window.held.length === 1);
    await page.evaluate(() => window.held.shift().fail());
    await seeLine(page, "send failed on purpose");
    assert.equal(await page.inputValue("#text"), "lost?");
    // ... and not over something typed since.
    await page.click("#send-form button[type=submit]");
    await page.waitForFunction(() => window.held.length === 1);
    await page.fill("#text", "newer");
    await page.evaluate(() => window.held.shift().fail());
    await page.locator("#messages li.error").nth(1).waitFor();
    assert.equal(await page.inputValue("#text"), "newer");
    await page.close();
  });
});

// ---------------------------------------------------------------------------
// Another origin

/**
 * A tiny HTTP server on another port (another origin) serving one page that
 * loads signalr.min.js from the host named by `?host=` and exposes `chat()`.
 */
async function startOtherOrigin() {
  const server = http.createServer((req, res) => {
    const host = new URL(req.url, "http://x").searchParams.get("host") ?? "";
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(host)) {
      res.writeHead(400).end("?host=http://127.0.0.1:PORT");
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>other origin</title><link rel="icon" href="data:,">
<script src="${host}/signalr.min.js"></script>
<script>
  // Connects as name, joins room, sends text; resolves with the first message received.
  window.chat = async (name, room, text) => {
    const conn = new signalR.HubConnectionBuilder()
      .withUrl("${host}/hubs/chat?name=" + encodeURIComponent(name))
      .configureLogging(signalR.LogLevel.None)
      .build();
    const got = new Promise((resolve) => conn.on("Message", resolve));
    await conn.start();
    try {
      await conn.invoke("Join", room);
      await conn.invoke("Send", room, text);
      return await got;
    } finally {
      await conn.stop();
    }
  };
</script>`);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    page: (hostUrl) => `${origin}/?host=${encodeURIComponent(hostUrl)}`,
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections(); // the browser's keep-alive connections
      }),
  };
}

/** The status of a WebSocket upgrade to the chat hub sent with `Origin: origin`. */
function upgradeStatus(hostUrl, origin) {
  const ws = new WebSocket(hostUrl.replace(/^http/, "ws") + "/hubs/chat?name=probe", { origin });
  return withDeadline(
    new Promise((resolve, reject) => {
      ws.once("open", () => {
        ws.terminate();
        resolve(101);
      });
      ws.once("unexpected-response", (_req, res) => {
        res.resume();
        resolve(res.statusCode);
      });
      ws.once("error", reject);
    }),
    WAIT,
    `the WebSocket upgrade with Origin ${origin}`,
  );
}

/** useHost with `--web` and `--cors-origin` for each origin `allow(other)` names. */
function useTwoOrigins(allow) {
  const args = ["--web", WEB];
  const o = { other: null, fx: null };
  // Registered before useHost's own hook, so the flags are in place when it starts the host.
  before(async () => {
    o.other = await startOtherOrigin();
    for (const origin of allow(o.other.origin)) args.push("--cors-origin", origin);
  });
  after(async () => {
    if (o.other) await o.other.close();
  });
  o.fx = useHost(args);
  return o;
}

describe("another origin allowed with --cors-origin", () => {
  const o = useTwoOrigins((other) => [other]);

  spec("a page from that origin negotiates, connects and exchanges a message", async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const sockets = [];
    page.on("websocket", (ws) => sockets.push(ws.url()));
    await page.goto(o.other.page(o.fx.url));
    const got = await withDeadline(page.evaluate(() => window.chat("dora", "far", "hello across")), WAIT, "chat()");
    assert.deepEqual(got, { room: "far", from: "dora", text: "hello across" });
    // Over a WebSocket (the default transport), not a fallback.
    const hub = o.fx.url.replace(/^http/, "ws") + "/hubs/chat?";
    assert.ok(sockets.some((url) => url.startsWith(hub)), JSON.stringify(sockets));
    await page.close();
  });

  spec("the WebSocket upgrade is accepted from that origin and from the host's own", async () => {
    assert.equal(await upgradeStatus(o.fx.url, o.other.origin), 101);
    assert.equal(await upgradeStatus(o.fx.url, o.fx.url), 101);
    assert.equal(await upgradeStatus(o.fx.url, "http://127.0.0.1:1"), 403);
  });
});

describe("another origin without --cors-origin (same origin only)", () => {
  const o = useTwoOrigins(() => []);

  spec("a page from another origin cannot connect", async (t) => {
    const page = await newPage(t);
    if (!page) return;
    await page.goto(o.other.page(o.fx.url));
    const error = await withDeadline(
      page.evaluate(() => window.chat("eve", "far", "hi").then(() => null, (e) => String(e))),
      WAIT,
      "chat() to fail",
    );
    assert.notEqual(error, null, "the cross-origin connection succeeded");
    assert.match(error, /negotiat|fetch/i);
    await page.close();
  });

  spec("the WebSocket upgrade from another origin gets 403; the host's own origin is accepted", async () => {
    assert.equal(await upgradeStatus(o.fx.url, o.other.origin), 403);
    assert.equal(await upgradeStatus(o.fx.url, o.fx.url), 101);
  });
});

// The chat hub contract, with several users and a user with two connections,
// run against every chat hub built: each `chat*.wasm` in WASMHUB_HUBS (`chat`
// in Rust, `chat-py` in Python, `chat-js` in JavaScript, ...). All implement
// one contract: a difference between them is a bug in one of them.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import {
  useHost,
  spec,
  inbox,
  nextMessage,
  rejection,
  connectRefused,
  waitFor,
  deferred,
  withDeadline,
  ROOT,
} from "./harness.mjs";

/** The chat hubs in the hubs directory: `chat` first, then the others sorted. */
function chatHubs() {
  const dir = process.env.WASMHUB_HUBS || path.join(ROOT, "target", "hubs");
  let files = [];
  try {
    files = readdirSync(dir);
  } catch {
    /* startHost reports the missing directory */
  }
  const names = files
    .filter((f) => /^chat(-[A-Za-z0-9_-]+)?\.wasm$/.test(f))
    .map((f) => f.slice(0, -".wasm".length))
    .filter((n) => n !== "chat")
    .sort();
  return ["chat", ...names];
}

for (const hubName of chatHubs()) {
  describe(`chat (${hubName})`, () => {
    const HUB = `/hubs/${hubName}`;
    // A long invoke timeout, so that "fails fast on disconnect" cannot be
    // confused with "timed out".
    const fx = useHost(["--invoke-timeout", "30s", "--web", path.join(ROOT, "examples", "chat", "web")]);

    // Connections that live for the whole file; `behaviour[label]` decides how
    // each answers a Question, `asked` records every Question received.
    const c = {};
    const behaviour = {};
    const asked = [];

    async function join(label, name) {
      const conn = await fx.connect(HUB, {
        query: { name },
        record: ["Message"],
        handlers: {
          Question: (q) => {
            asked.push({ label, q });
            const fn = behaviour[label];
            return fn ? fn(q) : `${label} answers ${q}`;
          },
        },
      });
      c[label] = conn;
      return conn;
    }

    before(async () => {
      await join("alice", "alice");
      await join("bob1", "bob");
      await join("bob2", "bob");
      await join("carol", "carol");
    });

    const msg = (label, pred) => nextMessage(c[label], "Message", undefined, pred);
    const hasText = (text) => (m) => m && m.text === text;
    /** Waits for a whisper `marker` on `label`; returns the texts that arrived before it. */
    async function before_marker(label, marker) {
      await msg(label, hasText(marker));
      const all = inbox(c[label], "Message").all.map((a) => a[0]);
      return all.slice(0, all.findIndex((m) => m.text === marker));
    }

    describe("rooms", () => {
      spec("Send reaches every member of the room, including the sender", async () => {
        for (const l of ["alice", "bob1", "carol"]) await c[l].invoke("Join", "lobby");
        await c.alice.invoke("Send", "lobby", "hello lobby");
        for (const l of ["alice", "bob1", "carol"]) {
          assert.deepEqual(await msg(l, hasText("hello lobby")), {
            room: "lobby",
            from: "alice",
            text: "hello lobby",
          });
        }
        // bob2 never joined: a later whisper to bob arrives, the room message did not.
        await c.alice.invoke("Whisper", "bob", "marker-1");
        const seen = await before_marker("bob2", "marker-1");
        assert.equal(seen.some((m) => m.text === "hello lobby"), false, JSON.stringify(seen));
      });

      spec("a member who left stops receiving the room's messages", async () => {
        await c.carol.invoke("Leave", "lobby");
        await c.alice.invoke("Send", "lobby", "after carol left");
        assert.equal((await msg("bob1", hasText("after carol left"))).room, "lobby");
        await c.alice.invoke("Whisper", "carol", "marker-2");
        const seen = await before_marker("carol", "marker-2");
        assert.equal(seen.some((m) => m.text === "after carol left"), false, JSON.stringify(seen));
      });

      spec("a room's last 50 messages reach whoever joins it next, oldest first, as History", async () => {
        const room = "with history";
        const ann = await fx.connect(HUB, { query: { name: "ann" }, record: ["History"] });
        await ann.invoke("Join", room);
        for (let i = 1; i <= 52; i++) await ann.invoke("Send", room, `m${i}`);
        const ben = await fx.connect(HUB, { query: { name: "ben" }, record: ["History", "Message"] });
        // Sent before Join's completion: here once Join returns.
        await ben.invoke("Join", room);
        const [got, kept] = await inbox(ben, "History").next(5_000);
        assert.equal(got, room);
        assert.equal(kept.length, 50);
        assert.deepEqual(kept[0], { room, from: "ann", text: "m3" });
        assert.deepEqual(kept[49], { room, from: "ann", text: "m52" });
        // The first to join had none; the history is the joiner's alone.
        assert.equal(inbox(ann, "History").all.length, 0);
        await ben.invoke("Join", "no history here");
        assert.equal(inbox(ben, "History").all.length, 1, "one History, for the room that had messages");
        await ann.stop();
        await ben.stop();
      });

      spec("Who lists the room's users, sorted and distinct", async () => {
        await c.bob2.invoke("Join", "lobby"); // bob is now in the room twice
        assert.deepEqual(await c.carol.invoke("Who", "lobby"), ["alice", "bob"]);
        await c.carol.invoke("Join", "lobby");
        assert.deepEqual(await c.carol.invoke("Who", "lobby"), ["alice", "bob", "carol"]);
        assert.deepEqual(await c.carol.invoke("Who", "empty-room"), []);
      });

      spec("Online lists the connected users, sorted and distinct", async () => {
        assert.deepEqual(await c.alice.invoke("Online"), ["alice", "bob", "carol"]);
      });

      spec("a user who disconnects leaves Online and Who", async () => {
        const dave = await fx.connect(HUB, { query: { name: "dave" } });
        await dave.invoke("Join", "lobby");
        assert.deepEqual(await c.alice.invoke("Online"), ["alice", "bob", "carol", "dave"]);
        assert.deepEqual(await c.alice.invoke("Who", "lobby"), ["alice", "bob", "carol", "dave"]);
        await dave.stop();
        await waitFor(
          async () => JSON.stringify(await c.alice.invoke("Online")) === JSON.stringify(["alice", "bob", "carol"]),
          5_000,
          "dave to leave Online",
        );
        assert.deepEqual(await c.alice.invoke("Who", "lobby"), ["alice", "bob", "carol"]);
      });
    });

    describe("whispers", () => {
      spec("Whisper reaches every connection of the user", async () => {
        await c.carol.invoke("Whisper", "bob", "psst bob");
        for (const l of ["bob1", "bob2"]) {
          assert.deepEqual(await msg(l, hasText("psst bob")), { room: null, from: "carol", text: "psst bob" });
        }
        // Not the sender, nor anybody else.
        await c.carol.invoke("Whisper", "alice", "marker-3");
        const seen = await before_marker("alice", "marker-3");
        assert.equal(seen.some((m) => m.text === "psst bob"), false);
      });

      spec("Whisper to a user who is not online fails with NotFound naming the user", async () => {
        const e = await rejection(c.alice.invoke("Whisper", "zelda", "anyone?"));
        assert.match(e.message, /^An unexpected error occurred invoking 'Whisper' on the server\. NotFound: /);
        assert.match(e.message, /zelda/);
      });
    });

    describe("questions", () => {
      spec("Ask is answered by exactly one of bob's connections", async () => {
        asked.length = 0;
        behaviour.bob1 = () => "bob1 says 42";
        behaviour.bob2 = () => "bob2 says 42";
        const answer = await c.alice.invoke("Ask", "bob", "meaning of life?");
        assert.ok(["bob1 says 42", "bob2 says 42"].includes(answer), JSON.stringify(answer));
        // A later message to bob arrives on both connections; no second Question came before it.
        await c.alice.invoke("Whisper", "bob", "marker-4");
        await msg("bob1", hasText("marker-4"));
        await msg("bob2", hasText("marker-4"));
        assert.deepEqual(asked, [{ label: answer.slice(0, 4), q: "meaning of life?" }]);
      });

      spec("Ask falls over to bob's other connection when the first one asked throws", async () => {
        asked.length = 0;
        let calls = 0;
        const answerOrThrow = (label) => () => {
          calls++;
          if (calls === 1) throw new Error(`${label} is busy`);
          return `${label} answers`;
        };
        behaviour.bob1 = answerOrThrow("bob1");
        behaviour.bob2 = answerOrThrow("bob2");
        const answer = await c.alice.invoke("Ask", "bob", "are you there?");
        assert.equal(asked.length, 2, JSON.stringify(asked));
        assert.notEqual(asked[0].label, asked[1].label);
        assert.equal(answer, `${asked[1].label} answers`);
      });

      spec("Ask fails with NoClientResponded when every connection fails, listing why", async () => {
        behaviour.bob1 = () => {
          throw new Error("bob1 refuses");
        };
        behaviour.bob2 = () => {
          throw new Error("bob2 refuses");
        };
        const e = await rejection(c.alice.invoke("Ask", "bob", "anything?"));
        assert.match(e.message, /NoClientResponded/);
        assert.match(e.message, /bob1 refuses/);
        assert.match(e.message, /bob2 refuses/);
      });

      spec("Ask for a user who is not online gives a clear error", async () => {
        const e = await rejection(c.alice.invoke("Ask", "nobody", "hello?"));
        assert.match(e.message, /^An unexpected error occurred invoking 'Ask' on the server\. (NoClientResponded|NotFound): /);
      });

      spec("Poll asks the whole room: answers and failures per connection", async () => {
        behaviour.alice = () => "alice votes yes";
        behaviour.bob1 = () => "bob1 votes no";
        behaviour.carol = () => {
          throw new Error("carol has no idea");
        };
        for (const l of ["alice", "bob1", "carol"]) await c[l].invoke("Join", "poll-room");
        const results = await c.alice.invoke("Poll", "poll-room", "pizza?");
        assert.equal(results.length, 3, JSON.stringify(results));
        const by = Object.fromEntries(results.map((r) => [r.connectionId, r]));
        assert.deepEqual(by[c.alice.connectionId], {
          connectionId: c.alice.connectionId,
          user: "alice",
          answer: "alice votes yes",
        });
        assert.deepEqual(by[c.bob1.connectionId], {
          connectionId: c.bob1.connectionId,
          user: "bob",
          answer: "bob1 votes no",
        });
        const carol = by[c.carol.connectionId];
        assert.equal(carol.user, "carol");
        assert.equal("answer" in carol, false, JSON.stringify(carol));
        assert.match(carol.error, /carol has no idea/);
      });

      spec("a pending Ask fails fast when the asked client disconnects", async () => {
        const asking = deferred();
        const dave = await fx.connect(HUB, {
          query: { name: "dave" },
          handlers: {
            Question: () => {
              asking.resolve();
              return new Promise(() => {}); // never answers
            },
          },
        });
        const pending = c.alice.invoke("Ask", "dave", "will you answer?");
        pending.catch(() => {});
        await withDeadline(asking.promise, 5_000, "dave to be asked");
        const t0 = Date.now();
        await dave.stop();
        const e = await rejection(pending, 10_000, "Ask to fail after dave disconnected");
        const elapsed = Date.now() - t0;
        assert.ok(elapsed < 10_000, `Ask took ${elapsed} ms after the disconnect`);
        assert.match(e.message, /disconnected/i);
        // alice is fine.
        assert.deepEqual(await c.alice.invoke("Who", "lobby"), ["alice", "bob", "carol"]);
      });
    });

    describe("refusal", () => {
      spec("a connection without a name is refused with a reason mentioning `name`", async () => {
        const e = await connectRefused(fx.url, HUB);
        assert.match(String(e.message ?? e), /name/);
      });

      spec("the refused connection never shows up as online", async () => {
        assert.deepEqual(await c.alice.invoke("Online"), ["alice", "bob", "carol"]);
      });
    });

    // The page is the host's, not the hub's: checked once.
    if (hubName === "chat") describe("web page (--web)", () => {
      spec("serves index.html at / and the page's files next to it", async () => {
        const index = await fetch(fx.url + "/");
        assert.equal(index.status, 200);
        assert.match(index.headers.get("content-type") ?? "", /text\/html/);
        const html = await index.text();
        assert.match(html, /<title>wasmhub chat<\/title>/);
        for (const [file, type] of [
          ["chat.js", /javascript/],
          ["style.css", /text\/css/],
        ]) {
          const res = await fetch(`${fx.url}/${file}`);
          assert.equal(res.status, 200, file);
          assert.match(res.headers.get("content-type") ?? "", type, file);
          await res.arrayBuffer();
        }
        const missing = await fetch(fx.url + "/no-such-file.txt");
        await missing.arrayBuffer();
        assert.equal(missing.status, 404);
      });
    });
  });
}

// Every other-language chat hub in WASMHUB_HUBS (`chat-*.wasm`: chat-js,
// chat-py, ...) against the Rust one (`chat.wasm`): the same calls, made
// the same way, must give the same results, the same error texts (argument
// binding included), the same messages and the same refusals. chat.test.mjs
// checks what the contract is; this file checks that the hubs agree on the
// details it does not spell out.

import { describe } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import { useHost, spec, inbox, nextMessage, connectRefused, ROOT } from "./harness.mjs";

const HUBS_DIR = process.env.WASMHUB_HUBS || path.join(ROOT, "target", "hubs");
const OTHERS = readdirSync(HUBS_DIR)
  .filter((file) => /^chat-[A-Za-z0-9_-]+\.wasm$/.test(file))
  .map((file) => file.slice(0, -".wasm".length))
  .sort();

/**
 * Runs the same script against `hub` and returns what happened, as
 * `[label, "ok" | "err", value]` rows with connection ids replaced by
 * the connections' labels.
 */
async function transcript(fx, hub) {
  const url = `/hubs/${hub}`;
  const ids = new Map();
  const norm = (value) =>
    JSON.parse(
      JSON.stringify(value ?? null, (_, v) =>
        typeof v === "string" ? [...ids].reduce((s, [id, label]) => s.replaceAll(id, label), v) : v,
      ),
    );
  const rows = [];
  const row = async (label, call) => {
    try {
      rows.push([label, "ok", norm(await call())]);
    } catch (e) {
      rows.push([label, "err", norm(String(e?.message ?? e))]);
    }
  };
  const refusal = (query) => connectRefused(fx.url, url, { query }).then((e) => String(e?.message ?? e));
  await row("refused without a name", () => refusal({}));
  await row("refused with a blank name", () => refusal({ name: " \t " }));

  const conn = async (label, name, question) => {
    const c = await fx.connect(url, { query: { name }, record: ["Message"], handlers: { Question: question } });
    ids.set(c.connectionId, label);
    return c;
  };
  const alice = await conn("A", " alice ", (q) => `alice: ${q}`);
  const bob1 = await conn("B1", "bob", () => {
    throw new Error("bob1 is busy");
  });
  const bob2 = await conn("B2", "bob", () => null);
  const carol = await conn("C", "carol", undefined);

  await row("Online trims the name", () => alice.invoke("Online"));
  const wrong = [[], ["r", "x"], [5], [-3], [1.5], [true], [null], [[1]], [{ a: 1 }]];
  for (const args of wrong) await row(`Join ${JSON.stringify(args)}`, () => alice.invoke("Join", ...args));
  await row("Send with a number as text", () => alice.invoke("Send", "r", 5));
  await row("an unknown method", () => alice.invoke("Nope"));
  await row("names in any case", () => alice.invoke("jOiN", "lobby"));
  await row("Join bob1", () => bob1.invoke("Join", "lobby"));
  await row("Join carol", () => carol.invoke("Join", "lobby"));
  await row("Who", () => carol.invoke("Who", "lobby"));
  await row("Who of an empty room", () => carol.invoke("Who", "nothing"));
  await row("Send", () => alice.invoke("Send", "lobby", "hi all"));
  await row("Whisper", () => carol.invoke("Whisper", "bob", "psst"));
  await row("Whisper to nobody", () => carol.invoke("Whisper", "zelda", "psst"));
  await row("Whisper to oneself", () => carol.invoke("Whisper", "carol", "me"));
  await row("Ask nobody", () => alice.invoke("Ask", "zelda", "q"));
  await row("Ask bob (one throws, one answers null)", () => alice.invoke("Ask", "bob", "q?"));
  await row("Ask carol (no Question handler)", () => alice.invoke("Ask", "carol", "q?"));
  await row("Ask alice", () => carol.invoke("Ask", "alice", "q?"));
  await row("Poll", () =>
    alice.invoke("Poll", "lobby", "p?").then((r) => norm(r).sort((x, y) => x.connectionId.localeCompare(y.connectionId))),
  );
  await row("Poll of an empty room", () => alice.invoke("Poll", "nobody-here", "p?"));
  await row("Leave", () => carol.invoke("Leave", "lobby"));
  await row("Leave again", () => carol.invoke("Leave", "lobby"));
  await row("Who after Leave", () => carol.invoke("Who", "lobby"));

  // What each connection received, up to a final whisper.
  for (const [label, c, user] of [["A", alice, "alice"], ["B1", bob1, "bob"], ["B2", bob2, "bob"], ["C", carol, "carol"]]) {
    const marker = `end for ${label}`;
    await alice.invoke("Whisper", user, marker);
    await nextMessage(c, "Message", undefined, (m) => m && m.text === marker);
    const all = inbox(c, "Message").all.map((args) => args[0]);
    rows.push([`messages of ${label}`, "ok", norm(all.slice(0, all.findIndex((m) => m.text === marker)))]);
  }
  for (const c of [alice, bob1, bob2, carol]) await c.stop();
  return rows;
}

describe("chat hubs in other languages behave as the Rust one", () => {
  const fx = useHost(["--invoke-timeout", "30s"]);

  if (OTHERS.length === 0) {
    spec("no chat-*.wasm to compare in the hubs directory", () => {});
  }
  for (const hub of OTHERS) {
    spec(`${hub} matches chat`, async () => {
      const expected = await transcript(fx, "chat");
      const actual = await transcript(fx, hub);
      assert.equal(actual.length, expected.length);
      for (let i = 0; i < expected.length; i++) {
        assert.deepEqual(actual[i], expected[i], `${hub}: ${expected[i][0]}`);
      }
    });
  }
});

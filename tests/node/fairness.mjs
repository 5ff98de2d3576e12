#!/usr/bin/env node
// Measures how much hub calls that burn CPU delay another hub's calls on
// the same node: K connections call testhub's SpinForever in a loop (each
// call runs until --hub-deadline), while one chat connection times Who
// calls. Prints a markdown table of the probe's latency per K.
//
//   WASMHUB_BIN=target/release/wasmhub WASMHUB_HUBS=target/hubs \
//     node tests/node/fairness.mjs [--seconds 4]

import { parseArgs } from "node:util";
import { startHost, connect } from "./harness.mjs";

const { values: opts } = parseArgs({ options: { seconds: { type: "string", default: "4" } } });
const host = await startHost(["--hub-deadline", "2s"], { backend: "memory" });
const probe = await connect(host.url, "/hubs/chat", { query: { name: "probe" } });
const spinners = [];
const rows = [];
for (const k of [0, 1, 2, 4, 8, 16]) {
  while (spinners.length < k) {
    const conn = await connect(host.url, "/hubs/testhub");
    const spinner = { conn, on: true };
    (async () => {
      while (spinner.on) await conn.invoke("SpinForever").catch(() => {});
    })();
    spinners.push(spinner);
  }
  const times = [];
  const end = Date.now() + Number(opts.seconds) * 1000;
  while (Date.now() < end) {
    const t0 = process.hrtime.bigint();
    await probe.invoke("Who", "room");
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await new Promise((r) => setTimeout(r, 5)); // the probe's pace
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2);
  rows.push(`| ${k} | ${times.length} | ${at(0.5)} | ${at(0.99)} | ${times.at(-1).toFixed(2)} |`);
}
console.log(
  "| spinning calls | probe calls | p50 ms | p99 ms | max ms |\n| ---: | ---: | ---: | ---: | ---: |\n" + rows.join("\n"),
);
for (const s of spinners) s.on = false;
await Promise.allSettled([probe.stop(), ...spinners.map((s) => s.conn.stop())]);
await host.stop();

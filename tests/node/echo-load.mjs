#!/usr/bin/env node
// Echo round trips per second with the official client, per hub protocol
// and transport: C connections each invoke testhub's Echo back to back
// for a few seconds. Prints a markdown table (round trips/s, p50, p99).
// The client is the same for every row, so rows compare the host's
// paths (JSON vs MessagePack, WebSockets vs the HTTP transports).
//
//   WASMHUB_BIN=target/release/wasmhub WASMHUB_HUBS=target/hubs \
//     node tests/node/echo-load.mjs [--seconds 5] [--connections 8]

import { parseArgs } from "node:util";
import { startHost, connect } from "./harness.mjs";

const { values: opts } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "8" },
    payload: { type: "string", default: "hello" },
  },
});
const seconds = Number(opts.seconds);
const count = Number(opts.connections);
const host = await startHost([], { backend: "memory" });
const rows = [];
const cells = [
  ["WebSockets", "json"],
  ["WebSockets", "messagepack"],
  ["ServerSentEvents", "json"],
  ["LongPolling", "json"],
  ["LongPolling", "messagepack"],
];
try {
  for (const [transport, protocol] of cells) {
    process.stderr.write(`measuring ${transport} + ${protocol} (${seconds} s, ${count} connections)\n`);
    const conns = await Promise.all(
      Array.from({ length: count }, () => connect(host.url, "/hubs/testhub", { transport, protocol })),
    );
    for (const c of conns) await c.invoke("Echo", "warm");
    const times = [];
    const end = Date.now() + seconds * 1000;
    await Promise.all(
      conns.map(async (c) => {
        while (Date.now() < end) {
          const t0 = process.hrtime.bigint();
          await c.invoke("Echo", opts.payload);
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      }),
    );
    await Promise.all(conns.map((c) => c.stop()));
    times.sort((a, b) => a - b);
    const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2);
    rows.push(`| ${transport} | ${protocol} | ${Math.round(times.length / seconds)} | ${at(0.5)} | ${at(0.99)} |`);
  }
} finally {
  await host.stop();
}
console.log(
  "| transport | protocol | round trips/s | p50 ms | p99 ms |\n| --- | --- | ---: | ---: | ---: |\n" + rows.join("\n"),
);

// `--log-format json`: every line the host writes to stderr is one JSON
// object, flat, naming the node; a hub's log lines name the hub, the
// connection and the method; a host line about a connection (a trap)
// carries the connection's fields from its span.

import { describe } from "node:test";
import assert from "node:assert/strict";
import { useHost, spec, eventually } from "./harness.mjs";

/** The host's stderr lines, each parsed (a line that is not JSON fails). */
function jsonLines(host) {
  return host
    .stderr()
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`a log line is not JSON: ${line}`);
      }
    });
}

describe("JSON logs", () => {
  const fx = useHost(["--log-format", "json", "--node-id", "log-node"]);

  spec("hub and host lines are flat JSON with node, hub, connection and method", async () => {
    const conn = await fx.connect("/hubs/testhub");
    await conn.invoke("LogMany", 2);
    await assert.rejects(conn.invoke("Panic", "for the log"), /HubTrap/);
    const { value: lines } = await eventually(
      async () => jsonLines(fx.host),
      (lines) => lines.some((l) => l.message?.includes("trapped")),
      10_000,
      "the trap's log line",
    );
    assert.ok(lines.length > 3);
    for (const line of lines) {
      assert.equal(line.node, "log-node", JSON.stringify(line));
      assert.match(line.timestamp, /Z$/);
      assert.ok(line.level && line.target, JSON.stringify(line));
    }
    const hubLines = lines.filter((l) => l.target === "hub" && l.message?.startsWith("log-many line"));
    assert.equal(hubLines.length, 2, JSON.stringify(lines.slice(-10)));
    for (const line of hubLines) {
      assert.equal(line.hub, "testhub");
      assert.equal(line.connection, conn.connectionId);
      assert.equal(line.method, "LogMany");
    }
    const trap = lines.find((l) => l.message?.includes("trapped"));
    assert.equal(trap.connection, conn.connectionId, JSON.stringify(trap));
    assert.equal(trap.hub, "testhub");
    assert.equal(trap.transport, "WebSockets");
  });

  spec("what a hub prints is logged a line at a time: stdout at info, stderr at warn", async () => {
    const conn = await fx.connect("/hubs/testhub");
    await conn.invoke("Print", "printed one\nprinted two\r");
    const printed = (lines) => lines.filter((l) => l.target === "hub" && /printed (one|two)/.test(l.message ?? ""));
    const { value: lines } = await eventually(
      async () => printed(jsonLines(fx.host)),
      (lines) => lines.length === 4,
      10_000,
      "the four printed lines",
    );
    const out = lines.filter((l) => l.stream === "stdout");
    assert.deepEqual(out.map((l) => [l.level, l.message]), [
      ["INFO", "printed one"],
      ["INFO", "printed two"],
    ]);
    const err = lines.filter((l) => l.stream === "stderr");
    assert.deepEqual(err.map((l) => [l.level, l.message]), [
      ["WARN", "to stderr: printed one"],
      ["WARN", "printed two"],
    ]);
    for (const line of lines) {
      assert.equal(line.hub, "testhub");
      assert.equal(line.connection, conn.connectionId);
    }
    // A long line is logged in pieces of 1 KiB; one that fills its last
    // piece exactly leaves no empty line after it.
    await conn.invoke("Print", "L".repeat(1024));
    await conn.invoke("Print", "M".repeat(1030));
    const { value: pieces } = await eventually(
      async () => jsonLines(fx.host).filter((l) => l.stream === "stdout" && /^(L+|M+|)$/.test(l.message)),
      (lines) => lines.length >= 3,
      10_000,
      "the long lines",
    );
    assert.deepEqual(pieces.map((l) => l.message.length), [1024, 1024, 6]);
    await conn.stop();
  });
});

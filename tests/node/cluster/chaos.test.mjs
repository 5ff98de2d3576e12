// The chaos soak's short run (tests/node/chaos.mjs): three nodes, one
// Redis, 90 clients under steady traffic through five faults (pub/sub
// killed, a client that stops reading, a node paused past its timeout,
// Redis restarted empty, a node killed and started again). It exits 1 on
// any loss outside a fault window, a ghost in presence or a live user
// missing from it; its table is printed.

import { describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { ROOT, spec } from "../harness.mjs";

describe("chaos soak (short run)", () => {
  spec(
    "no loss outside fault windows, no ghosts, presence converges",
    async () => {
      const script = path.join(ROOT, "tests", "node", "chaos.mjs");
      const args = [script, "--duration", "45", "--clients", "90", "--rooms", "9", "--quiet"];
      const { code, stdout, stderr } = await new Promise((resolve) => {
        execFile(process.execPath, args, { timeout: 150_000, env: process.env }, (error, stdout, stderr) =>
          resolve({ code: error ? (error.code ?? error.signal) : 0, stdout, stderr }),
        );
      });
      console.log(stdout.replace(/^/gm, "# "));
      assert.equal(code, 0, `chaos.mjs exited ${code}\n${stdout}\n${stderr.slice(-4000)}`);
      assert.match(stdout, /\| lost outside fault windows \| 0 \|/);
      assert.match(stdout, /\| ghosts in presence after the run \| 0 \|/);
    },
    180_000,
  );
});

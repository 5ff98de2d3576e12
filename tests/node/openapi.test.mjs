// The server API against its own OpenAPI document, with schemathesis (from
// pip, in the virtualenv WASMHUB_PYTHON_CLIENTS names): a bounded number
// of generated requests per operation, valid and invalid, and every check
// schemathesis has: no 5xx, every status, content type, header and body
// as documented, invalid input refused, valid input accepted. The hub is
// testhub and the method Echo, so the requests reach real hub code; for
// invoke, "valid data accepted" is left out: the document cannot say how
// many arguments a hub method takes (the hub answers 400 for a wrong
// count, which is right).

import { describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { useHost, spec } from "./harness.mjs";

const KEY = "schemathesis-key-7c5e0b2a9d13f846";
/** Generated requests per operation and phase: enough to find a bad answer, few enough for the test command. */
const EXAMPLES = 20;

/** The `st` of the virtualenv beside WASMHUB_PYTHON_CLIENTS. */
function schemathesis() {
  const python = process.env.WASMHUB_PYTHON_CLIENTS;
  if (!python) {
    throw new Error("WASMHUB_PYTHON_CLIENTS is not set: `cargo xtask test` makes target/tools/pyclients from tests/python/requirements.txt");
  }
  const st = path.join(path.dirname(python), "st");
  if (!existsSync(st)) throw new Error(`${st} is missing: pip install -r tests/python/requirements.txt`);
  return st;
}

/** Runs `st run` with `args`; resolves with its exit code and output. */
function run(st, cwd, url, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      st,
      [
        "run", `${url}/api/v1/openapi.json`,
        "-H", `Authorization: Bearer ${KEY}`,
        "--max-examples", String(EXAMPLES),
        "--seed", "1",
        "--generation-database", "none",
        "--request-timeout", "10",
        "--no-color",
        ...args,
      ],
      { cwd, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe("OpenAPI conformance", () => {
  const fx = useHost(["--api-key", KEY]);

  spec("schemathesis finds no 5xx and no answer that breaks the document", async () => {
    const st = schemathesis();
    const dir = mkdtempSync(path.join(os.tmpdir(), "wasmhub-schemathesis-"));
    try {
      // Path parameters that reach real code: testhub and its Echo.
      writeFileSync(path.join(dir, "schemathesis.toml"), '[parameters]\nhub = "testhub"\nmethod = "Echo"\n');
      const runs = [
        ["--checks", "all", "--exclude-operation-id", "invoke"],
        ["--checks", "all", "--exclude-checks", "positive_data_acceptance", "--include-operation-id", "invoke"],
      ];
      for (const args of runs) {
        const { code, out } = await run(st, dir, fx.url, args);
        assert.equal(code, 0, `st run ${args.join(" ")} failed:\n${out.slice(-6000)}`);
        const tested = out.match(/(\d+) generated, (\d+) passed/);
        assert.ok(tested && Number(tested[1]) > 0, `schemathesis generated no test case:\n${out.slice(-3000)}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});

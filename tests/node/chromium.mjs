// Debian's chromium driven by playwright-core, for the browser tests
// (browser.test.mjs, cluster/dashboard.test.mjs).
//
// WASMHUB_CHROMIUM names the browser (`cargo xtask test` installs Debian's
// chromium with apt-get when it can, else passes WASMHUB_CHROMIUM_SKIP, the
// reason); without one, `chromium` on the PATH; without that, a test that
// asks for a page reports itself skipped, with the reason.

import { after } from "node:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { withDeadline } from "./harness.mjs";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
export const WAIT = 10_000;

/** `{ path }` of the browser, or `{ skip }`: why there is none. */
function findChromium() {
  if (process.env.WASMHUB_CHROMIUM) return { path: process.env.WASMHUB_CHROMIUM };
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir || ".", "chromium");
    try {
      if (statSync(candidate).isFile()) return { path: candidate };
    } catch {
      /* not here */
    }
  }
  const why = process.env.WASMHUB_CHROMIUM_SKIP ?? "no chromium on the PATH";
  return { skip: `${why}; set WASMHUB_CHROMIUM or install Debian's chromium (apt-get install chromium)` };
}
const CHROMIUM = findChromium();

/** One browser (a fresh user data directory) for the whole file, started by the first test that needs it. */
let browser = null;
export async function newPage(t) {
  if (CHROMIUM.skip) {
    t.skip(CHROMIUM.skip);
    return null;
  }
  if (!browser) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "wasmhub-chromium-"));
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM.path,
      // launchPersistentContext passes `--user-data-dir=<dir>` itself.
      args: FLAGS,
      headless: true,
      timeout: 30_000,
    });
    context.setDefaultTimeout(WAIT);
    browser = { context, dir };
  }
  const page = await browser.context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && page.errors.push(m.text()));
  return page;
}
after(async () => {
  if (!browser) return;
  await withDeadline(browser.context.close(), 10_000, "closing the browser").catch(() => {});
  rmSync(browser.dir, { recursive: true, force: true });
});

// The dashboard in real Chromium (./chromium.mjs): two nodes on one
// Redis, the page opened on node-a with an API key; clients join and leave
// on both nodes and the page shows each change (connections per node,
// users online, groups, the version each node serves, a trap among the
// recent events) within a few seconds. It writes a screenshot to
// target/dashboard.png for people to look at.

import { describe } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { useCluster, spec, ROOT } from "../harness.mjs";
import { newPage } from "../chromium.mjs";

const KEY = "dashboard-key-9d4c2a7e61b0f835";
const TESTHUB = "/hubs/testhub";
const extraArgs = ["--api-key", KEY];
/** How long the page may take to show a change: it polls once a second. */
const SHOWN = 5_000;

describe("dashboard", () => {
  const cl = useCluster({ nodes: [{ id: "node-a", extraArgs }, { id: "node-b", extraArgs }] });

  spec("shows two nodes and follows clients joining and leaving on both", async (t) => {
    const page = await newPage(t);
    if (!page) return;
    const a = cl.node("node-a");
    const row = page.locator('#hubs tr[data-hub="testhub"]');
    const perNode = (node) => row.locator(`.per-node [data-node="${node}"]`);

    // A key that is not one: the page asks again.
    await page.goto(`${a.url}/dashboard#key=not-the-key-0123456789`);
    await page.locator("#key-form").waitFor({ state: "visible", timeout: SHOWN });
    assert.match(await page.locator("#state").textContent(), /refused/);
    await page.fill("#key", KEY);
    await page.click("#key-form button");

    // Both nodes, alive, each serving testhub at the version its /healthz names.
    for (const node of cl.all) {
      const nodeRow = page.locator(`#nodes tr[data-node="${node.nodeId}"]`);
      await nodeRow.locator(".alive").waitFor({ timeout: SHOWN });
      const sha256 = (await (await fetch(`${node.url}/healthz`)).json()).hubs.find((h) => h.name === "testhub").sha256;
      await nodeRow.locator(`[data-hub="testhub"]`, { hasText: sha256.slice(0, 12) }).waitFor({ timeout: SHOWN });
    }

    const onA = await cl.connect("node-a", TESTHUB, { query: { user: "kim" }, ready: ["GetUser"] });
    const onB1 = await cl.connect("node-b", TESTHUB, { query: { user: "lee" }, ready: ["GetUser"] });
    const onB2 = await cl.connect("node-b", TESTHUB, { query: { user: "lee" }, ready: ["GetUser"] });
    await onB1.invoke("AddToGroup", onB1.connectionId, "ops");
    await onA.invoke("AddToGroup", onA.connectionId, "ops");
    await perNode("node-a").filter({ hasText: "node-a: 1" }).waitFor({ timeout: SHOWN });
    await perNode("node-b").filter({ hasText: "node-b: 2" }).waitFor({ timeout: SHOWN });
    await row.locator(".connections", { hasText: /^3$/ }).waitFor({ timeout: SHOWN });
    await row.locator(".users", { hasText: /^2$/ }).waitFor({ timeout: SHOWN });
    await row.locator('.groups [data-group="ops"]', { hasText: "ops (2)" }).waitFor({ timeout: SHOWN });

    // A trap on node-b shows among the recent events, named by its node.
    await assert.rejects(onB2.invoke("Panic", "for the dashboard"), /HubTrap/);
    await page.locator('#events tr[data-kind="trap"]', { hasText: "for the dashboard" }).first().waitFor({ timeout: SHOWN });

    mkdirSync(path.join(ROOT, "target"), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, "target", "dashboard.png"), fullPage: true });

    // Leaving: node-b's clients go, node-a's count stays.
    await onB1.stop();
    await onB2.stop();
    await row.locator(".connections", { hasText: /^1$/ }).waitFor({ timeout: SHOWN });
    assert.equal(await perNode("node-b").count(), 0);
    await perNode("node-a").filter({ hasText: "node-a: 1" }).waitFor({ timeout: SHOWN });
    await row.locator(".users", { hasText: /^1$/ }).waitFor({ timeout: SHOWN });
    // The only error the page met is the refused key's 401.
    assert.deepEqual(page.errors.filter((e) => !e.includes("401 (Unauthorized)")), []);
    assert.equal(page.errors.length, 1);
    await page.close();
  });
});

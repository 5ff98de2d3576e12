// Misbehaving hub code: panics, endless loops and endless allocation become
// Completion errors (HubTrap) for the one call; the connection, other clients
// and the host process carry on.

import { describe, before } from "node:test";
import assert from "node:assert/strict";
import { useHost, spec, rejection, withDeadline } from "./harness.mjs";

const HUB = "/hubs/testhub";
const PREFIX = (m) => `An unexpected error occurred invoking '${m}' on the server. HubTrap: `;

describe("isolation", () => {
  const fx = useHost(["--hub-deadline", "300ms", "--hub-memory", "32MiB"]);
  let victim, bystander;

  before(async () => {
    victim = await fx.connect(HUB);
    bystander = await fx.connect(HUB);
  });

  async function stillWorks() {
    assert.equal(await victim.invoke("Echo", "victim ok"), "victim ok");
    assert.equal(await bystander.invoke("Echo", "bystander ok"), "bystander ok");
    assert.equal(victim.state, "Connected");
    assert.equal(bystander.state, "Connected");
    assert.ok(fx.host.alive(), "the host process exited");
  }

  spec("Panic gives a HubTrap error with the panic's reason; the connection keeps working", async () => {
    const e = await rejection(victim.invoke("Panic", "boom-12345"), 10_000, "Panic to fail");
    assert.ok(e.message.startsWith(PREFIX("Panic")), e.message);
    // The panic's own message reaches the client.
    assert.match(e.message.slice(PREFIX("Panic").length), /panic.*boom-12345/is);
    await stillWorks();
  });

  spec("SpinForever is stopped by the hub deadline", async () => {
    const t0 = Date.now();
    const e = await rejection(victim.invoke("SpinForever"), 10_000, "SpinForever to fail");
    const elapsed = Date.now() - t0;
    assert.ok(e.message.startsWith(PREFIX("SpinForever")), e.message);
    assert.match(e.message, /deadline/i);
    assert.ok(elapsed >= 250, `stopped after ${elapsed} ms, before the 300 ms deadline`);
    assert.ok(elapsed < 5_000, `stopped only after ${elapsed} ms`);
    await stillWorks();
  });

  spec("AllocateForever is stopped by the hub memory limit", async () => {
    const e = await rejection(victim.invoke("AllocateForever"), 10_000, "AllocateForever to fail");
    assert.ok(e.message.startsWith(PREFIX("AllocateForever")), e.message);
    assert.match(e.message, /memory/i);
    await stillWorks();
  });

  spec("another client is served while a call spins", async () => {
    const spin = victim.invoke("SpinForever");
    let spinSettled = false;
    spin.then(
      () => (spinSettled = true),
      () => (spinSettled = true),
    );
    // The bystander's calls complete while the spin is still running.
    for (let i = 0; i < 3; i++) {
      assert.equal(await bystander.invoke("Echo", `during spin ${i}`), `during spin ${i}`);
    }
    assert.equal(spinSettled, false, "the spinning call finished before the bystander's echoes");
    const e = await rejection(spin, 10_000, "SpinForever to fail");
    assert.match(e.message, /HubTrap: .*deadline/is);
    await stillWorks();
  });

  spec("repeated traps do not wear the host down", async () => {
    for (let i = 0; i < 5; i++) {
      const e = await rejection(victim.invoke("Panic", `again ${i}`), 10_000, "Panic to fail");
      assert.ok(e.message.startsWith(PREFIX("Panic")), e.message);
      const e2 = await rejection(victim.invoke("AllocateForever"), 10_000, "AllocateForever to fail");
      assert.match(e2.message, /HubTrap: .*memory/is);
    }
    await stillWorks();
  });

  spec("traps on several connections at once", async () => {
    const others = await Promise.all([0, 1, 2].map(() => fx.connect(HUB)));
    const errors = await withDeadline(
      Promise.all(
        others.map((c, i) =>
          rejection(
            [() => c.invoke("Panic", "p"), () => c.invoke("SpinForever"), () => c.invoke("AllocateForever")][i](),
            15_000,
          ),
        ),
      ),
      20_000,
      "three traps",
    );
    assert.match(errors[0].message, /HubTrap: .*\bp\b/s);
    assert.match(errors[1].message, /HubTrap: .*deadline/is);
    assert.match(errors[2].message, /HubTrap: .*memory/is);
    for (const c of others) assert.equal(await c.invoke("Echo", "after"), "after");
    await Promise.all(others.map((c) => c.stop()));
    await stillWorks();
  });
});

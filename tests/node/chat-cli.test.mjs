// The chat command-line client (examples/chat/client/cli.mjs) against a real
// host, driven through its stdin, with a SignalR client on the other side.

import { describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { useHost, spec, Queue, nextMessage, withDeadline, ROOT } from "./harness.mjs";

const CLI = path.join(ROOT, "examples", "chat", "client", "cli.mjs");

/** Spawns the CLI; stdout lines go into a Queue. */
function startCli(args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  const lines = new Queue("cli output");
  let buf = "";
  let err = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  exited.then((code) => lines.end(`cli exited with ${code}; stderr: ${err}`));
  return {
    child,
    lines,
    exited,
    stderr: () => err,
    type: (line) => child.stdin.write(line + "\n"),
    line: (pattern, ms) =>
      lines.next(ms, (l) => (typeof pattern === "string" ? l.includes(pattern) : pattern.test(l))),
    async kill() {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

describe("chat cli", () => {
  const fx = useHost();

  spec("--help prints the usage and exits 0", async () => {
    const cli = startCli(["--help"]);
    assert.equal(await withDeadline(cli.exited, 10_000, "cli --help"), 0);
    assert.match(cli.lines.all.join("\n"), /Usage: node examples\/chat\/client\/cli\.mjs --url URL --name NAME/);
    assert.match(cli.lines.all.join("\n"), /\/ask USER QUESTION/);
  });

  spec("talks, answers questions and quits", async () => {
    const cli = startCli(["--url", fx.url, "--name", "bob", "--room", "lobby", "--answer", "blue"]);
    try {
      await cli.line("connected to", 10_000);
      await cli.line("joined lobby");
      const alice = await fx.connect("/hubs/chat", { query: { name: "alice" }, record: ["Message"] });
      await alice.invoke("Join", "lobby");

      // Plain text goes to the current room.
      cli.type("hello from the cli");
      assert.deepEqual(await nextMessage(alice, "Message"), { room: "lobby", from: "bob", text: "hello from the cli" });

      // Incoming room messages and whispers are printed.
      await alice.invoke("Send", "lobby", "hi bob");
      await cli.line("[lobby] alice: hi bob");
      await alice.invoke("Whisper", "bob", "secret");
      await cli.line("(whisper) alice: secret");

      cli.type("/w alice psst");
      assert.deepEqual(await nextMessage(alice, "Message", undefined, (m) => m.room === null), {
        room: null,
        from: "bob",
        text: "psst",
      });

      cli.type("/who");
      await cli.line("in lobby: alice, bob");
      cli.type("/online");
      await cli.line("online: alice, bob");

      // Questions are answered with --answer, and printed.
      assert.equal(await alice.invoke("Ask", "bob", "favourite colour?"), "blue");
      await cli.line("? asked: favourite colour?");

      alice.on("Question", () => "alice says yes");
      cli.type("/ask alice ready?");
      await cli.line("alice answered: alice says yes");
      cli.type("/poll lunch?");
      await cli.line("poll in lobby: 2 answer(s)");
      await cli.line("alice: alice says yes");
      await cli.line("bob: blue");

      cli.type("/w nobody hello");
      await cli.line(/^! NotFound: .*nobody/);

      cli.type("/leave lobby");
      await cli.line("left lobby");
      cli.type("/quit");
      assert.equal(await withDeadline(cli.exited, 10_000, "cli to exit"), 0);
      await cli.line("bye");
      await alice.stop();
    } catch (e) {
      console.error("cli stderr:", cli.stderr());
      throw e;
    } finally {
      await cli.kill();
    }
  });

  spec("a refused connection is reported and exits non-zero", async () => {
    // Not a refusal by name: the name is empty after trimming.
    const cli = startCli(["--url", fx.url, "--name", " "]);
    const code = await withDeadline(cli.exited, 10_000, "cli to exit");
    assert.notEqual(code, 0);
    assert.match(cli.stderr() + cli.lines.all.join("\n"), /name/);
  });
});

/**
 * The client core against a real server that restarts: messages queued
 * for a guest are kept and retried until it is back, and each one that
 * cannot be delivered is reported.
 */

import { assert, assertEquals } from "@std/assert";
import { ClientCore, type CoreEvent } from "../lib/client/client_core.ts";
import { guest, startServer } from "./_helpers.ts";

function when(core: ClientCore, pred: (e: CoreEvent) => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(`timed out waiting for ${what}`));
    }, 10_000);
    core.on((e) => {
      if (!done && pred(e)) {
        done = true;
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

Deno.test("queued messages to a guest survive a server restart when the guest comes back later", async () => {
  const first = await startServer();
  const port = first.port;
  const alice = new ClientCore({
    host: "127.0.0.1",
    port,
    user: "alice",
    reconnect: { minDelayMs: 20, maxDelayMs: 50 },
    retryAbsentMs: 1500,
    retryAbsentEveryMs: 50,
  });
  await alice.start();
  {
    await using _bob = await guest(port, "bob");
    const reconnecting = when(
      alice,
      (e) => e.type === "state" && e.state === "reconnecting",
      "loss",
    );
    await first.shutdown();
    await reconnecting;
  }
  const toBob = alice.sendMessage("bob", "are you back?");
  const toNobody = alice.sendMessage("nobody", "anyone?");
  const waiting = when(
    alice,
    (e) => e.type === "line" && e.line.text.startsWith("bob is not online yet"),
    "the note that bob is not back",
  );
  await using _second = await startServer({ port });
  // alice is back first: bob is not, and her message waits for him.
  await waiting;
  await using bob = await guest(port, "bob");
  assertEquals((await bob.message(5000)).message, "are you back?");
  assertEquals((await toBob).ok, true);
  // Nobody called "nobody" ever comes: reported once the wait is over.
  const lost = await toNobody;
  assertEquals(lost.ok, false);
  assert(lost.text.includes("nobody called nobody"), lost.text);
  assertEquals(alice.queued, 0);
  await alice.quit();
});

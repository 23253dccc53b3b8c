/**
 * Connection caps (overall and per address: 503 and close), the handshake
 * timeout, and the lifetime of a closing connection whose peer stops reading.
 *
 * Short variant only (these are about behaviour, not volume); `JIM_LONG=1`
 * changes nothing here.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { guest, now, RawClient, startServer } from "./_helpers.ts";
import { fdCount, report, spawnServer } from "./_proc.ts";

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// -- caps --

Deno.test("caps: past --max-per-address a connection gets 503 and is closed; a freed slot is reused", async () => {
  await using server = await startServer({ maxPerAddress: 3, maxConnections: 0 });
  const held = await Promise.all(["a", "b", "c"].map((n) => guest(server.port, n)));
  try {
    await using refused = await RawClient.connect(server.port);
    const r = await refused.response();
    assertEquals(r.response, 503);
    assertEquals(r.error, "Cannot connect: too many connections from your address");
    await refused.waitClosed();
    // The refused one took no slot; the held ones still work.
    assertEquals(server.connections, 3);
    assertEquals((await held[0]!.request({ action: "who", time: now() })).response, 200);
    // Free one: a new connection is accepted again.
    await held[2]![Symbol.asyncDispose]();
    await until("the slot is free", () => server.connections === 2);
    await using again = await guest(server.port, "d");
    assertEquals((await again.request({ action: "who", time: now() })).response, 200);
  } finally {
    for (const c of held) await c[Symbol.asyncDispose]();
  }
});

Deno.test("caps: past --max-connections a connection gets 503 'server is full' and is closed", async () => {
  await using server = await startServer({ maxConnections: 4, maxPerAddress: 0 });
  const held = await Promise.all(["a", "b", "c", "d"].map((n) => guest(server.port, n)));
  try {
    for (let i = 0; i < 3; i++) {
      await using refused = await RawClient.connect(server.port);
      const r = await refused.response();
      assertEquals([r.response, r.error], [503, "Cannot connect: the server is full"]);
      await refused.waitClosed();
    }
    assertEquals(server.connections, 4);
  } finally {
    for (const c of held) await c[Symbol.asyncDispose]();
  }
});

// -- handshake timeout --

Deno.test("handshake: a silent connection and one sending only garbage are closed; one that sent a valid request stays", async () => {
  const timeout = 200;
  await using server = await startServer({
    handshakeTimeoutMs: timeout,
    probeIntervalMs: 60_000,
  });
  const t0 = performance.now();
  await using silent = await RawClient.connect(server.port);
  await using garbage = await RawClient.connect(server.port);
  await using valid = await RawClient.connect(server.port);
  assertEquals((await valid.request({ action: "who", time: now() })).response, 401);
  // Garbage keeps coming, but nothing valid: each gets 400, the clock runs on.
  let sending = true;
  const spam = (async () => {
    while (sending && !garbage.closed) {
      await garbage.writeRaw("hello?\n").catch(() => {});
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await silent.waitClosed(5000);
  const closedAfter = performance.now() - t0;
  await garbage.waitClosed(5000);
  sending = false;
  await spam;
  assert(garbage.inbox.every((o) => o.response === 400));
  assert(closedAfter >= timeout, `closed after ${closedAfter.toFixed(0)} ms`);
  // The valid one has outlived the timeout.
  assert(!valid.closed);
  assertEquals((await valid.request({ action: "who", time: now() })).response, 401);
  report(`handshake: a silent connection was closed after ${closedAfter.toFixed(0)} ms`);
});

// -- closing connections --

const PAD = "x".repeat(480);

/**
 * A client that asks for far more than socket buffers hold (messages to
 * itself), quits, and never reads: the server cannot flush its queue.
 */
async function quitWithoutReading(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = [JSON.stringify({ action: "presence", time: 1, user: { account_name: "zombie" } })];
  for (let i = 0; i < 12_000; i++) {
    lines.push(JSON.stringify({ action: "msg", time: 1, to: "zombie", message: `${i} ${PAD}` }));
  }
  lines.push(JSON.stringify({ action: "quit" }));
  const bytes = new TextEncoder().encode(lines.join("\n") + "\n");
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
  return conn;
}

/** About 6.5 MB of answers: more than the socket buffers, less than half the queue. */
const BIG_QUEUE = ["--max-queue-bytes", String(32 << 20), "--max-queue-objects", "100000"];

Deno.test("closing: a peer that quits and never reads is closed within --shutdown-grace, its descriptor freed", async () => {
  await using server = await spawnServer({ args: [...BIG_QUEUE, "--shutdown-grace", "1"] });
  // A connection of our own, so the count below is of sockets alone.
  await using probe = await guest(server.port, "probe");
  const base = await fdCount(server.pid);
  const conn = await quitWithoutReading(server.port);
  try {
    await until(
      "the server holds the zombie's socket",
      async () => (await fdCount(server.pid)) > base,
    );
    const t0 = performance.now();
    await until(
      "the server closes the zombie's socket",
      async () => (await fdCount(server.pid)) <= base,
      6000,
    );
    report(
      `closing: a peer that quit without reading was closed after ${
        (performance.now() - t0).toFixed(0)
      } ms`,
    );
    assertEquals((await probe.request({ action: "who", time: now() })).response, 200);
  } finally {
    conn.close();
  }
});

Deno.test("closing: SIGTERM stops the server within --shutdown-grace even with a peer that never reads", async () => {
  await using server = await spawnServer({ args: [...BIG_QUEUE, "--shutdown-grace", "1"] });
  const conn = await quitWithoutReading(server.port);
  try {
    const t0 = performance.now();
    server.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      server.exited,
      new Promise<null>((r) => timer = setTimeout(() => r(null), 6000)),
    ]).finally(() => clearTimeout(timer));
    const took = performance.now() - t0;
    report(`closing: SIGTERM with a peer that never reads: exited after ${took.toFixed(0)} ms`);
    assert(status !== null, `still running ${took.toFixed(0)} ms after SIGTERM`);
    assertEquals(status?.code, 0);
  } finally {
    conn.close();
  }
});

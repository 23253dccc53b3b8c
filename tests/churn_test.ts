/**
 * Churn: thousands of connect / presence / (join) / quit cycles against a
 * child server. Afterwards its open file descriptors return exactly to their
 * starting count, its resident memory to within {@linkcode RSS_TOLERANCE} of
 * where it started, and nobody is left online.
 *
 * Short variant (always): 2,000 cycles after 500 of warm-up. Long variant:
 * `JIM_LONG=1`, 20,000 cycles after 40,000 of warm-up.
 *
 * Why a warm-up: V8 and the allocator keep memory they have grown. Measured
 * here, a server's RSS climbs from about 45 to about 124 MiB over the first
 * 40,000 cycles and then stays there (60,000 to 120,000 cycles: +0.4 MiB; with
 * `--max-old-space-size=40` it levels at 98 MiB and never runs out), so that
 * growth is the heap finding its size, not a leak. After the long warm-up, a
 * leak of 1 KB per cycle would show as 20 MB.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { guest, now, RawClient } from "./_helpers.ts";
import { fdCount, mib, report, rssBytes, spawnServer } from "./_proc.ts";

const LONG = Deno.env.get("JIM_LONG") === "1";
const CYCLES = LONG ? 20_000 : 2_000;
const WARM_UP = LONG ? 40_000 : 500;
const WORKERS = 8;
/**
 * RSS after the cycles may exceed RSS before them by at most this much: V8
 * keeps some of the heap it grew, so "the starting level" is a band.
 */
const RSS_TOLERANCE = 10 * 1024 * 1024;

/** One cycle: connect, claim a name, sometimes join a room, quit, see the close. */
async function cycle(port: number, i: number): Promise<void> {
  await using c = await RawClient.connect(port);
  const r = await c.request({ action: "presence", time: now(), user: { account_name: `g${i}` } });
  if (r.response !== 200) throw new Error(`cycle ${i}: presence got ${JSON.stringify(r)}`);
  if (i % 4 === 0) {
    const j = await c.request({ action: "join", time: now(), room: `#churn${i % 10}` });
    if (j.response !== 200 && j.response !== 201) {
      throw new Error(`cycle ${i}: join got ${JSON.stringify(j)}`);
    }
  }
  await c.send({ action: "quit" });
  await c.waitClosed();
}

async function churn(port: number, from: number, n: number): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next < from + n) await cycle(port, next++);
    }),
  );
}

Deno.test(`churn: ${CYCLES} connect/presence/quit cycles leave descriptors and memory where they started`, async () => {
  // A per-address cap just above the workers: a leaked slot would soon refuse them.
  await using server = await spawnServer({ args: ["--max-per-address", String(WORKERS + 2)] });
  await using monitor = await guest(server.port, "monitor");
  await churn(server.port, 0, WARM_UP);

  // Sockets close just after the client sees its EOF: wait for the count to
  // hold still (the base), or to come back down to the base (the end).
  async function settledFds(target: number): Promise<number> {
    const deadline = Date.now() + 5000;
    let fds = await fdCount(server.pid);
    let same = 0;
    while (fds > target && same < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      const now = await fdCount(server.pid);
      same = now === fds ? same + 1 : 0;
      fds = now;
    }
    return fds;
  }
  const baseFds = await settledFds(0);
  const baseRss = await rssBytes(server.pid);

  const t0 = performance.now();
  await churn(server.port, WARM_UP, CYCLES);
  const elapsed = performance.now() - t0;

  const fds = await settledFds(baseFds);
  const rss = await rssBytes(server.pid);
  const online = await monitor.request({ action: "who", time: now() });
  report(
    `churn: ${CYCLES} cycles in ${elapsed.toFixed(0)} ms; fds ${baseFds} -> ${fds}; RSS ${
      mib(baseRss)
    } -> ${mib(rss)} (${rss >= baseRss ? "+" : ""}${mib(rss - baseRss)}, tolerance ${
      mib(RSS_TOLERANCE)
    })`,
  );
  assertEquals(fds, baseFds, "file descriptors leaked");
  assert(rss - baseRss < RSS_TOLERANCE, `RSS grew by ${mib(rss - baseRss)}`);
  assertEquals(online.users, ["monitor"], "sessions left online");
  // Guest rooms went with their guests.
  const room = await monitor.request({ action: "who", time: now(), target: "#churn0" });
  assertEquals(room.response, 404, JSON.stringify(room));
});

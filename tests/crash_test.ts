/**
 * Crash safety: a child server under steady load of messages to an offline
 * account (each answered 202) is killed with SIGKILL at seeded random points,
 * round after round, and restarted on the same database file without any
 * repair step. Afterwards every message answered 202 is delivered, and every
 * message is delivered exactly once.
 *
 * Short variant (always): 4 rounds. Long variant: `JIM_LONG=1`, 20 rounds.
 * `JIM_CRASH_SEED=N` picks another seed.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { guest, login, type Obj, register, tempDir } from "./_helpers.ts";
import { report, spawnServer } from "./_proc.ts";

const LONG = Deno.env.get("JIM_LONG") === "1";
const ROUNDS = LONG ? 20 : 4;
const SEED = Number(Deno.env.get("JIM_CRASH_SEED") ?? 0xc4a54);
/** Senders per round, each with this many requests in flight. */
const SENDERS = 3;
const WINDOW = 16;

/** mulberry32, as in fuzz_test.ts. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tally {
  sent: Set<string>;
  acked: Set<string>;
  other: Obj[];
}

/** Sends numbered messages to `inbox`, WINDOW at a time, until the server goes away. */
async function load(port: number, tag: string, tally: Tally, onAck: () => void): Promise<void> {
  let c;
  try {
    c = await guest(port, tag);
  } catch {
    return; // killed before we got in
  }
  try {
    for (let n = 0;; n += WINDOW) {
      const ids = Array.from({ length: WINDOW }, (_, i) => `${tag}-${n + i}`);
      const lines = ids.map((id) =>
        JSON.stringify({ action: "msg", time: 1, to: "inbox", message: id })
      );
      for (const id of ids) tally.sent.add(id);
      await c.writeRaw(lines.join("\n") + "\n");
      for (const id of ids) {
        const r = await c.response(10_000);
        if (r.response === 202) {
          tally.acked.add(id);
          onAck();
        } else tally.other.push(r);
      }
    }
  } catch {
    // The server was killed: what is unanswered may or may not be stored.
  } finally {
    await c[Symbol.asyncDispose]();
  }
}

Deno.test(`crash: ${ROUNDS} rounds of SIGKILL under load lose no 202-acknowledged message and deliver each once`, async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  const random = rng(SEED);
  const tally: Tally = { sent: new Set(), acked: new Set(), other: [] };
  const kills: string[] = [];
  {
    await using server = await spawnServer({ dbPath, args: ["--offline-limit", "1000000"] });
    await register(server.port, "inbox");
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Each round restarts on the file the last one was killed on.
    const server = await spawnServer({ dbPath, args: ["--offline-limit", "1000000"] });
    try {
      // Kill after a seeded number of 202s, or a seeded time after start.
      const byAcks = random() < 0.75;
      const target = byAcks ? 20 + Math.floor(random() * 300) : Math.floor(random() * 60);
      let acks = 0;
      let fire!: () => void;
      const killNow = new Promise<void>((r) => fire = r);
      const onAck = () => {
        if (byAcks && ++acks >= target) fire();
      };
      if (!byAcks) setTimeout(fire, target);
      const senders = Array.from(
        { length: SENDERS },
        (_, i) => load(server.port, `r${round}s${i}`, tally, onAck),
      );
      await killNow;
      server.kill("SIGKILL");
      const status = await server.exited;
      assertEquals(status.signal, "SIGKILL");
      await Promise.all(senders);
      kills.push(byAcks ? `${target} acks` : `${target} ms`);
    } finally {
      await server.stop();
    }
  }

  // A last, clean run: the account logs in and takes its mail.
  await using server = await spawnServer({ dbPath, args: ["--offline-limit", "1000000"] });
  await using inbox = await login(server.port, "inbox");
  {
    await using store = SqliteStore.open(dbPath);
    const deadline = Date.now() + 20_000;
    while ((await store.countOffline("inbox")) > 0) {
      if (Date.now() > deadline) throw new Error("offline mail was not all delivered");
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const status = await server.stop();
  assertEquals(status.code, 0, server.log());
  await inbox.reading;
  const delivered = inbox.inbox.filter((o) => o.action === "msg").map((o) => String(o.message));

  const counts = new Map<string, number>();
  for (const id of delivered) counts.set(id, (counts.get(id) ?? 0) + 1);
  const duplicates = [...counts].filter(([, n]) => n > 1);
  const lost = [...tally.acked].filter((id) => !counts.has(id));
  const strange = delivered.filter((id) => !tally.sent.has(id));
  report(
    `crash: seed ${SEED}, ${ROUNDS} SIGKILLs (after ${
      kills.join(", ")
    }); ${tally.sent.size} sent, ${tally.acked.size} answered 202, ${delivered.length} delivered (${
      delivered.length - tally.acked.size
    } stored but killed before their 202)`,
  );
  assertEquals(tally.other, [], "answers other than 202");
  assertEquals(lost, [], `${lost.length} acknowledged messages lost`);
  assertEquals(duplicates, [], "messages delivered more than once");
  assertEquals(strange, [], "messages nobody sent");
  assert(tally.acked.size > 0, "no load reached the server");
});

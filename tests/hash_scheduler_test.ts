import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  HashQueueFullError,
  HashScheduler,
  type HashScheduler as Scheduler,
  HashSchedulerClosedError,
  type HashTicket,
} from "../lib/server/hash_scheduler.ts";

/** A task that records when it starts and finishes only when released. */
function gate(order: string[], label: string) {
  let release!: () => void;
  const done = new Promise<void>((r) => release = r);
  return {
    release,
    task: () => {
      order.push(label);
      return done.then(() => label);
    },
  };
}

/** Queues `tickets` behind one running task; returns the start order once all ran. */
async function startOrder(s: Scheduler, tickets: (HashTicket & { label: string })[]) {
  const order: string[] = [];
  const first = gate(order, "first");
  const running = s.run({ kind: "login", source: "x", account: "x" }, first.task);
  const all = tickets.map((t) => s.run(t, () => Promise.resolve(order.push(t.label))));
  first.release();
  await running;
  await Promise.all(all);
  return order.slice(1);
}

function reg(source: string, account: string) {
  return { kind: "register" as const, source, account, label: `${source}/${account}` };
}

Deno.test("HashScheduler runs queued logins before queued registrations", async () => {
  const s = new HashScheduler({ concurrency: 1, maxQueued: 100 });
  const order = await startOrder(s, [
    reg("a", "r1"),
    reg("a", "r2"),
    { kind: "login", source: "b", account: "alice", label: "login" },
  ]);
  assertEquals(order, ["login", "a/r1", "a/r2"]);
});

Deno.test("HashScheduler takes turns round the sources, then round the accounts of a source", async () => {
  const s = new HashScheduler({ concurrency: 1, maxQueued: 100 });
  const order = await startOrder(s, [
    reg("a", "1"),
    reg("a", "2"),
    reg("a", "3"),
    reg("b", "1"),
    reg("c", "1"),
    reg("c", "1"),
    reg("c", "2"),
  ]);
  assertEquals(order, ["a/1", "b/1", "c/1", "a/2", "c/2", "a/3", "c/1"]);
});

Deno.test("HashScheduler never runs more than its concurrency at once", async () => {
  const s = new HashScheduler({ concurrency: 2, maxQueued: 100 });
  let now = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      s.run(reg(`s${i % 3}`, `${i}`), async () => {
        most = Math.max(most, ++now);
        await Promise.resolve();
        now--;
      })),
  );
  assertEquals(most, 2);
  assertEquals([s.running, s.queued], [0, 0]);
});

Deno.test("HashScheduler refuses beyond maxQueued; a login takes the place of the greediest source's latest registration", async () => {
  const s = new HashScheduler({ concurrency: 1, maxQueued: 3 });
  const order: string[] = [];
  const first = gate(order, "first");
  const running = s.run(reg("x", "x"), first.task);
  const a1 = s.run(reg("a", "1"), () => Promise.resolve("a1"));
  const b1 = s.run(reg("b", "1"), () => Promise.resolve("b1"));
  const b2 = s.run(reg("b", "2"), () => Promise.resolve("b2"));
  assertEquals([s.queued, s.pending("register", "b")], [3, 2]);
  await assertRejects(() => s.run(reg("c", "1"), () => Promise.resolve()), HashQueueFullError);
  const login = s.run(
    { kind: "login", source: "c", account: "alice" },
    () => Promise.resolve("in"),
  );
  await assertRejects(
    () => b2,
    HashQueueFullError,
    "Cannot queue password hash: the queue is full",
  );
  assertEquals(s.queued, 3);
  first.release();
  assertEquals(await Promise.all([running, login, a1, b1]), ["first", "in", "a1", "b1"]);
  assertEquals(s.pending("register", "b"), 0);
});

Deno.test("HashScheduler.close() refuses what waits and what comes later; what runs finishes", async () => {
  const s = new HashScheduler({ concurrency: 1, maxQueued: 100 });
  const order: string[] = [];
  const first = gate(order, "first");
  const running = s.run(reg("x", "x"), first.task);
  const waiting = Array.from(
    { length: 5 },
    (_, i) => s.run(reg("a", `${i}`), () => Promise.resolve()),
  );
  s.close();
  for (const w of waiting) {
    await assertRejects(() => w, HashSchedulerClosedError, "the server is shutting down");
  }
  await assertRejects(
    () => s.run(reg("b", "1"), () => Promise.resolve()),
    HashSchedulerClosedError,
  );
  first.release();
  assertEquals(await running, "first");
  assertEquals([s.running, s.queued, s.pending("register", "a")], [0, 0, 0]);
});

Deno.test("HashScheduler checks its options", () => {
  assertThrows(() => new HashScheduler({ concurrency: 0, maxQueued: 1 }), RangeError);
  assertThrows(() => new HashScheduler({ concurrency: 1, maxQueued: -1 }), RangeError);
});

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Semaphore } from "../lib/server/semaphore.ts";

Deno.test("Semaphore.run() never runs more than the limit at once and keeps order", async () => {
  const s = new Semaphore(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates = Array.from({ length: 6 }, () => Promise.withResolvers<void>());
  const tasks = gates.map((g, i) =>
    s.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await g.promise;
      running--;
      return i;
    })
  );
  await Promise.resolve();
  assertEquals([s.running, s.waiting], [2, 4]);
  for (const g of gates) g.resolve();
  assertEquals(await Promise.all(tasks), [0, 1, 2, 3, 4, 5]);
  assertEquals(peak, 2);
  assertEquals(order, [0, 1, 2, 3, 4, 5]);
  assertEquals([s.running, s.waiting], [0, 0]);
});

Deno.test("Semaphore.run() frees the slot when a task rejects", async () => {
  const s = new Semaphore(1);
  await assertRejects(() => s.run(() => Promise.reject(new Error("boom"))), Error, "boom");
  assertEquals(await s.run(() => Promise.resolve(7)), 7);
  assertThrows(() => new Semaphore(0), RangeError);
});

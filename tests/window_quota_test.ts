import { assertEquals } from "@std/assert";
import { WindowQuota } from "../lib/server/window_quota.ts";

function setup(limit: number, maxKeys?: number) {
  let t = 1_000_000;
  const clock = { now: () => t, advance: (ms: number) => t += ms };
  const quota = new WindowQuota({
    limit,
    windowMs: 60_000,
    now: clock.now,
    ...(maxKeys === undefined ? {} : { maxKeys }),
  });
  return { quota, clock };
}

Deno.test("WindowQuota.take() grants limit uses per key per window, then says how long to wait", () => {
  const { quota, clock } = setup(2);
  assertEquals([quota.take("a"), quota.take("a"), quota.take("b")], [0, 0, 0]);
  assertEquals(quota.take("a"), 60);
  clock.advance(59_500);
  assertEquals(quota.take("a"), 1);
  clock.advance(500);
  assertEquals(quota.take("a"), 0);
});

Deno.test("WindowQuota.refund() gives a use back", () => {
  const { quota } = setup(1);
  assertEquals(quota.take("a"), 0);
  quota.refund("a");
  assertEquals(quota.take("a"), 0);
  assertEquals(quota.take("a") > 0, true);
});

Deno.test("WindowQuota with limit 0 grants everything", () => {
  const { quota } = setup(0);
  for (let i = 0; i < 100; i++) assertEquals(quota.take("a"), 0);
});

Deno.test("WindowQuota forgets the oldest keys past maxKeys, never the newest", () => {
  const { quota } = setup(1, 3);
  for (const k of ["a", "b", "c", "d"]) assertEquals(quota.take(k), 0);
  assertEquals(quota.take("d") > 0, true);
  assertEquals(quota.take("c") > 0, true);
  assertEquals(quota.take("a"), 0); // forgotten
});

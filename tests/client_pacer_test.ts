import { assertEquals, assertThrows } from "@std/assert";
import { Pacer } from "../lib/client/pacer.ts";

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

Deno.test("Pacer lets a burst go, then one request per 1/rate seconds", () => {
  const c = clock();
  const p = new Pacer({ rate: 10, burst: 2, now: c.now });
  for (let i = 0; i < 2; i++) {
    assertEquals(p.delay(), 0);
    p.take();
  }
  assertEquals(p.delay(), 100);
  c.advance(100);
  assertEquals(p.delay(), 0);
});

Deno.test("Pacer.slowDown() halves the rate (not below 1) and empties the bucket", () => {
  const c = clock();
  const p = new Pacer({ rate: 4, now: c.now });
  p.slowDown();
  assertEquals(p.rate, 2);
  assertEquals(p.delay(), 500);
  for (let i = 0; i < 5; i++) p.slowDown();
  assertEquals(p.rate, 1);
});

Deno.test("Pacer with rate 0 never waits; a negative rate is a RangeError", () => {
  const p = new Pacer({ rate: 0 });
  for (let i = 0; i < 1000; i++) p.take();
  assertEquals(p.delay(), 0);
  assertThrows(() => new Pacer({ rate: -1 }), RangeError);
});

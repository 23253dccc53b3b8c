import { assertEquals, assertThrows } from "@std/assert";
import { TokenBucket } from "../lib/server/token_bucket.ts";

/** A clock the test moves by hand. */
function fakeClock(): { now: () => number; advance(ms: number): void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => t += ms };
}

function takeAll(bucket: TokenBucket, max = 1000): number {
  let n = 0;
  while (n < max && bucket.take()) n++;
  return n;
}

Deno.test("TokenBucket starts full: a burst passes, the next request is refused", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ rate: 10, burst: 5, now: clock.now });
  assertEquals(takeAll(bucket), 5);
  assertEquals(bucket.take(), false);
});

Deno.test("TokenBucket refills at its rate, fractions included", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ rate: 10, burst: 5, now: clock.now });
  takeAll(bucket);
  clock.advance(50); // half a token
  assertEquals(bucket.take(), false);
  clock.advance(50); // one token in all
  assertEquals(bucket.take(), true);
  assertEquals(bucket.take(), false);
  clock.advance(250); // two and a half
  assertEquals(takeAll(bucket), 2);
  clock.advance(50); // the half left over, and another half
  assertEquals(takeAll(bucket), 1);
});

Deno.test("TokenBucket never holds more than its burst, however long it idles", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ rate: 100, burst: 3, now: clock.now });
  takeAll(bucket);
  clock.advance(3_600_000);
  assertEquals(takeAll(bucket), 3);
});

Deno.test("TokenBucket sustains exactly its rate over time", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ rate: 20, burst: 1, now: clock.now });
  let passed = 0;
  for (let ms = 0; ms < 10_000; ms++) {
    if (bucket.take()) passed++;
    clock.advance(1);
  }
  // The full burst at the start, then 20 a second for 10 s.
  assertEquals(passed, 1 + 200 - 1);
});

Deno.test("TokenBucket with rate 0 never refuses", () => {
  const bucket = new TokenBucket({ rate: 0, burst: 1, now: () => 0 });
  assertEquals(takeAll(bucket, 10_000), 10_000);
});

Deno.test("TokenBucket rejects a negative or NaN rate and a burst below 1", () => {
  for (const [rate, burst] of [[-1, 5], [NaN, 5], [10, 0], [10, NaN]] as const) {
    assertThrows(() => new TokenBucket({ rate, burst }), RangeError, "Cannot create token bucket");
  }
});

Deno.test("TokenBucket.take() as of an earlier time counts no tokens that came later", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ rate: 10, burst: 3, now: clock.now });
  const readAt = clock.now();
  clock.advance(1000); // the requests read at `readAt` are handled a second later
  let n = 0;
  while (n < 10 && bucket.take(readAt)) n++;
  assertEquals(n, 3);
  assertEquals(bucket.take(readAt - 500), false, "a time before the last take counts as its");
  assertEquals(bucket.take(), true, "now, the second since is counted");
});

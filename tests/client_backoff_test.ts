import { assertEquals, assertRejects } from "@std/assert";
import { backoffDelay, wait } from "../lib/client/backoff.ts";

Deno.test("backoffDelay() doubles up to the cap, with jitter between half and all of it", () => {
  const options = { minDelayMs: 100, maxDelayMs: 1000 };
  const high = { ...options, random: () => 0.999999 };
  const low = { ...options, random: () => 0 };
  assertEquals([1, 2, 3, 4, 5, 50].map((a) => backoffDelay(a, high)), [
    100,
    200,
    400,
    800,
    1000,
    1000,
  ]);
  assertEquals([1, 2, 3, 4, 5].map((a) => backoffDelay(a, low)), [50, 100, 200, 400, 500]);
});

Deno.test("wait() rejects when aborted", async () => {
  const controller = new AbortController();
  const waiting = wait(10_000, controller.signal);
  controller.abort(new Error("stop"));
  await assertRejects(() => waiting, Error, "stop");
});

import { assertEquals } from "@std/assert";
import { AuthGuard } from "../lib/server/auth_guard.ts";

function setup(maxFailures = 3) {
  let t = 1_000_000;
  const clock = { now: () => t, advance: (ms: number) => t += ms };
  const guard = new AuthGuard({ maxFailures, windowMs: 60_000, lockoutMs: 10_000, now: clock.now });
  return { guard, clock };
}

Deno.test("AuthGuard locks an account after maxFailures within the window, for lockoutMs", () => {
  const { guard, clock } = setup();
  guard.fail("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.2");
  assertEquals(guard.lockedFor("alice", "10.0.0.3"), 0);
  guard.fail("alice", "10.0.0.3");
  assertEquals(guard.lockedFor("alice", "10.0.0.4"), 10);
  clock.advance(9_001);
  assertEquals(guard.lockedFor("alice", "10.0.0.4"), 1);
  clock.advance(999);
  assertEquals(guard.lockedFor("alice", "10.0.0.4"), 0);
});

Deno.test("AuthGuard locks an address after maxFailures, whatever the accounts", () => {
  const { guard } = setup();
  for (const name of ["a", "b", "c"]) guard.fail(name, "10.0.0.1");
  assertEquals(guard.lockedFor("d", "10.0.0.1"), 10);
  assertEquals(guard.lockedFor("a", "10.0.0.2"), 0);
});

Deno.test("AuthGuard forgets failures older than the window", () => {
  const { guard, clock } = setup();
  guard.fail("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.1");
  clock.advance(60_001);
  guard.fail("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.1");
  assertEquals(guard.lockedFor("alice", "10.0.0.1"), 0);
  guard.fail("alice", "10.0.0.1");
  assertEquals(guard.lockedFor("alice", "10.0.0.1"), 10);
});

Deno.test("AuthGuard.succeed() clears the account's failures, not the address's", () => {
  const { guard } = setup();
  guard.fail("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.1");
  guard.succeed("alice");
  guard.fail("alice", "10.0.0.2");
  guard.fail("alice", "10.0.0.3");
  assertEquals(guard.lockedFor("alice", "10.0.0.9"), 0);
  guard.fail("bob", "10.0.0.1");
  assertEquals(guard.lockedFor("carol", "10.0.0.1"), 10);
});

Deno.test("AuthGuard starts counting afresh after a lockout ends", () => {
  const { guard, clock } = setup();
  for (let i = 0; i < 3; i++) guard.fail("alice", `10.0.0.${i}`);
  clock.advance(10_000);
  assertEquals(guard.lockedFor("alice", "10.0.0.9"), 0);
  guard.fail("alice", "10.0.0.9");
  assertEquals(guard.lockedFor("alice", "10.0.0.8"), 0);
});

Deno.test("AuthGuard.begin() counts attempts in flight, so concurrent guesses stop at the limit", () => {
  const { guard } = setup();
  const started = Array.from({ length: 10 }, (_, i) => guard.begin("alice", `10.0.0.${i}`));
  assertEquals(started, [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
  // The three in flight fail: the account is locked for the full lockout.
  for (let i = 0; i < 3; i++) {
    guard.end("alice", `10.0.0.${i}`);
    guard.fail("alice", `10.0.0.${i}`);
  }
  assertEquals(guard.begin("alice", "10.0.0.9"), 10);
});

Deno.test("AuthGuard.begin() counts earlier failures in the window with those in flight", () => {
  const { guard } = setup();
  guard.fail("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.2");
  assertEquals(guard.begin("alice", "10.0.0.3"), 0);
  assertEquals(guard.begin("alice", "10.0.0.4"), 1);
  // It succeeds: the next attempt may start.
  guard.end("alice", "10.0.0.3");
  guard.succeed("alice");
  assertEquals(guard.begin("alice", "10.0.0.4"), 0);
  guard.end("alice", "10.0.0.4");
});

Deno.test("AuthGuard.begin() per address: one address cannot run more guesses at once than the limit", () => {
  const { guard } = setup();
  const started = ["a", "b", "c", "d"].map((name) => guard.begin(name, "10.0.0.1"));
  assertEquals(started, [0, 0, 0, 1]);
  for (const name of ["a", "b", "c"]) guard.end(name, "10.0.0.1");
  assertEquals(guard.begin("d", "10.0.0.1"), 0);
});

Deno.test("AuthGuard keeps a lockout through a spray of failures from many names and addresses", () => {
  const { guard } = setup(5);
  for (let i = 0; i < 5; i++) guard.fail("victim", `10.9.9.${i}`);
  assertEquals(guard.lockedFor("victim", "10.0.0.1"), 10);
  // Enough distinct keys to make the guard forget some (it holds 100,000).
  for (let i = 0; i < 90_000; i++) {
    guard.fail(`name${i}`, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  }
  assertEquals(guard.lockedFor("victim", "10.0.0.1"), 10);
});

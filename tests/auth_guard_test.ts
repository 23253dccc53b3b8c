import { assertEquals } from "@std/assert";
import { AuthGuard } from "../lib/server/auth_guard.ts";

function setup(maxFailures = 3, maxAddressFailures = 6) {
  let t = 1_000_000;
  const clock = { now: () => t, advance: (ms: number) => t += ms };
  const guard = new AuthGuard({
    maxFailures,
    maxAddressFailures,
    windowMs: 60_000,
    lockoutMs: 10_000,
    now: clock.now,
  });
  return { guard, clock };
}

Deno.test("AuthGuard locks an account from one address after maxFailures within the window, for lockoutMs", () => {
  const { guard, clock } = setup();
  guard.fail("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.1");
  assertEquals(guard.lockedFor("alice", "10.0.0.1"), 0);
  guard.fail("alice", "10.0.0.1");
  assertEquals(guard.lockedFor("alice", "10.0.0.1"), 10);
  clock.advance(9_001);
  assertEquals(guard.lockedFor("alice", "10.0.0.1"), 1);
  clock.advance(999);
  assertEquals(guard.lockedFor("alice", "10.0.0.1"), 0);
});

Deno.test("AuthGuard: failures from other addresses never lock the owner's address out", () => {
  const { guard } = setup();
  for (let i = 0; i < 30; i++) guard.fail("alice", `10.0.9.${i % 10}`);
  assertEquals(guard.lockedFor("alice", "10.0.9.0"), 10);
  assertEquals(guard.lockedFor("alice", "192.168.1.7"), 0);
  assertEquals(guard.begin("alice", "192.168.1.7"), 0);
});

Deno.test("AuthGuard locks an address after maxAddressFailures, whatever the accounts", () => {
  const { guard } = setup();
  for (const name of ["a", "b", "c", "d", "e"]) guard.fail(name, "10.0.0.1");
  assertEquals(guard.lockedFor("z", "10.0.0.1"), 0);
  guard.fail("f", "10.0.0.1");
  assertEquals(guard.lockedFor("z", "10.0.0.1"), 10);
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

Deno.test("AuthGuard.succeed() clears the pair's failures, not the address's", () => {
  const { guard } = setup();
  guard.fail("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.1");
  guard.succeed("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.1");
  assertEquals(guard.lockedFor("alice", "10.0.0.1"), 0);
  // Four failures stay counted for the address: two more lock it.
  guard.fail("bob", "10.0.0.1");
  assertEquals(guard.lockedFor("carol", "10.0.0.1"), 0);
  guard.fail("bob", "10.0.0.1");
  assertEquals(guard.lockedFor("carol", "10.0.0.1"), 10);
});

Deno.test("AuthGuard starts counting afresh after a lockout ends", () => {
  const { guard, clock } = setup();
  for (let i = 0; i < 3; i++) guard.fail("alice", "10.0.0.1");
  clock.advance(10_000);
  assertEquals(guard.lockedFor("alice", "10.0.0.1"), 0);
  guard.fail("alice", "10.0.0.1");
  assertEquals(guard.lockedFor("alice", "10.0.0.1"), 0);
});

Deno.test("AuthGuard.begin() counts attempts in flight, so concurrent guesses stop at the limit", () => {
  const { guard } = setup();
  const started = Array.from({ length: 10 }, () => guard.begin("alice", "10.0.0.1"));
  assertEquals(started, [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
  // The three in flight fail: the pair is locked for the full lockout.
  for (let i = 0; i < 3; i++) {
    guard.end("alice", "10.0.0.1");
    guard.fail("alice", "10.0.0.1");
  }
  assertEquals(guard.begin("alice", "10.0.0.1"), 10);
  // Guesses in flight from elsewhere do not hold the owner back.
  assertEquals(guard.begin("alice", "10.0.0.2"), 0);
});

Deno.test("AuthGuard.begin() counts earlier failures in the window with those in flight", () => {
  const { guard } = setup();
  guard.fail("alice", "10.0.0.1");
  guard.fail("alice", "10.0.0.1");
  assertEquals(guard.begin("alice", "10.0.0.1"), 0);
  assertEquals(guard.begin("alice", "10.0.0.1"), 1);
  // It succeeds: the next attempt may start.
  guard.end("alice", "10.0.0.1");
  guard.succeed("alice", "10.0.0.1");
  assertEquals(guard.begin("alice", "10.0.0.1"), 0);
  guard.end("alice", "10.0.0.1");
});

Deno.test("AuthGuard.begin() per address: one address cannot run more guesses at once than its limit", () => {
  const { guard } = setup();
  const started = ["a", "b", "c", "d", "e", "f", "g"].map((name) => guard.begin(name, "10.0.0.1"));
  assertEquals(started, [0, 0, 0, 0, 0, 0, 1]);
  for (const name of ["a", "b", "c"]) guard.end(name, "10.0.0.1");
  assertEquals(guard.begin("g", "10.0.0.1"), 0);
});

Deno.test("AuthGuard keeps a lockout through a spray of failures from many names and addresses", () => {
  const { guard } = setup(5);
  for (let i = 0; i < 5; i++) guard.fail("victim", "10.9.9.9");
  assertEquals(guard.lockedFor("victim", "10.9.9.9"), 10);
  // Enough distinct keys to make the guard forget some (it holds 100,000).
  for (let i = 0; i < 90_000; i++) {
    guard.fail(`name${i}`, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  }
  assertEquals(guard.lockedFor("victim", "10.9.9.9"), 10);
});

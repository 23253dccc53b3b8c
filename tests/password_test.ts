import { assert, assertEquals, assertMatch, assertNotEquals, assertRejects } from "@std/assert";
import {
  DEFAULT_HASH_ITERATIONS,
  dummyVerify,
  hashPassword,
  verifyPassword,
} from "../lib/auth/password.ts";

const FAST = { iterations: 1000 };

Deno.test("hashPassword() encodes scheme, iterations, salt and hash", async () => {
  const encoded = await hashPassword("correct horse", FAST);
  assertMatch(encoded, /^pbkdf2-sha256\$1000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
});

Deno.test("hashPassword() salts: the same password hashes differently", async () => {
  assertNotEquals(await hashPassword("same", FAST), await hashPassword("same", FAST));
});

Deno.test("verifyPassword() accepts the right password and refuses a wrong one", async () => {
  const encoded = await hashPassword("correct horse", FAST);
  assertEquals(await verifyPassword("correct horse", encoded), true);
  assertEquals(await verifyPassword("correct horsE", encoded), false);
  assertEquals(await verifyPassword("", encoded), false);
});

Deno.test("verifyPassword() handles non-ASCII passwords", async () => {
  const encoded = await hashPassword("пароль🔑", FAST);
  assertEquals(await verifyPassword("пароль🔑", encoded), true);
  assertEquals(await verifyPassword("пароль", encoded), false);
});

Deno.test("verifyPassword() uses the iteration count stored in the hash", async () => {
  const encoded = await hashPassword("secret", { iterations: 1234 });
  assertMatch(encoded, /^pbkdf2-sha256\$1234\$/);
  assertEquals(await verifyPassword("secret", encoded), true);
  assertEquals(await verifyPassword("secret", encoded.replace("$1234$", "$1235$")), false);
});

Deno.test("verifyPassword() matches standard PBKDF2-HMAC-SHA256 vectors", async () => {
  // The RFC 6070 inputs (P="password", S="salt") with SHA-256, dkLen=32; same as Python hashlib.
  const salt = btoa("salt");
  const c1 = "Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=";
  const c4096 = "xeR41ZKIyEGqUw22hFxMjZYok6ABzk4RpJY4c6qYE0o=";
  assertEquals(await verifyPassword("password", `pbkdf2-sha256$1$${salt}$${c1}`), true);
  assertEquals(await verifyPassword("password", `pbkdf2-sha256$4096$${salt}$${c4096}`), true);
  assertEquals(await verifyPassword("password", `pbkdf2-sha256$2$${salt}$${c1}`), false);
});

Deno.test("verifyPassword() returns false for malformed hashes", async () => {
  const good = await hashPassword("pw", FAST);
  const [, , salt = "", hash = ""] = good.split("$");
  const malformed = [
    "",
    "pw",
    "$$$",
    `pbkdf2-sha512$1000$${salt}$${hash}`,
    `pbkdf2-sha256$0$${salt}$${hash}`,
    `pbkdf2-sha256$-5$${salt}$${hash}`,
    `pbkdf2-sha256$1e3$${salt}$${hash}`,
    `pbkdf2-sha256$01000$${salt}$${hash}`,
    `pbkdf2-sha256$99999999999$${salt}$${hash}`,
    `pbkdf2-sha256$1000$$${hash}`,
    `pbkdf2-sha256$1000$${salt}$`,
    `pbkdf2-sha256$1000$${salt}$${hash.slice(0, 20)}`,
    `pbkdf2-sha256$1000$not*base64$${hash}`,
    `pbkdf2-sha256$1000$${salt}$${hash}$extra`,
    `pbkdf2-sha256$1000$${salt}`,
  ];
  for (const encoded of malformed) {
    assertEquals(await verifyPassword("pw", encoded), false, encoded);
  }
});

Deno.test("hashPassword() rejects an invalid iteration count", async () => {
  for (const iterations of [0, -1, 1.5, Number.NaN, 20_000_000]) {
    await assertRejects(() => hashPassword("pw", { iterations }), RangeError, "iterations");
  }
});

Deno.test("dummyVerify() resolves false", async () => {
  assertEquals(await dummyVerify("anything", FAST), false);
});

Deno.test("hashPassword() at the default cost leaves the event loop responsive", async () => {
  // The property, not a speed figure: four real-cost hashes run off the main
  // thread, so a 2 ms interval never waits long. (About 100 ms per hash and
  // 200 ms for four on the 2-core dev machine; a blocking hash would stall
  // the loop for the whole time.)
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 2);
  const started = performance.now();
  let hashes: string[];
  try {
    hashes = await Promise.all([1, 2, 3, 4].map((i) => hashPassword(`password ${i}`)));
  } finally {
    clearInterval(timer);
  }
  const elapsed = performance.now() - started;
  for (const encoded of hashes) assertMatch(encoded, /^pbkdf2-sha256\$600000\$/);
  assertEquals(DEFAULT_HASH_ITERATIONS, 600_000);
  assert(ticks > 0, "the interval never ran");
  assert(maxGap < 50, `event loop blocked for ${maxGap.toFixed(1)} ms (4 hashes: ${elapsed} ms)`);
});

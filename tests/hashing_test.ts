/**
 * Password hashing under load: logins ahead of registrations, turns fair
 * across addresses, the queue bounded, per-address registration limits, and
 * shutdown refusing what is still queued.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import type { Outgoing } from "../lib/protocol/codec.ts";
import type { Request, Response } from "../lib/protocol/messages.ts";
import { Hub, type Peer, type Pin } from "../lib/server/hub.ts";
import { SERVER_DEFAULTS } from "../lib/server/options.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { HookedStore } from "./_hooked_store.ts";
import { auth, type Obj, RawClient, register, startServer, tempDir } from "./_helpers.ts";
import { spawnServer } from "./_proc.ts";

class FakePeer implements Peer {
  readonly address: string;
  constructor(address: string) {
    this.address = address;
  }
  send(_: Outgoing): boolean {
    return true;
  }
  drain(): Promise<boolean> {
    return Promise.resolve(true);
  }
  close(): void {}
  abort(): void {}
  // Written at once: nothing is ever held back.
  pin(): Pin {
    return "gone";
  }
  unpin(): boolean {
    return false;
  }
}

function registration(name: string): Request {
  return { action: "register", time: 1, user: { account_name: name, password: "long enough" } };
}

/** Resolves once every promise callback queued so far has run (one turn of the loop). */
function turn(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

Deno.test("hashing: with ten addresses flooding registrations, a login is next in line", async () => {
  await using store = SqliteStore.open(":memory:");
  const hub = await Hub.create({
    store,
    settings: { ...SERVER_DEFAULTS, hashIterations: 20_000, hashConcurrency: 1 },
  });
  const owner = hub.connect(new FakePeer("192.168.1.20"));
  assertEquals((await hub.handle(owner, registration("alice"))).response, 201);
  // Ten addresses, each with as many registrations as it may have in flight
  // and then some (the excess is refused at once).
  const answered: string[] = [];
  const flood: Promise<Response>[] = [];
  for (let a = 0; a < 10; a++) {
    for (let i = 0; i < 8; i++) {
      const session = hub.connect(new FakePeer(`10.0.${a}.1`));
      flood.push(
        Promise.resolve(hub.handle(session, registration(`junk${a}x${i}`))).then((r) => {
          if (r.response === 201) answered.push(`junk${a}x${i}`);
          return r;
        }),
      );
    }
  }
  await turn(); // every registration has reached the queue
  const createdBefore = answered.length;
  const login = Promise.resolve(hub.handle(owner, {
    action: "authenticate",
    time: 1,
    user: { account_name: "alice", password: "long enough" },
  })).then((r) => {
    answered.push("LOGIN");
    return r;
  });
  assertEquals((await login).response, 200);
  const codes = (await Promise.all(flood)).map((r) => r.response);
  const created = codes.filter((c) => c === 201).length;
  // The flood was there: most of it still queued when the login came.
  assert(created - createdBefore >= 10, `only ${created - createdBefore} registrations queued`);
  // The login waited for the hash running when it came (and one more if that
  // ended while its account was looked up), not for the queue.
  const position = answered.indexOf("LOGIN") - createdBefore;
  assert(position <= 2, `the login came after ${position} registrations: ${answered.join(" ")}`);
  // And each address had only its share: two at a time (--register-pending).
  assertEquals(created, 10 * SERVER_DEFAULTS.registerPending, JSON.stringify(codes));
  assert(codes.every((c) => c === 201 || c === 429), JSON.stringify(codes));
});

Deno.test("hashing: turns go round the addresses, so one flooding address cannot delay another's registration", async () => {
  await using store = SqliteStore.open(":memory:");
  const hub = await Hub.create({
    store,
    settings: {
      ...SERVER_DEFAULTS,
      hashIterations: 20_000,
      hashConcurrency: 1,
      registerPending: 0,
      registerLimit: 0,
      authAddressFailures: 1000,
    },
  });
  const order: string[] = [];
  const all: Promise<unknown>[] = [];
  function start(address: string, name: string): void {
    const session = hub.connect(new FakePeer(address));
    all.push(
      Promise.resolve(hub.handle(session, registration(name))).then((r) => {
        assertEquals(r.response, 201);
        order.push(name);
      }),
    );
  }
  for (let i = 0; i < 30; i++) start("10.0.0.1", `flood${i}`);
  await turn();
  const before = order.length;
  start("10.0.0.2", "newcomer");
  await Promise.all(all);
  // The one hashing when it came, and at most the flood's next turn, then the newcomer.
  const position = order.indexOf("newcomer") - before;
  assert(position <= 2, `the newcomer came after ${position} of the flood: ${order.join(" ")}`);
  assert(before < 20, `the flood was over (${before} done) before the newcomer came`);
});

Deno.test("hashing: the queue is bounded: registrations beyond it get 429, a login still gets in", async () => {
  await using server = await startServer({
    hashIterations: 100_000,
    hashConcurrency: 1,
    hashQueue: 4,
    registerPending: 0,
    registerLimit: 0,
  });
  await register(server.port, "alice");
  const clients = await Promise.all(
    Array.from({ length: 12 }, () => RawClient.connect(server.port)),
  );
  await using owner = await RawClient.connect(server.port);
  try {
    for (const [i, c] of clients.entries()) await c.send(registration(`flood${i}`));
    const answers = clients.map((c) => c.response(10_000));
    // The flood has filled the queue once one of it is refused.
    const first429 = await Promise.any(
      answers.map((p) => p.then((r) => r.response === 429 ? r : Promise.reject())),
    );
    assertEquals(
      first429.error,
      "Cannot register: the server is busy hashing passwords; try again shortly",
    );
    assertEquals((await owner.request(auth("alice", "correct horse"))).response, 200);
    const codes = (await Promise.all(answers)).map((r) => r.response as number);
    assertEquals(codes.filter((c) => c !== 201 && c !== 429), [], JSON.stringify(codes));
    // One running and four queued at most when they came; the login may have taken one's place.
    assert(codes.filter((c) => c === 201).length <= 5, JSON.stringify(codes));
  } finally {
    for (const c of clients) await c[Symbol.asyncDispose]();
  }
});

Deno.test("hashing: --register-limit bounds the accounts one address creates per hour", async () => {
  await using server = await startServer({ registerLimit: 3 });
  for (const name of ["one", "two", "three"]) await register(server.port, name);
  await using c = await RawClient.connect(server.port);
  const r = await c.request(registration("four"));
  assertEquals(r.response, 429);
  assertMatch(
    r.error,
    /^Cannot register: too many accounts created from your address; try again in \d+ s$/,
  );
  // A name that was taken does not use up the quota: only created accounts count.
  await using s = await startServer({ registerLimit: 1 });
  await register(s.port, "first");
  await using d = await RawClient.connect(s.port);
  assertEquals((await d.request(registration("first"))).response, 409);
});

Deno.test("shutdown: queued registrations are refused with 503 and none is created after the signal, within the grace", async () => {
  let stopped = false;
  let createdAfter = 0;
  const store = new HookedStore(SqliteStore.open(":memory:"), (method) => {
    if (method === "createAccount" && stopped) createdAfter++;
  });
  const server = await startServer({
    store,
    hashIterations: 200_000,
    hashConcurrency: 1,
    hashQueue: 1000,
    registerPending: 0,
    registerLimit: 0,
    authAddressFailures: 1000,
    shutdownGraceMs: 500,
  });
  const n = 60;
  const clients = await Promise.all(
    Array.from({ length: n }, () => RawClient.connect(server.port)),
  );
  try {
    for (const [i, c] of clients.entries()) await c.send(registration(`queued${i}`));
    // Once one is created the rest are queued behind it.
    await Promise.any(clients.map((c) => c.take((o) => o.response === 201, 10_000)));
    const t0 = performance.now();
    stopped = true;
    await server.shutdown();
    const elapsed = performance.now() - t0;
    const answers: Obj[][] = [];
    for (const c of clients) {
      await c.waitClosed();
      answers.push([...c.inbox]);
    }
    assertEquals(createdAfter, 0);
    const refused = answers.filter((a) =>
      a.some((o) =>
        o.response === 503 && o.error === "Cannot register: the server is shutting down"
      )
    ).length;
    const created = answers.filter((a) =>
      a.some((o) => o.response === 201)
    ).length;
    // Every one but those created and the one hashing at the signal was refused in words.
    assert(refused >= n - (created + 1) - 1, `${refused} refused, ${created} created of ${n}`);
    assert(refused > n / 2, `only ${refused} of ${n} were still queued`);
    // Everyone got the notice too.
    assert(answers.every((a) => a.some((o) => o.response === 101)));
    assert(elapsed < 500 + 1500, `shutdown took ${elapsed.toFixed(0)} ms with a 500 ms grace`);
  } finally {
    for (const c of clients) await c[Symbol.asyncDispose]();
    await server.shutdown();
  }
});

Deno.test("shutdown: SIGTERM with 100 registrations queued at the production hash cost exits within the grace", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  const server = await spawnServer({
    dbPath,
    args: [
      "--hash-iterations",
      "600000",
      "--hash-concurrency",
      "1",
      "--hash-queue",
      "1000",
      "--register-pending",
      "0",
      "--register-limit",
      "0",
      "--auth-address-failures",
      "100000",
      "--shutdown-grace",
      "1",
    ],
  });
  const n = 100;
  const clients = await Promise.all(
    Array.from({ length: n }, () => RawClient.connect(server.port)),
  );
  try {
    for (const [i, c] of clients.entries()) await c.send(registration(`queued${i}`));
    // Once one is created the rest are queued behind it (about 100 ms a hash, one at a time).
    await Promise.any(clients.map((c) => c.take((o) => o.response === 201, 20_000)));
    const t0 = performance.now();
    const status = await server.stop(20_000);
    const elapsed = performance.now() - t0;
    assertEquals(status.code, 0, server.log());
    let created = 1; // the one taken above
    let refused = 0;
    for (const c of clients) {
      await c.waitClosed(5000);
      if (c.inbox.some((o) => o.response === 201)) created++;
      if (c.inbox.some((o) => o.response === 503)) refused++;
    }
    // Before: every queued hash ran (about 10 s here) and created its account.
    assert(elapsed < 1000 + 2000, `SIGTERM took ${elapsed.toFixed(0)} ms with a 1 s grace`);
    assert(refused >= n - created - 1, `${refused} refused, ${created} created of ${n}`);
    await using store = SqliteStore.open(dbPath);
    assertEquals((await store.listAccounts()).length, created);
  } finally {
    for (const c of clients) await c[Symbol.asyncDispose]();
  }
});

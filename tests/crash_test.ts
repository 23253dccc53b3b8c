/**
 * Crash safety: a child server under steady load of messages to an offline
 * account (each answered 202) is killed with SIGKILL at seeded random points,
 * round after round, and restarted on the same database file without any
 * repair step. Afterwards every message answered 202 is delivered, and every
 * message is delivered exactly once.
 *
 * Short variant (always): 4 rounds. Long variant: `JIM_LONG=1`, 20 rounds.
 * `JIM_CRASH_SEED=N` picks another seed.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import type { DeliveredMsg } from "../lib/protocol/messages.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import type {
  Account,
  EnqueueResult,
  OfflineLimits,
  OfflineMessage,
  RoomLimits,
  RoomMembership,
  Store,
} from "../lib/store/store.ts";
import {
  auth,
  guest,
  login,
  now,
  type Obj,
  RawClient,
  register,
  startServer,
  tempDir,
} from "./_helpers.ts";
import { report, spawnServer } from "./_proc.ts";

const LONG = Deno.env.get("JIM_LONG") === "1";
const ROUNDS = LONG ? 20 : 4;
const SEED = Number(Deno.env.get("JIM_CRASH_SEED") || 0xc4a54);
/** Senders per round, each with this many requests in flight. */
const SENDERS = 3;
const WINDOW = 16;

/** mulberry32, as in fuzz_test.ts. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tally {
  sent: Set<string>;
  acked: Set<string>;
  other: Obj[];
}

/** Sends numbered messages to `inbox`, WINDOW at a time, until the server goes away. */
async function load(port: number, tag: string, tally: Tally, onAck: () => void): Promise<void> {
  let c;
  try {
    c = await login(port, tag);
  } catch {
    return; // killed before we got in
  }
  try {
    for (let n = 0;; n += WINDOW) {
      const ids = Array.from({ length: WINDOW }, (_, i) => `${tag}-${n + i}`);
      const lines = ids.map((id) =>
        JSON.stringify({ action: "msg", time: 1, to: "inbox", message: id })
      );
      for (const id of ids) tally.sent.add(id);
      await c.writeRaw(lines.join("\n") + "\n");
      for (const id of ids) {
        const r = await c.response(10_000);
        if (r.response === 202) {
          tally.acked.add(id);
          onAck();
        } else tally.other.push(r);
      }
    }
  } catch {
    // The server was killed: what is unanswered may or may not be stored.
  } finally {
    await c[Symbol.asyncDispose]();
  }
}

Deno.test(`crash: ${ROUNDS} rounds of SIGKILL under load lose no 202-acknowledged message and deliver each once`, async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  const random = rng(SEED);
  const tally: Tally = { sent: new Set(), acked: new Set(), other: [] };
  const kills: string[] = [];
  {
    await using server = await spawnServer({ dbPath, args: ["--offline-limit", "1000000"] });
    await register(server.port, "inbox");
    // Senders are accounts: a guest cannot leave offline mail.
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < SENDERS; i++) await register(server.port, `r${round}s${i}`);
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Each round restarts on the file the last one was killed on.
    const server = await spawnServer({ dbPath, args: ["--offline-limit", "1000000"] });
    try {
      // Kill after a seeded number of 202s, or a seeded time after start.
      const byAcks = random() < 0.75;
      const target = byAcks ? 20 + Math.floor(random() * 300) : Math.floor(random() * 60);
      let acks = 0;
      let fire!: () => void;
      const killNow = new Promise<void>((r) => fire = r);
      const onAck = () => {
        if (byAcks && ++acks >= target) fire();
      };
      if (!byAcks) setTimeout(fire, target);
      const senders = Array.from(
        { length: SENDERS },
        (_, i) => load(server.port, `r${round}s${i}`, tally, onAck),
      );
      await killNow;
      server.kill("SIGKILL");
      const status = await server.exited;
      assertEquals(status.signal, "SIGKILL");
      await Promise.all(senders);
      kills.push(byAcks ? `${target} acks` : `${target} ms`);
    } finally {
      await server.stop();
    }
  }

  // A last, clean run: the account logs in and takes its mail.
  await using server = await spawnServer({ dbPath, args: ["--offline-limit", "1000000"] });
  await using inbox = await login(server.port, "inbox");
  // Its answer follows all of the mail; the next request acknowledges it.
  await inbox.send({ action: "presence", time: now(), user: { account_name: "inbox" } });
  assertEquals((await inbox.response(20_000)).response, 200);
  assertEquals((await inbox.request({ action: "who", time: now() })).response, 200);
  {
    await using store = SqliteStore.open(dbPath);
    const deadline = Date.now() + 20_000;
    while ((await store.countOffline("inbox")) > 0) {
      if (Date.now() > deadline) throw new Error("offline mail was not all delivered");
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const status = await server.stop();
  assertEquals(status.code, 0, server.log());
  await inbox.reading;
  const delivered = inbox.inbox.filter((o) => o.action === "msg").map((o) => String(o.message));

  const counts = new Map<string, number>();
  for (const id of delivered) counts.set(id, (counts.get(id) ?? 0) + 1);
  const duplicates = [...counts].filter(([, n]) => n > 1);
  const lost = [...tally.acked].filter((id) => !counts.has(id));
  const strange = delivered.filter((id) => !tally.sent.has(id));
  report(
    `crash: seed ${SEED}, ${ROUNDS} SIGKILLs (after ${
      kills.join(", ")
    }); ${tally.sent.size} sent, ${tally.acked.size} answered 202, ${delivered.length} delivered (${
      delivered.length - tally.acked.size
    } stored but killed before their 202)`,
  );
  assertEquals(tally.other, [], "answers other than 202");
  assertEquals(lost, [], `${lost.length} acknowledged messages lost`);
  assertEquals(duplicates, [], "messages delivered more than once");
  assertEquals(strange, [], "messages nobody sent");
  assert(tally.acked.size > 0, "no load reached the server");
});

// -- unexpected exceptions --

/** A store that fails on one account name, as a broken disk or a bug would. */
class FaultyStore implements Store {
  readonly #inner = SqliteStore.open(":memory:");
  readonly #bad: string;
  constructor(bad: string) {
    this.#bad = bad;
  }
  #check(name: string): void {
    if (name === this.#bad) throw new Error(`disk on fire reading ${name}`);
  }
  createAccount(name: string, hash: string): Promise<boolean> {
    return this.#inner.createAccount(name, hash);
  }
  getAccount(name: string): Promise<Account | null> {
    this.#check(name);
    return this.#inner.getAccount(name);
  }
  accountLike(name: string): Promise<string | null> {
    return this.#inner.accountLike(name);
  }
  setBlocked(name: string, blocked: boolean): Promise<boolean> {
    return this.#inner.setBlocked(name, blocked);
  }
  setPassword(name: string, hash: string): Promise<boolean> {
    return this.#inner.setPassword(name, hash);
  }
  deleteAccount(name: string): Promise<boolean> {
    return this.#inner.deleteAccount(name);
  }
  addToken(account: string, hash: string, expiresAt: number, keep: number): Promise<void> {
    return this.#inner.addToken(account, hash, expiresAt, keep);
  }
  tokenAccount(hash: string, now: number): Promise<string | null> {
    return this.#inner.tokenAccount(hash, now);
  }
  revokeTokens(account: string): Promise<number> {
    return this.#inner.revokeTokens(account);
  }
  listAccounts(): Promise<Account[]> {
    return this.#inner.listAccounts();
  }
  listBlocked(): Promise<string[]> {
    return this.#inner.listBlocked();
  }
  enqueueOffline(
    to: string,
    message: DeliveredMsg,
    limits: OfflineLimits,
  ): Promise<EnqueueResult> {
    return Promise.reject(new Error(`disk full storing for ${to}`)).then(() =>
      this.#inner.enqueueOffline(to, message, limits)
    );
  }
  peekOffline(to: string, max: number, afterId?: number): Promise<OfflineMessage[]> {
    return this.#inner.peekOffline(to, max, afterId);
  }
  ackOffline(to: string, lastId: number): Promise<void> {
    return this.#inner.ackOffline(to, lastId);
  }
  holdOffline(to: string, message: DeliveredMsg): Promise<number> {
    return this.#inner.holdOffline(to, message);
  }
  dropOffline(to: string, id: number): Promise<void> {
    return this.#inner.dropOffline(to, id);
  }
  countOffline(to: string): Promise<number> {
    return this.#inner.countOffline(to);
  }
  listRoomMemberships(limits?: RoomLimits): Promise<RoomMembership[]> {
    return this.#inner.listRoomMemberships(limits);
  }
  listRooms(...args: Parameters<Store["listRooms"]>): ReturnType<Store["listRooms"]> {
    return this.#inner.listRooms(...args);
  }
  dropHistory(...args: Parameters<Store["dropHistory"]>): ReturnType<Store["dropHistory"]> {
    return this.#inner.dropHistory(...args);
  }
  setTopic(...args: Parameters<Store["setTopic"]>): ReturnType<Store["setTopic"]> {
    return this.#inner.setTopic(...args);
  }
  appendHistory(...args: Parameters<Store["appendHistory"]>): ReturnType<Store["appendHistory"]> {
    return this.#inner.appendHistory(...args);
  }
  readHistory(...args: Parameters<Store["readHistory"]>): ReturnType<Store["readHistory"]> {
    return this.#inner.readHistory(...args);
  }
  pruneHistory(...args: Parameters<Store["pruneHistory"]>): ReturnType<Store["pruneHistory"]> {
    return this.#inner.pruneHistory(...args);
  }
  lastHistoryId(...args: Parameters<Store["lastHistoryId"]>): ReturnType<Store["lastHistoryId"]> {
    return this.#inner.lastHistoryId(...args);
  }
  countRoomHistory(
    ...args: Parameters<Store["countRoomHistory"]>
  ): ReturnType<Store["countRoomHistory"]> {
    return this.#inner.countRoomHistory(...args);
  }
  setLastSeen(...args: Parameters<Store["setLastSeen"]>): ReturnType<Store["setLastSeen"]> {
    return this.#inner.setLastSeen(...args);
  }
  setContactsOnly(
    ...args: Parameters<Store["setContactsOnly"]>
  ): ReturnType<Store["setContactsOnly"]> {
    return this.#inner.setContactsOnly(...args);
  }
  hasContact(...args: Parameters<Store["hasContact"]>): ReturnType<Store["hasContact"]> {
    return this.#inner.hasContact(...args);
  }
  addRoomMember(room: string, account: string): Promise<void> {
    return this.#inner.addRoomMember(room, account);
  }
  addRoomMembers(rooms: Iterable<string>, account: string): Promise<void> {
    return this.#inner.addRoomMembers(rooms, account);
  }
  removeRoomMember(room: string, account: string): Promise<void> {
    return this.#inner.removeRoomMember(room, account);
  }
  listContacts(owner: string): Promise<string[]> {
    return this.#inner.listContacts(owner);
  }
  addContact(owner: string, contact: string): Promise<void> {
    return this.#inner.addContact(owner, contact);
  }
  setPublicKey(account: string, pubkey: string): Promise<void> {
    return this.#inner.setPublicKey(account, pubkey);
  }
  getPublicKey(account: string): Promise<string | null> {
    return this.#inner.getPublicKey(account);
  }
  addContacts(owner: string, contacts: Iterable<string>): Promise<void> {
    return this.#inner.addContacts(owner, contacts);
  }
  removeContact(owner: string, contact: string): Promise<boolean> {
    return this.#inner.removeContact(owner, contact);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

Deno.test("crash: an exception while handling one request answers 500, is logged with context, and nothing else stops", async () => {
  const log: string[] = [];
  await using server = await startServer({
    store: new FaultyStore("boom"),
    log: (l) => log.push(l),
  });
  await register(server.port, "offline");
  await using bystander = await guest(server.port, "bystander");
  await using c = await RawClient.connect(server.port);
  // A synchronous throw inside the store, on the guest-name check.
  const r = await c.request({ action: "presence", time: now(), user: { account_name: "boom" } });
  assertEquals([r.response, r.error], [500, "Cannot handle request: internal server error"]);
  // The same connection carries on, and answers in order.
  assertEquals(
    (await c.request({ action: "presence", time: now(), user: { account_name: "fine" } })).response,
    200,
  );
  // It logs in (only an account may leave offline mail).
  const password = "correct horse";
  const user = { account_name: "fine", password };
  assertEquals((await c.request({ action: "register", time: now(), user })).response, 201);
  assertEquals((await c.request(auth("fine", password))).response, 200);
  // A rejected promise: the durable write of an offline message fails.
  const m = await c.request({ action: "msg", time: now(), to: "offline", message: "hi" });
  assertEquals(m.response, 500);
  assertEquals((await bystander.request({ action: "who", time: now() })).response, 200);
  const errors = log.filter((l) => l.includes("internal error"));
  assertEquals(errors.length, 2, log.join("\n"));
  // Context: who asked, and where it failed.
  assert(
    errors[0]!.startsWith("127.0.0.1 (anonymous): internal error: Error: disk on fire"),
    errors[0],
  );
  assert(errors[0]!.includes("getAccount"), errors[0]);
  assert(errors[1]!.startsWith("127.0.0.1 fine: internal error: Error: disk full"), errors[1]);
});

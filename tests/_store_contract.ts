/**
 * The contract every {@linkcode Store} implementation passes: run by
 * sqlite_store_test.ts against SQLite and by pg_store_test.ts against
 * PostgreSQL.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import type { DeliveredMsg } from "../lib/protocol/messages.ts";
import type { EnqueueResult, Store } from "../lib/store/store.ts";

export function msg(from: string, to: string, message: string): DeliveredMsg {
  return { action: "msg", time: 1_700_000_000, from, to, encoding: "utf-8", message };
}

/** `value`, failing the test when it is null or undefined (std's assert is untyped here). */
export function present<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`Expected ${what}`);
  return value;
}

/** A store under test and how to dispose of it. */
export type Fixture = { store: Store } & AsyncDisposable;

/** Every {@linkcode Store} implementation must pass these. */
export function storeContract(label: string, open: () => Promise<Fixture>): void {
  function test(name: string, fn: (store: Store) => Promise<void>): void {
    Deno.test(`${label} - ${name}`, async () => {
      await using fixture = await open();
      await fn(fixture.store);
    });
  }

  // -- accounts --

  test("createAccount() stores an account and refuses a taken name", async (store) => {
    const before = Date.now();
    assertEquals(await store.createAccount("alice", "hash-a"), true);
    assertEquals(await store.createAccount("alice", "hash-b"), false);
    const account = present(await store.getAccount("alice"), "an account");
    assertEquals(account.name, "alice");
    assertEquals(account.passwordHash, "hash-a");
    assertEquals(account.blocked, false);
    assert(account.createdAt >= before && account.createdAt <= Date.now());
  });

  test("account names compare case-sensitively", async (store) => {
    assertEquals(await store.createAccount("alice", "h1"), true);
    assertEquals(await store.createAccount("Alice", "h2"), true);
    assertEquals((await store.getAccount("Alice"))?.passwordHash, "h2");
    assertEquals(await store.getAccount("ALICE"), null);
  });

  test("getAccount() returns null for an unknown name", async (store) => {
    assertEquals(await store.getAccount("nobody"), null);
  });

  test("setBlocked() blocks and unblocks; false for an unknown name", async (store) => {
    await store.createAccount("bob", "h");
    assertEquals(await store.setBlocked("bob", true), true);
    assertEquals((await store.getAccount("bob"))?.blocked, true);
    assertEquals(await store.setBlocked("bob", true), true);
    assertEquals(await store.setBlocked("bob", false), true);
    assertEquals((await store.getAccount("bob"))?.blocked, false);
    assertEquals(await store.setBlocked("nobody", true), false);
  });

  test("listAccounts() returns every account by name", async (store) => {
    for (const name of ["carol", "alice", "bob"]) await store.createAccount(name, `h-${name}`);
    await store.setBlocked("bob", true);
    const accounts = await store.listAccounts();
    assertEquals(accounts.map((a) => a.name), ["alice", "bob", "carol"]);
    assertEquals(accounts.map((a) => a.blocked), [false, true, false]);
    assertEquals(accounts[2]?.passwordHash, "h-carol");
  });

  test("setPassword() replaces the hash and revokes tokens; false for an unknown name", async (store) => {
    await store.createAccount("alice", "old");
    await store.addToken("alice", "t1", Date.now() + 60_000, 10);
    assertEquals(await store.setPassword("alice", "new"), true);
    assertEquals((await store.getAccount("alice"))?.passwordHash, "new");
    assertEquals(await store.tokenAccount("t1", Date.now()), null);
    assertEquals(await store.setPassword("nobody", "x"), false);
  });

  // -- contacts --

  test("contacts: one list per account, in the order added, idempotent", async (store) => {
    assertEquals(await store.listContacts("alice"), []);
    await store.addContact("alice", "carol");
    await store.addContact("alice", "bob");
    await store.addContact("alice", "carol");
    await store.addContact("bob", "alice");
    assertEquals(await store.listContacts("alice"), ["carol", "bob"]);
    assertEquals(await store.listContacts("bob"), ["alice"]);
    assertEquals(await store.removeContact("alice", "carol"), true);
    assertEquals(await store.removeContact("alice", "carol"), false);
    assertEquals(await store.listContacts("alice"), ["bob"]);
    await store.addContacts("alice", ["dave", "bob", "erin"]);
    assertEquals(await store.listContacts("alice"), ["bob", "dave", "erin"]);
    // Names compare exactly.
    assertEquals(await store.removeContact("alice", "BOB"), false);
  });

  test("public keys: one per account, replaced when announced again, gone with the account", async (store) => {
    await store.createAccount("alice", "h");
    assertEquals(await store.getPublicKey("alice"), null);
    await store.setPublicKey("alice", "key-1");
    await store.setPublicKey("alice", "key-2");
    assertEquals(await store.getPublicKey("alice"), "key-2");
    assertEquals(await store.deleteAccount("alice"), true);
    assertEquals(await store.getPublicKey("alice"), null);
  });

  test("deleteAccount() removes the account's own contact list", async (store) => {
    await store.createAccount("alice", "h");
    await store.addContact("alice", "bob");
    await store.addContact("bob", "alice");
    assertEquals(await store.deleteAccount("alice"), true);
    assertEquals(await store.listContacts("alice"), []);
    assertEquals(await store.listContacts("bob"), ["alice"]);
  });

  test("deleteAccount() removes the account with its mail, rooms and tokens only", async (store) => {
    await store.createAccount("alice", "h");
    await store.createAccount("bob", "h");
    await store.enqueueOffline("alice", msg("bob", "alice", "one"), { total: 10 });
    await store.enqueueOffline("bob", msg("alice", "bob", "kept"), { total: 10 });
    await store.addRoomMember("#a", "alice");
    await store.addRoomMember("#a", "bob");
    await store.addToken("alice", "ta", Date.now() + 60_000, 10);
    await store.addToken("bob", "tb", Date.now() + 60_000, 10);
    await store.addContacts("alice", ["bob"]);
    await store.addContacts("bob", ["carol"]);
    assertEquals(await store.deleteAccount("alice"), true);
    assertEquals(await store.listContacts("alice"), []);
    assertEquals(await store.listContacts("bob"), ["carol"]);
    assertEquals(await store.getAccount("alice"), null);
    assertEquals(await store.countOffline("alice"), 0);
    assertEquals(await store.listRoomMemberships(), [{ room: "#a", account: "bob" }]);
    assertEquals(await store.tokenAccount("ta", Date.now()), null);
    assertEquals(await store.tokenAccount("tb", Date.now()), "bob");
    assertEquals(await store.countOffline("bob"), 1);
    assertEquals(await store.deleteAccount("alice"), false);
    // The name is free again.
    assertEquals(await store.createAccount("alice", "h2"), true);
  });

  // -- session tokens --

  test("tokenAccount() finds a token until it expires or is revoked", async (store) => {
    await store.createAccount("alice", "h");
    const now = Date.now();
    await store.addToken("alice", "t1", now + 1000, 10);
    await store.addToken("alice", "t2", now + 1000, 10);
    assertEquals(await store.tokenAccount("t1", now), "alice");
    assertEquals(await store.tokenAccount("t1", now + 1000), null, "expired");
    assertEquals(await store.tokenAccount("nope", now), null);
    assertEquals(await store.revokeTokens("alice"), 2);
    assertEquals(await store.tokenAccount("t2", now), null);
    assertEquals(await store.revokeTokens("alice"), 0);
  });

  test("addToken() keeps only the newest tokens of an account, and drops expired ones", async (store) => {
    await store.createAccount("alice", "h");
    await store.createAccount("bob", "h");
    await store.addToken("bob", "b", Date.now() + 60_000, 1);
    await store.addToken("alice", "expired", Date.now() - 1, 5);
    for (let i = 0; i < 5; i++) {
      await store.addToken("alice", `t${i}`, Date.now() + 60_000, 3);
      // created_at is in ms: keep the order unambiguous.
      const t = Date.now();
      while (Date.now() === t) { /* next millisecond */ }
    }
    const now = Date.now();
    const live = [];
    for (const h of ["expired", "t0", "t1", "t2", "t3", "t4"]) {
      if (await store.tokenAccount(h, now)) live.push(h);
    }
    assertEquals(live, ["t2", "t3", "t4"]);
    assertEquals(await store.tokenAccount("b", now), "bob");
    assertEquals(await store.revokeTokens("alice"), 3, "the expired one is gone too");
  });

  test("setBlocked() revokes the account's tokens when it blocks", async (store) => {
    await store.createAccount("alice", "h");
    await store.addToken("alice", "t", Date.now() + 60_000, 10);
    await store.setBlocked("alice", false);
    assertEquals(await store.tokenAccount("t", Date.now()), "alice");
    await store.setBlocked("alice", true);
    assertEquals(await store.tokenAccount("t", Date.now()), null);
  });

  // -- offline mail --

  test("peekOffline() returns messages oldest first, per recipient", async (store) => {
    await store.enqueueOffline("bob", msg("alice", "bob", "one"), { total: 10 });
    await store.enqueueOffline("carol", msg("alice", "carol", "other"), { total: 10 });
    await store.enqueueOffline("bob", msg("alice", "bob", "two"), { total: 10 });
    await store.enqueueOffline("bob", msg("dave", "bob", "три"), { total: 10 });
    const waiting = await store.peekOffline("bob", 10);
    assertEquals(waiting.map((m) => m.message), [
      msg("alice", "bob", "one"),
      msg("alice", "bob", "two"),
      msg("dave", "bob", "три"),
    ]);
    const ids = waiting.map((m) => m.id);
    assertEquals(ids, [...ids].sort((a, b) => a - b));
    assertEquals((await store.peekOffline("bob", 2)).length, 2);
    assertEquals(await store.peekOffline("nobody", 10), []);
    assertEquals(
      (await store.peekOffline("bob", 10, ids[0])).map((m) => m.message.message),
      ["two", "три"],
    );
    assertEquals(await store.countOffline("bob"), 3);
    assertEquals(await store.countOffline("carol"), 1);
  });

  test("ackOffline() removes messages up to and including lastId", async (store) => {
    for (const text of ["a", "b", "c"]) {
      await store.enqueueOffline("bob", msg("x", "bob", text), { total: 10 });
    }
    await store.enqueueOffline("carol", msg("x", "carol", "keep"), { total: 10 });
    const [first, second] = await store.peekOffline("bob", 2);
    await store.ackOffline("bob", present(second, "a second message").id);
    assertEquals((await store.peekOffline("bob", 10)).map((m) => m.message.message), ["c"]);
    await store.ackOffline("bob", present(first, "a message").id); // already gone: nothing happens
    assertEquals(await store.countOffline("bob"), 1);
    await store.ackOffline("bob", Number.MAX_SAFE_INTEGER);
    assertEquals(await store.countOffline("bob"), 0);
    assertEquals(await store.countOffline("carol"), 1);
  });

  test("holdOffline() stores past the limits, in turn, and dropOffline() removes that one only", async (store) => {
    await store.enqueueOffline("bob", msg("x", "bob", "a"), { total: 1 });
    assertEquals(await store.enqueueOffline("bob", msg("x", "bob", "b"), { total: 1 }), "full");
    const id = await store.holdOffline("bob", msg("x", "bob", "held"));
    await store.enqueueOffline("bob", msg("x", "bob", "c"), { total: 10 });
    const waiting = await store.peekOffline("bob", 10);
    assertEquals(waiting.map((m) => m.message.message), ["a", "held", "c"]);
    assertEquals(waiting[1]!.id, id);
    await store.dropOffline("bob", id);
    await store.dropOffline("carol", waiting[0]!.id); // not carol's: nothing happens
    assertEquals((await store.peekOffline("bob", 10)).map((m) => m.message.message), ["a", "c"]);
  });

  test("enqueueOffline() enforces the per-recipient limit exactly", async (store) => {
    const results = [];
    for (let i = 0; i < 5; i++) {
      results.push(await store.enqueueOffline("bob", msg("x", "bob", `${i}`), { total: 3 }));
    }
    assertEquals(results, ["stored", "stored", "stored", "full", "full"]);
    assertEquals(
      await store.enqueueOffline("carol", msg("x", "carol", "c"), { total: 3 }),
      "stored",
    );
    assertEquals(await store.countOffline("bob"), 3);
    const [first] = await store.peekOffline("bob", 1);
    await store.ackOffline("bob", first!.id);
    assertEquals(
      await store.enqueueOffline("bob", msg("x", "bob", "again"), { total: 3 }),
      "stored",
    );
    assertEquals(await store.enqueueOffline("bob", msg("x", "bob", "over"), { total: 3 }), "full");
  });

  test("enqueueOffline() keeps the limit exact within one batch", async (store) => {
    await store.enqueueOffline("bob", msg("x", "bob", "earlier"), { total: 4 });
    const results = await Promise.all([
      store.enqueueOffline("bob", msg("x", "bob", "0"), { total: 4 }),
      store.enqueueOffline("carol", msg("x", "carol", "0"), { total: 4 }),
      store.enqueueOffline("bob", msg("x", "bob", "1"), { total: 4 }),
      store.enqueueOffline("bob", msg("x", "bob", "2"), { total: 4 }),
      store.enqueueOffline("bob", msg("x", "bob", "3"), { total: 4 }),
      store.enqueueOffline("bob", msg("x", "bob", "4"), { total: 4 }),
    ]);
    assertEquals(results, ["stored", "stored", "stored", "stored", "full", "full"]);
    assertEquals((await store.peekOffline("bob", 10)).map((m) => m.message.message), [
      "earlier",
      "0",
      "1",
      "2",
    ]);
  });

  test("enqueueOffline() keeps the order of thousands of calls made at once, and their limits", async (store) => {
    // What a session that quits with its queue full leaves at once, mixed
    // with senders held to a share (more than one batch's worth).
    const calls: Promise<EnqueueResult>[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 9000; i++) {
      if (i % 1000 === 500) {
        // A sender with a share of 3: the first three are stored.
        calls.push(store.enqueueOffline("bob", msg("eve", "bob", `e${i}`), {
          total: Infinity,
          perSender: 3,
        }));
        if (i < 3000) expected.push(`e${i}`);
      } else {
        calls.push(store.enqueueOffline("bob", msg("al", "bob", `m${i}`), { total: Infinity }));
        expected.push(`m${i}`);
      }
    }
    // Past a limit of 9000 in all, whatever comes next is refused.
    calls.push(store.enqueueOffline("bob", msg("al", "bob", "over"), { total: expected.length }));
    const results = await Promise.all(calls);
    assertEquals(results.filter((r) => r === "stored").length, expected.length);
    assertEquals(results.filter((r) => r === "sender-full").length, 6);
    assertEquals(results.at(-1), "full");
    const mail = await store.peekOffline("bob", Infinity);
    assertEquals(mail.map((m) => m.message.message), expected);
    for (let i = 1; i < mail.length; i++) assert(mail[i]!.id > mail[i - 1]!.id);
  });

  test("enqueueOffline() keeps each sender to its share, exactly, also within one batch", async (store) => {
    const limits = { total: 5, perSender: 2 };
    assertEquals(await store.enqueueOffline("bob", msg("mallory", "bob", "0"), limits), "stored");
    const results = await Promise.all([
      store.enqueueOffline("bob", msg("mallory", "bob", "1"), limits),
      store.enqueueOffline("bob", msg("mallory", "bob", "2"), limits),
      store.enqueueOffline("bob", msg("alice", "bob", "a"), limits),
      store.enqueueOffline("carol", msg("mallory", "carol", "c"), limits),
      store.enqueueOffline("bob", msg("dave", "bob", "d"), limits),
      store.enqueueOffline("bob", msg("alice", "bob", "b"), limits),
      store.enqueueOffline("bob", msg("erin", "bob", "e"), limits),
    ]);
    assertEquals(results, [
      "stored",
      "sender-full",
      "stored",
      "stored",
      "stored",
      "stored",
      "full",
    ]);
    assertEquals(await store.enqueueOffline("bob", msg("mallory", "bob", "3"), limits), "full");
    // Delivered mail frees the sender's share.
    const [first] = await store.peekOffline("bob", 1);
    await store.ackOffline("bob", present(first, "a message").id);
    assertEquals(await store.enqueueOffline("bob", msg("mallory", "bob", "4"), limits), "stored");
    assertEquals(
      await store.enqueueOffline("bob", msg("mallory", "bob", "5"), { total: 10, perSender: 2 }),
      "sender-full",
    );
    // Without a share, a sender may fill what is left.
    assertEquals(
      await store.enqueueOffline("bob", msg("mallory", "bob", "6"), { total: 10 }),
      "stored",
    );
  });

  test("enqueueOffline() stores many concurrent calls, all resolved, in order", async (store) => {
    const recipients = ["r0", "r1", "r2", "r3", "r4"];
    const calls: Promise<EnqueueResult>[] = [];
    for (let i = 0; i < 1000; i++) {
      const to = recipients[i % recipients.length]!;
      calls.push(store.enqueueOffline(to, msg("sender", to, `${i}`), { total: 1000 }));
    }
    const results = await Promise.all(calls);
    assert(results.every((r) => r === "stored"));
    for (const [r, to] of recipients.entries()) {
      const texts = (await store.peekOffline(to, 1000)).map((m) => Number(m.message.message));
      assertEquals(texts.length, 200);
      assertEquals(texts, texts.map((_, k) => r + k * recipients.length));
    }
  });

  test("peekOffline() and countOffline() see enqueues not yet committed", async (store) => {
    const pending = store.enqueueOffline("bob", msg("x", "bob", "hi"), { total: 10 });
    assertEquals(await store.countOffline("bob"), 1);
    assertEquals(await pending, "stored");
  });

  // -- rooms --

  test("room memberships are added, listed and removed idempotently", async (store) => {
    await store.addRoomMember("#b", "alice");
    await store.addRoomMember("#a", "bob");
    await store.addRoomMember("#a", "alice");
    await store.addRoomMember("#a", "alice");
    assertEquals(await store.listRoomMemberships(), [
      { room: "#a", account: "alice" },
      { room: "#a", account: "bob" },
      { room: "#b", account: "alice" },
    ]);
    await store.removeRoomMember("#a", "alice");
    await store.removeRoomMember("#a", "alice");
    await store.removeRoomMember("#none", "alice");
    assertEquals(await store.listRoomMemberships(), [
      { room: "#a", account: "bob" },
      { room: "#b", account: "alice" },
    ]);
  });

  test("addRoomMembers() adds an account to each room, idempotently", async (store) => {
    await store.addRoomMember("#a", "alice");
    await store.addRoomMembers(new Set(["#b", "#a", "#c"]), "alice");
    await store.addRoomMembers([], "alice");
    assertEquals(await store.listRoomMemberships(), [
      { room: "#a", account: "alice" },
      { room: "#b", account: "alice" },
      { room: "#c", account: "alice" },
    ]);
  });

  // -- closing --

  test("close() writes pending enqueues before closing", async (store) => {
    const pending = store.enqueueOffline("bob", msg("x", "bob", "last"), { total: 10 });
    await store.close();
    assertEquals(await pending, "stored");
  });

  test("every method rejects after close()", async (store) => {
    await store.close();
    await store.close(); // closing twice is harmless
    const calls: Array<() => Promise<unknown>> = [
      () => store.createAccount("a", "h"),
      () => store.getAccount("a"),
      () => store.setBlocked("a", true),
      () => store.listAccounts(),
      () => store.enqueueOffline("a", msg("x", "a", "m"), { total: 10 }),
      () => store.peekOffline("a", 10),
      () => store.ackOffline("a", 1),
      () => store.countOffline("a"),
      () => store.listRoomMemberships(),
      () => store.addRoomMember("#r", "a"),
      () => store.addRoomMembers(["#r"], "a"),
      () => store.removeRoomMember("#r", "a"),
      () => store.listContacts("a"),
      () => store.addContact("a", "b"),
      () => store.addContacts("a", ["b"]),
      () => store.removeContact("a", "b"),
      () => store.setPublicKey("a", "k"),
      () => store.getPublicKey("a"),
    ];
    for (const call of calls) {
      await assertRejects(call, Error, "Cannot use store: it is closed");
    }
  });

  // -- rooms, history, presence --

  test("addRoomMember() and setTopic() keep rooms, after their members leave too", async (store) => {
    await store.addRoomMember("#b", "bob");
    await store.addRoomMembers(["#a"], "alice");
    await store.addRoomMember("#a", "bob");
    await store.removeRoomMember("#a", "alice");
    await store.removeRoomMember("#a", "bob");
    await store.setTopic("#b", "plans");
    await store.addRoomMember("#c", "alice");
    await store.setTopic("#c", "made by its topic");
    assertEquals(await store.listRooms(), [
      { name: "#a", topic: "" },
      { name: "#b", topic: "plans" },
      { name: "#c", topic: "made by its topic" },
    ]);
  });

  test("appendHistory() keeps the newest `keep` per conversation; readHistory() pages back", async (store) => {
    for (let id = 1; id <= 30; id++) {
      void store.appendHistory(
        id % 2 ? "#odd" : "#even",
        { id, message: msg("a", "#r", `m${id}`) },
        10,
      );
    }
    await store.appendHistory("#odd", { id: 31, message: msg("a", "#r", "m31") }, 10);
    const last = await store.readHistory("#odd", { limit: 4 });
    assertEquals(last.messages.map((e) => e.id), [25, 27, 29, 31]);
    assertEquals(last.more, true);
    const older = await store.readHistory("#odd", { limit: 100, before: 25 });
    assertEquals(older.messages.map((e) => e.id), [13, 15, 17, 19, 21, 23]);
    assertEquals(older.more, false);
    const after = await store.readHistory("#even", { limit: 100, after: 26 });
    assertEquals(after.messages.map((e) => e.message.message), ["m28", "m30"]);
    assertEquals(await store.lastHistoryId(), 31);
    assertEquals(await store.countRoomHistory(), new Map([["#even", 10], ["#odd", 10]]));
  });

  test("readHistory() stops at maxBytes but returns at least one message", async (store) => {
    for (let id = 1; id <= 5; id++) {
      await store.appendHistory("#r", { id, message: msg("a", "#r", "x".repeat(100)) }, 10);
    }
    const size = JSON.stringify(msg("a", "#r", "x".repeat(100))).length;
    const page = await store.readHistory("#r", { limit: 5, maxBytes: 3 * size + 1 });
    assertEquals(page.messages.map((e) => e.id), [3, 4, 5]);
    assertEquals(page.more, true);
    const one = await store.readHistory("#r", { limit: 5, maxBytes: 1 });
    assertEquals(one.messages.map((e) => e.id), [5]);
  });

  test("pruneHistory() drops what is older than the limit; lastHistoryId() remembers", async (store) => {
    await store.appendHistory("#r", { id: 7, message: msg("a", "#r", "old") }, 10);
    const cutoff = Date.now() + 1;
    assertEquals((await store.readHistory("#r", { limit: 5, notBefore: cutoff })).messages, []);
    assertEquals(await store.pruneHistory(cutoff), 1);
    assertEquals((await store.readHistory("#r", { limit: 5 })).messages, []);
    assertEquals(await store.lastHistoryId(), 7);
  });

  test("deleteAccount() deletes the history the account sent or was sent directly", async (store) => {
    await store.createAccount("alice", "h");
    await store.appendHistory("#r", { id: 1, message: msg("alice", "#r", "a") }, 10);
    await store.appendHistory("#r", { id: 2, message: msg("bob", "#r", "b") }, 10);
    await store.appendHistory("alice\nbob", { id: 3, message: msg("bob", "alice", "c") }, 10);
    await store.appendHistory("bob\ncarol", { id: 4, message: msg("bob", "carol", "d") }, 10);
    assertEquals(await store.deleteAccount("alice"), true);
    assertEquals((await store.readHistory("#r", { limit: 9 })).messages.map((e) => e.id), [2]);
    assertEquals((await store.readHistory("alice\nbob", { limit: 9 })).messages, []);
    assertEquals((await store.readHistory("bob\ncarol", { limit: 9 })).messages.length, 1);
  });

  test("setLastSeen(), setContactsOnly() and hasContact()", async (store) => {
    await store.createAccount("alice", "h");
    const fresh = present(await store.getAccount("alice"), "an account");
    assertEquals([fresh.lastSeen, fresh.contactsOnly], [0, false]);
    await store.setLastSeen("alice", 1234);
    assertEquals(await store.setContactsOnly("alice", true), true);
    assertEquals(await store.setContactsOnly("nobody", true), false);
    const seen = present(await store.getAccount("alice"), "an account");
    assertEquals([seen.lastSeen, seen.contactsOnly], [1234, true]);
    await store.addContact("alice", "bob");
    assertEquals(await store.hasContact("alice", "bob"), true);
    assertEquals(await store.hasContact("bob", "alice"), false);
  });
}

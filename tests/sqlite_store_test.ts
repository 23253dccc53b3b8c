import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { DatabaseSync } from "node:sqlite";
import { MAX_BATCH, SCHEMA_VERSION, SqliteStore } from "../lib/store/sqlite_store.ts";
import { defaultDbPath } from "../lib/store/db_path.ts";
import { msg, storeContract } from "./_store_contract.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "jim_store_test_" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

storeContract("SqliteStore (file)", async () => {
  const dir = await tempDir();
  const store = SqliteStore.open(`${dir.path}/nested/dir/jim.db`);
  return {
    store,
    async [Symbol.asyncDispose]() {
      await store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
});

storeContract("SqliteStore (:memory:)", () => {
  const store = SqliteStore.open(":memory:");
  return Promise.resolve({ store, [Symbol.asyncDispose]: () => store.close() });
});

// -- SqliteStore specifics --

Deno.test("SqliteStore.open() creates parent directories and a WAL database", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/a/b/jim.db`;
  await using _store = SqliteStore.open(path);
  const db = new DatabaseSync(path);
  try {
    assertEquals(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
    assertEquals(db.prepare("PRAGMA user_version").get()?.user_version, SCHEMA_VERSION);
  } finally {
    db.close();
  }
});

Deno.test("SqliteStore keeps accounts, mail, blocks and rooms across close and reopen", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  {
    await using store = SqliteStore.open(path);
    await store.createAccount("alice", "hash");
    await store.createAccount("bob", "hash2");
    await store.setBlocked("bob", true);
    await store.addRoomMember("#room", "alice");
    await Promise.all([
      store.enqueueOffline("alice", msg("bob", "alice", "first"), { total: 10 }),
      store.enqueueOffline("alice", msg("bob", "alice", "second"), { total: 10 }),
    ]);
    store.enqueueOffline("alice", msg("bob", "alice", "third"), { total: 10 }); // settled by close()
  }
  await using store = SqliteStore.open(path);
  assertEquals((await store.getAccount("alice"))?.passwordHash, "hash");
  assertEquals((await store.getAccount("bob"))?.blocked, true);
  assertEquals(await store.listRoomMemberships(), [{ room: "#room", account: "alice" }]);
  assertEquals((await store.peekOffline("alice", 10)).map((m) => m.message.message), [
    "first",
    "second",
    "third",
  ]);
});

Deno.test("SqliteStore.open() migrates idempotently on reopen", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  for (let i = 0; i < 3; i++) {
    await using store = SqliteStore.open(path, { synchronous: i === 1 ? "normal" : "full" });
    assertEquals(await store.createAccount(`user${i}`, "h"), true);
  }
  const db = new DatabaseSync(path);
  try {
    assertEquals(db.prepare("PRAGMA user_version").get()?.user_version, SCHEMA_VERSION);
    assertEquals(db.prepare("SELECT count(*) AS n FROM accounts").get()?.n, 3);
  } finally {
    db.close();
  }
});

Deno.test("SqliteStore.open() fills in the sender of mail stored by a schema 1 database", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  const db = new DatabaseSync(path);
  try {
    // Schema 1 as jim wrote it, with mail waiting.
    db.exec(`CREATE TABLE accounts (
       name TEXT PRIMARY KEY NOT NULL, password_hash TEXT NOT NULL,
       blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)), created_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE offline (
       id INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL, body TEXT NOT NULL
     ) STRICT;
     CREATE INDEX offline_recipient_id ON offline (recipient, id);
     CREATE TABLE room_members (
       room TEXT NOT NULL, account TEXT NOT NULL, PRIMARY KEY (room, account)
     ) STRICT, WITHOUT ROWID;
     PRAGMA user_version = 1;`);
    const insert = db.prepare("INSERT INTO offline (recipient, body) VALUES (?, ?)");
    insert.run("bob", JSON.stringify(msg("mallory", "bob", "old 1")));
    insert.run("bob", JSON.stringify(msg("mallory", "bob", "old 2")));
  } finally {
    db.close();
  }
  await using store = SqliteStore.open(path);
  const limits = { total: 10, perSender: 2 };
  assertEquals(
    await store.enqueueOffline("bob", msg("mallory", "bob", "new"), limits),
    "sender-full",
  );
  assertEquals(await store.enqueueOffline("bob", msg("alice", "bob", "new"), limits), "stored");
  assertEquals((await store.peekOffline("bob", 10)).map((m) => m.message.message), [
    "old 1",
    "old 2",
    "new",
  ]);
});

Deno.test("SqliteStore.open() gives old accounts their skeleton and keeps look-alikes it finds", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  const db = new DatabaseSync(path);
  try {
    db.exec(`CREATE TABLE accounts (
       name TEXT PRIMARY KEY NOT NULL, password_hash TEXT NOT NULL,
       blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)), created_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE offline (
       id INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL, body TEXT NOT NULL
     ) STRICT;
     CREATE TABLE room_members (
       room TEXT NOT NULL, account TEXT NOT NULL, PRIMARY KEY (room, account)
     ) STRICT, WITHOUT ROWID;
     PRAGMA user_version = 1;`);
    const insert = db.prepare("INSERT INTO accounts VALUES (?, 'h', 0, 1)");
    insert.run("alice");
    insert.run("\u0430lice"); // registered before look-alikes were refused
  } finally {
    db.close();
  }
  await using store = SqliteStore.open(path);
  assertEquals((await store.listAccounts()).length, 2, "both kept");
  assertEquals(await store.accountLike("alice"), "\u0430lice");
  assertEquals(await store.accountLike("ａｌｉｃｅ"), "alice");
  assertEquals(await store.createAccount("al\u0456ce", "h"), false);
});

Deno.test("SqliteStore.open() refuses a database from a newer jim", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  assertThrows(() => SqliteStore.open(path), Error, "is newer than this jim's");
});

Deno.test("SqliteStore.open() rejects an unknown synchronous mode", () => {
  assertThrows(
    () => SqliteStore.open(":memory:", { synchronous: "off" as "full" }),
    TypeError,
    "unknown synchronous mode off",
  );
});

Deno.test("SqliteStore.enqueueOffline() commits one batch as one transaction", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  await using store = SqliteStore.open(path);
  const observer = new DatabaseSync(path);
  try {
    observer.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const calls = [];
    for (let i = 0; i < 100; i++) {
      calls.push(store.enqueueOffline("bob", msg("a", "bob", "m"), { total: 200 }));
    }
    assert((await Promise.all(calls)).every((r) => r === "stored"));
    // One transaction writes each changed page once (a handful of WAL frames);
    // 100 transactions would write at least 300.
    const frames = observer.prepare("PRAGMA wal_checkpoint(PASSIVE)").get()?.log;
    assert(typeof frames === "number" && frames > 0 && frames < 30, `WAL frames: ${frames}`);
  } finally {
    observer.close();
  }
  assertEquals(await store.countOffline("bob"), 100);
});

Deno.test("SqliteStore.enqueueOffline() rejects the whole batch when it cannot commit", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  await using store = SqliteStore.open(path, { busyTimeoutMs: 0, lockWaitMs: 50 });
  const other = new DatabaseSync(path);
  try {
    other.exec("BEGIN IMMEDIATE"); // holds the write lock
    const calls = [
      store.enqueueOffline("bob", msg("a", "bob", "1"), { total: 10 }),
      store.enqueueOffline("bob", msg("a", "bob", "2"), { total: 10 }),
    ];
    for (const call of calls) await assertRejects(() => call, Error, "locked");
    other.exec("ROLLBACK");
  } finally {
    other.close();
  }
  assertEquals(await store.enqueueOffline("bob", msg("a", "bob", "3"), { total: 10 }), "stored");
  assertEquals((await store.peekOffline("bob", 10)).map((m) => m.message.message), ["3"]);
});

Deno.test("SqliteStore.enqueueOffline() waits for another connection's lock without blocking", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  await using store = SqliteStore.open(path);
  const other = new DatabaseSync(path);
  try {
    other.exec("BEGIN IMMEDIATE"); // holds the write lock
    let settled = false;
    const call = store.enqueueOffline("bob", msg("a", "bob", "1"), { total: 10 }).finally(() =>
      settled = true
    );
    // Timers keep firing while the write waits: the event loop is free.
    const started = performance.now();
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
    assert(performance.now() - started < 1000, "the event loop was held");
    assertEquals(settled, false);
    other.exec("COMMIT");
    assertEquals(await call, "stored");
  } finally {
    other.close();
  }
  assertEquals((await store.peekOffline("bob", 10)).map((m) => m.message.message), ["1"]);
});

Deno.test("SqliteStore.addRoomMembers() writes many rooms in one transaction", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  await using store = SqliteStore.open(path);
  const observer = new DatabaseSync(path);
  const rooms = Array.from({ length: 5000 }, (_, i) => `#room${i}`);
  try {
    observer.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    await store.addRoomMembers(rooms, "ann");
    // 5,000 commits would write at least 5,000 WAL frames.
    const frames = observer.prepare("PRAGMA wal_checkpoint(PASSIVE)").get()?.log;
    assert(typeof frames === "number" && frames > 0 && frames < 500, `WAL frames: ${frames}`);
  } finally {
    observer.close();
  }
  assertEquals((await store.listRoomMemberships()).length, 5000);
});

Deno.test("SqliteStore.enqueueOffline() counts rows another connection added", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  await using store = SqliteStore.open(path);
  assertEquals(await store.enqueueOffline("bob", msg("a", "bob", "1"), { total: 3 }), "stored");
  assertEquals(await store.enqueueOffline("bob", msg("a", "bob", "2"), { total: 3 }), "stored");
  const other = new DatabaseSync(path);
  try {
    other.prepare("INSERT INTO offline (recipient, body) VALUES (?, ?)")
      .run("bob", JSON.stringify(msg("a", "bob", "other")));
  } finally {
    other.close();
  }
  assertEquals(await store.enqueueOffline("bob", msg("a", "bob", "3"), { total: 3 }), "full");
  assertEquals(await store.countOffline("bob"), 3);
});

Deno.test("SqliteStore.enqueueOffline() splits a flood into transactions of MAX_BATCH", async () => {
  await using store = SqliteStore.open(":memory:");
  const calls = [];
  for (let i = 0; i < MAX_BATCH * 2 + 10; i++) {
    calls.push(store.enqueueOffline("bob", msg("a", "bob", `${i}`), { total: MAX_BATCH * 2 + 5 }));
  }
  const results = await Promise.all(calls);
  assertEquals(results.filter((r) => r === "stored").length, MAX_BATCH * 2 + 5);
  assertEquals(results.slice(-5), ["full", "full", "full", "full", "full"]);
  const stored = await store.peekOffline("bob", Infinity);
  assertEquals(stored.map((m) => Number(m.message.message)), stored.map((_, i) => i));
});

Deno.test("SqliteStore sees writes from another process's connection to the same file", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/jim.db`;
  await using server = SqliteStore.open(path);
  await server.createAccount("alice", "h");
  {
    await using admin = SqliteStore.open(path);
    assertEquals(await admin.setBlocked("alice", true), true);
  }
  assertEquals((await server.getAccount("alice"))?.blocked, true);
});

// -- defaultDbPath --

Deno.test("defaultDbPath() prefers JIM_DB, then XDG_DATA_HOME, then HOME", () => {
  const all = { JIM_DB: "/srv/jim.db", XDG_DATA_HOME: "/xdg/", HOME: "/home/ann" };
  assertEquals(defaultDbPath(new Map(Object.entries(all))), "/srv/jim.db");
  assertEquals(
    defaultDbPath(new Map(Object.entries({ ...all, JIM_DB: "" }))),
    "/xdg/jim/jim.db",
  );
  assertEquals(
    defaultDbPath(new Map([["HOME", "/home/ann"], ["XDG_DATA_HOME", "relative"]])),
    "/home/ann/.local/share/jim/jim.db",
  );
  assertEquals(
    defaultDbPath(new Map([["HOME", "/home/ann"]])),
    "/home/ann/.local/share/jim/jim.db",
  );
});

Deno.test("defaultDbPath() throws when neither HOME nor XDG_DATA_HOME is set", () => {
  assertThrows(
    () => defaultDbPath(new Map()),
    Error,
    "Cannot choose a database file: neither HOME nor XDG_DATA_HOME is set",
  );
});

Deno.test("SqliteStore.listRoomMemberships() keeps within limits per account and on rooms", async () => {
  await using store = SqliteStore.open(":memory:");
  await store.addRoomMembers(["#a", "#b", "#c"], "ann");
  await store.addRoomMembers(["#b", "#d"], "bob");
  assertEquals(await store.listRoomMemberships({ perAccount: 2 }), [
    { room: "#a", account: "ann" },
    { room: "#b", account: "ann" },
    { room: "#b", account: "bob" },
    { room: "#d", account: "bob" },
  ]);
  assertEquals(await store.listRoomMemberships({ perAccount: 2, rooms: 2 }), [
    { room: "#a", account: "ann" },
    { room: "#b", account: "ann" },
    { room: "#b", account: "bob" },
  ]);
  // Each account's first rooms by name.
  await store.addRoomMembers(["#0"], "bob");
  assertEquals(await store.listRoomMemberships({ perAccount: 1 }), [
    { room: "#0", account: "bob" },
    { room: "#a", account: "ann" },
  ]);
  await store.removeRoomMember("#0", "bob");
  await store.addRoomMembers(["#a"], "carl");
  // #b's first member (ann) is past her cap, its second (bob) is not: #b counts.
  assertEquals(await store.listRoomMemberships({ perAccount: 1, rooms: 2 }), [
    { room: "#a", account: "ann" },
    { room: "#a", account: "carl" },
    { room: "#b", account: "bob" },
  ]);
  assertEquals((await store.listRoomMemberships()).length, 6);
  assertEquals((await store.listRoomMemberships({ rooms: Infinity })).length, 6);
});

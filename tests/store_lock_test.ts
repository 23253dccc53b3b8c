/**
 * Another process holding the database's write lock (a backup, `jim admin`,
 * sqlite3 in a shell) must not freeze the server: only the requests that
 * need to write wait, and everyone else's messages keep flowing.
 */
import { assert, assertEquals } from "@std/assert";
import { DatabaseSync } from "node:sqlite";
import {
  auth,
  guest,
  login,
  member,
  now,
  RawClient,
  register,
  startServer,
  tempDir,
} from "./_helpers.ts";

/** A process that holds the write lock on `path` until released. */
async function holdWriteLock(path: string): Promise<{ release(): Promise<void> }> {
  const script = `
    import { DatabaseSync } from "node:sqlite";
    const db = new DatabaseSync(${JSON.stringify(path)});
    db.exec("BEGIN IMMEDIATE");
    console.log("locked");
    for await (const _ of Deno.stdin.readable) { /* until stdin closes */ }
    db.exec("ROLLBACK");
    db.close();
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assertEquals(new TextDecoder().decode(value).trim(), "locked");
  reader.releaseLock();
  const writer = child.stdin.getWriter();
  return {
    async release() {
      await writer.close();
      await child.stdout.cancel();
      await child.status;
    },
  };
}

/** Sends `n` messages from a to b, one at a time, each after the last arrived; ms for all. */
async function pingPong(a: RawClient, b: RawClient, n: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    await a.send({ action: "msg", time: now(), to: "b", from: "a", message: `ping ${i}` });
    assertEquals((await a.response()).response, 200);
    assertEquals((await b.message()).message, `ping ${i}`);
  }
  return performance.now() - started;
}

Deno.test("store lock: a write waiting for another process's lock does not stop other clients", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  await using server = await startServer({ dbPath });
  await register(server.port, "carol");
  await using sender = await member(server.port, "sender");
  await using a = await guest(server.port, "a");
  await using b = await guest(server.port, "b");

  const lock = await holdWriteLock(dbPath);
  let released = false;
  try {
    // Mail for carol (offline) must be written, so it waits for the lock.
    await sender.send({ action: "msg", time: now(), to: "carol", from: "sender", message: "hi" });
    // Meanwhile a and b talk; before the fix each write blocked the event
    // loop for its 5 s busy timeout.
    const ms = await pingPong(a, b, 20);
    assert(ms < 2000, `20 direct messages took ${ms.toFixed(0)} ms while the lock was held`);
    assertEquals(sender.inbox.filter((o) => "response" in o), [], "answered before the lock went");
    await lock.release();
    released = true;
    assertEquals((await sender.response()).response, 202);
  } finally {
    if (!released) await lock.release();
  }
  await using carol = await login(server.port, "carol");
  assertEquals((await carol.message()).message, "hi");
});

Deno.test("store lock: a write fails plainly once --db-lock-wait is over, and the server carries on", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  const lines: string[] = [];
  await using server = await startServer({ dbPath, dbLockWaitMs: 200, log: (l) => lines.push(l) });
  await register(server.port, "carol");
  await using sender = await member(server.port, "sender");
  const lock = await holdWriteLock(dbPath);
  try {
    const r = await sender.request({
      action: "msg",
      time: now(),
      to: "carol",
      from: "sender",
      message: "lost?",
    });
    assertEquals(r.response, 500);
  } finally {
    await lock.release();
  }
  assert(lines.some((l) => l.includes("locked by another process")), lines.join("\n"));
  const r = await sender.request({
    action: "msg",
    time: now(),
    to: "carol",
    from: "sender",
    message: "ok",
  });
  assertEquals(r.response, 202);
});

Deno.test("store lock: a guest's rooms become its account's in one transaction at login", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  await using server = await startServer({ dbPath });
  await register(server.port, "ann");
  await using c = await guest(server.port, "ann-guest");
  for (let i = 0; i < 50; i++) {
    assertEquals((await c.request({ action: "join", time: now(), room: `#r${i}` })).response, 201);
  }
  const observer = new DatabaseSync(dbPath);
  try {
    observer.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    assertEquals((await c.request(auth("ann", "correct horse"))).response, 200);
    // 50 commits would write at least 50 WAL frames; one writes a few.
    const frames = observer.prepare("PRAGMA wal_checkpoint(PASSIVE)").get()?.log;
    assert(typeof frames === "number" && frames > 0 && frames < 20, `WAL frames: ${frames}`);
    const rows = observer.prepare("SELECT count(*) AS n FROM room_members WHERE account = ?")
      .get("ann");
    assertEquals(rows?.n, 50);
  } finally {
    observer.close();
  }
});

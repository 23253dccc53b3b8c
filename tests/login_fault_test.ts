import { assertEquals } from "@std/assert";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { HookedStore } from "./_hooked_store.ts";
import { auth, guest, now, RawClient, register, startServer } from "./_helpers.ts";

Deno.test("authenticate: when the store fails (disk full) the answer is 500 and the connection stays logged out", async () => {
  let diskFull = false;
  const store = new HookedStore(SqliteStore.open(":memory:"), (method) => {
    // A full disk still answers reads.
    const read = method === "getAccount" || method === "accountLike";
    if (diskFull && !read) throw new Error("database or disk is full");
  });
  const lines: string[] = [];
  await using server = await startServer({ store, log: (line) => lines.push(line) });
  await register(server.port, "alice");
  // A guest in a room: logging in makes its rooms the account's, a write.
  await using c = await guest(server.port, "visitor");
  assertEquals((await c.request({ action: "join", time: now(), room: "#lab" })).response, 201);
  diskFull = true;
  const failed = await c.request(auth("alice", "correct horse"));
  assertEquals(failed.response, 500);
  assertEquals(failed.error, "Cannot authenticate: the server could not save the login");
  // Not logged in: `who` lists the guest, not alice, and nobody else sees alice.
  await using other = await guest(server.port, "other");
  const who = await other.request({ action: "who", time: now() });
  assertEquals(who.users.sort(), ["other", "visitor"]);
  assertEquals(
    (await other.request({ action: "who", time: now(), target: "alice" })).alert,
    "alice is offline",
  );
  // Once the disk has room, the same connection logs in (no 409).
  diskFull = false;
  assertEquals((await c.request(auth("alice", "correct horse"))).response, 200);
  assertEquals(
    (await other.request({ action: "who", time: now(), target: "alice" })).alert,
    "alice is online",
  );
  assertEquals(lines.some((l) => l.includes("cannot log alice in")), true);
});

Deno.test("authenticate: when storing the session token fails the answer is 500 and the connection stays logged out", async () => {
  let diskFull = false;
  const store = new HookedStore(SqliteStore.open(":memory:"), (method) => {
    if (diskFull && method === "addToken") throw new Error("database or disk is full");
  });
  await using server = await startServer({ store });
  await register(server.port, "alice");
  await using c = await RawClient.connect(server.port);
  diskFull = true;
  const failed = await c.request({ ...auth("alice", "correct horse"), remember: true });
  assertEquals(failed.response, 500);
  assertEquals(failed.token, undefined);
  await using other = await guest(server.port, "other");
  const who = await other.request({ action: "who", time: now(), target: "alice" });
  assertEquals(who.alert, "alice is offline");
  diskFull = false;
  const ok = await c.request({ ...auth("alice", "correct horse"), remember: true });
  assertEquals(ok.response, 200);
  assertEquals(typeof ok.token, "string");
});

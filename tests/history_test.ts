/**
 * Room and direct history, persistent rooms and topics, over real TCP
 * against a server with a real SQLite file where it matters.
 */

import { assert, assertEquals } from "@std/assert";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import {
  login,
  member,
  now as t,
  type Obj,
  RawClient,
  register,
  startServer,
  tempDir,
} from "./_helpers.ts";

function assertShape(r: Obj, code: number): void {
  assertEquals(r.response, code, JSON.stringify(r));
}

/** Sends `count` messages to a room, numbered from `from`, and waits for every 200. */
async function fill(c: RawClient, room: string, count: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i++) {
    await c.send({ action: "msg", time: t(), to: room, message: `m${i}` });
  }
  for (let i = 0; i < count; i++) assertShape(await c.response(), 200);
}

function texts(messages: Obj[]): string[] {
  return messages.map((m) => m.message);
}

function assertIncreasing(messages: Obj[]): void {
  for (let i = 1; i < messages.length; i++) {
    assert(messages[i]!.history_id > messages[i - 1]!.history_id, `ids out of order at ${i}`);
  }
}

Deno.test("history: 500 room messages; a joining member gets the last ones in order and pages back to the first kept", async () => {
  await using server = await startServer({ roomHistory: 200 });
  await using alice = await member(server.port, "alice");
  assertShape(await alice.request({ action: "join", time: t(), room: "#big" }), 201);
  await fill(alice, "#big", 500);
  await using bob = await member(server.port, "bob");
  const joined = await bob.request({ action: "join", time: t(), room: "#big", history: 50 });
  assertShape(joined, 200);
  assertEquals(texts(joined.messages), Array.from({ length: 50 }, (_, i) => `m${450 + i}`));
  assertEquals(joined.more, true);
  assertIncreasing(joined.messages);
  // Page back with `before` until nothing older is kept.
  const all = [...joined.messages];
  for (let pages = 0; pages < 10; pages++) {
    const page = await bob.request({
      action: "history",
      time: t(),
      target: "#big",
      before: all[0]!.history_id,
      limit: 60,
    });
    assertShape(page, 200);
    all.unshift(...page.messages);
    if (!page.more) break;
  }
  assertEquals(texts(all), Array.from({ length: 200 }, (_, i) => `m${300 + i}`));
  assertIncreasing(all);
  for (const m of all) assertEquals([m.action, m.from, m.to], ["msg", "alice", "#big"]);
});

Deno.test("history: non-members, guests and third parties are refused or see nothing", async () => {
  await using server = await startServer();
  await using alice = await member(server.port, "alice");
  await using bob = await member(server.port, "bob");
  await using carol = await member(server.port, "carol");
  assertShape(await alice.request({ action: "join", time: t(), room: "#den" }), 201);
  await fill(alice, "#den", 3);
  assertShape(await alice.request({ action: "msg", time: t(), to: "bob", message: "secret" }), 200);
  assertEquals((await bob.message()).message, "secret");

  const refused = await carol.request({ action: "history", time: t(), target: "#den" });
  assertShape(refused, 403);
  assertEquals(refused.error, "Cannot read the history of #den: you are not a member");
  assertShape(await carol.request({ action: "history", time: t(), target: "#none" }), 404);
  // carol's conversation with bob is not alice's.
  const other = await carol.request({ action: "history", time: t(), target: "bob" });
  assertShape(other, 200);
  assertEquals(other.messages, []);
  await using guest = await RawClient.connect(server.port);
  assertShape(
    await guest.request({ action: "presence", time: t(), user: { account_name: "gus" } }),
    200,
  );
  const g = await guest.request({ action: "history", time: t(), target: "alice" });
  assertShape(g, 401);
  assertEquals(g.error, "Cannot read direct history: log in to an account first");
  // The parties read their conversation, in order, whoever asks.
  const b = await bob.request({ action: "history", time: t(), target: "alice" });
  assertEquals(texts(b.messages), ["secret"]);
  const a = await alice.request({ action: "history", time: t(), target: "bob" });
  assertEquals(a.messages, b.messages);
});

Deno.test("history: bad history requests get 400 naming the rule", async () => {
  await using server = await startServer();
  await using alice = await member(server.port, "alice");
  const cases: [Obj, string][] = [
    [{ target: "#r", limit: 0 }, "limit must be a whole number from 1 to 200"],
    [{ target: "#r", limit: 201 }, "limit must be a whole number from 1 to 200"],
    [{ target: "#r", before: "5" }, "before must be a whole number"],
    [{ target: "#r", after: -1 }, "after must be a whole number"],
    [{ target: "no spaces" }, "target may hold only"],
    [{}, "target must be a string"],
  ];
  for (const [fields, text] of cases) {
    const r = await alice.request({ action: "history", time: t(), ...fields });
    assertShape(r, 400);
    assert(r.error.includes(text), `${JSON.stringify(fields)}: ${r.error}`);
  }
  const j = await alice.request({ action: "join", time: t(), room: "#r", after: 3 });
  assertShape(j, 400);
  assertEquals(j.error, "Cannot parse request: after needs history");
});

Deno.test("history: live room messages carry ids only for members that asked for history", async () => {
  await using server = await startServer();
  await using alice = await member(server.port, "alice");
  await using bob = await member(server.port, "bob");
  await using plain = await member(server.port, "plain");
  assertShape(await alice.request({ action: "join", time: t(), room: "#ids" }), 201);
  assertShape(await bob.request({ action: "join", time: t(), room: "#ids", history: 10 }), 200);
  assertShape(await plain.request({ action: "join", time: t(), room: "#ids" }), 200);
  await fill(alice, "#ids", 2);
  const [b1, b2] = [await bob.message(), await bob.message()];
  assert(
    typeof b1.history_id === "number" && b2.history_id === b1.history_id + 1,
    JSON.stringify([b1, b2]),
  );
  const p1 = await plain.message();
  assertEquals(Object.keys(p1).sort(), ["action", "encoding", "from", "message", "time", "to"]);
  // Reconnecting, bob catches up from the last id it saw.
  await fill(alice, "#ids", 3, 2);
  const caught = await bob.request({
    action: "join",
    time: t(),
    room: "#ids",
    history: 200,
    after: b2.history_id,
  });
  assertEquals(texts(caught.messages), ["m2", "m3", "m4"]);
});

Deno.test("history: a course client that joins gets no ids and nothing it did not ask for", async () => {
  await using server = await startServer();
  await using alice = await member(server.port, "alice");
  assertShape(await alice.request({ action: "join", time: t(), room: "#old" }), 201);
  await fill(alice, "#old", 3);
  assertShape(await alice.request({ action: "topic", time: t(), room: "#old", topic: "x" }), 200);
  // A seed client writes bare objects (no newline) and waits for each answer.
  await using seed = await RawClient.connect(server.port);
  await seed.writeRaw(
    JSON.stringify({
      action: "presence",
      time: t(),
      type: "status",
      user: { account_name: "s", status: "here" },
    }),
  );
  assertShape(await seed.response(), 200);
  await seed.writeRaw(JSON.stringify({ action: "join", time: t(), room: "#old" }));
  const joined = await seed.response();
  assertShape(joined, 200);
  assertEquals(Object.keys(joined).sort(), ["alert", "response", "time"]);
  await fill(alice, "#old", 1, 3);
  assertShape(await alice.request({ action: "topic", time: t(), room: "#old", topic: "y" }), 200);
  const m = await seed.message();
  assertEquals([m.message, m.history_id], ["m3", undefined]);
  await seed.writeRaw(JSON.stringify({ action: "msg", time: t(), to: "s", message: "ping" }));
  await seed.take((o) => o.action === "msg" && o.message === "ping");
  assertShape(await seed.response(), 200);
  assertEquals(seed.inbox, []);
});

Deno.test("history, rooms and topics survive a restart; ids keep increasing", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  let lastId = 0;
  {
    await using server = await startServer({ dbPath });
    await using alice = await member(server.port, "alice");
    assertShape(await alice.request({ action: "join", time: t(), room: "#keep" }), 201);
    const set = await alice.request({ action: "topic", time: t(), room: "#keep", topic: "plans" });
    assertShape(set, 200);
    await fill(alice, "#keep", 5);
    await using guest = await RawClient.connect(server.port);
    await guest.request({ action: "presence", time: t(), user: { account_name: "g" } });
    assertShape(await guest.request({ action: "join", time: t(), room: "#guests" }), 201);
    const h = await alice.request({ action: "history", time: t(), target: "#keep" });
    lastId = h.messages.at(-1).history_id;
  }
  await using server = await startServer({ dbPath });
  await register(server.port, "bob");
  await using bob = await login(server.port, "bob");
  const joined = await bob.request({ action: "join", time: t(), room: "#keep", history: 100 });
  assertShape(joined, 200);
  assertEquals(joined.topic, "plans");
  assertEquals(texts(joined.messages), ["m0", "m1", "m2", "m3", "m4"]);
  // A room only a guest was ever in went with it.
  assertShape(await bob.request({ action: "join", time: t(), room: "#guests" }), 201);
  await using alice = await login(server.port, "alice");
  await fill(alice, "#keep", 1, 5);
  const next = await bob.message();
  assert(next.history_id > lastId, `${next.history_id} after ${lastId}`);
});

Deno.test("history: the age limit drops old messages from pages and from the file", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  const ageMs = 400;
  await using server = await startServer({ dbPath, historyAgeMs: ageMs, blockCheckMs: 50 });
  await using alice = await member(server.port, "alice");
  assertShape(await alice.request({ action: "join", time: t(), room: "#age" }), 201);
  const sentAt = Date.now();
  await fill(alice, "#age", 1);
  const kept = await alice.request({ action: "history", time: t(), target: "#age" });
  assertEquals(texts(kept.messages), ["m0"]);
  // Waits for the age to pass (the limit is about time), polling with a deadline.
  const deadline = sentAt + 5000;
  let page: Obj = kept;
  while (page.messages.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    page = await alice.request({ action: "history", time: t(), target: "#age" });
  }
  assertEquals(page.messages, []);
  assert(Date.now() - sentAt >= ageMs, "dropped before its age");
  await fill(alice, "#age", 1, 1);
  const fresh = await alice.request({ action: "history", time: t(), target: "#age" });
  assertEquals(texts(fresh.messages), ["m1"]);
  // The timer also deletes them from the file.
  await using store = SqliteStore.open(dbPath);
  let rows = -1;
  while (Date.now() < deadline) {
    const page = await store.readHistory("#age", { limit: 10 });
    rows = page.messages.length;
    if (rows === 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assertEquals(rows, 1);
});

Deno.test("history: direct conversations keep their last N, offline mail included", async () => {
  await using server = await startServer({ directHistory: 3 });
  await using alice = await member(server.port, "alice");
  await register(server.port, "bob");
  for (const text of ["one", "two"]) {
    assertShape(await alice.request({ action: "msg", time: t(), to: "bob", message: text }), 202);
  }
  await using bob = await login(server.port, "bob");
  await bob.message();
  await bob.message();
  for (const text of ["three", "four"]) {
    assertShape(await alice.request({ action: "msg", time: t(), to: "bob", message: text }), 200);
  }
  assertShape(await bob.request({ action: "msg", time: t(), to: "alice", message: "five" }), 200);
  const h = await bob.request({ action: "history", time: t(), target: "alice" });
  assertEquals(texts(h.messages), ["three", "four", "five"]);
  assertEquals(h.more, false);
});

Deno.test("history: deleting an account deletes the history it sent and was sent", async () => {
  await using server = await startServer();
  await using alice = await member(server.port, "alice");
  await using bob = await member(server.port, "bob");
  assertShape(await alice.request({ action: "join", time: t(), room: "#del" }), 201);
  assertShape(await bob.request({ action: "join", time: t(), room: "#del" }), 200);
  await fill(alice, "#del", 2);
  await fill(bob, "#del", 1, 2);
  assertShape(await bob.request({ action: "msg", time: t(), to: "alice", message: "hi" }), 200);
  const gone = await alice.request({
    action: "unregister",
    time: t(),
    user: { account_name: "alice", password: "correct horse" },
  });
  assertShape(gone, 200);
  const room = await bob.request({ action: "history", time: t(), target: "#del" });
  assertEquals(texts(room.messages), ["m2"]);
  const direct = await bob.request({ action: "history", time: t(), target: "alice" });
  assertEquals(direct.messages, []);
});

Deno.test("topic: members set it, joiners that ask see it, members that asked are told", async () => {
  await using server = await startServer();
  await using alice = await member(server.port, "alice");
  await using bob = await member(server.port, "bob");
  await using carol = await member(server.port, "carol");
  assertShape(await alice.request({ action: "join", time: t(), room: "#t" }), 201);
  assertShape(await bob.request({ action: "join", time: t(), room: "#t", history: 0 }), 200);
  const set = await alice.request({ action: "topic", time: t(), room: "#t", topic: "lunch" });
  assertEquals([set.response, set.topic], [200, "lunch"]);
  const told = await bob.take((o) => o.action === "topic");
  assertEquals([told.room, told.topic, told.from], ["#t", "lunch", "alice"]);
  const refused = await carol.request({ action: "topic", time: t(), room: "#t", topic: "mine" });
  assertShape(refused, 403);
  assertEquals(refused.error, "Cannot set the topic of #t: you are not a member");
  assertEquals((await carol.request({ action: "topic", time: t(), room: "#t" })).topic, "lunch");
  const joined = await carol.request({ action: "join", time: t(), room: "#t", history: 10 });
  assertEquals(joined.topic, "lunch");
  const long = await alice.request({
    action: "topic",
    time: t(),
    room: "#t",
    topic: "x".repeat(201),
  });
  assertShape(long, 400);
  assertEquals(long.error, "Cannot parse request: topic exceeds 200 characters");
});

Deno.test("rooms: an account's room lives on when empty; a guests' room goes with its history", async () => {
  await using server = await startServer();
  await using alice = await member(server.port, "alice");
  await using bob = await member(server.port, "bob");
  assertShape(await alice.request({ action: "join", time: t(), room: "#kept" }), 201);
  await fill(alice, "#kept", 2);
  assertShape(await alice.request({ action: "leave", time: t(), room: "#kept" }), 200);
  const joined = await bob.request({ action: "join", time: t(), room: "#kept", history: 10 });
  assertEquals([joined.response, texts(joined.messages)], [200, ["m0", "m1"]]);

  const gus = await RawClient.connect(server.port);
  await gus.request({ action: "presence", time: t(), user: { account_name: "gus" } });
  assertShape(await gus.request({ action: "join", time: t(), room: "#fleeting" }), 201);
  await fill(gus, "#fleeting", 2);
  assertShape(await gus.request({ action: "leave", time: t(), room: "#fleeting" }), 200);
  gus.close();
  await gus.reading;
  const fresh = await bob.request({ action: "join", time: t(), room: "#fleeting", history: 10 });
  assertEquals([fresh.response, fresh.messages], [201, []]);
});

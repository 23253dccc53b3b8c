/**
 * Caps on rooms: per connection and account (`--max-rooms-per-user`) and in
 * all (`--max-rooms`), also for memberships already stored beyond them.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { guest, login, now, type Obj, register, startServer, tempDir } from "./_helpers.ts";

function join(room: string): Obj {
  return { action: "join", time: now(), room };
}

Deno.test("join: a guest beyond --max-rooms-per-user gets 403 and stays in its rooms", async () => {
  await using server = await startServer({ maxRoomsPerUser: 3 });
  await using g = await guest(server.port, "gus");
  for (const room of ["#a", "#b", "#c"]) assertEquals((await g.request(join(room))).response, 201);
  const over = await g.request(join("#d"));
  assertEquals(
    [over.response, over.error],
    [403, "Cannot join #d: you are in 3 rooms, the most one user may be in"],
  );
  // Joining a room it is in is not a new room; leaving makes room for another.
  assertEquals((await g.request(join("#a"))).response, 200);
  assertEquals((await g.request({ action: "leave", time: now(), room: "#a" })).response, 200);
  assertEquals((await g.request(join("#d"))).response, 201);
  assertEquals((await g.request({ action: "who", time: now(), target: "#e" })).response, 404);
});

Deno.test("join: the default cap is 100 rooms per user", async () => {
  await using server = await startServer();
  await using g = await guest(server.port, "gus");
  const lines = Array.from({ length: 101 }, (_, i) => JSON.stringify(join(`#r${i}`)));
  await g.writeRaw(lines.join("\n") + "\n");
  const codes = [];
  for (let i = 0; i < 101; i++) codes.push((await g.response()).response);
  assertEquals(codes, [...Array(100).fill(201), 403]);
});

Deno.test("join: no room is created beyond --max-rooms; existing rooms can still be joined", async () => {
  await using server = await startServer({ maxRooms: 4, maxRoomsPerUser: 3 });
  await using a = await guest(server.port, "a");
  await using b = await guest(server.port, "b");
  for (const room of ["#1", "#2", "#3"]) assertEquals((await a.request(join(room))).response, 201);
  assertEquals((await b.request(join("#4"))).response, 201);
  const over = await b.request(join("#5"));
  assertEquals(
    [over.response, over.error],
    [403, "Cannot create #5: the server has 4 rooms, the most it allows"],
  );
  assertEquals((await b.request(join("#1"))).response, 200);
  // A room that empties is gone, and frees its place.
  assertEquals((await a.request({ action: "leave", time: now(), room: "#2" })).response, 200);
  assertEquals((await b.request(join("#5"))).response, 201);
});

Deno.test("join: an account's cap counts its stored rooms; a guest's rooms past it are left at login", async () => {
  await using server = await startServer({ maxRoomsPerUser: 3 });
  await register(server.port, "ann");
  {
    await using a = await login(server.port, "ann");
    for (const room of ["#a", "#b"]) assertEquals((await a.request(join(room))).response, 201);
  }
  await using g = await guest(server.port, "ann-guest");
  for (const room of ["#x", "#y", "#z"]) assertEquals((await g.request(join(room))).response, 201);
  const auth = await g.request({
    action: "authenticate",
    time: now(),
    user: { account_name: "ann", password: "correct horse" },
  });
  assertEquals(auth.response, 200);
  // #a and #b are hers; of the guest's rooms only #x fits.
  assertEquals((await g.request(join("#w"))).response, 403);
  for (const room of ["#a", "#b", "#x"]) {
    assertEquals((await g.request({ action: "who", time: now(), target: room })).users, ["ann"]);
  }
  for (const room of ["#y", "#z"]) {
    assertEquals((await g.request({ action: "who", time: now(), target: room })).response, 404);
  }
});

Deno.test("start: stored memberships beyond the caps stay on disk but are not loaded", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  {
    await using store = SqliteStore.open(dbPath);
    await store.createAccount("bulk", "x");
    // One account in 2,000 rooms, and 20,000 one-member rooms of others.
    await store.addRoomMembers(Array.from({ length: 2000 }, (_, i) => `#b${i}`), "bulk");
    for (let i = 0; i < 20; i++) {
      await store.addRoomMembers(Array.from({ length: 1000 }, (_, j) => `#o${i}.${j}`), `o${i}`);
    }
  }
  await using server = await startServer({ dbPath, maxRoomsPerUser: 5, maxRooms: 50 });
  await using g = await guest(server.port, "gus");
  // Rooms sort by name: #b0, #b1, #b10, #b100, #b1000 are bulk's first five.
  assertEquals((await g.request({ action: "who", time: now(), target: "#b1000" })).response, 200);
  assertEquals((await g.request({ action: "who", time: now(), target: "#b1001" })).response, 404);
  // 5 of bulk's and 5 of each of the first nine others by name (o0, o1,
  // o10 … o16): 50 rooms, the cap.
  assertEquals((await g.request({ action: "who", time: now(), target: "#o0.0" })).response, 200);
  assertEquals((await g.request({ action: "who", time: now(), target: "#o16.0" })).response, 200);
  assertEquals((await g.request({ action: "who", time: now(), target: "#o9.0" })).response, 404);
  assertEquals(
    (await g.request(join("#new"))).error,
    "Cannot create #new: the server has 50 rooms, the most it allows",
  );
  {
    await using store = SqliteStore.open(dbPath);
    assertEquals((await store.listRoomMemberships()).length, 22_000, "nothing deleted");
  }
});

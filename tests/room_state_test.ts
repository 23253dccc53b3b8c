/**
 * RoomState without a hub: a recording router and cluster stand in for the
 * parts it tells of membership changes, over a store in memory.
 */
import { assertEquals } from "@std/assert";
import { RoomState } from "../lib/server/room_state.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";

function setup(roomHistory = 10) {
  const store = SqliteStore.open(":memory:");
  const calls: string[] = [];
  const rooms = new RoomState({
    router: { watchRoom: (room, watch) => void calls.push(`watch ${room} ${watch}`) },
    cluster: {
      publishMember: (room, name, joined, account) =>
        void calls.push(`member ${room} ${name} ${joined} ${account}`),
      dropRoom: (room) => {
        calls.push(`drop ${room}`);
        return Promise.resolve();
      },
    },
    store,
    roomHistory,
    log: (line) => void calls.push(`log ${line}`),
  });
  return { store, rooms, calls, [Symbol.asyncDispose]: () => store.close() };
}

Deno.test("RoomState.members(): a room is made and watched once, only when asked to create", async () => {
  await using s = setup();
  assertEquals(s.rooms.members("#a", false).size, 0);
  assertEquals(s.rooms.has("#a"), false);
  s.rooms.members("#a", true).add("ann");
  s.rooms.members("#a", true).add("bob");
  assertEquals([...s.rooms.get("#a")!], ["ann", "bob"]);
  assertEquals(s.calls, ["watch #a true"]);
});

Deno.test("RoomState.removeMember(): a guests' room goes with its last member, told and its history dropped", async () => {
  await using s = setup();
  const message = {
    action: "msg" as const,
    time: 1,
    from: "g",
    to: "#g",
    encoding: "utf-8" as const,
    message: "hi",
  };
  await s.store.appendHistory("#g", { id: 1, message }, 10);
  s.rooms.members("#g", true).add("g");
  s.rooms.setTopic("#g", "t");
  s.calls.length = 0;
  s.rooms.removeMember("#g", "g");
  assertEquals(s.calls, ["member #g g false false", "watch #g false", "drop #g"]);
  assertEquals([s.rooms.has("#g"), s.rooms.topic("#g")], [false, undefined]);
  // Not awaited by removeMember: the SQLite store has dropped it before the next read.
  assertEquals((await s.store.readHistory("#g", { limit: 10 })).messages, []);
});

Deno.test("RoomState.removeMember(): a kept room lives on empty; a leave seen elsewhere is not told again", async () => {
  await using s = setup();
  s.rooms.members("#k", true).add("ann");
  s.rooms.keep("#k");
  s.calls.length = 0;
  s.rooms.removeMember("#k", "ann", false);
  assertEquals(s.calls, []);
  assertEquals([s.rooms.has("#k"), s.rooms.get("#k")!.size], [true, 0]);
});

Deno.test("RoomState.load(): memberships, kept rooms and topics from the store, within the caps", async () => {
  await using s = setup();
  await s.store.addRoomMember("#one", "ann");
  await s.store.addRoomMember("#two", "ann");
  await s.store.addRoomMember("#two", "bob");
  await s.store.setTopic("#two", "plans");
  await s.rooms.load(s.store, { perAccount: 1, rooms: 10 });
  assertEquals([...s.rooms.entries()].map(([r, m]) => [r, [...m]]), [
    ["#one", ["ann"]],
    ["#two", ["bob"]],
  ]);
  assertEquals([s.rooms.isKept("#one"), s.rooms.isKept("#two"), s.rooms.topic("#two")], [
    true,
    true,
    "plans",
  ]);
});

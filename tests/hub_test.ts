/**
 * The hub's parts without sockets: the directory on its own, and the hub
 * driven through fake peers (each records what it was sent) over an
 * in-memory store. Nothing here sleeps: every step is awaited.
 */
import { RecordingPeer } from "./_fake_peer.ts";
import { assertEquals, assertStrictEquals } from "@std/assert";
import { Outgoing } from "../lib/protocol/codec.ts";
import type { Response } from "../lib/protocol/messages.ts";
import { validateRequest } from "../lib/protocol/validate.ts";
import { LocalDirectory } from "../lib/server/directory.ts";
import { Hub, type Session } from "../lib/server/hub.ts";
import { SERVER_DEFAULTS } from "../lib/server/options.ts";
import { LocalRouter } from "../lib/server/router.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";

async function testHub(): Promise<Hub & AsyncDisposable> {
  const store = SqliteStore.open(":memory:");
  const hub = await Hub.create({ store, settings: { ...SERVER_DEFAULTS, hashIterations: 1000 } });
  return Object.assign(hub, {
    async [Symbol.asyncDispose]() {
      hub.stop();
      await store.close();
    },
  });
}

/** Validates a request as the connection would, then lets the hub answer it. */
function ask(hub: Hub, session: Session, request: Record<string, unknown>): Promise<Response> {
  return Promise.resolve(hub.handle(session, validateRequest({ time: 1, ...request })));
}

async function guest(hub: Hub, name: string): Promise<{ session: Session; peer: RecordingPeer }> {
  const peer = new RecordingPeer();
  const session = hub.connect(peer);
  const answer = await ask(hub, session, { action: "presence", user: { account_name: name } });
  assertEquals(answer.response, 200);
  return { session, peer };
}

// -- LocalDirectory --

Deno.test("LocalDirectory: a name is held by one holder, and only it can release it", () => {
  const directory = new LocalDirectory<string>();
  directory.claim("alice", "s1");
  assertEquals(directory.get("alice"), "s1");
  assertEquals([...directory], [["alice", "s1"]]);
  assertEquals(directory.release("alice", "s2"), false);
  assertEquals(directory.get("alice"), "s1");
  assertEquals(directory.release("alice", "s1"), true);
  assertEquals(directory.has("alice"), false);
  assertEquals(directory.size, 0);
});

Deno.test("LocalDirectory.heldLike() names the name held that is or looks like the one asked", () => {
  const directory = new LocalDirectory<string>();
  assertEquals(directory.heldLike("ann"), null);
  directory.claim("ann", "s1");
  assertEquals(directory.heldLike("ann"), "ann");
  assertEquals(directory.heldLike("\u0430nn"), "ann");
  assertEquals(directory.heldLike("bob"), null);
});

Deno.test("LocalDirectory.lookalike() names a held or reserved name that looks the same", () => {
  const directory = new LocalDirectory<string>();
  directory.claim("paypal", "s1");
  assertEquals(directory.lookalike("paypaI", null), "it looks like paypal, which is in use");
  // One's own name is no conflict.
  assertEquals(directory.lookalike("paypaI", "paypal"), null);
  directory.reserve("bob");
  assertEquals(directory.isReserved("bob"), true);
  assertEquals(directory.lookalike("b0b", null), null);
  directory.reserve("rn");
  assertEquals(directory.lookalike("m", null), "it looks like rn, which is being registered");
  directory.unreserve("rn");
  assertEquals(directory.lookalike("m", null), null);
});

// -- LocalRouter --

/** A router over a directory of plain names, recording each hand-over. */
function recordingRouter(names: string[]) {
  const directory = new LocalDirectory<string>();
  for (const name of names) directory.claim(name, `session of ${name}`);
  const handed: string[] = [];
  const router = new LocalRouter<string>({
    directory,
    delivery: {
      direct: (session, out) => void handed.push(`direct ${session}: ${out.value}`),
      room: (session, out) => void handed.push(`room ${session}: ${out.value}`),
    },
  });
  return { router, handed };
}

Deno.test("LocalRouter.direct() hands the message to the holder, or says nobody holds the name", () => {
  const { router, handed } = recordingRouter(["bob"]);
  assertEquals(router.direct("bob", new Outgoing("hi"), () => new Outgoing("hi")), true);
  assertEquals(router.direct("carol", new Outgoing("hi"), () => new Outgoing("hi")), false);
  assertEquals(handed, ["direct session of bob: hi"]);
});

Deno.test("LocalRouter.room() hands the message to each member online but the sender", () => {
  const { router, handed } = recordingRouter(["a", "b", "c"]);
  router.room(
    "#r",
    ["a", "b", "gone", "c"],
    "a",
    new Outgoing("yo"),
    (s) => new Outgoing(`yo ${s}`),
  );
  assertEquals(handed, [
    "room session of b: yo session of b",
    "room session of c: yo session of c",
  ]);
});

// -- the hub over fake peers --

Deno.test("Hub: a second guest asking for a name in use gets 409 and the first keeps it", async () => {
  await using hub = await testHub();
  const alice = await guest(hub, "alice");
  const other = hub.connect(new RecordingPeer());
  const answer = await ask(hub, other, { action: "presence", user: { account_name: "alice" } });
  assertEquals(answer.response, 409);
  assertEquals(answer.error, "Cannot use the name alice: it is in use");
  assertEquals(hub.stats().online, 1);
  await hub.disconnect(alice.session);
  assertEquals(hub.stats().online, 0);
  const again = await ask(hub, other, { action: "presence", user: { account_name: "alice" } });
  assertEquals(again.response, 200);
});

Deno.test("Hub: a direct message reaches the local session holding the name", async () => {
  await using hub = await testHub();
  const alice = await guest(hub, "alice");
  const bob = await guest(hub, "bob");
  const answer = await ask(hub, alice.session, {
    action: "msg",
    to: "bob",
    from: "alice",
    message: "hi",
  });
  assertEquals(answer.response, 200);
  assertEquals(bob.peer.sent.map((m) => [m.from, m.to, m.message]), [["alice", "bob", "hi"]]);
  assertEquals(alice.peer.sent, []);
});

Deno.test("Hub: a room message goes once to every other member", async () => {
  await using hub = await testHub();
  const members = [await guest(hub, "a1"), await guest(hub, "a2"), await guest(hub, "a3")];
  const codes = [];
  for (const m of members) {
    codes.push((await ask(hub, m.session, { action: "join", room: "#r" })).response);
  }
  assertEquals(codes, [201, 200, 200]);
  const outsider = await guest(hub, "out");
  const sent = await ask(hub, members[0]!.session, { action: "msg", to: "#r", message: "yo" });
  assertEquals(sent.response, 200);
  assertEquals(members.map((m) => m.peer.sent.length), [0, 1, 1]);
  assertStrictEquals(members[1]!.peer.sent[0], members[2]!.peer.sent[0]);
  assertEquals(outsider.peer.sent, []);
});

Deno.test("Hub: a name taken while the store answered stays with its holder (409)", async () => {
  await using hub = await testHub();
  // Both ask before either is answered: the store lookup in between lets both pass the first check.
  const p1 = new RecordingPeer();
  const p2 = new RecordingPeer();
  const s1 = hub.connect(p1);
  const s2 = hub.connect(p2);
  const [a1, a2] = await Promise.all([
    ask(hub, s1, { action: "presence", user: { account_name: "carol" } }),
    ask(hub, s2, { action: "presence", user: { account_name: "carol" } }),
  ]);
  assertEquals([a1.response, a2.response].sort(), [200, 409]);
  assertEquals(hub.stats().online, 1);
});

/**
 * The handler modules on their own, each given only its narrow context:
 * fake peers that record what they are sent, a recording router where
 * delivery is the point, and the store in memory. No hub, no socket, no
 * sleeps: every step is awaited.
 */
import { RecordingPeer } from "./_fake_peer.ts";
import { assertEquals, assertStrictEquals } from "@std/assert";
import { Outgoing } from "../lib/protocol/codec.ts";
import type { DeliveredMsg, Response } from "../lib/protocol/messages.ts";
import { validateRequest } from "../lib/protocol/validate.ts";
import { LocalDirectory } from "../lib/server/directory.ts";
import type { Handler, Handlers } from "../lib/server/handlers/context.ts";
import { contactHandlers } from "../lib/server/handlers/contacts.ts";
import { Identity } from "../lib/server/handlers/identity.ts";
import { Messaging } from "../lib/server/handlers/messaging.ts";
import { roomHandlers } from "../lib/server/handlers/rooms.ts";
import { History } from "../lib/server/history.ts";
import { RoomState } from "../lib/server/room_state.ts";
import type { Router } from "../lib/server/router.ts";
import { SERVER_DEFAULTS } from "../lib/server/options.ts";
import { Presence } from "../lib/server/presence.ts";
import { type Session, Sessions } from "../lib/server/sessions.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";

/**
 * A router that records what it is given: the rooms watched, and the direct
 * and room messages with the form each recipient here would get.
 */
class FakeRouter implements Router<Session> {
  readonly watched: [string, boolean][] = [];
  readonly direct_: [string, unknown][] = [];
  readonly room_: [string, string[], unknown][] = [];
  constructor(readonly directory: LocalDirectory<Session>) {}

  direct(to: string, out: Outgoing, formFor: (s: Session) => Outgoing): boolean {
    const target = this.directory.get(to);
    this.direct_.push([to, target ? formFor(target).value : out.value]);
    return target !== undefined;
  }

  room(
    room: string,
    members: Iterable<string>,
    from: string,
    out: Outgoing,
    _formFor: (s: Session) => Outgoing,
  ): void {
    this.room_.push([room, [...members].filter((m) => m !== from), out.value]);
  }

  watchRoom(room: string, watch: boolean): void {
    this.watched.push([room, watch]);
  }
}

/** The parts every area shares, over a store in memory. */
function parts() {
  const store = SqliteStore.open(":memory:");
  const directory = new LocalDirectory<Session>();
  const sessions = new Sessions({ directory, dropped: () => {} });
  const presence = new Presence(directory);
  const settings = { ...SERVER_DEFAULTS, hashIterations: 1000 };
  const log = () => {};
  const router = new FakeRouter(directory);
  const rooms = new RoomState({ router, cluster: null, store, roomHistory: 10, log });
  const history = new History({ store, historyAgeMs: 0, log });
  return {
    store,
    directory,
    sessions,
    presence,
    settings,
    router,
    rooms,
    history,
    cluster: null,
    log,
    [Symbol.asyncDispose]: () => store.close(),
  };
}

type Parts = ReturnType<typeof parts>;

/** A session holding `name` (an account when `account`), as a login would leave it. */
async function online(
  p: Parts,
  name: string,
  account = false,
): Promise<{ session: Session; peer: RecordingPeer }> {
  const peer = new RecordingPeer();
  const session = p.sessions.open(peer);
  if (account && !(await p.store.getAccount(name))) await p.store.createAccount(name, "x");
  session.name = name;
  session.account = account;
  p.directory.claim(name, session);
  return { session, peer };
}

/** Validates a request as the connection would, then lets `handlers` answer it. */
function ask(
  handlers: Partial<Handlers>,
  session: Session,
  request: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const valid = validateRequest({ time: 1, ...request });
  const handler = handlers[valid.action] as Handler<typeof valid.action>;
  return Promise.resolve(handler(session, valid)) as Promise<Response & Record<string, unknown>>;
}

// -- contacts --

Deno.test("contactHandlers: a guest's contacts live with its session; get_contacts marks them watched", async () => {
  await using p = parts();
  const contacts = contactHandlers(p);
  const alice = await online(p, "alice");
  const bob = await online(p, "bob");
  const added = await ask(contacts, alice.session, { action: "add_contact", contact: "bob" });
  assertEquals([added.response, added.alert], [200, "bob added to contacts"]);
  assertEquals([...alice.session.contacts], ["bob"]);
  assertEquals(await p.store.listContacts("alice"), []);
  const nobody = await ask(contacts, alice.session, { action: "add_contact", contact: "zed" });
  assertEquals([nobody.response, nobody.error], [404, "Cannot add zed to contacts: no such user"]);
  assertEquals(bob.session.watched, false);
  const list = await ask(contacts, alice.session, { action: "get_contacts" });
  assertEquals([list.response, list.alert, list.users], [202, "1 contact", ["bob"]]);
  assertEquals(bob.session.watched, true);
});

Deno.test("contactHandlers: the list is capped by maxContacts (403)", async () => {
  await using p = parts();
  const contacts = contactHandlers({ ...p, settings: { ...p.settings, maxContacts: 1 } });
  const alice = await online(p, "alice", true);
  await online(p, "bob");
  await online(p, "carol");
  assertEquals(
    (await ask(contacts, alice.session, { action: "add_contact", contact: "bob" }))
      .response,
    200,
  );
  const full = await ask(contacts, alice.session, { action: "add_contact", contact: "carol" });
  assertEquals(full.response, 403);
  assertEquals(full.error, "Cannot add carol to contacts: the list holds 1 names already");
  assertEquals(await p.store.listContacts("alice"), ["bob"]);
});

Deno.test("contactHandlers: contacts watches presence; a contacts-only account hides from others", async () => {
  await using p = parts();
  const contacts = contactHandlers(p);
  const alice = await online(p, "alice", true);
  const bob = await online(p, "bob", true);
  const carol = await online(p, "carol", true);
  const listed = await ask(contacts, alice.session, { action: "contacts", add: "bob" });
  assertEquals(listed.response, 200);
  assertEquals(listed.contacts, [{ account_name: "bob", state: "online" }]);
  // Carol watches bob too, then bob shows himself to his contacts only (alice is not one).
  await ask(contacts, carol.session, { action: "contacts", add: "bob" });
  await ask(contacts, bob.session, { action: "contacts", add: "carol", show_to: "contacts" });
  assertEquals(alice.peer.sent.map((m) => m.user), [{ account_name: "bob", state: "offline" }]);
  assertEquals(carol.peer.sent.map((m) => m.user), [{ account_name: "bob", state: "online" }]);
  bob.session.status = "lunch";
  p.presence.announce("bob", bob.session);
  assertEquals(alice.peer.sent.length, 1);
  assertEquals(carol.peer.sent.at(-1)!.user, {
    account_name: "bob",
    state: "away",
    status: "lunch",
  });
  assertEquals(p.presence.visibleOnline("alice"), ["alice", "carol"]);
});

Deno.test("contactHandlers: get_users lists who is online, then one 205 per turn of changes", async () => {
  await using p = parts();
  const contacts = contactHandlers(p);
  const alice = await online(p, "alice");
  await online(p, "bob");
  const users = await ask(contacts, alice.session, { action: "get_users" });
  assertEquals([users.response, users.users], [202, ["alice", "bob"]]);
  assertEquals(alice.session.watchesUsers, true);
  p.presence.usersChanged();
  p.presence.usersChanged();
  assertEquals(alice.peer.sent, []);
  await Promise.resolve();
  assertEquals(alice.peer.sent.map((m) => [m.action, m.response]), [["users_changed", 205]]);
  // A session that has left is told nothing more.
  p.presence.forget(alice.session);
  p.presence.usersChanged();
  await Promise.resolve();
  assertEquals(alice.peer.sent.length, 1);
  assertStrictEquals(alice.session.watching, null);
});

// -- rooms --

Deno.test("roomHandlers: the first join makes the room (201), later ones join (200), look-alikes 409", async () => {
  await using p = parts();
  const rooms = roomHandlers(p);
  const a = await online(p, "alice");
  const b = await online(p, "bob");
  const first = await ask(rooms, a.session, { action: "join", room: "#chat" });
  assertEquals([first.response, first.alert], [201, "room #chat created"]);
  const second = await ask(rooms, b.session, { action: "join", room: "#chat" });
  assertEquals([second.response, second.alert], [200, "joined #chat"]);
  assertEquals([...p.rooms.get("#chat")!], ["alice", "bob"]);
  assertEquals([...b.session.rooms], ["#chat"]);
  assertEquals(p.router.watched, [["#chat", true], ["#chat", true], ["#chat", true]]);
  const like = await ask(rooms, a.session, { action: "join", room: "#ch\u0430t" });
  assertEquals([like.response, like.error], [409, "Cannot create #ch\u0430t: it looks like #chat"]);
  const who = await ask(rooms, a.session, { action: "who", target: "#chat" });
  assertEquals([who.response, who.users], [200, ["alice", "bob"]]);
});

Deno.test("roomHandlers: a guests' room goes with its last member; an account's room is kept", async () => {
  await using p = parts();
  const rooms = roomHandlers(p);
  const guest = await online(p, "gina");
  const acct = await online(p, "anna", true);
  await ask(rooms, guest.session, { action: "join", room: "#g" });
  await ask(rooms, acct.session, { action: "join", room: "#a" });
  assertEquals(await p.store.listRoomMemberships(), [{ room: "#a", account: "anna" }]);
  assertEquals((await ask(rooms, guest.session, { action: "leave", room: "#g" })).response, 200);
  assertEquals(p.rooms.has("#g"), false);
  assertEquals(p.router.watched.at(-1), ["#g", false]);
  assertEquals((await ask(rooms, acct.session, { action: "leave", room: "#a" })).response, 200);
  assertEquals([p.rooms.has("#a"), p.rooms.isKept("#a"), p.rooms.get("#a")!.size], [
    true,
    true,
    0,
  ]);
  const again = await ask(rooms, acct.session, { action: "leave", room: "#a" });
  assertEquals([again.response, again.error], [404, "Cannot leave #a: you are not a member"]);
});

Deno.test("roomHandlers: topic tells members that asked for ids; history replays what was kept", async () => {
  await using p = parts();
  const rooms = roomHandlers(p);
  const a = await online(p, "alice", true);
  const b = await online(p, "bob", true);
  const c = await online(p, "carol", true);
  await ask(rooms, a.session, { action: "join", room: "#t" });
  const withHistory = await ask(rooms, b.session, { action: "join", room: "#t", history: 5 });
  assertEquals([withHistory.topic, withHistory.messages, withHistory.more], ["", [], false]);
  await ask(rooms, c.session, { action: "join", room: "#t" });
  const set = await ask(rooms, a.session, { action: "topic", room: "#t", topic: "plans" });
  assertEquals([set.response, set.topic], [200, "plans"]);
  assertEquals(b.peer.sent.map((m) => [m.action, m.topic, m.from]), [["topic", "plans", "alice"]]);
  assertEquals(c.peer.sent, []);
  assertEquals(p.rooms.topic("#t"), "plans");
  assertEquals((await p.store.listRooms()).find((r) => r.name === "#t")?.topic, "plans");
  const message: DeliveredMsg = {
    action: "msg",
    time: 1,
    from: "alice",
    to: "#t",
    encoding: "utf-8",
    message: "hi",
  };
  const id = p.history.keep("#t", message, 10);
  const page = await ask(rooms, c.session, { action: "history", target: "#t" });
  assertEquals(page.messages, [{ ...message, history_id: id }]);
  assertEquals(c.session.ids, true);
  const outsider = await online(p, "dave");
  const refused = await ask(rooms, outsider.session, { action: "history", target: "#t" });
  assertEquals([refused.response, refused.error], [
    403,
    "Cannot read the history of #t: you are not a member",
  ]);
});

Deno.test("RoomState.toCarry(): a guest's rooms become the account's within the cap", async () => {
  await using p = parts();
  p.rooms.members("#own", true).add("anna");
  // Anna is in one room; a cap of 3 lets two more of the guest's rooms come along.
  assertEquals(p.rooms.toCarry(["#x", "#own", "#y", "#z"], "anna", 3), ["#x", "#own", "#y"]);
});

// -- messaging --

Deno.test("Messaging: a room message goes to the router once, with the members but the sender", async () => {
  await using p = parts();
  const rooms = roomHandlers(p);
  const messaging = new Messaging(p);
  const a = await online(p, "alice");
  const b = await online(p, "bob");
  await ask(rooms, a.session, { action: "join", room: "#r" });
  await ask(rooms, b.session, { action: "join", room: "#r" });
  const sent = await ask(messaging.handlers, a.session, { action: "msg", to: "#r", message: "yo" });
  assertEquals(sent.response, 200);
  assertEquals(p.router.room_.map(([room, to, m]) => [room, to, (m as DeliveredMsg).message]), [
    ["#r", ["bob"], "yo"],
  ]);
  const c = await online(p, "carol");
  const outsider = await ask(messaging.handlers, c.session, {
    action: "msg",
    to: "#r",
    message: "x",
  });
  assertEquals([outsider.response, outsider.error], [
    403,
    "Cannot send to #r: you are not a member",
  ]);
  const none = await ask(messaging.handlers, a.session, { action: "msg", to: "#no", message: "x" });
  assertEquals([none.response, none.error], [404, "Cannot send to #no: no such room"]);
  const forged = await ask(messaging.handlers, c.session, {
    action: "msg",
    to: "bob",
    from: "alice",
    message: "x",
  });
  assertEquals([forged.response, forged.error], [403, "Cannot send as alice: you are carol"]);
  assertEquals(p.router.room_.length, 1);
});

Deno.test("Messaging: a direct message to nobody online is kept for an account (202), refused otherwise", async () => {
  await using p = parts();
  const messaging = new Messaging(p);
  const a = await online(p, "alice", true);
  const g = await online(p, "gus");
  await p.store.createAccount("bob", "x");
  const kept = await ask(messaging.handlers, a.session, { action: "msg", to: "bob", message: "1" });
  assertEquals(kept.response, 202);
  assertEquals((await p.store.peekOffline("bob", 10)).map((m) => m.message.message), ["1"]);
  const fromGuest = await ask(messaging.handlers, g.session, {
    action: "msg",
    to: "bob",
    message: "2",
  });
  assertEquals(fromGuest.response, 410);
  const nobody = await ask(messaging.handlers, a.session, {
    action: "msg",
    to: "zed",
    message: "3",
  });
  assertEquals([nobody.response, nobody.error], [404, "Cannot send to zed: no such user"]);
  // The router was asked each time (and once more for a guest that might have come online).
  assertEquals(p.router.direct_.map(([to]) => to), ["bob", "bob", "zed", "zed"]);
  const online_ = await ask(messaging.handlers, g.session, {
    action: "msg",
    to: "alice",
    message: "4",
  });
  assertEquals(online_.response, 200);
  assertEquals((p.router.direct_.at(-1)![1] as DeliveredMsg).message, "4");
});

Deno.test("Messaging.deliverStored(): mail goes out with its ids, and is dropped once acknowledged", async () => {
  await using p = parts();
  const messaging = new Messaging(p);
  const mail = (n: string): DeliveredMsg => ({
    action: "msg",
    time: 1,
    from: "alice",
    to: "bob",
    encoding: "utf-8",
    message: n,
  });
  await p.store.enqueueOffline("bob", mail("1"), { total: 10 });
  await p.store.enqueueOffline("bob", mail("2"), { total: 10 });
  const bob = await online(p, "bob", true);
  await messaging.deliverStored(bob.session, "bob");
  assertEquals(bob.peer.sent.map((m) => m.message), ["1", "2"]);
  const ids = bob.peer.sent.map((m) => m.id as number);
  assertEquals(bob.session.written, ids[1]);
  // Unacknowledged mail that the connection could not write is not stored twice.
  const unsent = [
    messaging.received(mail("3"), true),
    new Outgoing({ ...mail("4"), to: "carol" }),
  ];
  assertEquals(unsent.map((out) => messaging.isGuest(out)), [true, false]);
  await messaging.keepUnsent("bob", unsent);
  messaging.acknowledge(bob.session);
  // The next login reads the store after the acknowledgement is written.
  p.directory.release("bob", bob.session);
  const again = await online(p, "bob", true);
  await messaging.deliverStored(again.session, "bob");
  assertEquals(again.peer.sent.map((m) => [m.message, m.guest]), [["3", true]]);
});

// -- identity --

/** Identity over the shared parts, with offline mail that records who it was started for. */
function identity(p: Parts): { identity: Identity; mail: string[] } & Disposable {
  const mail: string[] = [];
  const id = new Identity({
    ...p,
    mail: {
      deliverStored: (session: Session, name: string) => {
        mail.push(`${name}:${session.held !== null}`);
        return Promise.resolve();
      },
    },
  });
  return { identity: id, mail, [Symbol.dispose]: () => id.stop() };
}

Deno.test("Identity: a guest takes a free name; one in use or like one in use is 409", async () => {
  await using p = parts();
  using i = identity(p);
  const a = p.sessions.open(new RecordingPeer());
  const b = p.sessions.open(new RecordingPeer());
  const presence = (s: Session, name: string) =>
    ask(i.identity.handlers, s, { action: "presence", user: { account_name: name } });
  assertEquals((await presence(a, "alice")).response, 200);
  assertStrictEquals(p.directory.get("alice"), a);
  const taken = await presence(b, "alice");
  assertEquals([taken.response, taken.error], [409, "Cannot use the name alice: it is in use"]);
  const like = await presence(b, "\u0430lice");
  assertEquals(like.response, 409);
  assertEquals(like.error, "Cannot use the name \u0430lice: it looks like alice, which is in use");
  // Renaming lets the old name go.
  assertEquals((await presence(a, "ann")).response, 200);
  assertEquals([p.directory.has("alice"), a.name], [false, "ann"]);
});

Deno.test("Identity: register, then authenticate takes the name and starts the offline mail", async () => {
  await using p = parts();
  using i = identity(p);
  const s = p.sessions.open(new RecordingPeer());
  const user = { account_name: "bob", password: "secret-1" };
  const created = await ask(i.identity.handlers, s, { action: "register", user });
  assertEquals([created.response, created.alert], [201, "account bob created"]);
  const again = await ask(i.identity.handlers, s, { action: "register", user });
  assertEquals([again.response, again.error], [409, "Cannot register bob: the name is taken"]);
  const wrong = await ask(i.identity.handlers, s, {
    action: "authenticate",
    user: { account_name: "bob", password: "nope" },
  });
  assertEquals(wrong.response, 402);
  assertEquals(i.mail, []);
  const ok = await ask(i.identity.handlers, s, { action: "authenticate", user });
  assertEquals(ok.response, 200);
  assertEquals([s.name, s.account], ["bob", true]);
  assertStrictEquals(p.directory.get("bob"), s);
  // The mail starts after the answer is queued, with direct messages held behind it.
  assertEquals(i.mail, []);
  await s.delivering;
  assertEquals(i.mail, ["bob:true"]);
  const other = p.sessions.open(new RecordingPeer());
  const second = await ask(i.identity.handlers, other, { action: "authenticate", user });
  assertEquals([second.response, second.error], [
    409,
    "Cannot authenticate: bob is already connected",
  ]);
});

Deno.test("Identity: unregister deletes the account, lets the name go and leaves its rooms", async () => {
  await using p = parts();
  using i = identity(p);
  const rooms = roomHandlers(p);
  const s = p.sessions.open(new RecordingPeer());
  const user = { account_name: "cid", password: "secret-2" };
  await ask(i.identity.handlers, s, { action: "register", user });
  await ask(i.identity.handlers, s, { action: "authenticate", user });
  await s.delivering;
  await ask(rooms, s, { action: "join", room: "#k" });
  assertEquals([...p.rooms.get("#k")!], ["cid"]);
  const gone = await ask(i.identity.handlers, s, { action: "unregister", user });
  assertEquals([gone.response, gone.alert], [200, "account cid deleted"]);
  assertEquals([s.name, s.account, p.directory.has("cid")], [null, false, false]);
  assertEquals([...p.rooms.get("#k")!], []);
  assertEquals(await p.store.getAccount("cid"), null);
});

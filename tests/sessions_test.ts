/**
 * Sessions without sockets: fake peers that record what they are sent, and
 * offline mail played by a promise the test settles. Nothing sleeps: each
 * step waits on `session.delivering`.
 */
import { RecordingPeer } from "./_fake_peer.ts";
import { assertEquals, assertStrictEquals } from "@std/assert";
import { Outgoing } from "../lib/protocol/codec.ts";
import { LocalDirectory } from "../lib/server/directory.ts";
import { type Session, Sessions } from "../lib/server/sessions.ts";

function setup(heldMax?: number) {
  const directory = new LocalDirectory<Session>();
  const dropped: [Session, unknown[]][] = [];
  const sessions = new Sessions({
    directory,
    dropped: (session, rest) => dropped.push([session, rest.map((o) => o.value)]),
    ...(heldMax !== undefined ? { heldMax } : {}),
  });
  return { directory, sessions, dropped };
}

function msg(n: number): Outgoing {
  return new Outgoing({ action: "msg", n });
}

/** Offline mail the test sends by hand: `send` resolves when the test calls `done`. */
function mail(): { send: () => Promise<void>; started: Promise<void>; done: () => void } {
  const started = Promise.withResolvers<void>();
  const finished = Promise.withResolvers<void>();
  return {
    send: () => {
      started.resolve();
      return finished.promise;
    },
    started: started.promise,
    done: () => finished.resolve(),
  };
}

Deno.test("Sessions.open() and close(): counted while open; close() once, then null", () => {
  const { sessions } = setup();
  const a = sessions.open(new RecordingPeer());
  const b = sessions.open(new RecordingPeer());
  assertEquals(sessions.size, 2);
  assertEquals([sessions.has(a), a.name, a.account, a.held], [true, null, false, null]);
  assertEquals(sessions.close(a), []);
  assertEquals([sessions.size, sessions.has(a), sessions.has(b)], [1, false, true]);
  assertEquals(sessions.close(a), null);
});

Deno.test("Sessions.named() finds the session holding a name in the directory", () => {
  const { directory, sessions } = setup();
  const a = sessions.open(new RecordingPeer());
  directory.claim("alice", a);
  assertStrictEquals(sessions.named("alice"), a);
  assertEquals(sessions.named("bob"), undefined);
});

Deno.test("Sessions.direct() and room() queue at once when no offline mail goes out", () => {
  const { sessions } = setup();
  const peer = new RecordingPeer();
  const s = sessions.open(peer);
  sessions.direct(s, msg(1));
  sessions.room(s, msg(2));
  assertEquals(peer.sent, [{ action: "msg", n: 1 }, { action: "msg", n: 2 }]);
});

Deno.test("Sessions.holdWhile(): direct messages wait behind the offline mail, room messages do not", async () => {
  const { sessions } = setup();
  const peer = new RecordingPeer();
  const s = sessions.open(peer);
  const m = mail();
  sessions.holdWhile(s, async () => {
    await m.send();
    peer.send(new Outgoing({ action: "msg", stored: true }));
  });
  const delivering = s.delivering;
  // Before the current turn ends the mail has not started: an answer queued now goes first.
  sessions.direct(s, msg(1));
  sessions.room(s, msg(2));
  await m.started;
  sessions.direct(s, msg(3));
  assertEquals(peer.sent, [{ action: "msg", n: 2 }]);
  m.done();
  await delivering;
  assertEquals(peer.sent, [
    { action: "msg", n: 2 },
    { action: "msg", stored: true },
    { action: "msg", n: 1 },
    { action: "msg", n: 3 },
  ]);
  assertEquals([s.held, s.delivering], [null, null]);
  sessions.direct(s, msg(4));
  assertEquals(peer.sent.length, 5);
});

Deno.test("Sessions.holdWhile(): mail that ends early still releases what was held", async () => {
  const { sessions } = setup();
  const peer = new RecordingPeer();
  const s = sessions.open(peer);
  sessions.holdWhile(s, () => Promise.reject(new Error("store gone")).catch(() => {}));
  sessions.direct(s, msg(1));
  await s.delivering;
  assertEquals(peer.sent, [{ action: "msg", n: 1 }]);
});

Deno.test("Sessions.direct(): one message past heldMax aborts the slow session", async () => {
  const { sessions } = setup(2);
  const peer = new RecordingPeer();
  const s = sessions.open(peer);
  const m = mail();
  sessions.holdWhile(s, m.send);
  const delivering = s.delivering;
  sessions.direct(s, msg(1));
  sessions.direct(s, msg(2));
  assertEquals(peer.aborted, null);
  sessions.direct(s, msg(3));
  assertEquals(peer.aborted, "too slow to take its messages");
  // Held messages are handed back by close(), for the offline store.
  assertEquals(sessions.close(s)?.map((o) => o.value), [
    { action: "msg", n: 1 },
    { action: "msg", n: 2 },
    { action: "msg", n: 3 },
  ]);
  m.done();
  await delivering;
  assertEquals(peer.sent, []);
});

Deno.test("Sessions.holdWhile(): a peer that refuses a held message drops the session with the rest", async () => {
  const { sessions, dropped } = setup();
  const peer = new RecordingPeer({ room: 1 });
  const s = sessions.open(peer);
  const m = mail();
  sessions.holdWhile(s, m.send);
  const delivering = s.delivering;
  for (let n = 1; n <= 4; n++) sessions.direct(s, msg(n));
  m.done();
  await delivering;
  assertEquals(peer.sent, [{ action: "msg", n: 1 }]);
  // The second was refused (the peer keeps it with its unsent queue); 3 and 4 come back.
  assertEquals(dropped.length, 1);
  assertStrictEquals(dropped[0]![0], s);
  assertEquals(dropped[0]![1], [{ action: "msg", n: 3 }, { action: "msg", n: 4 }]);
});

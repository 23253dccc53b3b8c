import { assert, assertEquals, assertRejects } from "@std/assert";
import { encode, JsonObjectDecoder } from "../lib/protocol/codec.ts";
import { ClientCore, IdentifyError } from "../lib/client/client_core.ts";
import { ConnectError } from "../lib/client/connection.ts";
import { SERVER_WINDOW } from "../lib/client/conversations.ts";
import { waitFor, windowText } from "./_client.ts";

// -- a scripted fake server on 127.0.0.1, port 0 --

type Obj = Record<string, unknown>;

class FakePeer {
  readonly #conn: Deno.Conn;
  readonly #decoder = new JsonObjectDecoder();
  readonly #objects: Obj[] = [];
  #waiting: ((o: Obj | null) => void) | null = null;
  #eof = false;
  readonly done: Promise<void>;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.done = this.#pump();
  }

  async #pump(): Promise<void> {
    const buf = new Uint8Array(4096);
    while (true) {
      let n: number | null = null;
      try {
        n = await this.#conn.read(buf);
      } catch {
        n = null;
      }
      if (n === null) break;
      for (const e of this.#decoder.push(buf.subarray(0, n))) {
        if (e.kind !== "object") continue;
        if (this.#waiting) {
          const w = this.#waiting;
          this.#waiting = null;
          w(e.value);
        } else this.#objects.push(e.value);
      }
    }
    this.#eof = true;
    this.#waiting?.(null);
  }

  /** The next object the client sent (null at EOF). */
  read(): Promise<Obj | null> {
    const o = this.#objects.shift();
    if (o) return Promise.resolve(o);
    if (this.#eof) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiting = resolve);
  }

  async expect(action: string): Promise<Obj> {
    const o = await this.read();
    if (o === null) throw new Error(`expected ${action}, got EOF`);
    assertEquals(o.action, action, JSON.stringify(o));
    return o;
  }

  async send(value: unknown): Promise<void> {
    await this.#conn.write(encode(value));
  }

  answer(code: number, text = "OK", extra: Obj = {}): Promise<void> {
    const key = code < 400 ? "alert" : "error";
    return this.send({
      response: code,
      time: Math.floor(Date.now() / 1000),
      [key]: text,
      ...extra,
    });
  }

  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* closed */ }
    await this.done;
  }
}

class FakeServer {
  readonly #listener: Deno.TcpListener;
  readonly peers: FakePeer[] = [];
  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  }
  get port(): number {
    return this.#listener.addr.port;
  }
  async accept(): Promise<FakePeer> {
    const peer = new FakePeer(await this.#listener.accept());
    this.peers.push(peer);
    return peer;
  }
  async close(): Promise<void> {
    this.#listener.close();
    for (const p of this.peers) await p.close();
  }
}

function guest(port: number, extra: Partial<ConstructorParameters<typeof ClientCore>[0]> = {}) {
  return new ClientCore({
    host: "127.0.0.1",
    port,
    user: "alice",
    reconnect: { minDelayMs: 5, maxDelayMs: 20, retries: 20 },
    ...extra,
  });
}

async function startGuest(server: FakeServer, core: ClientCore): Promise<FakePeer> {
  const accepted = server.accept();
  const started = core.start();
  const peer = await accepted;
  const presence = await peer.expect("presence");
  assertEquals((presence.user as Obj).account_name, "alice");
  assertEquals(typeof presence.time, "number");
  await peer.answer(200);
  await started;
  return peer;
}

// -- tests --

Deno.test("ClientCore.start() sends presence as a guest and reports the answer", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  await startGuest(server, core);
  assertEquals(core.state, "online");
  assertEquals(windowText(core, SERVER_WINDOW), [
    `Signed in as guest alice on 127.0.0.1:${server.port}`,
  ]);
  await core.quit();
  await server.close();
});

Deno.test("ClientCore.start() reports a refused connection in one plain sentence", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const core = guest(port);
  await assertRejects(
    () => core.start(),
    ConnectError,
    `Cannot connect to 127.0.0.1:${port}: connection refused`,
  );
});

Deno.test("ClientCore.start() fails with IdentifyError when the name is taken", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const accepted = server.accept();
  const started = core.start();
  const peer = await accepted;
  await peer.expect("presence");
  await peer.answer(409, "name in use");
  const error = await assertRejects(() => started, IdentifyError);
  assertEquals(error.code, 409);
  assertEquals(error.message, "The name alice is in use by someone online: pick another --user");
  await server.close();
});

Deno.test("ClientCore registers, then authenticates with --register", async () => {
  const server = new FakeServer();
  const core = guest(server.port, { auth: "register", password: "s3cret-pass" });
  const accepted = server.accept();
  const started = core.start();
  const peer = await accepted;
  const reg = await peer.expect("register");
  assertEquals(reg.user, { account_name: "alice", password: "s3cret-pass" });
  await peer.answer(201, "created");
  await peer.expect("authenticate");
  await peer.answer(200);
  // The presence after logging in: its answer follows any offline mail.
  await peer.expect("presence");
  await peer.answer(200);
  assertEquals(await started, `Logged in as alice on 127.0.0.1:${server.port}`);
  assert(core.authenticated);
  await core.quit();
  await server.close();
});

Deno.test("ClientCore.sendMessage() gives every answer a human sentence", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const peer = await startGuest(server, core);
  const sent = core.sendMessage("bob", "hello");
  const msg = await peer.expect("msg");
  assertEquals([msg.to, msg.from, msg.message, msg.encoding], ["bob", "alice", "hello", "utf-8"]);
  await peer.answer(202, "stored");
  assertEquals(await sent, {
    ok: true,
    code: 202,
    text: "bob is offline; the message will be delivered when they log in",
  });
  const missing = core.sendMessage("nobody", "hi");
  await peer.expect("msg");
  await peer.answer(404, "not found");
  assertEquals((await missing).ok, false);
  assertEquals(
    windowText(core, "nobody").at(-1),
    "Not sent: nobody called nobody is online or registered",
  );
  const room = core.sendMessage("#x", "hi");
  await peer.expect("msg");
  await peer.answer(403, "not a member");
  assertEquals((await room).text, "Not sent: you are not in #x; /join #x first");
  await core.quit();
  await server.close();
});

Deno.test("ClientCore answers probes and tolerates notices between answers", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const peer = await startGuest(server, core);
  const status = core.setStatus("busy");
  // The status request is out; answer it only after a probe and a notice.
  await peer.expect("presence");
  await peer.send({ action: "probe", time: 1 });
  const probeAnswer = await peer.expect("presence");
  assertEquals((probeAnswer.user as Obj).status, "busy");
  await peer.answer(100, "maintenance at noon");
  await peer.answer(200); // answers the status presence
  await peer.answer(200); // answers the probe's presence
  assertEquals((await status).text, 'Status set to "busy"');
  const who = core.who();
  await peer.expect("who");
  await peer.answer(200, "2 online", { users: ["alice", "bob"] });
  assertEquals((await who).text, "Online (2): alice, bob");
  assert(core.knownNames.includes("bob"));
  const lines = windowText(core, SERVER_WINDOW);
  assert(lines.includes("Server notice: maintenance at noon"), lines.join("\n"));
  await core.quit();
  await server.close();
});

Deno.test("ClientCore.who() says when the server does not support it", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const peer = await startGuest(server, core);
  const who = core.who("#room");
  await peer.expect("who");
  await peer.answer(400, 'Cannot parse request: unknown action "who"');
  assertEquals(await who, { ok: false, code: 400, text: "/who is not supported by this server" });
  await core.quit();
  await server.close();
});

Deno.test("ClientCore files incoming messages by conversation with unread counts", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const peer = await startGuest(server, core);
  const got = waitFor(core, (e) => e.type === "line" && e.conversation === "#general");
  await peer.send({ action: "msg", time: 1700000000, from: "bob", to: "alice", message: "psst" });
  await peer.send({
    action: "msg",
    time: 1700000001,
    from: "carol",
    to: "#general",
    message: "/me waves",
  });
  await got;
  const bob = core.conversations.find("bob")!;
  assertEquals(bob.unread, 1);
  assertEquals(bob.lines[0]!.time.getTime(), 1700000000_000);
  const general = core.conversations.find("#general")!;
  assertEquals(general.lines[0]!.kind, "action");
  assertEquals(general.lines[0]!.text, "waves");
  core.switchTo("bob");
  assertEquals(bob.unread, 0);
  assert(core.knownRooms.includes("#general"));
  await core.quit();
  await server.close();
});

Deno.test("ClientCore reconnects, re-identifies, re-joins rooms and sends what was queued", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const peer = await startGuest(server, core);
  const joined = core.join("#general");
  await peer.expect("join");
  await peer.answer(201, "created");
  assertEquals((await joined).code, 201);
  // A message in flight when the connection drops is sent again afterwards.
  const inFlight = core.sendMessage("bob", "one");
  await peer.expect("msg");
  const reconnecting = waitFor(core, (e) => e.type === "state" && e.state === "reconnecting");
  const nextPeer = server.accept();
  await peer.close();
  await reconnecting;
  const queued = core.sendMessage("#general", "two");
  assertEquals(core.queued, 2);
  const peer2 = await nextPeer;
  await peer2.expect("presence");
  await peer2.answer(200);
  assertEquals((await peer2.expect("join")).room, "#general");
  await peer2.answer(200);
  // One at a time, in order (so that a 429 cannot reorder them).
  const m1 = await peer2.expect("msg");
  await peer2.answer(200);
  const m2 = await peer2.expect("msg");
  await peer2.answer(200);
  assertEquals([m1.message, m2.message], ["one", "two"]);
  assertEquals((await inFlight).ok, true);
  assertEquals((await queued).ok, true);
  assertEquals(core.state, "online");
  assertEquals(core.queued, 0);
  const lines = windowText(core, SERVER_WINDOW);
  assert(
    lines.some((l) => l.startsWith(`Connection to 127.0.0.1:${server.port} lost`)),
    lines.join("\n"),
  );
  assert(lines.some((l) => l.startsWith("Reconnected")), lines.join("\n"));
  await core.quit();
  await server.close();
});

Deno.test("ClientCore reports queued messages as not sent when it gives up", async () => {
  const server = new FakeServer();
  const core = guest(server.port, { reconnect: { minDelayMs: 1, maxDelayMs: 2, retries: 2 } });
  const peer = await startGuest(server, core);
  const reconnecting = waitFor(core, (e) => e.type === "state" && e.state === "reconnecting");
  await server.close(); // stops listening too: every attempt is refused
  await peer.close();
  await reconnecting;
  const lost = core.sendMessage("bob", "are you there");
  const outcome = await lost;
  assertEquals(outcome.ok, false);
  assertEquals(outcome.text, "Not sent (no connection): are you there");
  assertEquals(core.state, "offline");
  const lines = windowText(core, SERVER_WINDOW);
  assert(lines.some((l) => l.includes("Reconnect attempt 1 failed")), lines.join("\n"));
  assert(lines.at(-1)!.startsWith("Gave up reconnecting"), lines.join("\n"));
  await core.quit();
});

Deno.test("ClientCore stops reconnecting when the server refuses the account with 403", async () => {
  const server = new FakeServer();
  const core = guest(server.port, { reconnect: { minDelayMs: 1, maxDelayMs: 2, retries: 1000 } });
  const peer = await startGuest(server, core);
  const nextPeer = server.accept();
  const offline = waitFor(core, (e) => e.type === "state" && e.state === "offline");
  await peer.close();
  const peer2 = await nextPeer;
  await peer2.expect("presence");
  // Any further attempt would wait here for an answer that never comes.
  const stray = server.accept().catch(() => null);
  await peer2.answer(403, "Cannot authenticate: account alice is blocked");
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    offline,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("still reconnecting after a 403")), 3000);
    }),
  ]).finally(() => clearTimeout(timer));
  const lines = windowText(core, SERVER_WINDOW);
  assert(lines.at(-1)!.startsWith("Gave up reconnecting"), lines.join("\n"));
  assertEquals(server.peers.length, 2);
  await core.quit();
  await server.close();
  assertEquals(await stray, null);
});

Deno.test("ClientCore.learnOnlineNames() quietly learns who is online, for completion", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const peer = await startGuest(server, core);
  const before = windowText(core, SERVER_WINDOW).length;
  const learning = core.learnOnlineNames();
  await peer.expect("who");
  await peer.answer(200, "3 online", { users: ["alice", "bob", "вера"] });
  await learning;
  assertEquals(core.knownNames.sort(), ["bob", "вера"]);
  assertEquals(windowText(core, SERVER_WINDOW).length, before);
  await core.quit();
  await server.close();
});

Deno.test("ClientCore.execute() handles window commands and hints", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const peer = await startGuest(server, core);
  const say = await core.execute({ kind: "say", text: "hi" });
  assertEquals(say.ok, false); // the server window takes no text
  await core.execute({ kind: "query", to: "bob" });
  assertEquals(core.conversations.current.name, "bob");
  const said = core.execute({ kind: "say", text: "hi bob" });
  await peer.expect("msg");
  await peer.answer(200);
  assertEquals((await said).ok, true);
  await core.execute({ kind: "switch", target: "1" });
  assertEquals(core.conversations.current.name, SERVER_WINDOW);
  assertEquals((await core.execute({ kind: "switch", target: "zzz" })).ok, false);
  await core.execute({ kind: "help", topic: "join" });
  assertEquals(windowText(core, SERVER_WINDOW).at(-1), "/join #ROOM: join a room (created if new)");
  await core.execute({ kind: "clear" });
  assertEquals(windowText(core, SERVER_WINDOW), []);
  await core.quit();
  await server.close();
});

Deno.test("ClientCore sends a message refused with 429 again after a pause, and keeps the order", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const peer = await startGuest(server, core);
  const first = core.sendMessage("bob", "one");
  const second = core.sendMessage("bob", "two");
  assertEquals((await peer.expect("msg")).message, "one");
  await peer.answer(429, "Cannot handle request: too many requests");
  // Sent again, before "two": one message in flight at a time.
  assertEquals((await peer.expect("msg")).message, "one");
  await peer.answer(200);
  assertEquals((await first).ok, true);
  assertEquals((await peer.expect("msg")).message, "two");
  await peer.answer(200);
  assertEquals((await second).ok, true);
  assert(
    !windowText(core, "bob").some((t) => t.includes("too many")),
    windowText(core, "bob").join(),
  );
  await core.quit();
  await server.close();
});

Deno.test("ClientCore shows its own message as pending until the server accepts or refuses it", async () => {
  const server = new FakeServer();
  const core = guest(server.port);
  const peer = await startGuest(server, core);
  core.switchTo("#general");
  const accepted = core.sendMessage("bob", "hi");
  const line = () => core.conversations.find("bob")!.lines.find((l) => l.own)!;
  assertEquals(line().delivery, "pending");
  // Typed in #general: shown there as pending too.
  const echo = core.conversations.find("#general")!.lines.at(-1)!;
  assertEquals([echo.text, echo.delivery], ["-> bob: hi", "pending"]);
  await peer.expect("msg");
  await peer.answer(200);
  await accepted;
  assertEquals([line().delivery, echo.delivery], ["sent", "sent"]);
  const refused = core.sendMessage("zed", "hello?");
  await peer.expect("msg");
  await peer.answer(404, "Cannot send to zed: no such user");
  assertEquals((await refused).ok, false);
  assertEquals(core.conversations.find("zed")!.lines.find((l) => l.own)!.delivery, "refused");
  // The refusal shows where it was typed, and marks the zed window as active.
  const here = windowText(core, "#general");
  assert(here.at(-1)!.startsWith("Not sent"), here.join("\n"));
  assertEquals(core.conversations.find("zed")!.unread, 1);
  await core.quit();
  await server.close();
});

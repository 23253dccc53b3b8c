/**
 * jim's own client against a real server: history on join and on opening a
 * conversation, older pages, topics and contacts with live presence.
 */
import { assert, assertEquals } from "@std/assert";
import { ClientCore } from "../lib/client/client_core.ts";
import { SERVER_WINDOW } from "../lib/client/conversations.ts";
import { login, member, now, register, startServer, tempDir } from "./_helpers.ts";
import { accountCore, waitFor, windowText } from "./_client.ts";

Deno.test("ClientCore shows a room's history on join and loads older pages to the first kept", async () => {
  await using server = await startServer({ roomHistory: 120 });
  await using bob = await member(server.port, "bob");
  assertEquals((await bob.request({ action: "join", time: now(), room: "#r" })).response, 201);
  await bob.request({ action: "topic", time: now(), room: "#r", topic: "plans" });
  for (let i = 0; i < 150; i++) {
    await bob.send({ action: "msg", time: now(), to: "#r", message: `m${i}` });
  }
  for (let i = 0; i < 150; i++) await bob.response();
  await register(server.port, "alice");
  const core = accountCore(server.port, "alice", { retries: 0 });
  await core.start();
  const joined = await core.join("#r");
  assert(joined.ok);
  const lines = core.conversations.find("#r")!.lines;
  assertEquals(lines.filter((l) => l.history).map((l) => l.text).at(0), "m100");
  assertEquals(lines.at(-1)!.text, "You joined #r; topic: plans");
  assertEquals(core.topicOf("#r"), "plans");
  assertEquals(await core.loadOlder("#r"), 50);
  assertEquals(await core.loadOlder("#r"), 20);
  assertEquals(await core.loadOlder("#r"), 0);
  const history = lines.filter((l) => l.history).map((l) => l.text);
  assertEquals(history, Array.from({ length: 120 }, (_, i) => `m${30 + i}`));
  // A live message is shown once.
  await bob.send({ action: "msg", time: now(), to: "#r", message: "live" });
  await waitFor(core, (e) => e.type === "line" && e.line.text === "live");
  assertEquals(windowText(core, "#r").filter((t) => t === "live").length, 1);
  await core.quit();
});

Deno.test("ClientCore loads a direct conversation's history when its window opens", async () => {
  await using server = await startServer();
  await register(server.port, "alice");
  await using bob = await member(server.port, "bob");
  {
    // Said while alice was online elsewhere: only in the history.
    await using earlier = await login(server.port, "alice");
    await bob.request({ action: "msg", time: now(), to: "alice", message: "zero" });
    await earlier.message();
  }
  for (const text of ["one", "two"]) {
    await bob.request({ action: "msg", time: now(), to: "alice", message: text });
  }
  const core = accountCore(server.port, "alice", { retries: 0 });
  await core.start();
  // The offline mail arrived, opened bob's window, and the history behind it is not shown twice.
  await core.settle();
  const three = waitFor(core, (e) => e.type === "line" && e.line.text === "three");
  await bob.request({ action: "msg", time: now(), to: "alice", message: "three" });
  await three;
  await core.settle();
  assertEquals(windowText(core, "bob").filter((t) => ["zero", "one", "two", "three"].includes(t)), [
    "zero",
    "one",
    "two",
    "three",
  ]);
  await core.quit();
});

Deno.test("ClientCore /contacts, /add and /remove; presence changes are shown as they come", async () => {
  await using server = await startServer();
  await register(server.port, "alice");
  await register(server.port, "bob");
  const core = accountCore(server.port, "alice", { retries: 0 });
  await core.start();
  const added = await core.execute({ kind: "add", name: "bob" });
  assertEquals([added.ok, added.text], [true, "bob added to contacts"]);
  assertEquals(windowText(core, SERVER_WINDOW).at(-1), "bob added to contacts");
  const online = waitFor(core, (e) => e.type === "line" && e.line.text === "bob: online");
  const b = await login(server.port, "bob");
  await online;
  const away = waitFor(core, (e) => e.type === "line" && e.line.text === "bob: away (lunch)");
  await b.request({
    action: "presence",
    time: now(),
    user: { account_name: "bob", status: "lunch" },
  });
  await away;
  const offline = waitFor(
    core,
    (e) => e.type === "line" && e.line.text.startsWith("bob: offline (last seen"),
  );
  b.close();
  await b.reading;
  await offline;
  await core.execute({ kind: "contacts" });
  assert(windowText(core, SERVER_WINDOW).at(-1)!.startsWith("bob: offline (last seen "));
  assertEquals(core.contacts.map((c) => c.state), ["offline"]);
  const removed = await core.execute({ kind: "remove", name: "bob" });
  assertEquals(removed.text, "bob removed from contacts");
  const missing = await core.execute({ kind: "add", name: "nobody" });
  assertEquals([missing.ok, missing.text], [false, "Cannot add nobody: there is no such account"]);
  await core.quit();
});

Deno.test("ClientCore /contacts as a guest is refused in one sentence", async () => {
  await using server = await startServer();
  const core = new ClientCore({
    host: "127.0.0.1",
    port: server.port,
    user: "gus",
    reconnect: { retries: 0 },
  });
  await core.start();
  const r = await core.execute({ kind: "contacts" });
  assertEquals([r.ok, r.text], [false, "Contacts are for accounts: /register or /login first"]);
  await core.quit();
});

Deno.test("ClientCore catches up on a room after a reconnect, each message once", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  let server = await startServer({ dbPath });
  await register(server.port, "alice");
  await register(server.port, "bob");
  // Long enough for bob to talk while alice is away.
  const core = accountCore(server.port, "alice", {
    minDelayMs: 1500,
    maxDelayMs: 1500,
    retries: 20,
  });
  await core.start();
  assert((await core.join("#r")).ok);
  {
    await using bob = await login(server.port, "bob");
    await bob.request({ action: "join", time: now(), room: "#r" });
    const live = waitFor(core, (e) => e.type === "line" && e.line.text === "m0");
    await bob.request({ action: "msg", time: now(), to: "#r", message: "m0" });
    await live;
  }
  const port = server.port;
  const lost = waitFor(core, (e) => e.type === "state" && e.state === "reconnecting");
  await server.shutdown();
  await lost;
  server = await startServer({ dbPath, port });
  {
    await using bob = await login(port, "bob");
    for (const text of ["m1", "m2"]) {
      await bob.request({ action: "msg", time: now(), to: "#r", message: text });
    }
  }
  assertEquals(core.state, "reconnecting", "reconnected before bob spoke: nothing to catch up");
  await waitFor(core, (e) => e.type === "line" && e.line.text === "m2");
  const shown = windowText(core, "#r").filter((t) => /^m\d$/.test(t));
  assertEquals(shown, ["m0", "m1", "m2"]);
  await core.quit();
  await server.shutdown();
});

Deno.test("ClientCore is told of its contacts' presence from login on, without asking", async () => {
  await using server = await startServer();
  await register(server.port, "bob");
  {
    await using earlier = await member(server.port, "alice");
    await earlier.request({ action: "contacts", time: now(), add: "bob" });
  }
  const core = accountCore(server.port, "alice", { retries: 0 });
  await core.start();
  await core.settle();
  assertEquals(core.contacts.map((c) => [c.name, c.state]), [["bob", "offline"]]);
  const online = waitFor(core, (e) => e.type === "line" && e.line.text === "bob: online");
  await using _bob = await login(server.port, "bob");
  await online;
  await core.quit();
});

/**
 * Live administration over the admin socket. The server and `jim admin` run
 * as child processes (`deno run -A`), as an operator runs them: Unix sockets
 * need a net permission the test runner (`--allow-net=127.0.0.1`) lacks.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { type AdminIo, runAdmin } from "../lib/admin/admin.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { admin, spawnServer } from "./_proc.ts";
import { auth, guest, login, now, RawClient, register, startServer, tempDir } from "./_helpers.ts";

const MAIN_PATH = new URL("../main.ts", import.meta.url).pathname;

/** Records what an in-process `runAdmin` prints. */
function recorder(env: Record<string, string> = {}): { out: string[]; err: string[]; io: AdminIo } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (line) => out.push(line),
      stderr: (line) => err.push(line),
      env: new Map(Object.entries(env)),
    },
  };
}

/**
 * A server in a child process on a database file, so with its default admin
 * socket beside it, and with the periodic block check an hour apart:
 * whatever happens at once was done through the socket.
 */
async function liveServer(dir: string) {
  const db = `${dir}/jim.db`;
  const server = await spawnServer({ dbPath: db, args: ["--block-check", "3600"] });
  return { db, server };
}

async function tokenFor(port: number, name: string): Promise<string> {
  await using c = await RawClient.connect(port);
  const r = await c.request({ ...auth(name, "correct horse"), remember: true });
  assertEquals(r.response, 200);
  return r.token;
}

Deno.test("admin socket: a block takes effect at once on a logged-in client", async () => {
  await using dir = await tempDir();
  const { db, server } = await liveServer(dir.path);
  await using _server = server;
  await register(server.port, "mallory");
  const token = await tokenFor(server.port, "mallory");
  await using m = await login(server.port, "mallory");
  await using bystander = await guest(server.port, "bystander");
  const blocked = await admin(["block", "mallory", "--db", db]);
  assertEquals(blocked, {
    code: 0,
    out: ["Blocked mallory: disconnected, its tokens revoked"],
    err: [],
  });
  // At once: the next block check is an hour away.
  const notice = await m.take((o) => o.response === 101, 2000);
  assertEquals(notice.alert, "account mallory is blocked");
  await m.waitClosed(2000);
  await using again = await RawClient.connect(server.port);
  assertEquals((await again.request(auth("mallory", "correct horse"))).response, 403);
  const resumed = await again.request({
    action: "authenticate",
    time: now(),
    user: { account_name: "mallory", token },
  });
  assertEquals(resumed.response, 402, "its tokens are revoked");
  assertEquals((await bystander.request({ action: "who", time: now() })).response, 200);

  assertEquals((await admin(["unblock", "mallory", "--db", db])).out, [
    "Unblocked mallory: the account may log in again",
  ]);
  await using _back = await login(server.port, "mallory");
  assertEquals(await admin(["block", "nobody", "--db", db]), {
    code: 1,
    out: [],
    err: ["Cannot block nobody: no such account"],
  });
});

Deno.test("admin socket: kick disconnects whoever holds a name; logout-all revokes tokens", async () => {
  await using dir = await tempDir();
  const { db, server } = await liveServer(dir.path);
  await using _server = server;
  await using g = await guest(server.port, "gus");
  assertEquals(await admin(["kick", "gus", "--db", db]), { code: 0, out: ["Kicked gus"], err: [] });
  assertEquals(
    (await g.take((o) => o.response === 101, 2000)).alert,
    "disconnected by an administrator",
  );
  await g.waitClosed(2000);
  assertEquals(await admin(["kick", "gus", "--db", db]), {
    code: 1,
    out: [],
    err: ["Cannot kick gus: not online"],
  });

  await register(server.port, "alice");
  const tokens = [await tokenFor(server.port, "alice"), await tokenFor(server.port, "alice")];
  await using a = await login(server.port, "alice");
  assertEquals((await admin(["logout-all", "alice", "--db", db])).out, [
    "Logged out alice: 2 token(s) revoked",
  ]);
  await a.waitClosed(2000);
  await using c = await RawClient.connect(server.port);
  for (const token of tokens) {
    const r = await c.request({
      action: "authenticate",
      time: now(),
      user: { account_name: "alice", token },
    });
    assertEquals(r.response, 402);
  }
  assertEquals(
    (await c.request(auth("alice", "correct horse"))).response,
    200,
    "the password still works",
  );
});

Deno.test("admin socket: reset-password sets a new password, revokes tokens and disconnects", async () => {
  await using dir = await tempDir();
  const { db, server } = await liveServer(dir.path);
  await using _server = server;
  await register(server.port, "alice");
  const token = await tokenFor(server.port, "alice");
  await using a = await login(server.port, "alice");
  assertEquals(
    (await admin(["reset-password", "alice", "--db", db], { JIM_PASSWORD: "short" })).err,
    [
      "Cannot reset the password of alice: the password must have 8 to 128 characters",
    ],
  );
  assertEquals((await admin(["reset-password", "alice", "--db", db])).err, [
    "Cannot reset the password of alice: set JIM_PASSWORD or run jim admin on a terminal to be asked",
  ]);
  const reset = await admin(["reset-password", "alice", "--db", db], {
    JIM_PASSWORD: "a new secret",
  });
  assertEquals(reset, {
    code: 0,
    out: ["Reset the password of alice: its tokens revoked, disconnected"],
    err: [],
  });
  await a.waitClosed(2000);
  await using c = await RawClient.connect(server.port);
  assertEquals((await c.request(auth("alice", "correct horse"))).response, 402);
  assertEquals(
    (await c.request({
      action: "authenticate",
      time: now(),
      user: { account_name: "alice", token },
    }))
      .response,
    402,
  );
  assertEquals((await c.request(auth("alice", "a new secret"))).response, 200);
});

Deno.test("admin socket: stats counts connections, accounts, guests and rooms", async () => {
  await using dir = await tempDir();
  const { db, server } = await liveServer(dir.path);
  await using _server = server;
  await register(server.port, "alice");
  await using _a = await login(server.port, "alice");
  await using g = await guest(server.port, "gus");
  await using _anon = await RawClient.connect(server.port);
  assertEquals((await g.request({ action: "join", time: now(), room: "#r" })).response, 201);
  const rec = await admin(["stats", "--db", db]);
  assertEquals(rec.code, 0);
  assertEquals(rec.out.slice(0, 5), [
    "connections  3",
    "online       2",
    "accounts     1",
    "guests       1",
    "rooms        1",
  ]);
  assertMatch(rec.out[5]!, /^uptime {7}\d+ s$/);
});

Deno.test("admin socket: DB.sock is 0600, a stale one is replaced, a live one refused, removed at exit", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/jim.db`;
  const path = `${db}.sock`;
  // What a server that died leaves: a file nothing answers on.
  await Deno.writeTextFile(path, "");
  const server = await spawnServer({ dbPath: db });
  try {
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    const second = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN_PATH,
        "server",
        "-p",
        "0",
        "-a",
        "127.0.0.1",
        "--db",
        ":memory:",
        "--admin-socket",
        path,
      ],
      stdin: "null",
      stdout: "null",
      env: { NO_COLOR: "1" },
    }).output();
    assertEquals(second.code, 1);
    // The default socket is not worth refusing to start over: a server on the
    // same database starts without one, and says so.
    const third = await spawnServer({ dbPath: db });
    try {
      assertMatch(
        third.log(),
        new RegExp(
          `Cannot listen on admin socket ${path}: another server is using it; jim admin will work on the database file only`,
        ),
      );
    } finally {
      await third.stop();
    }
    assertMatch(
      new TextDecoder().decode(second.stderr),
      new RegExp(`Cannot listen on admin socket ${path}: another server is using it`),
    );
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
  let gone = false;
  try {
    await Deno.stat(path);
  } catch {
    gone = true;
  }
  assert(gone, "the socket file is removed at shutdown");
});

Deno.test("jim admin without a running server: kick and stats fail, the rest work on the file", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/jim.db`;
  {
    await using store = SqliteStore.open(db);
    await store.createAccount("alice", "old hash");
    await store.addToken("alice", "t", Date.now() + 60_000, 10);
  }
  let rec = recorder();
  assertEquals(await runAdmin(["kick", "alice", "--db", db], rec.io), 1);
  assertEquals(rec.err, [
    `Cannot kick alice: no server is running on ${db} (nothing answers on ${db}.sock)`,
  ]);
  rec = recorder();
  assertEquals(await runAdmin(["stats", "--db", db], rec.io), 1);
  assertMatch(rec.err[0]!, /^Cannot get stats: no server is running on /);
  rec = recorder();
  assertEquals(await runAdmin(["logout-all", "alice", "--db", db], rec.io), 0);
  assertEquals(rec.out, ["Logged out alice: 1 token(s) revoked"]);
  rec = recorder({ JIM_PASSWORD: "a new secret" });
  assertEquals(await runAdmin(["reset-password", "alice", "--db", db], rec.io), 0, rec.err.join());
  assertEquals(rec.out, ["Reset the password of alice: its tokens revoked"]);
  await using server = await startServer({ dbPath: db });
  await using _a = await login(server.port, "alice", "a new secret");
});

Deno.test("jim admin rooms: lists rooms, members and kept messages, live and from the file", async () => {
  await using dir = await tempDir();
  const { db, server } = await liveServer(dir.path);
  {
    await using _server = server;
    await register(server.port, "alice");
    await using a = await login(server.port, "alice");
    await using g = await guest(server.port, "gus");
    assertEquals((await a.request({ action: "join", time: now(), room: "#r" })).response, 201);
    assertEquals((await g.request({ action: "join", time: now(), room: "#r" })).response, 200);
    assertEquals((await g.request({ action: "join", time: now(), room: "#quiet" })).response, 201);
    const topic = await a.request({ action: "topic", time: now(), room: "#r", topic: "plans" });
    assertEquals(topic.response, 200);
    for (const text of ["one", "two"]) {
      await a.request({ action: "msg", time: now(), to: "#r", message: text });
    }
    const live = await admin(["rooms", "--db", db]);
    assertEquals(live.code, 0, live.err.join("\n"));
    assertEquals(live.out, [
      "ROOM    MEMBERS  MESSAGES  TOPIC  NAMES",
      "#quiet  1        0         -      gus",
      "#r      2        2         plans  alice,gus",
    ]);
  }
  // No server: the file's rooms, with their account members (a guests' room went with them).
  const stored = await admin(["rooms", "--db", db]);
  assertEquals(stored.code, 0, stored.err.join("\n"));
  assertEquals(stored.out, [
    "ROOM  MEMBERS  MESSAGES  TOPIC  NAMES",
    "#r    1        2         plans  alice",
  ]);
});

Deno.test("jim admin reaches a server by --admin-socket alone, as one on PostgreSQL or :memory: is", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/admin.sock`;
  const server = await spawnServer({ dbPath: ":memory:", args: ["--admin-socket", path] });
  try {
    await using _g = await guest(server.port, "gus");
    // No --db, and no HOME to find a default database in: the socket is enough.
    const kicked = await admin(["kick", "gus", "--admin-socket", path], { HOME: "", JIM_DB: "" });
    assertEquals(kicked, { code: 0, out: ["Kicked gus"], err: [] });
  } finally {
    await server.stop();
  }
  const rec = recorder();
  assertEquals(await runAdmin(["stats", "--admin-socket", path], rec.io), 1);
  assertEquals(rec.err, [`Cannot get stats: nothing answers on ${path}`]);
  const users = recorder();
  assertEquals(await runAdmin(["users", "--admin-socket", path], users.io), 1);
  assertMatch(users.err[0]!, /^Cannot choose a database file/);
});

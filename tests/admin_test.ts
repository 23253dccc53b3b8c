import { assertEquals } from "@std/assert";
import { ADMIN_HELP, ADMIN_USAGE, type AdminIo, runAdmin } from "../lib/admin/admin.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { auth, guest, login, now, RawClient, register, startServer } from "./_helpers.ts";

/** Records what `runAdmin` prints. */
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

/** A temp dir holding a database path; removed on dispose. */
async function tempDb(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "jim_admin_test_" });
  return {
    path: `${dir}/jim.db`,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

// -- arguments --

Deno.test("runAdmin() --help prints ADMIN_HELP and returns 0", async () => {
  for (const args of [["--help"], ["-h"], ["block", "--help"]]) {
    const { out, err, io } = recorder();
    assertEquals(await runAdmin(args, io), 0);
    assertEquals(out.join("\n"), ADMIN_HELP);
    assertEquals(err, []);
  }
});

Deno.test("runAdmin() answers a bad command line with one error, usage and 2", async (t) => {
  const cases: Array<[string[], string]> = [
    [[], "Cannot parse arguments: a command is required"],
    [["frob"], 'Cannot parse arguments: unknown command "frob"'],
    [["users", "--frob"], "Cannot parse arguments: unknown option --frob"],
    [["users", "--frob=1"], "Cannot parse arguments: unknown option --frob"],
    [["users", "-x"], "Cannot parse arguments: unknown option -x"],
    [["users", "bob"], 'Cannot parse arguments: unexpected argument "bob"'],
    [["block"], "Cannot parse arguments: NAME is required"],
    [["unblock", "--db", "x.db"], "Cannot parse arguments: NAME is required"],
    [["block", "alice", "bob"], 'Cannot parse arguments: unexpected argument "bob"'],
    [["users", "--db"], "Cannot parse --db: a value is required"],
    [["users", "--db", "a.db", "--db", "b.db"], "Cannot parse --db: given more than once"],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" ") || "(nothing)", async () => {
      const { out, err, io } = recorder();
      assertEquals(await runAdmin(args, io), 2);
      assertEquals(err, [`jim admin: ${message}`, ADMIN_USAGE]);
      assertEquals(out, []);
    });
  }
});

// -- commands --

Deno.test("runAdmin() users prints name, blocked, created and waiting messages", async () => {
  await using db = await tempDb();
  {
    await using store = SqliteStore.open(db.path);
    await store.createAccount("alice", "h");
    await store.createAccount("bob-the-builder", "h");
    await store.setBlocked("bob-the-builder", true);
    for (const text of ["1", "2"]) {
      await store.enqueueOffline("alice", {
        action: "msg",
        time: 1,
        from: "bob-the-builder",
        to: "alice",
        encoding: "ascii",
        message: text,
      }, { total: 10 });
    }
  }
  const created = await (async () => {
    await using store = SqliteStore.open(db.path);
    return (await store.listAccounts()).map((a) => isoDate(a.createdAt));
  })();
  const { out, err, io } = recorder();
  assertEquals(await runAdmin(["users", "--db", db.path], io), 0);
  assertEquals(err, []);
  assertEquals(out, [
    "NAME             BLOCKED  CREATED     OFFLINE",
    `alice            no       ${created[0]}  2`,
    `bob-the-builder  yes      ${created[1]}  0`,
  ]);
});

Deno.test("runAdmin() users says so when there are no accounts", async () => {
  await using db = await tempDb();
  await SqliteStore.open(db.path).close();
  const { out, io } = recorder();
  assertEquals(await runAdmin(["users", `--db=${db.path}`], io), 0);
  assertEquals(out, ["No accounts"]);
});

Deno.test("runAdmin() block and unblock set the flag the server reads", async () => {
  await using db = await tempDb();
  // A "server" keeps its connection open throughout, as a running one would.
  await using server = SqliteStore.open(db.path);
  await server.createAccount("alice", "h");

  let rec = recorder();
  assertEquals(await runAdmin(["block", "alice", "--db", db.path], rec.io), 0);
  assertEquals(rec.out, [
    "Blocked alice: its tokens revoked; a running server disconnects it within seconds",
  ]);
  assertEquals((await server.getAccount("alice"))?.blocked, true);

  rec = recorder();
  assertEquals(await runAdmin(["--db", db.path, "unblock", "alice"], rec.io), 0);
  assertEquals(rec.out, ["Unblocked alice: the account may log in again"]);
  assertEquals((await server.getAccount("alice"))?.blocked, false);
});

Deno.test("runAdmin() block of an unknown account fails with 1", async () => {
  await using db = await tempDb();
  {
    await using store = SqliteStore.open(db.path);
    await store.createAccount("Alice", "h");
  }
  for (const verb of ["block", "unblock"]) {
    const { out, err, io } = recorder();
    assertEquals(await runAdmin([verb, "alice", "--db", db.path], io), 1);
    assertEquals(err, [`Cannot ${verb} alice: no such account`]);
    assertEquals(out, []);
  }
  // Names are taken exactly as given: "007" is not the number 7.
  const { err, io } = recorder();
  assertEquals(await runAdmin(["block", "007", "--db", db.path], io), 1);
  assertEquals(err, ["Cannot block 007: no such account"]);
});

Deno.test("runAdmin() refuses a database file that does not exist", async () => {
  await using db = await tempDb();
  const { err, io } = recorder();
  assertEquals(await runAdmin(["users", "--db", db.path], io), 1);
  assertEquals(err, [`Cannot open database ${db.path}: no such file`]);
});

Deno.test("runAdmin() reports a file that is not a database", async () => {
  await using db = await tempDb();
  await Deno.writeTextFile(db.path, "not a database, just some text ".repeat(100));
  const { err, io } = recorder();
  assertEquals(await runAdmin(["users", "--db", db.path], io), 1);
  assertEquals(err.length, 1);
  assertEquals(err[0]?.startsWith(`Cannot open database ${db.path}: `), true);
});

Deno.test("runAdmin() defaults --db to $JIM_DB, and needs HOME without it", async () => {
  await using db = await tempDb();
  {
    await using store = SqliteStore.open(db.path);
    await store.createAccount("carol", "h");
  }
  let rec = recorder({ JIM_DB: db.path });
  assertEquals(await runAdmin(["block", "carol"], rec.io), 0);
  assertEquals(rec.out, [
    "Blocked carol: its tokens revoked; a running server disconnects it within seconds",
  ]);

  rec = recorder();
  assertEquals(await runAdmin(["users"], rec.io), 1);
  assertEquals(rec.err, [
    "Cannot choose a database file: neither HOME nor XDG_DATA_HOME is set (use --db PATH or JIM_DB)",
  ]);
});

Deno.test("runAdmin() block on a running server's database disconnects the account and refuses its logins", async () => {
  await using db = await tempDb();
  await using server = await startServer({ dbPath: db.path, blockCheckMs: 50 });
  await register(server.port, "mallory");
  await using m = await login(server.port, "mallory");
  await using bystander = await guest(server.port, "bystander");
  const rec = recorder();
  assertEquals(await runAdmin(["block", "mallory", "--db", db.path], rec.io), 0);
  const notice = await m.take((o) => o.response === 101);
  assertEquals(notice.alert, "account mallory is blocked");
  await m.waitClosed();
  await using again = await RawClient.connect(server.port);
  assertEquals((await again.request(auth("mallory", "correct horse"))).response, 403);
  // Nobody else is affected.
  assertEquals((await bystander.request({ action: "who", time: now() })).response, 200);
  assertEquals(await runAdmin(["unblock", "mallory", "--db", db.path], rec.io), 0);
  await using _back = await login(server.port, "mallory");
});

Deno.test("runAdmin() block reaches a guest that registered the name it holds", async () => {
  await using db = await tempDb();
  await using server = await startServer({ dbPath: db.path, blockCheckMs: 50 });
  // The guest holds the name, then registers it on the same connection
  // without authenticating: it keeps chatting as a guest under that name.
  await using m = await guest(server.port, "mallory");
  const created = await m.request({
    action: "register",
    time: now(),
    user: { account_name: "mallory", password: "correct horse" },
  });
  assertEquals(created.response, 201);
  await using bystander = await guest(server.port, "bystander");
  const rec = recorder();
  assertEquals(await runAdmin(["block", "mallory", "--db", db.path], rec.io), 0);
  const notice = await m.take((o) => o.response === 101);
  assertEquals(notice.alert, "account mallory is blocked");
  await m.waitClosed();
  // Nobody holds the name now.
  const who = await bystander.request({ action: "who", time: now(), target: "mallory" });
  assertEquals([who.response, who.alert, who.users], [200, "mallory is offline", []]);
});

/**
 * The Store contract against PostgreSQL: one throwaway cluster for the file
 * (started by the first test, stopped by the last), a fresh database per
 * test. If PostgreSQL cannot be started here, these tests fail: CI installs
 * it (.ci/run), and a store nobody tested must not look green.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import postgres from "postgres";
import { UsageError } from "../lib/cli/parse.ts";
import { parseServerArgs } from "../lib/cli/server_args.ts";
import { parsePgUrl, PgStore } from "../lib/store/pg_store.ts";
import { login, now, register } from "./_helpers.ts";
import { startPostgres, type TestPostgres } from "./_postgres.ts";
import { spawnServer } from "./_proc.ts";
import { msg, storeContract } from "./_store_contract.ts";

let cluster: Promise<TestPostgres> | null = null;
let databases = 0;

function pg(): Promise<TestPostgres> {
  if (cluster) return cluster;
  cluster = startPostgres();
  // A filtered run may skip the test that stops it.
  cluster.then(
    (server) => globalThis.addEventListener("unload", () => server.stopSync()),
    () => {},
  );
  return cluster;
}

async function freshStore(): Promise<PgStore> {
  const server = await pg();
  return await PgStore.open(await server.createDatabase(`jim_test_${++databases}`));
}

storeContract("PgStore", async () => {
  const store = await freshStore();
  return { store, [Symbol.asyncDispose]: () => store.close() };
});

// -- PgStore specifics --

Deno.test("PgStore.open() migrates once when several nodes start together", async () => {
  const server = await pg();
  const url = await server.createDatabase(`jim_test_${++databases}`);
  const stores = await Promise.all([PgStore.open(url), PgStore.open(url), PgStore.open(url)]);
  try {
    assertEquals(await stores[0]!.createAccount("alice", "h"), true);
    assertEquals(await stores[1]!.createAccount("alice", "h"), false);
    assertEquals((await stores[2]!.getAccount("alice"))?.passwordHash, "h");
  } finally {
    for (const s of stores) await s.close();
  }
});

Deno.test("PgStore: look-alike names raced from two nodes: exactly one account", async () => {
  const server = await pg();
  const url = await server.createDatabase(`jim_test_${++databases}`);
  const a = await PgStore.open(url);
  const b = await PgStore.open(url);
  try {
    for (let i = 0; i < 20; i++) {
      const results = await Promise.all([
        a.createAccount(`rn${i}`, "h"),
        b.createAccount(`m${i}`, "h"),
      ]);
      assertEquals(results.filter((r) => r).length, 1, `round ${i}: ${results}`);
    }
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("PgStore: a mailbox's limit holds with enqueues raced from two nodes", async () => {
  const server = await pg();
  const url = await server.createDatabase(`jim_test_${++databases}`);
  const a = await PgStore.open(url);
  const b = await PgStore.open(url);
  try {
    const m = msg("x", "bob", "hi");
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).enqueueOffline("bob", m, { total: 10 })),
    );
    assertEquals(results.filter((r) => r === "stored").length, 10);
    assertEquals(await a.countOffline("bob"), 10);
  } finally {
    await a.close();
    await b.close();
  }
});

/** How many transactions wrote the rows `query` selects (each row's `xmin`). */
async function writers(url: string, query: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql.unsafe(`SELECT count(DISTINCT xmin::text)::int AS n FROM (${query}) q`);
    return Number(row?.n);
  } finally {
    await sql.end();
  }
}

Deno.test("PgStore: a mailbox's calls made together are written in a few transactions, in order", async () => {
  // A session that quits with 20,000 messages unread left them one
  // transaction each: some 2 ms apiece, which outlasted the next login.
  const server = await pg();
  const url = await server.createDatabase(`jim_test_${++databases}`);
  await using store = await PgStore.open(url);
  const calls = Array.from(
    { length: 10_000 },
    (_, i) => store.enqueueOffline("bob", msg("al", "bob", `m${i}`), { total: Infinity }),
  );
  // One more while those are written: it goes in a later batch, after them.
  await calls[0];
  calls.push(store.enqueueOffline("bob", msg("al", "bob", "later"), { total: Infinity }));
  await Promise.all(calls);
  const mail = await store.peekOffline("bob", Infinity);
  assertEquals(
    mail.map((m) => m.message.message),
    [...Array.from({ length: 10_000 }, (_, i) => `m${i}`), "later"],
  );
  const transactions = await writers(url, "SELECT xmin FROM offline WHERE recipient = 'bob'");
  assert(transactions <= 5, `written in ${transactions} transactions`);
});

Deno.test("PgStore: history kept together is written in one transaction", async () => {
  const server = await pg();
  const url = await server.createDatabase(`jim_test_${++databases}`);
  await using store = await PgStore.open(url);
  const last = await store.nextHistoryIds(600);
  await Promise.all(
    Array.from({ length: 600 }, (_, i) =>
      store.appendHistory(
        i % 2 ? "al\ncy" : "#r",
        { id: last - 599 + i, message: msg("al", i % 2 ? "cy" : "#r", `h${i}`) },
        200,
      )),
  );
  // Each conversation trimmed to its newest 200, the counter past them.
  const page = await store.readHistory("#r", { limit: 1000 });
  assertEquals(page.messages.length, 200);
  assertEquals(page.messages.at(-1)?.message.message, "h598");
  assertEquals(page.messages[0]?.message.message, "h200");
  assertEquals(await store.lastHistoryId(), last);
  assertEquals(await writers(url, "SELECT xmin FROM history"), 1);
});

Deno.test("PgStore: history ids taken from two nodes at once are one sequence, after those kept", async () => {
  const server = await pg();
  const url = await server.createDatabase(`jim_test_${++databases}`);
  const a = await PgStore.open(url);
  const b = await PgStore.open(url);
  try {
    await a.appendHistory("#r", { id: 7, message: msg("x", "#r", "old") }, 10);
    // Each call takes `count` ids and resolves to the last of them.
    const lasts = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).nextHistoryIds(i + 1)),
    );
    const ids = lasts.flatMap((last, i) => Array.from({ length: i + 1 }, (_, k) => last - k));
    ids.sort((x, y) => x - y);
    assertEquals(ids, Array.from({ length: 210 }, (_, i) => 8 + i));
    assertEquals(await b.lastHistoryId(), 217);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("PgStore.keepRoomHistory(): two nodes keeping one room at once publish its ids in order, each kept before it is published", async () => {
  const server = await pg();
  const url = await server.createDatabase(`jim_test_${++databases}`);
  const a = await PgStore.open(url);
  const b = await PgStore.open(url);
  try {
    const published: number[] = [];
    const keepOne = async (store: PgStore, i: number) => {
      const message = msg("x", "#r", `m${i}`);
      await store.keepRoomHistory("#r", [message, message], 100, async (first) => {
        // Kept (committed) before it is published: another node reads it.
        const page = await (store === a ? b : a).readHistory("#r", { limit: 1, after: first });
        assertEquals(page.messages.map((m) => m.id), [first + 1]);
        published.push(first, first + 1);
      });
    };
    await Promise.all(Array.from({ length: 30 }, (_, i) => keepOne(i % 2 ? a : b, i)));
    assertEquals(published, [...published].sort((x, y) => x - y));
    assertEquals(new Set(published).size, 60);
    // Other rooms' and direct ids are the same sequence.
    assertEquals(await a.nextHistoryIds(1), Math.max(...published) + 1);
    const kept = await a.readHistory("#r", { limit: 200 });
    assertEquals(kept.messages.map((m) => m.id), published);
    // Beyond `keep`, the oldest go.
    await a.keepRoomHistory("#r", [msg("x", "#r", "last")], 10, () => Promise.resolve());
    assertEquals((await b.readHistory("#r", { limit: 200 })).messages.length, 10);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("PgStore.open() says which database it cannot reach", async () => {
  const server = await pg();
  await assertRejects(
    () => PgStore.open(server.url("no_such_db")),
    Error,
    `Cannot open database postgres://postgres@127.0.0.1:${server.port}/no_such_db`,
  );
});

Deno.test("parsePgUrl() reads user, host, port and database, and refuses anything else", () => {
  assertEquals(parsePgUrl("postgres://jim@db.example:5433/chat"), {
    host: "db.example",
    port: 5433,
    user: "jim",
    database: "chat",
  });
  for (const bad of ["mysql://a@b/c", "postgres://host/db", "postgres://u@h:1/", "nonsense"]) {
    let message = "";
    try {
      parsePgUrl(bad);
    } catch (e) {
      message = e instanceof Error ? e.message : String(e);
    }
    assertEquals(message.startsWith(`Cannot use store URL ${bad}`), true, message);
  }
});

/** The server task's Deno flags (its permissions), from deno.json. */
async function serverTaskFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const words = String(config.tasks.server).split(/\s+/);
  return words.slice(words.indexOf("run") + 1, words.indexOf("server.ts"));
}

Deno.test("jim server --store: accounts and offline mail outlive the process, under the task's permissions", async () => {
  const server = await pg();
  const url = await server.createDatabase(`jim_test_${++databases}`);
  const denoFlags = await serverTaskFlags();
  {
    await using first = await spawnServer({ store: url, denoFlags });
    assertEquals(first.log().includes("database postgres://postgres@127.0.0.1"), true, first.log());
    await register(first.port, "alice");
    await register(first.port, "bob");
    await using bob = await login(first.port, "bob");
    const r = await bob.request({ action: "msg", time: now(), to: "alice", message: "kept" });
    assertEquals(r.response, 202);
  }
  await using second = await spawnServer({ store: url, denoFlags });
  await using alice = await login(second.port, "alice");
  const m = await alice.message();
  assertEquals([m.from, m.message], ["bob", "kept"]);
});

Deno.test("PgStore: the throwaway cluster stops", async () => {
  if (cluster === null) return;
  const server = await cluster;
  cluster = null;
  await server.stop();
});

Deno.test("parseServerArgs(): --store takes a PostgreSQL URL, and not beside --db", () => {
  assertEquals(
    parseServerArgs(["--store", "postgres://jim@127.0.0.1:5432/chat"]).storeUrl,
    "postgres://jim@127.0.0.1:5432/chat",
  );
  assertEquals(parseServerArgs([]).storeUrl, undefined);
  assertThrows(
    () => parseServerArgs(["--store", "postgres://jim@h:1/c", "--db", "x.db"]),
    UsageError,
    "Cannot use --db with --store",
  );
  assertThrows(
    () => parseServerArgs(["--store", "sqlite:x.db"]),
    UsageError,
    "Cannot parse --store: Cannot use store URL sqlite:x.db",
  );
});

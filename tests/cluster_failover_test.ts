/**
 * Failover in a three-node cluster: an account that moves between nodes
 * while messages to it are in flight, and a node killed with SIGKILL while
 * messages to its users are in flight. Every message answered 200 or 202
 * must arrive exactly once and in the order sent; one answered 500 may be
 * missing but never arrives twice.
 */
import { assertEquals } from "@std/assert";
import { PgStore } from "../lib/store/pg_store.ts";
import type { JimServer } from "../lib/server/serve.ts";
import { auth, now, type Obj, RawClient, register, startServer } from "./_helpers.ts";
import { startNats, type TestNats } from "./_nats.ts";
import { startPostgres, type TestPostgres } from "./_postgres.ts";

let pgCluster: Promise<TestPostgres> | null = null;
let databases = 0;

function pg(): Promise<TestPostgres> {
  if (pgCluster) return pgCluster;
  pgCluster = startPostgres();
  pgCluster.then((s) => globalThis.addEventListener("unload", () => s.stopSync()), () => {});
  return pgCluster;
}

/** Claims live this long here, so that a dead node's names come free quickly. */
const CLAIM_TTL_MS = 2000;

interface TestCluster extends AsyncDisposable {
  nats: TestNats;
  storeUrl: string;
  nodes: JimServer[];
}

async function cluster(size: number): Promise<TestCluster> {
  const server = await pg();
  const storeUrl = await server.createDatabase(`jim_failover_${++databases}`);
  const nats = await startNats();
  const nodes: JimServer[] = [];
  for (let i = 0; i < size; i++) {
    nodes.push(
      await startServer({
        store: await PgStore.open(storeUrl),
        cluster: nats.url,
        claimTtlMs: CLAIM_TTL_MS,
      }),
    );
  }
  return {
    nats,
    storeUrl,
    nodes,
    async [Symbol.asyncDispose]() {
      for (const node of nodes) await node.shutdown();
      await nats.stop();
    },
  };
}

/**
 * Logs in, trying again while the name is still held (409: the node it left
 * lets the claim go once its mail is settled; a dead node's expires).
 */
async function loginWhenFree(port: number, name: string, timeoutMs: number): Promise<RawClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = await RawClient.connect(port);
    const r = await client.request(auth(name, "correct horse"));
    if (r.response === 200) return client;
    client.close();
    await client.reading;
    if (r.response !== 409 || Date.now() > deadline) {
      throw new Error(`authenticate ${name} failed: ${JSON.stringify(r)}`);
    }
  }
}

/** One message as the recipient saw it: its number, and its offline-mail id if it was stored. */
interface Seen {
  n: number;
  id: number | undefined;
}

/** Takes every message in the inbox so far. */
function takeMessages(client: RawClient, into: Seen[]): void {
  for (;;) {
    const i = client.inbox.findIndex((o) => o.action === "msg");
    if (i < 0) return;
    const m = client.inbox[i] as Obj;
    (client.inbox as Obj[]).splice(i, 1);
    into.push({ n: Number(String(m.message).slice(1)), id: m.id });
  }
}

/**
 * Checks what a recipient saw against what its sender was told: each
 * message answered 200 or 202 arrives exactly once, every message arrives at
 * most once, and all arrive in the order sent. Stored mail written to a
 * connection that died before acknowledging it comes again with the same id
 * (`dropRepeatedIds`: as a client does, it drops a repeated id).
 */
function verdict(
  seen: Seen[],
  acknowledged: Set<number>,
  dropRepeatedIds: boolean,
): { missing: number[]; twice: number[]; outOfOrder: number[] } {
  const ids = new Set<number>();
  const kept: number[] = [];
  for (const { n, id } of seen) {
    if (id !== undefined && dropRepeatedIds) {
      if (ids.has(id)) continue;
      ids.add(id);
    }
    kept.push(n);
  }
  const counts = new Map<number, number>();
  for (const n of kept) counts.set(n, (counts.get(n) ?? 0) + 1);
  const missing = [...acknowledged].filter((n) => !counts.has(n));
  const twice = [...counts].filter(([, c]) => c > 1).map(([n]) => n);
  const outOfOrder = kept.filter((n, i) => i > 0 && n < kept[i - 1]!);
  return { missing, twice, outOfOrder };
}

Deno.test("cluster failover: an account moving between nodes mid-stream gets every 200/202 once, in order", async () => {
  await using c = await cluster(3);
  const [n1, n2, n3] = c.nodes;
  await register(n1!.port, "sender");
  await register(n1!.port, "mover");
  await using sender = await loginWhenFree(n1!.port, "sender", 5000);
  const TOTAL = 400;
  const acknowledged = new Set<number>();
  const codes = new Map<number, number>();
  let sent = 0;
  const notes: string[] = [];
  const sending = (async () => {
    for (; sent < TOTAL; sent++) {
      const r = await sender.request({
        action: "msg",
        time: now(),
        to: "mover",
        message: `m${sent}`,
      });
      codes.set(r.response, (codes.get(r.response) ?? 0) + 1);
      if (r.response !== 200) notes.push(`${sent}:${r.response}`);
      if (r.response === 200 || r.response === 202) acknowledged.add(sent);
      else if (r.response !== 500) throw new Error(`unexpected answer: ${JSON.stringify(r)}`);
    }
  })();
  // Awaited below; a failure of the main flow must not leave it unhandled.
  sending.catch(() => {});
  const seen: Seen[] = [];
  /** Where in `seen` each login began, for the failure message. */
  const logins = new Set<number>();
  // Back and forth between nodes 2 and 3, logging out after a few live
  // messages each time, while the stream runs; then once more at the end.
  const path = [n2!, n3!];
  let hops = 0;
  for (; sent < TOTAL; hops++) {
    const client = await loginWhenFree(path[hops % 2]!.port, "mover", 10_000);
    logins.add(seen.length);
    // The answer to a request after the login comes once the stored mail is out.
    await client.request({ action: "who", time: now() });
    const before = seen.length;
    takeMessages(client, seen);
    // A few live messages here (unless the stream has ended), then on.
    const want = seen.length + 5;
    const deadline = Date.now() + 15_000;
    while (seen.length < want && sent < TOTAL) {
      try {
        const m = await client.take((o) => o.action === "msg", 500);
        seen.push({ n: Number(String(m.message).slice(1)), id: m.id });
      } catch (e) {
        if (client.closed || Date.now() > deadline) throw e;
      }
    }
    // Logging out: everything queued before the answer to quit comes before it.
    await client.send({ action: "quit", time: now() });
    await client.response();
    takeMessages(client, seen);
    await client.waitClosed();
    client.close();
    if (seen.length === before && sent >= TOTAL) break;
  }
  await sending;
  {
    await using last = await loginWhenFree(n3!.port, "mover", 10_000);
    await last.request({ action: "who", time: now() });
    takeMessages(last, seen);
  }
  const answers = `answers: ${JSON.stringify([...codes])}, hops: ${hops}, not 200: ${
    notes.join(" ")
  }, seen: ${
    seen.map(({ n, id }, i) => (logins.has(i) ? "| " : "") + (id === undefined ? n : `${n}#${id}`))
      .join(" ")
  }`;
  assertEquals(
    verdict(seen, acknowledged, false),
    { missing: [], twice: [], outOfOrder: [] },
    answers,
  );
  // Nothing was answered 500: a move is not a failure.
  assertEquals(codes.get(500) ?? 0, 0, answers);
  assertEquals(hops >= 4, true, answers);
});

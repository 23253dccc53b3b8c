/**
 * Slow consumers and unterminated input against a server in a child process,
 * measuring the server's own resident memory from /proc.
 *
 * Short variant (always): 40 MB of messages to a reader that never reads, and
 * 20 MB of input that never ends an object. Long variant: `JIM_LONG=1` sends
 * 200 MB and 100 MB.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { JsonObjectDecoder } from "../lib/protocol/codec.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import {
  guest,
  login,
  member,
  now,
  type Obj,
  RawClient,
  register,
  startServer,
  tempDir,
} from "./_helpers.ts";
import { mib, report, resetPeakRss, rssBytes, sampleRss, spawnServer } from "./_proc.ts";

const LONG = Deno.env.get("JIM_LONG") === "1";
/** Bytes of requests the sender writes to the slow consumer. */
const SLOW_TOTAL = (LONG ? 200 : 40) * 1_000_000;
/** Bytes of one object that never ends. */
const UNTERMINATED_TOTAL = (LONG ? 100 : 20) * 1_000_000;
/** The bound the issue sets on the server's RSS growth. */
const RSS_GROWTH_LIMIT = 32 * 1024 * 1024;
/** Bytes of ordinary traffic that bring a cold server to its working size. */
const WARM_UP = 16_000_000;
/** Requests the sender has in flight at once. */
const WINDOW = 256;

const encoder = new TextEncoder();

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Reads from `conn` until `decoder` has produced `n` objects; returns them. */
async function readObjects(
  conn: Deno.Conn,
  decoder: JsonObjectDecoder,
  n: number,
): Promise<Obj[]> {
  const out: Obj[] = [];
  const buf = new Uint8Array(4096);
  while (out.length < n) {
    const got = await conn.read(buf);
    if (got === null) throw new Error("connection closed early");
    for (const e of decoder.push(buf.subarray(0, got))) if (e.kind === "object") out.push(e.value);
  }
  return out;
}

/** Reads everything up to EOF (or a reset), returning the message ids seen. */
async function drainIds(conn: Deno.Conn, decoder: JsonObjectDecoder): Promise<number[]> {
  const ids: number[] = [];
  const buf = new Uint8Array(65536);
  try {
    while (true) {
      const got = await conn.read(buf);
      if (got === null) break;
      for (const e of decoder.push(buf.subarray(0, got))) {
        if (e.kind === "object" && e.value.action === "msg") ids.push(idOf(e.value.message));
      }
    }
  } catch {
    // reset: what arrived before it is what counts
  }
  return ids;
}

function idOf(text: unknown): number {
  const m = /^m(\d+) /.exec(String(text));
  if (!m) throw new Error(`unexpected message text: ${text}`);
  return Number(m[1]);
}

const PAD = "x".repeat(480);

/** A client that authenticates or claims a guest name, reads that answer, and then never reads. */
async function deafClient(
  port: number,
  request: Obj,
): Promise<{ conn: Deno.TcpConn; decoder: JsonObjectDecoder }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const decoder = new JsonObjectDecoder({ maxObjectBytes: 1 << 20 });
  await writeAll(conn, encoder.encode(JSON.stringify(request) + "\n"));
  const [answer] = await readObjects(conn, decoder, 1);
  assertEquals(answer?.response, 200, JSON.stringify(answer));
  return { conn, decoder };
}

/** A guest that reads everything and keeps nothing. */
async function sink(port: number, name: string): Promise<AsyncDisposable> {
  const { conn } = await deafClient(port, {
    action: "presence",
    time: now(),
    user: { account_name: name },
  });
  const reading = (async () => {
    const buf = new Uint8Array(65536);
    try {
      while (await conn.read(buf) !== null) { /* discard */ }
    } catch { /* closed */ }
  })();
  return {
    async [Symbol.asyncDispose]() {
      conn.close();
      await reading;
    },
  };
}

/** Another client's request latency, sampled every 10 ms until stopped. */
function latencyProbe(
  client: RawClient,
): { stop(): Promise<{ p50: number; max: number; n: number }> } {
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const r = await client.request({ action: "who", time: now() });
      if (r.response !== 200) throw new Error(`who: ${JSON.stringify(r)}`);
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  // Settled either way, so a failure elsewhere is not masked by this one.
  const settled = loop.then(() => null, (e: unknown) => e);
  return {
    async stop() {
      running = false;
      const error = await settled;
      if (error) throw error;
      const sorted = latencies.toSorted((a, b) => a - b);
      return {
        p50: sorted[Math.floor(sorted.length / 2)] ?? 0,
        max: sorted.at(-1) ?? 0,
        n: sorted.length,
      };
    },
  };
}

/**
 * Sends numbered messages to `to`, {@linkcode WINDOW} at a time, waiting for
 * every answer, until `done` says stop. Returns each message's response code.
 */
async function sendNumbered(
  sender: RawClient,
  to: string,
  done: (sentBytes: number, answers: Map<number, number>) => boolean,
): Promise<{ answers: Map<number, number>; sentBytes: number }> {
  const answers = new Map<number, number>();
  let sentBytes = 0;
  let id = 0;
  while (!done(sentBytes, answers)) {
    const lines: string[] = [];
    const ids: number[] = [];
    for (let i = 0; i < WINDOW; i++, id++) {
      ids.push(id);
      lines.push(JSON.stringify({ action: "msg", time: now(), to, message: `m${id} ${PAD}` }));
    }
    const bytes = encoder.encode(lines.join("\n") + "\n");
    sentBytes += bytes.length;
    await sender.writeRaw(bytes);
    for (const i of ids) answers.set(i, (await sender.response(10_000)).response);
  }
  return { answers, sentBytes };
}

function tally(answers: Map<number, number>): Map<number, number> {
  const codes = new Map<number, number>();
  for (const code of answers.values()) codes.set(code, (codes.get(code) ?? 0) + 1);
  return codes;
}

Deno.test("slow consumer: 40 MB to a reader that never reads; RSS bounded, sender always answered, others stay fast", async () => {
  await using server = await spawnServer();
  const port = server.port;
  const deaf = await deafClient(port, {
    action: "presence",
    time: now(),
    user: { account_name: "deaf" },
  });
  await using sender = await guest(port, "sender");
  await using other = await guest(port, "other");

  // Warm up first. A cold server's RSS grows by about 28 MiB under any 40 MB
  // of traffic, a reader that keeps up included (measured): V8's young
  // generation grows to its working size. Measured from a warm server, the
  // growth is what the reader that never reads costs.
  const cold = await rssBytes(server.pid);
  {
    await using _reader = await sink(port, "reader");
    await sendNumbered(sender, "reader", (n) => n >= WARM_UP);
  }
  await resetPeakRss(server.pid);
  const base = await rssBytes(server.pid);
  const sampler = sampleRss(server.pid);
  const probe = latencyProbe(other);
  const t0 = performance.now();
  const { answers, sentBytes } = await sendNumbered(sender, "deaf", (n) => n >= SLOW_TOTAL);
  const elapsed = performance.now() - t0;
  const latency = await probe.stop();
  const peak = await sampler.stop();
  deaf.conn.close();

  const codes = tally(answers);
  const growth = peak - base;
  report(
    `slow consumer: sent ${(sentBytes / 1e6).toFixed(1)} MB (${answers.size} messages) in ${
      elapsed.toFixed(0)
    } ms; answers ${JSON.stringify([...codes])}; RSS ${mib(base)} -> peak ${mib(peak)} (+${
      mib(growth)
    }; cold start ${mib(cold)}); another client's latency p50 ${latency.p50.toFixed(1)} ms, max ${
      latency.max.toFixed(1)
    } ms over ${latency.n} requests`,
  );
  // Every request was answered (sendNumbered waited for each): 200 while the
  // reader was connected, 404 once it had been dropped.
  for (const [code] of codes) assert(code === 200 || code === 404, `unexpected code ${code}`);
  assert((codes.get(404) ?? 0) > 0, "the reader that never reads was never dropped");
  assert(growth < RSS_GROWTH_LIMIT, `RSS grew by ${mib(growth)}`);
  assert(latency.p50 < 50, `median latency ${latency.p50.toFixed(1)} ms`);
  assert(latency.max < 1000, `max latency ${latency.max.toFixed(1)} ms`);
});

Deno.test("slow consumer: an account dropped for not reading loses no acknowledged direct message", async () => {
  await using dir = await tempDir();
  await using server = await spawnServer({
    dbPath: `${dir.path}/jim.db`,
    args: ["--offline-limit", "100000"],
  });
  const port = server.port;
  await register(port, "slow");
  const deaf = await deafClient(port, {
    action: "authenticate",
    time: now(),
    user: { account_name: "slow", password: "correct horse" },
  });
  await using sender = await member(port, "sender");
  // Until the account is dropped (its messages turn 202), and a little beyond.
  let firstOffline = -1;
  const { answers } = await sendNumbered(sender, "slow", (_, answers) => {
    if (firstOffline < 0) {
      for (const [id, code] of answers) if (code === 202) firstOffline = id;
    }
    return firstOffline >= 0 && answers.size > firstOffline + 2 * WINDOW;
  });
  const codes = tally(answers);
  for (const [code] of codes) assert(code === 200 || code === 202, `unexpected code ${code}`);

  // What reached the consumer's socket before the drop, plus what waits
  // offline, must cover every 200 and 202.
  const onSocket = await drainIds(deaf.conn, deaf.decoder);
  deaf.conn.close();
  const seen = new Set(onSocket);
  await using again = await login(port, "slow");
  const missing = () => [...answers.keys()].filter((i) => !seen.has(i));
  let offline = 0;
  const deadline = Date.now() + 10_000;
  while (missing().length > 0 && Date.now() < deadline) {
    const m = await again.message(Math.max(1, deadline - Date.now())).catch(() => null);
    if (!m) break;
    seen.add(idOf(m.message));
    offline++;
  }
  const lost = missing();
  report(
    `slow account: answers ${
      JSON.stringify([...codes])
    }; ${onSocket.length} reached its socket, ${offline} came from the offline store; lost ${lost.length}`,
  );
  assertEquals(lost.length, 0, `lost ${lost.length} acknowledged messages, first ${lost[0]}`);
});

Deno.test("slow consumer: offline mail being delivered to a reader that stops reading is not stored twice", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  const n = 50;
  {
    // A queue this small overflows within the first batch of offline mail.
    await using server = await startServer({ dbPath, maxQueueBytes: 4096 });
    const port = server.port;
    await register(port, "slow");
    await using sender = await member(port, "sender");
    for (let i = 0; i < n; i++) {
      const r = await sender.request({
        action: "msg",
        time: now(),
        to: "slow",
        message: `m${i} ${PAD}`,
      });
      assertEquals(r.response, 202);
    }
    const deaf = await deafClient(port, {
      action: "authenticate",
      time: now(),
      user: { account_name: "slow", password: "correct horse" },
    });
    // Dropped: the account shows as offline again.
    const deadline = Date.now() + 5000;
    let users: unknown = null;
    while (Date.now() < deadline) {
      users = (await sender.request({ action: "who", time: now(), target: "slow" })).users;
      if (Array.isArray(users) && users.length === 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(users, [], "the reader that never reads was not dropped");
    deaf.conn.close();
  }
  {
    await using store = SqliteStore.open(dbPath);
    assertEquals(await store.countOffline("slow"), n);
  }
  await using server = await startServer({ dbPath });
  await using again = await login(server.port, "slow");
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(idOf((await again.message()).message));
  assertEquals(ids, [...Array(n).keys()]);
});

async function unterminated(name: string, head: string, fill: number): Promise<void> {
  await using server = await spawnServer({ args: ["--max-object-bytes", "8192"] });
  await using client = await RawClient.connect(server.port);
  await resetPeakRss(server.pid);
  const base = await rssBytes(server.pid);
  const sampler = sampleRss(server.pid);
  await client.writeRaw(head);
  const chunk = new Uint8Array(65536).fill(fill);
  let sent = head.length;
  while (sent < UNTERMINATED_TOTAL) {
    await client.writeRaw(chunk);
    sent += chunk.length;
  }
  // A healthy client is answered while the object is still open.
  await using healthy = await guest(server.port, "healthy");
  assertEquals(
    (await healthy.request({ action: "who", time: now(), target: "healthy" })).response,
    200,
  );
  const peak = await sampler.stop();
  const growth = peak - base;
  report(
    `unterminated ${name}: ${(sent / 1e6).toFixed(1)} MB; RSS ${mib(base)} -> peak ${mib(peak)} (+${
      mib(growth)
    })`,
  );
  assert(growth < RSS_GROWTH_LIMIT, `RSS grew by ${mib(growth)}`);
  // One 400 for the oversized object, and the reader is still in it.
  const r = await client.response();
  assertEquals(r.response, 400, JSON.stringify(r));
  assertEquals(client.inbox.length, 0, JSON.stringify(client.inbox));
}

Deno.test("unterminated input: a string that never ends keeps RSS bounded", async () => {
  await unterminated("string", '{"action":"msg","message":"', 0x78 /* x */);
});

Deno.test("unterminated input: nesting that never ends keeps RSS bounded", async () => {
  await unterminated("nesting", '{"a":', 0x5b /* [ */);
});

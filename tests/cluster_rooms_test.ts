/**
 * Rooms across three jim nodes on one nats-server and one PostgreSQL, all on
 * loopback: a room's messages reach every member in the order of their
 * history ids wherever they were sent, and `after` the last id seen misses
 * none. Each test gets its own nats-server and database; the PostgreSQL
 * cluster is shared by the file (stopped by the last test, or on unload).
 */
import { assert, assertEquals } from "@std/assert";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { PgStore } from "../lib/store/pg_store.ts";
import {
  CLAIM_TTL_MS,
  sharedPostgres,
  startCluster,
  stopSharedPostgres,
} from "./_cluster_nodes.ts";
import { startNats } from "./_nats.ts";
import { spawnServer } from "./_proc.ts";
import { guest, member, now, type Obj, type RawClient, startServer } from "./_helpers.ts";

/** Sends `count` numbered messages to `room` without waiting, then reads every answer. */
async function flood(c: RawClient, room: string, tag: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await c.send({ action: "msg", time: now(), to: room, message: `${tag}${i}` });
  }
  for (let i = 0; i < count; i++) {
    const r = await c.response(10_000);
    assertEquals(r.response, 200, JSON.stringify(r));
  }
}

Deno.test("cluster: room messages sent at once on two nodes reach a member on a third in id order, and `after` misses none", async () => {
  await using c = await startCluster();
  const [n1, n2, n3] = c.nodes;
  await using ann = await member(n1!.port, "ann");
  await using ben = await member(n2!.port, "ben");
  await using cat = await member(n3!.port, "cat");
  await using dan = await member(n3!.port, "dan");
  const room = "#race";
  const created = await ann.request({ action: "join", time: now(), room });
  assertEquals(created.response, 201);
  for (const [client, history] of [[ben, 0], [cat, 10], [dan, 10]] as const) {
    const r = await client.request({ action: "join", time: now(), room, history });
    assertEquals(r.response, 200, JSON.stringify(r));
  }
  // Both floods fit in the room's history (200 kept by default).
  const count = 95;
  // While the two floods run, dan catches up again and again from the last
  // id it has: each page must start right after it, or a message was missed.
  let flooding = true;
  const caught: Obj[] = [];
  const catchUp = (async () => {
    while (true) {
      // A round begun once every message is answered (kept) is the last.
      const final = !flooding;
      const after = caught.at(-1)?.history_id ?? 0;
      // The newest that match come first: page back to `after` while more remain.
      const pages: Obj[] = [];
      let before: number | undefined;
      while (true) {
        const page = await dan.request({
          action: "history",
          time: now(),
          target: room,
          after,
          ...(before !== undefined ? { before } : {}),
          limit: 20,
        });
        assertEquals(page.response, 200, JSON.stringify(page));
        pages.unshift(...page.messages);
        if (!page.more || page.messages.length === 0) break;
        before = page.messages[0].history_id;
      }
      caught.push(...pages);
      if (final) break;
    }
  })();
  await Promise.all([flood(ann, room, "a", count), flood(ben, room, "b", count)]);
  flooding = false;
  await catchUp;
  const live: Obj[] = [];
  for (let i = 0; i < 2 * count; i++) live.push(await cat.message(10_000));
  const ids = live.map((m) => m.history_id as number);
  for (let i = 1; i < ids.length; i++) {
    assert(ids[i]! > ids[i - 1]!, `live ids out of order at ${i}: ${ids[i - 1]} then ${ids[i]}`);
  }
  // Each sender's own messages keep the order they were sent in.
  for (const tag of ["a", "b"]) {
    const mine = live.filter((m) => m.from === (tag === "a" ? "ann" : "ben"));
    assertEquals(mine.map((m) => m.message), Array.from({ length: count }, (_, i) => `${tag}${i}`));
  }
  assertEquals(caught.map((m) => m.history_id), ids, "a catch-up with `after` missed one");
  // ben (no ids asked) has all of them too, in the same order.
  const plain: string[] = [];
  while (plain.length < count) {
    const m = await ben.message(10_000);
    plain.push(m.message);
  }
  assertEquals(plain, live.filter((m) => m.from === "ann").map((m) => m.message));
});

Deno.test("cluster: rooms created at the same moment on three nodes stop at --max-rooms", async () => {
  const maxRooms = 4;
  await using c = await startCluster({ server: { maxRooms } });
  // Twelve guests, four per node, each creating its own room at once.
  const guests = await Promise.all(
    Array.from({ length: 12 }, (_, i) => guest(c.nodes[i % 3]!.port, `g${i}`)),
  );
  try {
    await Promise.all(
      guests.map((g, i) => g.send({ action: "join", time: now(), room: `#r${i}` })),
    );
    const answers = await Promise.all(guests.map((g) => g.response(10_000)));
    const codes = answers.map((r) => r.response).sort();
    assertEquals(codes, [...Array(4).fill(201), ...Array(8).fill(403)], JSON.stringify(answers));
    answers.forEach((r, i) => {
      if (r.response !== 403) return;
      assertEquals(r.error, `Cannot create #r${i}: the server has 4 rooms, the most it allows`);
    });
  } finally {
    for (const g of guests) g.close();
  }
});

Deno.test("cluster: two topics set at the same moment on two nodes: the store keeps the one every node shows", async () => {
  const pg = await sharedPostgres();
  const url = await pg.createDatabase(`jim_cluster_topic_${Deno.pid}`);
  await using nats = await startNats();
  // Node 1 holds on after writing the topic "A", until let go.
  const slow = await PgStore.open(url);
  const write = slow.setTopic.bind(slow);
  let wrote!: () => void;
  const written = new Promise<void>((resolve) => wrote = resolve);
  let letGo!: () => void;
  const held = new Promise<void>((resolve) => letGo = resolve);
  slow.setTopic = async (room, topic) => {
    await write(room, topic);
    if (topic !== "A") return;
    wrote();
    await held;
  };
  const options = { cluster: nats.url, claimTtlMs: CLAIM_TTL_MS };
  await using n1 = await startServer({ ...options, store: slow });
  await using n2 = await startServer({ ...options, store: await PgStore.open(url) });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await using ann = await member(n1.port, "ann");
    await using ben = await member(n2.port, "ben");
    assertEquals((await ann.request({ action: "join", time: now(), room: "#t" })).response, 201);
    assertEquals((await ben.request({ action: "join", time: now(), room: "#t" })).response, 200);
    await ann.send({ action: "topic", time: now(), room: "#t", topic: "A" });
    await written;
    await ben.send({ action: "topic", time: now(), room: "#t", topic: "B" });
    // ben's topic is answered, or waits for node 1's lock: then node 1 goes on.
    const deadline = Date.now() + 5000;
    while (ben.inbox.length === 0 && Date.now() < deadline) {
      const [waiting] = await sql`SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted`;
      if (waiting!.n > 0) break;
    }
    letGo();
    assertEquals((await ann.response()).response, 200);
    assertEquals((await ben.response()).response, 200);
    // Both nodes end with the same topic, and so does the store.
    let shown: string[] = [];
    do {
      shown = await Promise.all([ann, ben].map(async (c) => {
        const r = await c.request({ action: "topic", time: now(), room: "#t" });
        return r.topic as string;
      }));
    } while (shown[0] !== shown[1] && Date.now() < deadline);
    assertEquals(shown[0], shown[1]);
    const [row] = await sql`SELECT topic FROM rooms WHERE name = '#t'`;
    assertEquals(row!.topic, shown[0]);
  } finally {
    await sql.end();
  }
});

/** One node's NATS connection through a relay on loopback that can hold one way of it. */
interface NatsRelay extends AsyncDisposable {
  /** `nats://127.0.0.1:PORT`, for the node. */
  url: string;
  /** Holds what the node sends to NATS (`"out"`) or what NATS sends it (`"in"`) until released. */
  hold(way: "out" | "in"): void;
  /** Passes on what was held, in order, and holds no more. */
  release(): void;
  /** Resolves at the next PING the node sends (a flush: it waits to be caught up). */
  nextPing(): Promise<void>;
}

/** Relays the connections made to it to `natsUrl`. */
function natsRelay(natsUrl: string): NatsRelay {
  const target = new URL(natsUrl);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const held = { out: false, in: false };
  const queued: Record<"out" | "in", Uint8Array[]> = { out: [], in: [] };
  const writing: Record<"out" | "in", Promise<void>> = {
    out: Promise.resolve(),
    in: Promise.resolve(),
  };
  const writers: Record<"out" | "in", Deno.Conn | null> = { out: null, in: null };
  let pinged: (() => void) | null = null;
  const write = (way: "out" | "in", chunk: Uint8Array) => {
    const to = writers[way]!;
    writing[way] = writing[way].then(async () => {
      let off = 0;
      while (off < chunk.length) off += await to.write(chunk.subarray(off));
    }).catch(() => {});
  };
  const pump = async (from: Deno.Conn, way: "out" | "in") => {
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        const chunk = buf.slice(0, n);
        if (way === "out" && pinged && new TextDecoder().decode(chunk).includes("PING\r\n")) {
          pinged();
          pinged = null;
        }
        if (held[way]) queued[way].push(chunk);
        else write(way, chunk);
      }
    } catch {
      // closed under us
    }
  };
  (async () => {
    for await (const conn of listener) {
      const upstream = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
      conns.push(conn, upstream);
      writers.out = upstream;
      writers.in = conn;
      pump(conn, "out");
      pump(upstream, "in");
    }
  })().catch(() => {});
  return {
    url: `nats://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    hold: (way) => held[way] = true,
    release() {
      for (const way of ["out", "in"] as const) {
        held[way] = false;
        for (const chunk of queued[way].splice(0)) write(way, chunk);
      }
    },
    nextPing: () => new Promise<void>((resolve) => pinged = resolve),
    [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      return Promise.resolve();
    },
  };
}

Deno.test("cluster: a topic read on one node right after the topic was set on another sees it, though NATS is slow to bring it", async () => {
  await using c = await startCluster({ size: 1 });
  await using relay = natsRelay(c.nats.url);
  await using n2 = await startServer({
    store: await PgStore.open(c.storeUrl),
    cluster: relay.url,
    claimTtlMs: CLAIM_TTL_MS,
  });
  await using ann = await member(c.nodes[0]!.port, "ann");
  await using ben = await member(n2.port, "ben");
  assertEquals((await ann.request({ action: "join", time: now(), room: "#t" })).response, 201);
  const before = await ben.request({ action: "topic", time: now(), room: "#t" });
  assertEquals([before.response, before.topic], [200, ""], JSON.stringify(before));
  // What NATS brings node 2 waits, until node 2 asks NATS whether it is caught up.
  relay.hold("in");
  const set = await ann.request({ action: "topic", time: now(), room: "#t", topic: "lunch" });
  assertEquals(set.response, 200);
  const pinged = relay.nextPing();
  await ben.send({ action: "topic", time: now(), room: "#t" });
  const answer = ben.response(5000);
  await Promise.race([pinged, answer]);
  relay.release();
  const read = await answer;
  assertEquals([read.response, read.topic], [200, "lunch"], JSON.stringify(read));
});

Deno.test("cluster: a topic set in a guests' room is answered once NATS has it: a read on another node then sees it", async () => {
  await using c = await startCluster({ size: 1 });
  await using relay = natsRelay(c.nats.url);
  await using n2 = await startServer({
    store: await PgStore.open(c.storeUrl),
    cluster: relay.url,
    claimTtlMs: CLAIM_TTL_MS,
  });
  await using gus = await guest(n2.port, "gus");
  await using ada = await guest(c.nodes[0]!.port, "ada");
  assertEquals((await gus.request({ action: "join", time: now(), room: "#g" })).response, 201);
  const before = await ada.request({ action: "topic", time: now(), room: "#g" });
  assertEquals([before.response, before.topic], [200, ""], JSON.stringify(before));
  // What node 2 sends NATS waits, until node 2 asks NATS whether it is caught up.
  relay.hold("out");
  const pinged = relay.nextPing();
  await gus.send({ action: "topic", time: now(), room: "#g", topic: "soup" });
  const answer = gus.response(5000);
  const first = await Promise.race([pinged.then(() => "ping"), answer.then(() => "answer")]);
  if (first === "ping") relay.release();
  assertEquals((await answer).response, 200);
  // Answered: node 1 has it, or the set was answered too soon.
  const read = await ada.request({ action: "topic", time: now(), room: "#g" });
  relay.release();
  assertEquals([read.response, read.topic], [200, "soup"], JSON.stringify(read));
});

Deno.test("cluster: a guests' room emptied by a killed node is created anew by a join as soon as the node's record is gone", async () => {
  await using c = await startCluster({ size: 1 });
  const [n1] = c.nodes;
  const nc = await connect({ servers: c.nats.url.slice("nats://".length) });
  try {
    const nodes = await new Kvm(nc).open("jim_nodes");
    const keys = async () => {
      const all: string[] = [];
      for await (const key of await nodes.keys()) all.push(key);
      return all;
    };
    const before = await keys();
    await using doomed = await spawnServer({
      store: c.storeUrl,
      args: ["--cluster", c.nats.url, "--claim-ttl", String(CLAIM_TTL_MS / 1000)],
    });
    const key = (await keys()).find((k) => !before.includes(k));
    if (key === undefined) throw new Error("the child node has no liveness record");
    await using gus = await guest(doomed.port, "gus");
    assertEquals((await gus.request({ action: "join", time: now(), room: "#gone" })).response, 201);
    const set = await gus.request({ action: "topic", time: now(), room: "#gone", topic: "old" });
    assertEquals(set.response, 200);
    await using ada = await guest(n1!.port, "ada");
    const seen = await ada.request({ action: "topic", time: now(), room: "#gone" });
    assertEquals(seen.topic, "old");
    doomed.kill("SIGKILL");
    // Its liveness record expires within the TTL; the join comes right after.
    const deadline = Date.now() + 4 * CLAIM_TTL_MS;
    let entry;
    do entry = await nodes.get(key); while (entry?.operation === "PUT" && Date.now() < deadline);
    assert(entry?.operation !== "PUT", "the killed node's record did not expire");
    const joined = await ada.request({ action: "join", time: now(), room: "#gone", history: 0 });
    assertEquals([joined.response, joined.topic], [201, ""], JSON.stringify(joined));
  } finally {
    await nc.close();
  }
});

Deno.test("cluster rooms: the throwaway PostgreSQL stops", async () => {
  await stopSharedPostgres();
});

/**
 * Failover in a three-node cluster: an account that moves between nodes
 * while messages to it are in flight, and a node killed with SIGKILL while
 * messages to its users are in flight. Every message answered 200 or 202
 * must arrive exactly once and in the order sent; one answered 500 may be
 * missing but never arrives twice.
 */
import { assertEquals } from "@std/assert";
import { JsonObjectDecoder } from "../lib/protocol/codec.ts";
import { PgStore } from "../lib/store/pg_store.ts";
import { auth, now, type Obj, RawClient, register, startServer } from "./_helpers.ts";
import { CLAIM_TTL_MS, startCluster } from "./_cluster_nodes.ts";
import { spawnServer } from "./_proc.ts";

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

/** Waits for a promise, failing after `ms`. */
async function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One message as the recipient saw it: who sent it, its number, and its
 * offline-mail id if it was stored.
 */
interface Seen {
  from: string;
  n: number;
  id: number | undefined;
}

/** A delivered message as {@linkcode Seen}. */
function seenOf(m: Obj): Seen {
  return { from: String(m.from), n: Number(String(m.message).slice(1)), id: m.id };
}

/** Takes every message in the inbox so far. */
function takeMessages(client: RawClient, into: Seen[]): void {
  for (;;) {
    const i = client.inbox.findIndex((o) => o.action === "msg");
    if (i < 0) return;
    const m = client.inbox[i] as Obj;
    (client.inbox as Obj[]).splice(i, 1);
    into.push(seenOf(m));
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
  await using c = await startCluster({
    size: 3,
    // The senders' node stores mail slowly (as under load): a message
    // stored at a move is then in the mailbox well after the recipient's
    // new node has read it, and the mail notice comes late.
    prepareStore: (store, index) => {
      if (index !== 0) return;
      const enqueue = store.enqueueOffline.bind(store);
      store.enqueueOffline = async (...args) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return await enqueue(...args);
      };
    },
  });
  const [n1, n2, n3] = c.nodes;
  await register(n1!.port, "sender");
  await register(n1!.port, "piper");
  await register(n1!.port, "mover");
  await using sender = await loginWhenFree(n1!.port, "sender", 5000);
  await using piper = await loginWhenFree(n1!.port, "piper", 5000);
  const TOTAL = 400;
  /** Requests a pipelining sender keeps in flight: each answer lets it write one more. */
  const WINDOW = 8;
  const acknowledged = { sender: new Set<number>(), piper: new Set<number>() };
  const codes = new Map<number, number>();
  const progress = { sender: 0, piper: 0 };
  const notes: string[] = [];
  const answered = (from: "sender" | "piper", n: number, r: Obj) => {
    codes.set(r.response, (codes.get(r.response) ?? 0) + 1);
    if (r.response !== 200) notes.push(`${from}${n}:${r.response}`);
    if (r.response === 200 || r.response === 202) acknowledged[from].add(n);
    else if (r.response !== 500) throw new Error(`unexpected answer: ${JSON.stringify(r)}`);
  };
  const msg = (n: number) => ({ action: "msg", time: now(), to: "mover", message: `m${n}` });
  // One waits for each answer, as jim's client does; the other keeps
  // WINDOW requests in flight.
  const sending = Promise.all([
    (async () => {
      for (; progress.sender < TOTAL; progress.sender++) {
        answered("sender", progress.sender, await sender.request(msg(progress.sender)));
      }
    })(),
    (async () => {
      let next = 0;
      for (; next < WINDOW; next++) await piper.send(msg(next));
      for (; progress.piper < TOTAL; progress.piper++) {
        answered("piper", progress.piper, await piper.response(10_000));
        if (next < TOTAL) await piper.send(msg(next++));
      }
    })(),
  ]);
  // Awaited below; a failure of the main flow must not leave it unhandled.
  sending.catch(() => {});
  const streaming = () => progress.sender < TOTAL || progress.piper < TOTAL;
  const seen: Seen[] = [];
  /** Where in `seen` each login began, for the failure message. */
  const logins = new Set<number>();
  // Back and forth between nodes 2 and 3, logging out after a few live
  // messages each time, while the streams run; then once more at the end.
  const path = [n2!, n3!];
  let hops = 0;
  for (; streaming(); hops++) {
    const client = await loginWhenFree(path[hops % 2]!.port, "mover", 10_000);
    logins.add(seen.length);
    // The answer to a request after the login comes once the stored mail is out.
    await client.request({ action: "who", time: now() });
    const before = seen.length;
    takeMessages(client, seen);
    // A few live messages here (unless the streams have ended), then on.
    const want = seen.length + 5;
    const deadline = Date.now() + 15_000;
    while (seen.length < want && streaming()) {
      try {
        const m = await client.take((o) => o.action === "msg", 500);
        seen.push(seenOf(m));
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
    if (seen.length === before && !streaming()) break;
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
    seen.map(({ from, n, id }, i) =>
      (logins.has(i) ? "| " : "") + from[0] + (id === undefined ? n : `${n}#${id}`)
    ).join(" ")
  }`;
  for (const from of ["sender", "piper"] as const) {
    assertEquals(
      verdict(seen.filter((s) => s.from === from), acknowledged[from], false),
      { missing: [], twice: [], outOfOrder: [] },
      `${from}: ${answers}`,
    );
  }
  // Nothing was answered 500: a move is not a failure.
  assertEquals(codes.get(500) ?? 0, 0, answers);
  assertEquals(hops >= 4, true, answers);
});

Deno.test("cluster failover: a node killed with messages in flight: every 200/202 arrives once, in order", async () => {
  await using c = await startCluster({ size: 2 });
  const [n1, n3] = c.nodes;
  const recipients = ["r1", "r2"];
  const senders = ["s1", "s3"];
  for (const name of [...recipients, ...senders]) await register(n1!.port, name);
  const room = "#kill";
  await using n2 = await spawnServer({
    store: c.storeUrl,
    args: ["--cluster", c.nats.url, "--claim-ttl", String(CLAIM_TTL_MS / 1000)],
  });
  // Recipients on node 2, senders on nodes 1 and 3; all in the room.
  const readers = new Map<string, RawClient>();
  for (const name of recipients) {
    const client = await loginWhenFree(n2.port, name, 5000);
    readers.set(name, client);
    const joined = await client.request({ action: "join", time: now(), room });
    assertEquals([200, 201].includes(joined.response), true, JSON.stringify(joined));
  }
  const writers = new Map<string, RawClient>();
  for (const [i, name] of senders.entries()) {
    const client = await loginWhenFree([n1!, n3!][i]!.port, name, 5000);
    writers.set(name, client);
    assertEquals((await client.request({ action: "join", time: now(), room })).response, 200);
  }

  /** What each recipient saw, by stream: "s1>r1" (direct) or "s1>r1#" (room). */
  const seen = new Map<string, Seen[]>();
  const record = (recipient: string, m: Obj) => {
    const key = `${m.from}>${recipient}${String(m.to).startsWith("#") ? "#" : ""}`;
    const list = seen.get(key) ?? [];
    list.push(seenOf(m));
    seen.set(key, list);
  };
  const collect = (recipient: string, client: RawClient) => {
    for (;;) {
      const i = client.inbox.findIndex((o) => o.action === "msg");
      if (i < 0) return;
      record(recipient, (client.inbox as Obj[]).splice(i, 1)[0]!);
    }
  };
  /** Per stream: the numbers answered 200/202 (direct) or 200 (room, once its reader was back). */
  const owed = new Map<string, Set<number>>();
  const codes = new Map<number, number>();
  const owe = (key: string, n: number) => {
    const set = owed.get(key) ?? new Set();
    set.add(n);
    owed.set(key, set);
  };
  /** Settles for each recipient once a message to it was stored (202): its node is gone. */
  const firstStored = new Map(recipients.map((name) => [name, Promise.withResolvers<void>()]));
  /** Recipients logged in again elsewhere (their stored mail out): room messages reach them again. */
  const back = new Set<string>();
  const KILL_AT = 30;
  /** Rounds sent after both recipients are back. */
  const AFTER = 30;
  let killed = false;
  /** The highest round any sender has begun, and the round from which both recipients are back. */
  let round = 0;
  let backAt = -1;
  const sending = senders.map(async (name) => {
    const client = writers.get(name)!;
    const deadline = Date.now() + 30_000;
    for (let i = 0; backAt < 0 || i < backAt + AFTER; i++) {
      if (Date.now() > deadline) throw new Error(`${name}: the recipients never came back`);
      round = Math.max(round, i);
      if (i === KILL_AT && !killed) {
        killed = true;
        n2.kill("SIGKILL");
      }
      for (const to of recipients) {
        const r = await client.request({ action: "msg", time: now(), to, message: `d${i}` });
        codes.set(r.response, (codes.get(r.response) ?? 0) + 1);
        if (r.response === 202) firstStored.get(to)!.resolve();
        if (r.response === 200 || r.response === 202) owe(`${name}>${to}`, i);
        else if (r.response !== 500) throw new Error(`unexpected answer: ${JSON.stringify(r)}`);
      }
      const wasBack = new Set(back);
      const r = await client.request({ action: "msg", time: now(), to: room, message: `r${i}` });
      assertEquals(r.response, 200, JSON.stringify(r));
      for (const to of wasBack) owe(`${name}>${to}#`, i);
    }
  });
  // Awaited below; a failure meanwhile must not go unhandled.
  for (const p of sending) p.catch(() => {});

  // Node 2 dies: its readers see their connections drop, then log in on the others.
  await Promise.all(recipients.map(async (name, i) => {
    const old = readers.get(name)!;
    await old.waitClosed(30_000);
    collect(name, old);
    old.close();
    // Back once messages to it are being stored, so that the test sees
    // messages sent while the node was gone delivered at the next login too.
    await deadline(firstStored.get(name)!.promise, 15_000, `no message to ${name} was stored`);
    const client = await loginWhenFree([n1!, n3!][i]!.port, name, 10_000);
    readers.set(name, client);
    // Its answer comes once the stored mail is out.
    await client.request({ action: "who", time: now() });
    collect(name, client);
    back.add(name);
  }));
  backAt = round + 1;
  await Promise.all(sending);
  // Room messages reach other nodes after their senders' 200: wait (with a
  // deadline) until every message owed has come, or the verdict shows what did not.
  await Promise.all([...readers].map(async ([name, client]) => {
    await client.request({ action: "who", time: now() });
    collect(name, client);
    const end = Date.now() + 10_000;
    const owedHere = () =>
      [...owed].filter(([key]) => key.split(">")[1]!.replace("#", "") === name)
        .every(([key, ns]) => [...ns].every((n) => seen.get(key)?.some((s) => s.n === n)));
    while (!owedHere() && Date.now() < end) {
      try {
        record(name, await client.take((o) => o.action === "msg", end - Date.now()));
      } catch {
        break; // the deadline: the verdict names what is missing
      }
    }
    client.close();
    await client.reading;
  }));
  for (const client of writers.values()) {
    client.close();
    await client.reading;
  }
  await n2.exited;

  const answers = `answers: ${JSON.stringify([...codes])}`;
  const report: Record<string, unknown> = {};
  for (const sender of senders) {
    for (const recipient of recipients) {
      for (const suffix of ["", "#"]) {
        const key = `${sender}>${recipient}${suffix}`;
        const v = verdict(seen.get(key) ?? [], owed.get(key) ?? new Set(), true);
        if (v.missing.length + v.twice.length + v.outOfOrder.length > 0) report[key] = v;
      }
    }
  }
  assertEquals(report, {}, answers);
  // The kill came mid-stream: some messages were stored while nobody held the names.
  assertEquals((codes.get(202) ?? 0) > 0, true, answers);
});

Deno.test("cluster failover: a reader on another node that does not read costs its sender no 500", async () => {
  await using c = await startCluster({ size: 2 });
  const [n1, n2] = c.nodes;
  await register(n1!.port, "slow");
  await register(n1!.port, "al");
  await using al = await loginWhenFree(n1!.port, "al", 5000);
  // slow logs in on node 2 and never reads: the kernel's buffers fill, then
  // messages wait unwritten in node 2's queue.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: n2!.port });
  try {
    await conn.write(
      new TextEncoder().encode(JSON.stringify(auth("slow", "correct horse")) + "\n"),
    );
    const { codes, answers, send } = paddedSender(al, "slow");
    const deadline = Date.now() + 60_000;
    // Online on node 2 once a message to it is answered 200 (not stored).
    for (;;) {
      if (Date.now() > deadline) throw new Error(`never online: ${answers()}`);
      await send(1);
      if (codes.has(200)) break;
    }
    // Pipelined until the kernel's buffers are full: answers slow down, as
    // messages wait in node 2's queue.
    for (;;) {
      if (Date.now() > deadline) throw new Error(`never stalled: ${answers()}`);
      const began = Date.now();
      await send(64);
      if (Date.now() - began > 400) break;
    }
    // Then one at a time, as jim's client sends: each waits in the queue.
    for (let i = 0; i < 3; i++) await send(1);
    // Queued and not written, as on one server: 200, never a 500 for slowness.
    assertEquals(codes.get(500) ?? 0, 0, answers());
    assertEquals(codes.get(200)! > 64, true, answers());
  } finally {
    conn.close();
  }
});

Deno.test("cluster failover: a direct message whose recipient moves while its history id is taken is kept once", async () => {
  await using c = await startCluster({ size: 1 });
  const [n2] = c.nodes;
  // Node 1's history ids wait, while `gate` is set, for the test to let them go.
  const store = await PgStore.open(c.storeUrl);
  const nextIds = store.nextHistoryIds!.bind(store);
  let gate: PromiseWithResolvers<void> | null = null;
  let asked = Promise.withResolvers<void>();
  store.nextHistoryIds = async (count) => {
    if (gate) {
      asked.resolve();
      await gate.promise;
    }
    return await nextIds(count);
  };
  const n1 = await startServer({ store, cluster: c.nats.url, claimTtlMs: CLAIM_TTL_MS });
  c.nodes.push(n1);
  await register(n1.port, "al");
  await register(n1.port, "bo");
  await using al = await loginWhenFree(n1.port, "al", 5000);
  /** al sends to bo on node 1; bo leaves node 1 while its id is taken, for `elsewhere`. */
  const sendWhileLeaving = async (text: string, elsewhere: () => Promise<void>) => {
    const bo = await loginWhenFree(n1.port, "bo", 10_000);
    gate = Promise.withResolvers();
    asked = Promise.withResolvers();
    await al.send({ action: "msg", time: now(), to: "bo", message: text });
    await deadline(asked.promise, 5000, "node 1 asked for no history id");
    await bo.send({ action: "quit", time: now() });
    await bo.waitClosed(5000);
    await bo[Symbol.asyncDispose]();
    await elsewhere();
    const open = gate;
    gate = null;
    open.resolve();
    return (await al.response(5000)).response;
  };
  // Offline by then: stored for bo (202).
  assertEquals(await sendWhileLeaving("m1", async () => {}), 202);
  // Logged in on node 2 by then: delivered there (200).
  let moved: RawClient | null = null;
  try {
    const answer = await sendWhileLeaving("m2", async () => {
      moved = await loginWhenFree(n2!.port, "bo", 10_000);
      const m = await moved.message(5000);
      assertEquals(m.message, "m1");
    });
    assertEquals(answer, 200);
    assertEquals((await moved!.message(5000)).message, "m2");
  } finally {
    await (moved as RawClient | null)?.[Symbol.asyncDispose]();
  }
  // Each is in their conversation's history once.
  const page = await al.request({ action: "history", time: now(), target: "bo" });
  assertEquals(page.messages.map((m: Obj) => m.message), ["m1", "m2"]);
});

/**
 * Sends `to` direct messages `m<n> <pad>` (numbered from 0, padded to fill
 * buffers quickly), `count` written at once, then reads their answers:
 * counted by code, and each given to `onAnswer` with its number.
 */
function paddedSender(
  client: RawClient,
  to: string,
  onAnswer: (n: number, answer: Obj) => void = () => {},
) {
  const pad = "é".repeat(480);
  const codes = new Map<number, number>();
  let sent = 0;
  return {
    codes,
    answers: () => `answers: ${JSON.stringify([...codes])}`,
    send: async (count: number) => {
      const lines = [];
      const first = sent;
      for (let i = 0; i < count; i++) {
        lines.push(
          JSON.stringify({ action: "msg", time: now(), to, message: `m${sent++} ${pad}` }),
        );
      }
      await client.writeRaw(lines.join("\n") + "\n");
      for (let i = 0; i < count; i++) {
        const r = await client.response(10_000);
        codes.set(r.response, (codes.get(r.response) ?? 0) + 1);
        onAnswer(first + i, r);
      }
    },
  };
}

/** A message `m<n> <pad>` as the recipient saw it. */
function padded(m: Obj): Seen {
  const id = typeof m.id === "number" ? m.id : undefined;
  return { from: String(m.from), n: Number(String(m.message).split(" ")[0]!.slice(1)), id };
}

Deno.test("cluster failover: a 200 held for a slow reader survives its node's kill -9, once", async () => {
  await using c = await startCluster({ size: 2 });
  const [n1, n3] = c.nodes;
  await register(n1!.port, "slow");
  await register(n1!.port, "al");
  await using al = await loginWhenFree(n1!.port, "al", 5000);
  // Node 2 writes to a bare client (no newline after its objects) one
  // object per 50 ms: slow takes 20 messages a second, and those sent
  // faster wait in node 2's queue past the 500 ms hold.
  await using n2 = await spawnServer({
    store: c.storeUrl,
    args: [
      "--cluster",
      c.nats.url,
      "--claim-ttl",
      String(CLAIM_TTL_MS / 1000),
      "--bare-write-gap",
      "50",
    ],
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: n2.port });
  await conn.write(new TextEncoder().encode(JSON.stringify(auth("slow", "correct horse"))));
  const acknowledged = new Set<number>();
  /** The messages answered 200. */
  const answered200 = new Set<number>();
  const { codes, answers, send } = paddedSender(al, "slow", (n, r) => {
    if (r.response === 200) answered200.add(n);
    // 202 before slow is online; 500: its node did not answer in time
    // (it may arrive, at most once).
    if (r.response === 200 || r.response === 202) acknowledged.add(n);
    else if (r.response !== 500) throw new Error(`unexpected answer: ${JSON.stringify(r)}`);
  });
  const deadline = Date.now() + 60_000;
  // Online on node 2 once a message to it is answered 200 (not stored).
  while (!codes.has(200)) {
    if (Date.now() > deadline) throw new Error(`never online: ${answers()}`);
    await send(1);
  }
  // Faster than slow takes them; killed right after the last answer, with
  // dozens answered 200 still in node 2's queue.
  for (let i = 0; i < 2; i++) await send(32);
  assertEquals(codes.get(500) ?? 0, 0, answers());
  n2.kill("SIGKILL");
  await n2.exited;

  // What reached slow's socket before the kill, then its mailbox at a login
  // elsewhere (once the dead node's claim has expired).
  const seen: Seen[] = [];
  const decoder = new JsonObjectDecoder({ maxObjectBytes: 1 << 20 });
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    for (const e of decoder.push(buf.subarray(0, n))) {
      if (e.kind === "object" && e.value.action === "msg") {
        seen.push(padded(e.value));
      }
    }
  }
  conn.close();
  const live = seen.length;
  await using again = await loginWhenFree(n3!.port, "slow", 15_000);
  // Its answer comes once the stored mail is out.
  await again.request({ action: "who", time: now() });
  for (const m of again.inbox) if (m.action === "msg") seen.push(padded(m));
  const report = `${answers()}, live: ${live}, from the mailbox: ${seen.length - live}`;
  // Answered 200 and never written before the kill: they were held.
  const liveSet = new Set(seen.slice(0, live).map((m) => m.n));
  const held = seen.slice(live).filter((m) => answered200.has(m.n) && !liveSet.has(m.n));
  // As a client does, a repeated id is dropped: a message written before
  // the kill may come again from the mailbox with the id it was written with.
  assertEquals(
    verdict(seen, acknowledged, true),
    { missing: [], twice: [], outOfOrder: [] },
    report,
  );
  assertEquals(held.length > 0, true, `no 200 was held: ${report}`);
});

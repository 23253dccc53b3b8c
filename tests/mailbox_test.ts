/**
 * Offline mailboxes under attack: a message answered 200 is never lost when
 * its slow reader is dropped, one sender cannot fill anyone's mailbox, and a
 * guest (whose name anyone may take later) cannot leave offline mail.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { JsonObjectDecoder } from "../lib/protocol/codec.ts";
import { auth, guest, login, member, now, type Obj, register, startServer } from "./_helpers.ts";

const encoder = new TextEncoder();

function msg(to: string, message: string): Obj {
  return { action: "msg", time: now(), to, message };
}

/** Reads a raw connection to its end (or reset); the messages on it. Closes it. */
async function messagesToEnd(conn: Deno.TcpConn): Promise<Obj[]> {
  const out: Obj[] = [];
  const decoder = new JsonObjectDecoder({ maxObjectBytes: 1 << 20 });
  const buf = new Uint8Array(65536);
  while (true) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    for (const e of decoder.push(buf.subarray(0, n))) {
      if (e.kind === "object" && e.value.action === "msg") out.push(e.value);
    }
  }
  conn.close();
  return out;
}

Deno.test("a message answered 200 reaches a dropped slow reader's next login, past a full mailbox", async () => {
  const log: string[] = [];
  await using server = await startServer({
    offlineLimit: 3,
    maxQueueObjects: 256,
    // Filling the kernel's buffers across nodes (clustered) may outlast a
    // probe's 40 s: slow is to be dropped for its full queue, not silence.
    probeIntervalMs: 120_000,
    log: (line) => log.push(line),
  });
  await register(server.port, "slow");
  await register(server.port, "al");
  await using al = await login(server.port, "al");
  // slow logs in and never reads: the kernel's buffers fill, then the
  // server's queue, and the server drops it with dozens of messages unsent.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await conn.write(encoder.encode(JSON.stringify(auth("slow", "correct horse")) + "\n"));
  const online = Date.now() + 5000;
  while ((await al.request({ action: "who", time: now(), target: "slow" })).users.length === 0) {
    assert(Date.now() < online, "slow never showed online");
    await new Promise((r) => setTimeout(r, 10));
  }
  const pad = "x".repeat(480);
  const accepted: string[] = [];
  const deadline = Date.now() + 90_000;
  let sent = 0;
  let dropped = false;
  while (!dropped) {
    assert(Date.now() < deadline, "the slow reader was never dropped");
    const lines = [];
    for (let i = 0; i < 500; i++) lines.push(JSON.stringify(msg("slow", `m${sent + i} ${pad}`)));
    await al.writeRaw(lines.join("\n") + "\n");
    for (let i = 0; i < 500; i++) {
      const r = await al.response(10_000).catch((e) => {
        throw new Error(`${e}\n${log.join("\n")}`);
      });
      // 200: delivered to the connection; 202: stored (it was dropped by then);
      // 410: refused, its mailbox full: the sender knows it was not taken.
      assert([200, 202, 410].includes(r.response), JSON.stringify(r));
      if (r.response === 200 || r.response === 202) accepted.push(`m${sent + i}`);
      else dropped = true;
    }
    sent += 500;
  }
  assert(log.some((l) => l.includes("too slow to read")), log.join("\n"));
  const got = (await messagesToEnd(conn)).map((m) => String(m.message).split(" ")[0]!);
  await using again = await login(server.port, "slow");
  const have = new Set(got);
  const deadline2 = Date.now() + 10_000;
  while (accepted.some((m) => !have.has(m))) {
    assert(Date.now() < deadline2, `missing: ${accepted.filter((m) => !have.has(m)).length}`);
    have.add(String((await again.message(10_000)).message).split(" ")[0]!);
  }
  assert(!log.some((l) => l.includes("cannot keep unsent")), log.join("\n"));
});

Deno.test("one sender fills at most its share of a mailbox; others still get through", async () => {
  await using server = await startServer({ offlineLimit: 20 });
  for (const name of ["bob", "mallory", "carol", "dave"]) await register(server.port, name);
  await using m = await login(server.port, "mallory");
  const answers = [];
  for (let i = 0; i < 20; i++) answers.push((await m.request(msg("bob", `junk ${i}`))).response);
  // The default share is a quarter of --offline-limit.
  assertEquals(answers, [...Array(5).fill(202), ...Array(15).fill(410)]);
  const over = await m.request(msg("bob", "more"));
  assertEquals(
    over.error,
    "Cannot send to bob: you already have 5 messages waiting in their offline mailbox, the most one sender may leave",
  );
  await using c = await login(server.port, "carol");
  assertEquals((await c.request(msg("bob", "hello from carol"))).response, 202);
  await using bob = await login(server.port, "bob");
  const texts = [];
  for (let i = 0; i < 6; i++) texts.push((await bob.message()).message);
  assertEquals(texts.at(-1), "hello from carol");
  // Once delivered (and acknowledged by a later request), the mail no
  // longer counts against mallory's share.
  assertEquals((await bob.request({ action: "who", time: now() })).response, 200);
  bob.close();
  while ((await m.request({ action: "who", time: now(), target: "bob" })).users.length > 0) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const deadline = Date.now() + 5000;
  let again = await m.request(msg("bob", "after delivery"));
  while (again.response !== 202 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    again = await m.request(msg("bob", "after delivery"));
  }
  assertEquals(again.response, 202);
});

Deno.test("--offline-share: 100 lets one sender fill the mailbox, and the total still holds", async () => {
  await using server = await startServer({ offlineLimit: 4, offlineShare: 100 });
  await register(server.port, "bob");
  await register(server.port, "mallory");
  await using m = await login(server.port, "mallory");
  const answers = [];
  for (let i = 0; i < 5; i++) answers.push((await m.request(msg("bob", `${i}`))).response);
  assertEquals(answers, [202, 202, 202, 202, 410]);
});

Deno.test("a guest cannot leave offline mail: its name may belong to someone else by then", async () => {
  await using server = await startServer();
  await register(server.port, "alice");
  await using g = await guest(server.port, "bob");
  const r = await g.request(msg("alice", "call me back"));
  assertEquals(r.response, 410);
  assertEquals(
    r.error,
    "Cannot send to alice: they are offline, and guests cannot leave offline messages; log in to an account to do so",
  );
  // Online, a guest's message is delivered as before.
  await using a = await login(server.port, "alice");
  assertEquals((await a.request({ action: "who", time: now(), target: "bob" })).response, 200);
  assertEquals((await g.request(msg("alice", "now you are here"))).response, 200);
  assertEquals((await a.message()).message, "now you are here");
  // Nothing was stored for the later login.
  a.close();
  await using again = await login(server.port, "alice");
  assertEquals((await again.request({ action: "who", time: now() })).response, 200);
  assertEquals(again.inbox.filter((o) => o.action === "msg"), []);
});

Deno.test("a guest's messages kept for a dropped reader are marked as from a guest", async () => {
  const log: string[] = [];
  await using server = await startServer({
    maxQueueObjects: 256,
    probeIntervalMs: 120_000, // as above
    log: (line) => log.push(line),
  });
  await register(server.port, "slow");
  await using g = await guest(server.port, "visitor");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await conn.write(encoder.encode(JSON.stringify(auth("slow", "correct horse")) + "\n"));
  const online = Date.now() + 5000;
  while ((await g.request({ action: "who", time: now(), target: "slow" })).users.length === 0) {
    assert(Date.now() < online, "slow never showed online");
    await new Promise((r) => setTimeout(r, 10));
  }
  const pad = "x".repeat(480);
  const accepted: string[] = [];
  const deadline = Date.now() + 90_000;
  let sent = 0;
  let refused = false;
  while (!refused) {
    assert(Date.now() < deadline, "the slow reader was never dropped");
    const lines = [];
    for (let i = 0; i < 500; i++) lines.push(JSON.stringify(msg("slow", `m${sent + i} ${pad}`)));
    await g.writeRaw(lines.join("\n") + "\n");
    for (let i = 0; i < 500; i++) {
      const r = await g.response(10_000);
      // Once slow is offline, the guest's messages are refused, never stored.
      if (r.response === 200) accepted.push(`m${sent + i}`);
      else {
        assertEquals(r.response, 410, JSON.stringify(r));
        refused = true;
      }
    }
    sent += 500;
  }
  const got = new Set((await messagesToEnd(conn)).map((m) => String(m.message).split(" ")[0]!));
  await using again = await login(server.port, "slow");
  const stored: Obj[] = [];
  while (accepted.some((m) => !got.has(m))) {
    const m = await again.message(10_000);
    got.add(String(m.message).split(" ")[0]!);
    stored.push(m);
  }
  assert(stored.length > 0, "the test needs messages kept in the store");
  for (const m of stored) assertEquals([m.from, m.guest], ["visitor", true]);
});

Deno.test("offline mail reaches a reader under a small --max-queue-objects, in batches that fit", async () => {
  await using server = await startServer({ maxQueueObjects: 16 });
  await register(server.port, "bob");
  await using al = await member(server.port, "al");
  for (let i = 0; i < 50; i++) assertEquals((await al.request(msg("bob", `m${i}`))).response, 202);
  // A whole batch of 100 at once would overflow bob's queue of 16 and drop
  // him at every login, his mail never delivered.
  await using bob = await login(server.port, "bob");
  const got = [];
  for (let i = 0; i < 50; i++) got.push((await bob.message()).message);
  assertEquals(got, Array.from({ length: 50 }, (_, i) => `m${i}`));
});

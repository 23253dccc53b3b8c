/**
 * Three jim nodes on one nats-server and one PostgreSQL, all on loopback,
 * behaving as one server: direct and room messages between nodes, names
 * unique across them, offline mail written through one node and read through
 * another, and a killed node's names free again within the claim TTL.
 * Each test gets its own nats-server and database; the PostgreSQL cluster is
 * shared by the file (stopped by the last test, or on unload).
 */
import { assertEquals } from "@std/assert";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { claimKey } from "../lib/server/cluster.ts";
import {
  CLAIM_TTL_MS,
  sharedPostgres,
  startCluster,
  stopSharedPostgres,
  type TestCluster,
} from "./_cluster_nodes.ts";
import { auth, guest, login, now, RawClient, register } from "./_helpers.ts";
import { spawnServer } from "./_proc.ts";

/** Three nodes (or `size`) on their own nats-server and database. */
function cluster(size = 3): Promise<TestCluster> {
  return startCluster({ size });
}

Deno.test("cluster: guests on different nodes chat directly", async () => {
  await using c = await cluster();
  const [n1, n2] = c.nodes;
  await using ann = await guest(n1!.port, "ann");
  await using ben = await guest(n2!.port, "ben");
  const r = await ann.request({ action: "msg", time: now(), to: "ben", message: "over there" });
  assertEquals(r.response, 200);
  const m = await ben.message();
  assertEquals([m.from, m.to, m.message], ["ann", "ben", "over there"]);
  const back = await ben.request({ action: "msg", time: now(), to: "ann", message: "hi" });
  assertEquals(back.response, 200);
  assertEquals((await ann.message()).message, "hi");
});

Deno.test("cluster: a guest name and an account are unique across nodes (409)", async () => {
  await using c = await cluster();
  const [n1, n2, n3] = c.nodes;
  await using _ann = await guest(n1!.port, "ann");
  await using other = await RawClient.connect(n2!.port);
  const taken = await other.request({
    action: "presence",
    time: now(),
    user: { account_name: "ann" },
  });
  assertEquals([taken.response, taken.error], [409, "Cannot use the name ann: it is in use"]);
  await register(n1!.port, "acct");
  await using first = await login(n3!.port, "acct");
  await using second = await RawClient.connect(n2!.port);
  const again = await second.request(auth("acct", "correct horse"));
  assertEquals([again.response, again.error], [
    409,
    "Cannot authenticate: acct is already connected",
  ]);
  // Once the first leaves, its name is free on every node.
  first.close();
  await first.waitClosed();
  const deadline = Date.now() + 5000;
  let answer;
  do {
    answer = await second.request(auth("acct", "correct horse"));
  } while (answer.response === 409 && Date.now() < deadline);
  assertEquals(answer.response, 200);
});

Deno.test("cluster: offline mail written through one node is delivered through another", async () => {
  await using c = await cluster();
  const [n1, n2, n3] = c.nodes;
  await register(n1!.port, "sender");
  await register(n1!.port, "reader");
  await using sender = await login(n2!.port, "sender");
  for (let i = 0; i < 5; i++) {
    const r = await sender.request({ action: "msg", time: now(), to: "reader", message: `m${i}` });
    assertEquals(r.response, 202);
  }
  await using reader = await login(n3!.port, "reader");
  const got = [];
  for (let i = 0; i < 5; i++) got.push((await reader.message()).message);
  assertEquals(got, ["m0", "m1", "m2", "m3", "m4"]);
  // Now online on node 3: a message from node 2 is delivered at once (200).
  const live = await sender.request({ action: "msg", time: now(), to: "reader", message: "live" });
  assertEquals(live.response, 200);
  assertEquals((await reader.message()).message, "live");
});

Deno.test("cluster: a room message reaches members on every node once", async () => {
  await using c = await cluster();
  const clients = await Promise.all(c.nodes.map((n, i) => guest(n.port, `r${i}`)));
  try {
    for (const client of clients) {
      const r = await client.request({ action: "join", time: now(), room: "#all" });
      assertEquals([200, 201].includes(r.response), true);
    }
    const sent = await clients[0]!.request({
      action: "msg",
      time: now(),
      to: "#all",
      message: "to all",
    });
    assertEquals(sent.response, 200);
    for (const client of clients.slice(1)) {
      const m = await client.message();
      assertEquals([m.from, m.to, m.message], ["r0", "#all", "to all"]);
    }
    // One more round: nothing was delivered twice.
    await clients[1]!.request({ action: "msg", time: now(), to: "#all", message: "second" });
    assertEquals((await clients[2]!.message()).message, "second");
    assertEquals((await clients[0]!.message()).message, "second");
  } finally {
    for (const client of clients) client.close();
  }
});

Deno.test("cluster: a node killed with SIGKILL frees its names within the claim TTL (taken over on their revision)", async () => {
  await using c = await cluster(1);
  await register(c.nodes[0]!.port, "mover");
  await using doomed = await spawnServer({
    store: c.storeUrl,
    args: ["--cluster", c.nats.url, "--claim-ttl", String(CLAIM_TTL_MS / 1000)],
  });
  await using _held = await login(doomed.port, "mover");
  await using _gus = await guest(doomed.port, "gus");
  await using elsewhere = await RawClient.connect(c.nodes[0]!.port);
  const refused = await elsewhere.request(auth("mover", "correct horse"));
  assertEquals(refused.response, 409);
  await using other = await RawClient.connect(c.nodes[0]!.port);
  assertEquals(
    (await other.request({ action: "presence", time: now(), user: { account_name: "gus" } }))
      .response,
    409,
  );
  const nc = await connect({ servers: c.nats.url.slice("nats://".length) });
  try {
    const kv = await new Kvm(nc).open("jim_names");
    const nodeOf = async (name: string) =>
      JSON.parse((await kv.get(claimKey(name)))?.string() ?? "{}").node;
    const dead = await nodeOf("mover");
    assertEquals(await nodeOf("gus"), dead);
    doomed.kill("SIGKILL");
    await doomed.exited;
    const killedAt = Date.now();
    // The dead node's claims are still there: the next claimer takes each over.
    let answer;
    do {
      answer = await elsewhere.request(auth("mover", "correct horse"));
    } while (answer.response === 409 && Date.now() - killedAt < 10_000);
    assertEquals(answer.response, 200);
    const waited = Date.now() - killedAt;
    assertEquals(waited <= CLAIM_TTL_MS + 2000, true, `free after ${waited} ms`);
    const presence = await other.request({
      action: "presence",
      time: now(),
      user: { account_name: "gus" },
    });
    assertEquals(presence.response, 200);
    for (const name of ["mover", "gus"]) {
      const node = await nodeOf(name);
      assertEquals([name, typeof node, node === dead], [name, "string", false]);
    }
  } finally {
    await nc.close();
  }
});

Deno.test("cluster: a node stalled for a couple of seconds (SIGSTOP) loses no name", async () => {
  // Two child nodes at the default --claim-ttl (6 s): the first makes the buckets.
  await using c = await startCluster({ size: 0 });
  await using stalled = await spawnServer({ store: c.storeUrl, args: ["--cluster", c.nats.url] });
  await using awake = await spawnServer({ store: c.storeUrl, args: ["--cluster", c.nats.url] });
  await register(awake.port, "sleeper");
  await register(awake.port, "waker");
  await using sleeper = await login(stalled.port, "sleeper");
  await using _gus = await guest(stalled.port, "gus");
  await using waker = await login(awake.port, "waker");
  await using elsewhere = await RawClient.connect(awake.port);
  const nc = await connect({ servers: c.nats.url.slice("nats://".length) });
  try {
    const kv = await new Kvm(nc).open("jim_names");
    const revisions = async () =>
      await Promise.all(["sleeper", "gus"].map(async (n) => (await kv.get(claimKey(n)))?.revision));
    const before = await revisions();
    stalled.kill("SIGSTOP");
    const stoppedAt = Date.now();
    try {
      // Meanwhile the names stay taken (each try waits for the stalled node's answer).
      while (Date.now() - stoppedAt < 2500) {
        assertEquals((await elsewhere.request(auth("sleeper", "correct horse"))).response, 409);
      }
    } finally {
      stalled.kill("SIGCONT");
    }
    assertEquals(await revisions(), before);
    // Its sessions go on as before, and their names are still theirs.
    const sent = await waker.request({ action: "msg", time: now(), to: "sleeper", message: "up?" });
    assertEquals(sent.response, 200);
    assertEquals((await sleeper.message()).message, "up?");
    assertEquals((await elsewhere.request(auth("sleeper", "correct horse"))).response, 409);
    const presence = await elsewhere.request({
      action: "presence",
      time: now(),
      user: { account_name: "gus" },
    });
    assertEquals(presence.response, 409);
    assertEquals(stalled.log().includes("lost the claim"), false, stalled.log());
  } finally {
    await nc.close();
  }
});

Deno.test("cluster: a login right after the same account's connection closed, on another node, waits for the old node to let go (no 409)", async () => {
  await using c = await cluster(2);
  const [n1, n2] = c.nodes;
  await register(n1!.port, "hopper");
  await register(n1!.port, "writer");
  await using writer = await login(n2!.port, "writer");
  for (let i = 0; i < 10; i++) {
    // Mail waiting, read and acknowledged: the old node writes the
    // acknowledgement before it lets the name go.
    const m = await writer.request({ action: "msg", time: now(), to: "hopper", message: `m${i}` });
    assertEquals(m.response, 202);
    const from = i % 2 === 0 ? n1! : n2!;
    const to = i % 2 === 0 ? n2! : n1!;
    const old = await login(from.port, "hopper");
    assertEquals((await old.message()).message, `m${i}`);
    assertEquals((await old.request({ action: "who", time: now() })).response, 200);
    // Closed without quit, and at once a login on the other node.
    old.close();
    await using next = await RawClient.connect(to.port);
    const answer = await next.request(auth("hopper", "correct horse"));
    assertEquals([i, answer.response], [i, 200]);
    next.close();
  }
});

Deno.test("cluster: a node whose claim another node took while its record was gone drops its session (no two holders)", async () => {
  await using c = await cluster(1);
  await using ann = await guest(c.nodes[0]!.port, "ann");
  const nc = await connect({ servers: c.nats.url.slice("nats://".length) });
  try {
    // As after NATS was away longer than the TTL: the node's liveness
    // record expired, and another node took ann's claim over.
    const nodes = await new Kvm(nc).open("jim_nodes");
    for await (const key of await nodes.keys()) await nodes.delete(key);
    const kv = await new Kvm(nc).open("jim_names");
    const taken = JSON.stringify({ node: "another-node", name: "ann", account: false });
    await kv.put(claimKey("ann"), taken);
    const notice = await ann.take((o) => o.response === 101, CLAIM_TTL_MS + 3000);
    assertEquals(notice.alert ?? notice.error ?? notice.message, "ann is connected elsewhere now");
    await ann.waitClosed(3000);
    assertEquals((await kv.get(claimKey("ann")))?.string(), taken);
  } finally {
    await nc.close();
  }
});

Deno.test("cluster: nats-server killed and restarted under load: every acknowledged message arrives once", async () => {
  await using c = await cluster(2);
  const [n1, n2] = c.nodes;
  await register(n1!.port, "writer");
  await register(n1!.port, "reader");
  await using writer = await login(n1!.port, "writer");
  let reader = await login(n2!.port, "reader");
  const acknowledged: string[] = [];
  const codes = new Map<number, number>();
  for (let i = 0; i < 60; i++) {
    if (i === 20) await c.nats.kill();
    if (i === 25) await c.nats.restart();
    const r = await writer.request({ action: "msg", time: now(), to: "reader", message: `m${i}` });
    codes.set(r.response, (codes.get(r.response) ?? 0) + 1);
    if (r.response === 200 || r.response === 202) acknowledged.push(`m${i}`);
    else assertEquals(r.response, 500, JSON.stringify(r));
  }
  // Live ones on this connection; stored ones (202) at the next login.
  const got: string[] = [];
  const take = async (client: RawClient) => {
    for (;;) {
      const i = client.inbox.findIndex((o) => o.action === "msg");
      if (i < 0) return;
      got.push(String((await client.message()).message));
    }
  };
  await reader.request({ action: "who", time: now() });
  await take(reader);
  reader.close();
  await reader.waitClosed();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      reader = await login(n2!.port, "reader");
      break;
    } catch (e) {
      // Its claim may still be held for the closed connection a moment.
      if (Date.now() > deadline) throw e;
    }
  }
  try {
    await reader.request({ action: "who", time: now() });
    await take(reader);
  } finally {
    reader.close();
  }
  const counts = new Map<string, number>();
  for (const m of got) counts.set(m, (counts.get(m) ?? 0) + 1);
  const missing = acknowledged.filter((m) => !counts.has(m));
  const twice = [...counts].filter(([, n]) => n > 1).map(([m]) => m);
  assertEquals(
    { missing, twice },
    { missing: [], twice: [] },
    `answers: ${JSON.stringify([...codes])}`,
  );
  assertEquals(acknowledged.length >= 50, true, `answers: ${JSON.stringify([...codes])}`);
});

Deno.test("cluster: PostgreSQL crashed and restarted under load: every 202 arrives once, the node recovers", async () => {
  await using c = await cluster(2);
  const [n1, n2] = c.nodes;
  const server = await sharedPostgres();
  await register(n1!.port, "poster");
  await register(n1!.port, "away");
  await using poster = await login(n1!.port, "poster");
  const stored: string[] = [];
  const codes = new Map<number, number>();
  for (let i = 0; i < 60; i++) {
    if (i === 20) await server.halt();
    if (i === 25) await server.resume();
    const r = await poster.request({ action: "msg", time: now(), to: "away", message: `p${i}` });
    codes.set(r.response, (codes.get(r.response) ?? 0) + 1);
    if (r.response === 202) stored.push(`p${i}`);
    else assertEquals(r.response, 500, JSON.stringify(r));
  }
  const answers = `answers: ${JSON.stringify([...codes])}`;
  // The outage was seen (500s), and the node took writes again afterwards.
  assertEquals((codes.get(500) ?? 0) > 0, true, answers);
  assertEquals(stored.includes("p59"), true, answers);
  await using away = await login(n2!.port, "away");
  await away.request({ action: "who", time: now() });
  const got: string[] = [];
  while (away.inbox.some((o) => o.action === "msg")) {
    got.push(String((await away.message()).message));
  }
  const counts = new Map<string, number>();
  for (const m of got) counts.set(m, (counts.get(m) ?? 0) + 1);
  const missing = stored.filter((m) => !counts.has(m));
  const twice = [...counts].filter(([, n]) => n > 1).map(([m]) => m);
  assertEquals({ missing, twice }, { missing: [], twice: [] }, answers);
});

/** Asks `who #room` until it lists `want` (membership changes reach other nodes asynchronously). */
async function whoUntil(client: RawClient, room: string, want: string[]): Promise<string[]> {
  const deadline = Date.now() + 5000;
  let users: string[] = [];
  do {
    const r = await client.request({ action: "who", time: now(), target: room });
    users = r.response === 200 ? [...(r.users as string[])].sort() : [];
    if (JSON.stringify(users) === JSON.stringify([...want].sort())) break;
  } while (Date.now() < deadline);
  return users;
}

Deno.test("cluster: a room is created once anywhere, and who #room lists members on every node", async () => {
  await using c = await cluster();
  const [n1, n2, n3] = c.nodes;
  await using ann = await guest(n1!.port, "ann");
  await using ben = await guest(n2!.port, "ben");
  await using cat = await guest(n3!.port, "cat");
  const first = await ann.request({ action: "join", time: now(), room: "#x" });
  assertEquals([first.response, first.alert], [201, "room #x created"]);
  const second = await ben.request({ action: "join", time: now(), room: "#x" });
  assertEquals([second.response, second.alert], [200, "joined #x"]);
  const third = await cat.request({ action: "join", time: now(), room: "#x" });
  assertEquals(third.response, 200);
  for (const client of [ann, ben, cat]) {
    assertEquals(await whoUntil(client, "#x", ["ann", "ben", "cat"]), ["ann", "ben", "cat"]);
  }
  // A guest who leaves the cluster leaves the room on every node.
  ben.close();
  await ben.waitClosed();
  assertEquals(await whoUntil(cat, "#x", ["ann", "cat"]), ["ann", "cat"]);
  // A guests' room is gone with its last member everywhere: the next join creates it again.
  for (const client of [ann, cat]) {
    assertEquals(
      (await client.request({ action: "leave", time: now(), room: "#x" })).response,
      200,
    );
  }
  await using dan = await guest(n2!.port, "dan");
  const deadline = Date.now() + 5000;
  let again;
  do {
    again = await dan.request({ action: "join", time: now(), room: "#x" });
    if (again.response === 201) break;
    await dan.request({ action: "leave", time: now(), room: "#x" });
  } while (Date.now() < deadline);
  assertEquals(again.response, 201);
});

Deno.test("cluster: an account's room membership made on one node reaches the others at once", async () => {
  await using c = await cluster();
  const [n1, n2, n3] = c.nodes;
  await register(n1!.port, "acct");
  {
    await using first = await login(n1!.port, "acct");
    const joined = await first.request({ action: "join", time: now(), room: "#kept" });
    assertEquals(joined.response, 201);
  }
  // Logged in on another node, which did not restart: it is a member there too.
  await using acct = await login(n2!.port, "acct");
  await using eve = await guest(n3!.port, "eve");
  const joined = await eve.request({ action: "join", time: now(), room: "#kept" });
  assertEquals(joined.response, 200);
  assertEquals(await whoUntil(eve, "#kept", ["acct", "eve"]), ["acct", "eve"]);
  const sent = await eve.request({
    action: "msg",
    time: now(),
    to: "#kept",
    message: "still here",
  });
  assertEquals(sent.response, 200);
  const m = await acct.message();
  assertEquals([m.from, m.to, m.message], ["eve", "#kept", "still here"]);
});

Deno.test("cluster: names that look alike are refused across nodes, for guests and registration", async () => {
  await using c = await cluster();
  const [n1, n2, n3] = c.nodes;
  await using ann = await guest(n1!.port, "ann");
  const lookalike = "\u0430nn"; // Cyrillic a
  await using other = await RawClient.connect(n2!.port);
  const like = await other.request({
    action: "presence",
    time: now(),
    user: { account_name: lookalike },
  });
  assertEquals([like.response, like.error], [
    409,
    `Cannot use the name ${lookalike}: it looks like ann, which is in use`,
  ]);
  await using registrar = await RawClient.connect(n3!.port);
  const same = await registrar.request({
    action: "register",
    time: now(),
    user: { account_name: "ann", password: "correct horse" },
  });
  assertEquals([same.response, same.error], [409, "Cannot register ann: the name is in use"]);
  const similar = await registrar.request({
    action: "register",
    time: now(),
    user: { account_name: lookalike, password: "correct horse" },
  });
  assertEquals([similar.response, similar.error], [
    409,
    `Cannot register ${lookalike}: it looks like ann, which is in use`,
  ]);
  // Once ann leaves, the look-alike is free on the other node.
  ann.close();
  await ann.waitClosed();
  const deadline = Date.now() + 5000;
  let answer;
  do {
    answer = await other.request({
      action: "presence",
      time: now(),
      user: { account_name: lookalike },
    });
  } while (answer.response === 409 && Date.now() < deadline);
  assertEquals(answer.response, 200);
});

Deno.test("cluster: the throwaway PostgreSQL stops", async () => {
  await stopSharedPostgres();
});

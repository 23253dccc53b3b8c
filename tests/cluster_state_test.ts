/**
 * Cluster-wide state on three nodes sharing one nats-server and one
 * PostgreSQL: room topics, members of rooms on a node that starts later,
 * the cleanup after a node killed with SIGKILL, and credentials in
 * `--cluster`'s URL.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { Kvm } from "@nats-io/kv";
import postgres from "postgres";
import { connect, createInbox } from "@nats-io/transport-node";
import { Cluster, type ClusterHandlers, type RoomSnapshot } from "../lib/server/cluster.ts";
import { CLAIM_TTL_MS, quietHandlers, startCluster, stopSharedPostgres } from "./_cluster_nodes.ts";
import { auth, guest, login, now, type Obj, RawClient, register, startServer } from "./_helpers.ts";
import { PgStore } from "../lib/store/pg_store.ts";
import type { Store } from "../lib/store/store.ts";
import { HookedStore } from "./_hooked_store.ts";
import { startNats } from "./_nats.ts";
import { spawnServer } from "./_proc.ts";

/** Asks `request` until `done` holds of the answer, within `timeoutMs`; the last answer. */
async function askUntil(
  client: RawClient,
  request: Obj,
  done: (answer: Obj) => boolean,
  timeoutMs = 5000,
): Promise<Obj> {
  const deadline = Date.now() + timeoutMs;
  let answer;
  do {
    answer = await client.request({ ...request, time: now() });
  } while (!done(answer) && Date.now() < deadline);
  return answer;
}

/** The topic of `room` as `client`'s node has it. */
async function topicOf(client: RawClient, room: string): Promise<unknown> {
  return (await client.request({ action: "topic", time: now(), room })).topic;
}

Deno.test("cluster: --cluster credentials are used, and logged redacted", async () => {
  await using c = await startCluster({
    size: 0,
    nats: { args: ["--user", "jim", "--pass", "s3cret"] },
  });
  const url = `nats://jim:s3cret@127.0.0.1:${c.nats.port}`;
  await using node = await spawnServer({ store: c.storeUrl, args: ["--cluster", url] });
  assertStringIncludes(node.log(), `cluster nats://jim:***@127.0.0.1:${c.nats.port})`);
  assertEquals(node.log().includes("s3cret"), false, node.log());
  // A wrong password: the node does not start, and says so without the password.
  const wrong = `nats://jim:wr0ng@127.0.0.1:${c.nats.port}`;
  const error = await spawnServer({ store: c.storeUrl, args: ["--cluster", wrong] }).then(
    () => "started",
    (e) => String(e),
  );
  assertStringIncludes(error, `Cannot join cluster nats://jim:***@127.0.0.1:${c.nats.port}:`);
  assertEquals(error.includes("wr0ng"), false, error);
});

Deno.test("cluster: a token in --cluster is used, and logged redacted", async () => {
  await using c = await startCluster({ size: 0, nats: { args: ["--auth", "t0ken"] } });
  const url = `nats://t0ken@127.0.0.1:${c.nats.port}`;
  await using node = await spawnServer({ store: c.storeUrl, args: ["--cluster", url] });
  assertStringIncludes(node.log(), `cluster nats://***@127.0.0.1:${c.nats.port})`);
  assertEquals(node.log().includes("t0ken"), false, node.log());
});

// -- topics --

Deno.test("cluster: a guests' room's topic set on one node is what every node shows at once", async () => {
  await using c = await startCluster();
  const [n1, n2, n3] = c.nodes;
  await using ann = await guest(n1!.port, "ann");
  await using ben = await guest(n2!.port, "ben");
  assertEquals((await ann.request({ action: "join", time: now(), room: "#t" })).response, 201);
  // ben asks for history: he is told of topic changes.
  const joined = await ben.request({ action: "join", time: now(), room: "#t", history: 0 });
  assertEquals([joined.response, joined.topic], [200, ""]);
  const set = await ann.request({ action: "topic", time: now(), room: "#t", topic: "lunch" });
  assertEquals(set.response, 200);
  const told = await ben.take((o) => o.action === "topic");
  assertEquals([told.room, told.topic, told.from], ["#t", "lunch", "ann"]);
  assertEquals(await topicOf(ben, "#t"), "lunch");
  await using cat = await guest(n3!.port, "cat");
  // The change crosses NATS: node 3 has it within moments.
  const seen = await askUntil(cat, { action: "topic", room: "#t" }, (a) => a.topic === "lunch");
  assertEquals(seen.topic, "lunch");
  const third = await cat.request({ action: "join", time: now(), room: "#t", history: 0 });
  assertEquals([third.response, third.topic], [200, "lunch"]);
  // Cleared on another node: cleared everywhere.
  await ben.request({ action: "topic", time: now(), room: "#t", topic: "" });
  const cleared = await cat.take((o) => o.action === "topic");
  assertEquals([cleared.topic, cleared.from], ["", "ben"]);
  const gone = await askUntil(ann, { action: "topic", room: "#t" }, (a) => a.topic === "");
  assertEquals(gone.topic, "");
});

Deno.test("cluster: an account's room topic set on one node reaches the others without a restart", async () => {
  await using c = await startCluster();
  const [n1, n2] = c.nodes;
  await register(n1!.port, "acct");
  await using acct = await login(n1!.port, "acct");
  assertEquals((await acct.request({ action: "join", time: now(), room: "#kept" })).response, 201);
  await using eve = await guest(n2!.port, "eve");
  assertEquals((await eve.request({ action: "join", time: now(), room: "#kept" })).response, 200);
  const set = await acct.request({ action: "topic", time: now(), room: "#kept", topic: "plans" });
  assertEquals(set.response, 200);
  const seen = await askUntil(eve, { action: "topic", room: "#kept" }, (a) => a.topic === "plans");
  assertEquals(seen.topic, "plans");
});

Deno.test("cluster: topics set at once on two nodes end the same on every node", async () => {
  await using c = await startCluster();
  const clients = await Promise.all(c.nodes.map((n, i) => guest(n.port, `u${i}`)));
  try {
    for (const client of clients) {
      const r = await client.request({ action: "join", time: now(), room: "#race" });
      assertEquals([200, 201].includes(r.response), true);
    }
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        clients.slice(0, 2).map((client, i) =>
          client.request({ action: "topic", time: now(), room: "#race", topic: `r${round}n${i}` })
        ),
      );
      const deadline = Date.now() + 5000;
      let topics: unknown[];
      do {
        topics = await Promise.all(clients.map((client) => topicOf(client, "#race")));
      } while (new Set(topics).size > 1 && Date.now() < deadline);
      assertEquals(new Set(topics).size, 1, `round ${round}: ${JSON.stringify(topics)}`);
    }
  } finally {
    for (const client of clients) client.close();
  }
});

// -- a node that starts late, a node killed --

Deno.test("cluster: a node that starts while others run knows their guests in rooms and the topics", async () => {
  await using c = await startCluster({ size: 2 });
  const [n1, n2] = c.nodes;
  await using ann = await guest(n1!.port, "ann");
  await using ben = await guest(n2!.port, "ben");
  assertEquals((await ann.request({ action: "join", time: now(), room: "#s" })).response, 201);
  assertEquals((await ben.request({ action: "join", time: now(), room: "#s" })).response, 200);
  await ann.request({ action: "topic", time: now(), room: "#s", topic: "early" });
  // Both nodes have the topic before the third starts.
  await askUntil(ben, { action: "topic", room: "#s" }, (a) => a.topic === "early");
  const n3 = await c.addNode();
  await using cat = await guest(n3.port, "cat");
  // Known before any client of node 3 joined: no waiting.
  const who = await cat.request({ action: "who", time: now(), target: "#s" });
  assertEquals([who.response, [...who.users].sort()], [200, ["ann", "ben"]]);
  const joined = await cat.request({ action: "join", time: now(), room: "#s", history: 0 });
  assertEquals([joined.response, joined.topic], [200, "early"]);
});

Deno.test("cluster: a node killed with SIGKILL: the others drop its guests and free the rooms only they were in", async () => {
  await using c = await startCluster({ size: 2 });
  const [n1, n2] = c.nodes;
  await using doomed = await spawnServer({
    store: c.storeUrl,
    args: ["--cluster", c.nats.url, "--claim-ttl", String(CLAIM_TTL_MS / 1000)],
  });
  await using ann = await guest(n1!.port, "ann");
  assertEquals((await ann.request({ action: "join", time: now(), room: "#both" })).response, 201);
  {
    await using gus = await guest(doomed.port, "gus");
    assertEquals((await gus.request({ action: "join", time: now(), room: "#both" })).response, 200);
    assertEquals((await gus.request({ action: "join", time: now(), room: "#solo" })).response, 201);
    await gus.request({ action: "topic", time: now(), room: "#solo", topic: "mine" });
    await askUntil(ann, { action: "who", target: "#both" }, (a) => a.users?.length === 2);
    doomed.kill("SIGKILL");
    await doomed.exited;
  }
  const killedAt = Date.now();
  // gus comes back on node 2 as a guest, in no room: #both must not list him.
  await using back = await RawClient.connect(n2!.port);
  const present = await askUntil(
    back,
    { action: "presence", user: { account_name: "gus" } },
    (a) => a.response === 200,
    10_000,
  );
  assertEquals(present.response, 200);
  const who = await askUntil(
    ann,
    { action: "who", target: "#both" },
    (a) => JSON.stringify(a.users) === '["ann"]',
  );
  assertEquals(who.users, ["ann"]);
  // #solo is gone on every node, and its next first join creates it (201).
  await using dan = await guest(n2!.port, "dan");
  for (const client of [ann, dan]) {
    const solo = await askUntil(
      client,
      { action: "topic", room: "#solo" },
      (a) => a.response === 404,
    );
    assertEquals(solo.response, 404);
  }
  const again = await dan.request({ action: "join", time: now(), room: "#solo", history: 0 });
  assertEquals([again.response, again.topic], [201, ""]);
  const waited = Date.now() - killedAt;
  assertEquals(waited <= 10_000, true, `cleaned up after ${waited} ms`);
});

Deno.test("cluster: a guests' room whose nodes all died is free for the next node (201)", async () => {
  await using c = await startCluster({ size: 0 });
  {
    await using doomed = await spawnServer({
      store: c.storeUrl,
      args: ["--cluster", c.nats.url, "--claim-ttl", String(CLAIM_TTL_MS / 1000)],
    });
    await using gus = await guest(doomed.port, "gus");
    assertEquals((await gus.request({ action: "join", time: now(), room: "#left" })).response, 201);
    doomed.kill("SIGKILL");
    await doomed.exited;
  }
  // Its liveness record expires within the claim TTL.
  const nc = await connect({ servers: c.nats.url.slice("nats://".length) });
  try {
    const nodes = await new Kvm(nc).open("jim_nodes");
    const deadline = Date.now() + 10_000;
    while ((await nodes.status()).values > 0 && Date.now() < deadline) {
      await nc.flush(); // one round trip between looks
    }
    assertEquals((await nodes.status()).values, 0);
  } finally {
    await nc.close();
  }
  const node = await c.addNode();
  await using dan = await guest(node.port, "dan");
  const joined = await dan.request({ action: "join", time: now(), room: "#left" });
  assertEquals([joined.response, joined.alert], [201, "room #left created"]);
});

Deno.test("cluster: a node whose liveness record expired (NATS away) tells its members again, and the others keep them", async () => {
  await using c = await startCluster({ size: 2 });
  const [n1, n2] = c.nodes;
  await using ann = await guest(n1!.port, "ann");
  await using ben = await guest(n2!.port, "ben");
  assertEquals((await ann.request({ action: "join", time: now(), room: "#r" })).response, 201);
  assertEquals((await ben.request({ action: "join", time: now(), room: "#r" })).response, 200);
  await askUntil(ben, { action: "who", target: "#r" }, (a) => a.users?.length === 2);
  // As after an outage longer than the TTL: every node's record is gone.
  const nc = await connect({ servers: c.nats.url.slice("nats://".length) });
  try {
    const nodes = await new Kvm(nc).open("jim_nodes");
    for await (const key of await nodes.keys()) await nodes.delete(key);
  } finally {
    await nc.close();
  }
  // Each node finds its own record gone and tells the others its members again.
  const deadline = Date.now() + 5000;
  const told = () =>
    c.logs.every((log) => log.some((l) => l.includes("liveness record had expired")));
  while (!told() && Date.now() < deadline) {
    await ann.request({ action: "who", time: now() }); // a round trip between looks
  }
  assertEquals(told(), true, JSON.stringify(c.logs));
  // Whatever the others dropped meanwhile, each has both members again, and keeps them.
  for (let round = 0; round < 3; round++) {
    for (const client of [ann, ben]) {
      const who = await askUntil(
        client,
        { action: "who", target: "#r" },
        (a) => JSON.stringify(a.users?.toSorted()) === '["ann","ben"]',
      );
      assertEquals(who.users.toSorted(), ["ann", "ben"]);
    }
  }
  const sent = await ben.request({ action: "msg", time: now(), to: "#r", message: "still" });
  assertEquals(sent.response, 200);
  assertEquals((await ann.message()).message, "still");
});

Deno.test("cluster: a node starts and serves though another answers its state request with nonsense", async () => {
  await using c = await startCluster({ size: 1 });
  await using ann = await guest(c.nodes[0]!.port, "ann");
  assertEquals((await ann.request({ action: "join", time: now(), room: "#ok" })).response, 201);
  // A bad "node": alive in jim_nodes, answering jim.state with what no node sends.
  const nc = await connect({ servers: c.nats.url.slice("nats://".length) });
  try {
    const nodes = await new Kvm(nc).open("jim_nodes");
    await nodes.put("YmFk", JSON.stringify({ node: "bad" }));
    const junk = [
      { node: "bad", rooms: 5, last: false },
      {
        node: "bad",
        rooms: [null, { room: 7 }, { room: "#x", topic: 1, guests: "g" }],
        last: false,
      },
      {
        node: "bad",
        rooms: [{ room: "#x", topic: "", guests: [3, "eve"], accounts: [] }],
        last: true,
      },
    ];
    nc.subscribe("jim.state", {
      callback: (_err, msg) => {
        for (const answer of junk) if (msg.reply) nc.publish(msg.reply, JSON.stringify(answer));
      },
    });
    await nc.flush();
    const node = await c.addNode();
    await using cat = await guest(node.port, "cat");
    const who = await cat.request({ action: "who", time: now(), target: "#ok" });
    assertEquals([who.response, who.users], [200, ["ann"]]);
    // What could be read of the rest was taken: eve is a member of #x.
    const x = await cat.request({ action: "join", time: now(), room: "#x" });
    assertEquals(x.response, 200);
  } finally {
    await nc.close();
  }
});

Deno.test("Cluster.sync() takes an answer sent in many small parts whole", async () => {
  await using nats = await startNats();
  const handlers = (snapshot: RoomSnapshot[], seen: string[]): ClusterHandlers =>
    quietHandlers({
      member: (room, name, joined, account) => seen.push(`${room} ${name} ${joined} ${account}`),
      topic: (room, topic) => seen.push(`${room} topic ${topic}`),
      snapshot: () => snapshot,
    });

  const guests = Array.from({ length: 300 }, (_, i) => `guest${i}`);
  const rooms: RoomSnapshot[] = [
    { room: "#big", topic: "many", guests, accounts: ["acct"] },
    { room: "#quiet", topic: "only a topic", guests: [], accounts: [] },
    { room: "#small", topic: "", guests: ["g"], accounts: [] },
  ];
  const running = await Cluster.connect({ url: nats.url, nodeId: "running", statePartBytes: 200 });
  const starting = await Cluster.connect({ url: nats.url, nodeId: "starting" });
  try {
    running.serve(handlers(rooms, []));
    const seen: string[] = [];
    starting.serve(handlers([], seen));
    // Asked by hand: the answer comes in small parts.
    const nc = await connect({ servers: nats.url.slice("nats://".length) });
    const sizes: number[] = [];
    try {
      const inbox = createInbox();
      const last = new Promise<void>((resolve) => {
        nc.subscribe(inbox, {
          callback: (_err, msg) => {
            const part = JSON.parse(new TextDecoder().decode(msg.data));
            if (part.node !== "running") return; // the other one answers too
            sizes.push(msg.data.length);
            if (part.last === true) resolve();
          },
        });
      });
      await nc.flush();
      nc.publish("jim.state", JSON.stringify({ node: "probe" }), { reply: inbox });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        last,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no last part within 5 s: ${sizes}`)), 5000);
        }),
      ]).finally(() => clearTimeout(timer));
    } finally {
      await nc.close();
    }
    assertEquals(sizes.length > 10 && sizes.every((n) => n < 400), true, `${sizes}`);
    await starting.sync();
    const want = [
      ...guests.map((name) => `#big ${name} true false`),
      "#big acct true true",
      "#small g true false",
      "#big topic many",
      "#quiet topic only a topic",
    ];
    assertEquals([...new Set(seen)].sort(), want.sort());
  } finally {
    await starting.close();
    await running.close();
  }
});

// -- look-alikes --

Deno.test("cluster: a guest may rename itself to a look-alike of its own name, as on one node", async () => {
  await using c = await startCluster({ size: 2 });
  const [n1, n2] = c.nodes;
  await using ann = await guest(n1!.port, "ann");
  const lookalike = "\u0430nn"; // Cyrillic a
  const renamed = await ann.request({
    action: "presence",
    time: now(),
    user: { account_name: lookalike },
  });
  assertEquals([renamed.response, renamed.error], [200, undefined]);
  // The claim moved with it: the old name still looks like one in use, and
  // messages to the new name reach it from another node.
  await using ben = await guest(n2!.port, "ben");
  await using other = await RawClient.connect(n2!.port);
  const taken = await other.request({
    action: "presence",
    time: now(),
    user: { account_name: "ann" },
  });
  assertEquals([taken.response, taken.error], [
    409,
    `Cannot use the name ann: it looks like ${lookalike}, which is in use`,
  ]);
  const sent = await ben.request({ action: "msg", time: now(), to: lookalike, message: "hi" });
  assertEquals(sent.response, 200);
  assertEquals((await ann.message()).to, lookalike);
  // Gone with it.
  ann.close();
  await ann.waitClosed();
  const free = await askUntil(
    other,
    { action: "presence", user: { account_name: "ann" } },
    (a) => a.response === 200,
  );
  assertEquals(free.response, 200);
});

Deno.test("cluster: two accounts whose names look alike (registered before names were compared) are online at once", async () => {
  await using c = await startCluster({ size: 2 });
  const [n1, n2] = c.nodes;
  const lookalike = "\u0430nn"; // Cyrillic a
  await register(n1!.port, "ann");
  // As a database from before the look-alike check would hold it.
  const sql = postgres(c.storeUrl, { onnotice: () => {} });
  try {
    await sql`INSERT INTO accounts (name, password_hash, created_at, skeleton)
      SELECT ${lookalike}, password_hash, created_at, skeleton FROM accounts WHERE name = 'ann'`;
  } finally {
    await sql.end();
  }
  await using ann = await login(n1!.port, "ann");
  await using other = await login(n2!.port, lookalike);
  // Each is itself: a second login of either is refused, messages reach each.
  await using again = await RawClient.connect(n1!.port);
  const refused = await again.request(auth(lookalike, "correct horse"));
  assertEquals([refused.response, refused.error], [
    409,
    `Cannot authenticate: ${lookalike} is already connected`,
  ]);
  const toOther = await ann.request({ action: "msg", time: now(), to: lookalike, message: "a" });
  assertEquals(toOther.response, 200);
  assertEquals((await other.message()).message, "a");
  const toAnn = await other.request({ action: "msg", time: now(), to: "ann", message: "b" });
  assertEquals(toAnn.response, 200);
  assertEquals((await ann.message()).message, "b");
  // Once the second leaves, it may log in on the other node.
  other.close();
  await other.waitClosed();
  const back = await askUntil(
    again,
    { ...auth(lookalike, "correct horse") },
    (a) => a.response === 200,
  );
  assertEquals(back.response, 200);
});

/** A store whose last-seen writes take 300 ms longer, as on a loaded PostgreSQL. */
class SlowLastSeenStore extends HookedStore {
  override async setLastSeen(...args: Parameters<Store["setLastSeen"]>): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return await super.setLastSeen(...args);
  }
}

Deno.test("cluster: an account that leaves one node and logs in on another at once ends online for its watchers", async () => {
  await using c = await startCluster({ size: 1 });
  const watcherNode = c.nodes[0]!;
  // The node it leaves writes its last-seen time slowly; its login elsewhere is quick.
  const slow = await startServer({
    store: new SlowLastSeenStore(await PgStore.open(c.storeUrl)),
    cluster: c.nats.url,
    claimTtlMs: CLAIM_TTL_MS,
  });
  try {
    const next = await c.addNode();
    await register(watcherNode.port, "watcher");
    await register(watcherNode.port, "mover");
    await using watcher = await login(watcherNode.port, "watcher");
    const added = await watcher.request({ action: "contacts", time: now(), add: "mover" });
    assertEquals(added.response, 200);
    const about = (o: Obj) => o.action === "contact" && o.user?.account_name === "mover";
    const left = await login(slow.port, "mover");
    assertEquals((await watcher.take(about)).user.state, "online");
    // Closed without quit, and at once a login on another node (409 until
    // the old node has noticed the close).
    left.close();
    await using back = await RawClient.connect(next.port);
    const answer = await askUntil(
      back,
      auth("mover", "correct horse"),
      (a) => a.response !== 409,
    );
    assertEquals(answer.response, 200);
    // The watcher is told it went offline and came back, in that order.
    const told: string[] = [];
    while (!told.includes("offline")) told.push((await watcher.take(about)).user.state);
    if (told.at(-1) !== "online") told.push((await watcher.take(about)).user.state);
    assertEquals(told.at(-1), "online", JSON.stringify(told));
    const asked = await watcher.request({ action: "contacts", time: now() });
    assertEquals(asked.contacts, [{ account_name: "mover", state: "online" }]);
    assertEquals(watcher.inbox.filter(about), []);
  } finally {
    await slow.shutdown();
  }
});

/** `who` asked by `client`: the names, sorted, and how long the answer took. */
async function whoAll(client: RawClient): Promise<{ users: string[]; ms: number }> {
  const started = performance.now();
  const answer = await client.request({ action: "who", time: now() });
  assertEquals(answer.response, 200);
  return { users: answer.users.toSorted(), ms: performance.now() - started };
}

Deno.test("cluster: who lists the users of a node that has just started", async () => {
  // Long-lived records: a node would reuse its list of nodes for 10 s.
  await using c = await startCluster({ size: 1, claimTtlMs: 30_000 });
  await using ann = await guest(c.nodes[0]!.port, "ann");
  // The node lists the others (none yet).
  assertEquals((await whoAll(ann)).users, ["ann"]);
  await using second = await spawnServer({
    store: c.storeUrl,
    args: ["--cluster", c.nats.url, "--claim-ttl", "30"],
  });
  await using _ben = await guest(second.port, "ben");
  assertEquals((await whoAll(ann)).users, ["ann", "ben"]);
});

Deno.test("cluster: who does not wait for the answer of a node that has stopped", async () => {
  await using c = await startCluster({ size: 1, claimTtlMs: 30_000 });
  await using ann = await guest(c.nodes[0]!.port, "ann");
  await using second = await spawnServer({
    store: c.storeUrl,
    args: ["--cluster", c.nats.url, "--claim-ttl", "30"],
  });
  await using ben = await guest(second.port, "ben");
  // The node lists the others (the second one).
  assertEquals((await whoAll(ann)).users, ["ann", "ben"]);
  ben.close();
  await second.stop();
  // An answer that never comes would be waited for until the 2 s request timeout.
  const after = await whoAll(ann);
  assertEquals(after.users, ["ann"]);
  assertEquals(after.ms < 1500, true, `who took ${Math.round(after.ms)} ms`);
});

Deno.test("cluster: the throwaway PostgreSQL stops", async () => {
  await stopSharedPostgres();
});

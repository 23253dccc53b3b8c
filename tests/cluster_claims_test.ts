/**
 * Claims live as long as their node's liveness record: a node holding many
 * names writes none of them again while it lives (an idle name costs nothing
 * in NATS), and a dead node's claims are taken over by the next claimer,
 * while a live node's are not.
 */
import { assertEquals } from "@std/assert";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { claimKey, Cluster, token } from "../lib/server/cluster.ts";
import { quietHandlers } from "./_cluster_nodes.ts";
import { startNats } from "./_nats.ts";

Deno.test("Cluster holds 3,000 claims through several liveness periods without writing one again", async () => {
  await using nats = await startNats();
  // The liveness record is renewed every 300 ms.
  const cluster = await Cluster.connect({ url: nats.url, nodeId: "many", claimTtlMs: 900 });
  const lost: string[] = [];
  cluster.serve(quietHandlers({ lost: (name) => lost.push(name) }));
  const names = Array.from({ length: 3000 }, (_, i) => `user${i}`);
  const nc = await connect({ servers: nats.url.slice("nats://".length) });
  try {
    for (let i = 0; i < names.length; i += 100) {
      const got = await Promise.all(names.slice(i, i + 100).map((n) => cluster.claim(n)));
      assertEquals(got.every((r) => r === true), true, `claims ${i}..${i + 99}`);
    }
    const kvm = new Kvm(nc);
    const kv = await kvm.open("jim_names");
    const nodes = await kvm.open("jim_nodes");
    const before = (await kv.status()).values;
    const written = (await kv.status()).streamInfo.state.last_seq;
    // Four renewals of the node's record (over three TTLs' worth of periods), at most 10 s.
    const renewals = new Set<number>();
    const deadline = Date.now() + 10_000;
    while (renewals.size < 5) {
      if (Date.now() > deadline) throw new Error(`record renewed ${renewals.size - 1} times`);
      const entry = await nodes.get(token("many"));
      if (entry?.operation === "PUT") renewals.add(entry.revision);
    }
    const after = await kv.status();
    assertEquals(after.streamInfo.state.last_seq, written, "claims written again");
    assertEquals(after.values, before);
    assertEquals(lost.slice(0, 5), [], `${lost.length} claims lost`);
    // Every name is still this node's, and the bucket has no TTL of its own.
    const holders = await cluster.held(names.slice(0, 50));
    assertEquals(holders.size, 50);
    assertEquals(after.ttl, 0);
  } finally {
    await nc.close();
    await cluster.close();
  }
});

Deno.test("Cluster takes over a dead node's claim on its revision, never a live node's", async () => {
  await using nats = await startNats();
  const a = await Cluster.connect({ url: nats.url, nodeId: "a", claimTtlMs: 900 });
  const b = await Cluster.connect({ url: nats.url, nodeId: "b", claimTtlMs: 900 });
  const lost: string[] = [];
  a.serve(quietHandlers({ lost: (name) => lost.push(name) }));
  b.serve(quietHandlers());
  const nc = await connect({ servers: nats.url.slice("nats://".length) });
  try {
    const kvm = new Kvm(nc);
    const kv = await kvm.open("jim_names");
    const nodes = await kvm.open("jim_nodes");
    assertEquals(await a.claim("ann"), true);
    assertEquals(await a.claim("amy", { account: true }), true);
    // A live node's claims hold.
    assertEquals(await b.claim("ann"), "ann");
    assertEquals(await b.reserve("amy"), "amy");
    assertEquals(await b.held(["ann", "amy"]), new Set(["ann", "amy"]));
    // A node killed: it told nobody, and its record goes (here at once, as when it expires).
    const node = await nodes.get(token("a"));
    await nodes.delete(token("a"), { previousSeq: node!.revision });
    assertEquals(await b.held(["ann", "amy"]), new Set());
    assertEquals(await b.claim("ann"), true);
    assertEquals(await b.reserve("amy"), true);
    assertEquals(JSON.parse((await kv.get(claimKey("ann")))!.string()).node, "b");
    assertEquals(JSON.parse((await kv.get(claimKey("amy")))!.string()).reserved, true);
    // a was alive after all (its record expired while NATS was away): at its
    // next check it finds its record gone, writes it again and its claims,
    // and drops the sessions whose names were taken meanwhile.
    const deadline = Date.now() + 5000;
    while (lost.length < 2 && Date.now() < deadline) await nc.flush();
    assertEquals(lost.toSorted(), ["amy", "ann"]);
    assertEquals(JSON.parse((await kv.get(claimKey("ann")))!.string()).node, "b");
    assertEquals(await a.claim("ann"), "ann");
  } finally {
    await nc.close();
    await a.close();
    await b.close();
  }
});

Deno.test("Cluster.connect() takes the TTL off a claims bucket an earlier version made", async () => {
  await using nats = await startNats();
  const nc = await connect({ servers: nats.url.slice("nats://".length) });
  try {
    const kvm = new Kvm(nc);
    // As an earlier version made it: claims expired unless renewed.
    await kvm.create("jim_names", { ttl: 900, history: 1 });
    const logged: string[] = [];
    const cluster = await Cluster.connect({
      url: nats.url,
      nodeId: "new",
      claimTtlMs: 900,
      log: (line) => logged.push(line),
    });
    try {
      assertEquals((await (await kvm.open("jim_names")).status()).ttl, 0);
      assertEquals(logged, [
        "took the TTL off the bucket jim_names: claims live as long as their node",
      ]);
    } finally {
      await cluster.close();
    }
  } finally {
    await nc.close();
  }
});

Deno.test("Cluster takes back a key of its own that no claim here holds (a create whose answer was lost)", async () => {
  await using nats = await startNats();
  const a = await Cluster.connect({ url: nats.url, nodeId: "a", claimTtlMs: 900 });
  a.serve(quietHandlers());
  const nc = await connect({ servers: nats.url.slice("nats://".length) });
  try {
    const kv = await new Kvm(nc).open("jim_names");
    // Written for this node, but nothing here holds it.
    await kv.put(claimKey("ann"), JSON.stringify({ node: "a", name: "ann", account: false }));
    assertEquals(await a.claim("ann"), true);
    // One it holds is not taken twice.
    assertEquals(await a.claim("ann"), "ann");
    a.release("ann");
    await a.released();
    assertEquals(await kv.get(claimKey("ann")).then((e) => e?.operation), "DEL");
  } finally {
    await nc.close();
    await a.close();
  }
});

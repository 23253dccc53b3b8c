/**
 * Claim renewal at scale: a node holding many names renews them all well
 * within the TTL, and a round that outlasts the period never races the next
 * (which used to take the node's own fresh revision for another node's claim
 * and drop the session).
 */
import { assertEquals } from "@std/assert";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { claimKey, Cluster, type ClusterHandlers } from "../lib/server/cluster.ts";
import { startNats } from "./_nats.ts";

function quietHandlers(lost: string[]): ClusterHandlers {
  return {
    direct: () => false,
    mail: () => {},
    whois: () => null,
    room: () => {},
    lost: (name) => lost.push(name),
    member: () => {},
    topic: () => {},
    gone: () => {},
    snapshot: () => [],
    presence: () => {},
    usersChanged: () => {},
    online: () => [],
    watched: () => {},
    pubkey: () => null,
  };
}

Deno.test("Cluster renews 3,000 claims every period without losing one to itself", async () => {
  await using nats = await startNats();
  // Renewed every 300 ms: a round of 3,000 names one after another takes longer.
  const cluster = await Cluster.connect({ url: nats.url, nodeId: "many", claimTtlMs: 900 });
  const lost: string[] = [];
  cluster.serve(quietHandlers(lost));
  const names = Array.from({ length: 3000 }, (_, i) => `user${i}`);
  const nc = await connect({ servers: nats.url.slice("nats://".length) });
  try {
    for (let i = 0; i < names.length; i += 100) {
      const got = await Promise.all(names.slice(i, i + 100).map((n) => cluster.claim(n)));
      assertEquals(got.every((r) => r === true), true, `claims ${i}..${i + 99}`);
    }
    const kv = await new Kvm(nc).open("jim_names");
    // Each claim's revision as first seen, then until each is seen renewed, at most 20 s.
    const first = new Map<string, number>();
    const deadline = Date.now() + 20_000;
    let behind = names;
    while (behind.length > 0 && lost.length === 0) {
      if (Date.now() > deadline) throw new Error(`${behind.length} claims not seen renewed`);
      const next: string[] = [];
      for (const name of behind) {
        const entry = await kv.get(claimKey(name));
        const seen = entry?.operation === "PUT" ? entry.revision : 0;
        if (!first.has(name)) first.set(name, seen);
        if (seen === 0 || seen <= first.get(name)! || first.get(name) === 0) {
          if (first.get(name) === 0) first.set(name, seen);
          next.push(name);
        }
      }
      behind = next;
    }
    assertEquals(lost.slice(0, 5), [], `${lost.length} claims taken for another node's`);
    // Every name is still this node's.
    const holders = await cluster.held(names.slice(0, 50));
    assertEquals(holders.size, 50);
  } finally {
    await nc.close();
    await cluster.close();
  }
});

/**
 * `jim admin` in a cluster: a command on one node's admin socket disconnects
 * the name on whichever node holds it, at once (the periodic block check is
 * an hour apart), and `stats` counts every node. The nodes run as child
 * processes on one nats-server and PostgreSQL database: admin sockets are
 * Unix sockets, which need a net permission the test runner lacks.
 */
import { assertEquals } from "@std/assert";
import { admin, type ChildServer, spawnServer } from "./_proc.ts";
import { startCluster, stopSharedPostgres } from "./_cluster_nodes.ts";
import { guest, login, RawClient, register, tempDir } from "./_helpers.ts";

/** Expects a 101 notice with `reason`, then the connection closed (within the default 3 s). */
async function expectDisconnected(c: RawClient, reason: string): Promise<void> {
  const notice = await c.response();
  assertEquals([notice.response, notice.alert ?? notice.error], [101, reason]);
  await c.waitClosed();
}

Deno.test("cluster admin: block, kick, logout-all and reset-password on node 1 disconnect a user on node 2 at once", async () => {
  await using dir = await tempDir();
  await using c = await startCluster({ size: 0 });
  const nodes: ChildServer[] = [];
  try {
    for (const i of [1, 2]) {
      nodes.push(
        await spawnServer({
          store: c.storeUrl,
          args: [
            "--cluster",
            c.nats.url,
            "--admin-socket",
            `${dir.path}/node${i}.sock`,
            "--block-check",
            "3600",
          ],
        }),
      );
    }
    const [n1, n2] = nodes as [ChildServer, ChildServer];
    const socket1 = ["--admin-socket", `${dir.path}/node1.sock`];
    for (const name of ["bob", "carol", "dave"]) await register(n1.port, name);

    await using bob = await login(n2.port, "bob");
    const blocked = await admin(["block", "bob", ...socket1]);
    assertEquals(blocked.code, 0, blocked.err.join("\n"));
    await expectDisconnected(bob, "account bob is blocked");

    await using gus = await guest(n2.port, "gus");
    assertEquals(await admin(["kick", "gus", ...socket1]), {
      code: 0,
      out: ["Kicked gus"],
      err: [],
    });
    await expectDisconnected(gus, "disconnected by an administrator");
    assertEquals(await admin(["kick", "gus", ...socket1]), {
      code: 1,
      out: [],
      err: ["Cannot kick gus: not online"],
    });

    await using carol = await login(n2.port, "carol");
    const out = await admin(["logout-all", "carol", ...socket1]);
    assertEquals(out.code, 0, out.err.join("\n"));
    await expectDisconnected(carol, "logged out by an administrator");

    await using dave = await login(n2.port, "dave");
    const reset = await admin(["reset-password", "dave", ...socket1], {
      JIM_PASSWORD: "battery staple",
    });
    assertEquals(reset.code, 0, reset.err.join("\n"));
    await expectDisconnected(dave, "password reset by an administrator");
    await using _again = await login(n2.port, "dave", "battery staple");
  } finally {
    for (const node of nodes) await node.stop();
  }
});

Deno.test("cluster admin: stats on one node sums every node's connections and names", async () => {
  await using dir = await tempDir();
  await using c = await startCluster({ size: 0 });
  const nodes: ChildServer[] = [];
  try {
    for (const i of [1, 2, 3]) {
      nodes.push(
        await spawnServer({
          store: c.storeUrl,
          args: ["--cluster", c.nats.url, "--admin-socket", `${dir.path}/node${i}.sock`],
        }),
      );
    }
    const [n1, n2, n3] = nodes as [ChildServer, ChildServer, ChildServer];
    await register(n1.port, "alice");
    await using _alice = await login(n2.port, "alice");
    await using _gus = await guest(n3.port, "gus");
    await using _ann = await guest(n3.port, "ann");
    await using _anon = await RawClient.connect(n1.port);
    const stats = await admin(["stats", "--admin-socket", `${dir.path}/node1.sock`]);
    assertEquals(stats.code, 0, stats.err.join("\n"));
    assertEquals(stats.out.filter((line) => !line.startsWith("uptime")), [
      "connections  4",
      "online       3",
      "accounts     1",
      "guests       2",
      "rooms        0",
      "nodes        3",
    ]);
  } finally {
    for (const node of nodes) await node.stop();
  }
});

Deno.test("cluster admin: the file's PostgreSQL server stops", async () => {
  await stopSharedPostgres();
});

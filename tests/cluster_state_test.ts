/**
 * Cluster-wide state on three nodes sharing one nats-server and one
 * PostgreSQL: room topics, members of rooms on a node that starts later,
 * the cleanup after a node killed with SIGKILL, and credentials in
 * `--cluster`'s URL.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { startCluster, stopSharedPostgres } from "./_cluster.ts";
import { spawnServer } from "./_proc.ts";

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

Deno.test("cluster: the throwaway PostgreSQL stops", async () => {
  await stopSharedPostgres();
});

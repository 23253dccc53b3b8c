/**
 * Cluster-wide state on three nodes sharing one nats-server and one
 * PostgreSQL: room topics, members of rooms on a node that starts later,
 * the cleanup after a node killed with SIGKILL, and credentials in
 * `--cluster`'s URL.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { startCluster, stopSharedPostgres } from "./_cluster.ts";
import { guest, login, now, type RawClient, register } from "./_helpers.ts";
import { spawnServer } from "./_proc.ts";

/** Asks `request` until `done` holds of the answer, within 5 s; the last answer. */
async function askUntil(
  client: RawClient,
  request: Record<string, unknown>,
  done: (answer: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 5000;
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

Deno.test("cluster: the throwaway PostgreSQL stops", async () => {
  await stopSharedPostgres();
});

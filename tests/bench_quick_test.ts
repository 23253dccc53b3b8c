/**
 * The benchmark's own instruments: the histogram, and the load generator
 * against a real jim server, the relay, and a relay that misbehaves (the
 * generator must fail loudly).
 */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { GeneratorProcess, parseBenchArgs, UsageError } from "../bench/run.ts";
import { natsArgs } from "../bench/nats.ts";
import type { GeneratorConfig, RunResult, TargetKind } from "../bench/generator.ts";
import { Histogram } from "../bench/stats.ts";
import { auth, RawClient, register, startServer } from "./_helpers.ts";

function config(target: TargetKind, port: number): GeneratorConfig {
  return { target, hostname: "127.0.0.1", port, connectBatch: 8, size: 100, drainSeconds: 2 };
}

/** Starts bench/relay.ts on a free port; resolves once it listens. */
async function startRelay(): Promise<{ port: number } & AsyncDisposable> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", new URL("../bench/relay.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const port = Number(text.match(/listening (\d+)/)?.[1]);
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await reader.cancel();
      await child.status;
    },
  };
}

/** The Debian nats-server binary, when installed (the NATS test is skipped without it). */
const NATS_SERVER = ["/usr/bin/nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"]
  .find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });

/** Starts nats-server on a free port; resolves once it accepts connections. */
async function startNats(binary: string): Promise<{ port: number } & AsyncDisposable> {
  const port = (() => {
    using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return l.addr.port;
  })();
  const child = new Deno.Command(binary, {
    args: natsArgs(port),
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

// -- options --

Deno.test("parseBenchArgs() runs nats by default, but not in a quick run unless named", () => {
  assertEquals([...parseBenchArgs([])!.targets], ["jim", "relay", "ngircd", "nats"]);
  assertEquals([...parseBenchArgs(["--quick"])!.targets], ["jim", "relay", "ngircd"]);
  assertEquals([...parseBenchArgs(["--quick", "--targets", "jim,nats"])!.targets], [
    "jim",
    "nats",
  ]);
});

// -- Histogram --

Deno.test("parseBenchArgs() --cluster runs jim's direct, room and idle only, and refuses the rest", () => {
  const o = parseBenchArgs(["--cluster", "3"])!;
  assertEquals(o.cluster, 3);
  assertEquals([...o.targets], ["jim"]);
  assertEquals([...o.only], ["direct", "room", "idle"]);
  assertEquals([o.idle, o.idleSeconds], [1000, 60]);
  assertEquals(parseBenchArgs(["--quick"])!.cluster, null);
  assertEquals(parseBenchArgs(["--quick"])!.idle, 200);
  assertEquals(parseBenchArgs([])!.idle, 10000);
  assertEquals([...parseBenchArgs(["--cluster", "2", "--only", "room"])!.only], ["room"]);
  assertEquals([...parseBenchArgs(["--cluster", "2", "--only", "idle"])!.only], ["idle"]);
  for (
    const [args, message] of [
      [["--cluster", "0"], "Cannot parse --cluster: 0"],
      [["--cluster", "1.5"], "Cannot parse --cluster: must be a whole number 1..9"],
      [
        ["--cluster", "2", "--only", "storm"],
        "Cannot parse --only: --cluster runs direct, room and idle only",
      ],
      [["--cluster", "2", "--targets", "nats"], "Cannot parse --targets: --cluster runs jim only"],
    ] as const
  ) {
    assertThrows(() => parseBenchArgs([...args]), UsageError, message);
  }
});

Deno.test("generator spreads clients over the ports it is given, one node after the other", async () => {
  // Two servers that are not a cluster: where each name was claimed shows where its client went.
  await using a = await startServer();
  await using b = await startServer();
  await using gen = await GeneratorProcess.start({
    ...config("jim", a.port),
    ports: [a.port, b.port],
  });
  await gen.send({ cmd: "room-setup", members: 4, senders: 1, room: "#spread" });
  const spread: [string, number, number][] = [
    ["m0", a.port, b.port],
    ["m1", b.port, a.port],
    ["m2", a.port, b.port],
    ["m3", b.port, a.port],
  ];
  for (const [name, holder, other] of spread) {
    await using taken = await RawClient.connect(holder);
    const t = await taken.request({ action: "presence", time: 1, user: { account_name: name } });
    assertEquals(t.response, 409, `${name} is held on its node`);
    await using free = await RawClient.connect(other);
    const f = await free.request({ action: "presence", time: 1, user: { account_name: name } });
    assertEquals(f.response, 200, `${name} is free on the other node`);
  }
  await gen.send({ cmd: "close" });
});

Deno.test("Histogram.quantile() stays within 1% of the exact value", () => {
  const h = new Histogram();
  for (let i = 1; i <= 100000; i++) h.record(i);
  for (const q of [0.5, 0.99, 0.999]) {
    const exact = q * 100000;
    assert(Math.abs(h.quantile(q) - exact) / exact <= 0.011, `q=${q}: ${h.quantile(q)}`);
  }
  assertEquals(h.quantile(1), 100000);
  assertEquals(h.count, 100000);
});

Deno.test("Histogram.merge() equals recording everything in one", () => {
  const a = new Histogram(), b = new Histogram(), all = new Histogram();
  for (let i = 0; i < 1000; i++) {
    const v = (i * 7919) % 5000;
    (i % 2 ? a : b).record(v);
    all.record(v);
  }
  a.merge(Histogram.from(b.toJSON()));
  assertEquals(a.toJSON(), all.toJSON());
});

// -- generator --

Deno.test("generator counts every direct message through a jim server", async () => {
  await using server = await startServer();
  await using gen = await GeneratorProcess.start(config("jim", server.port));
  await gen.send({ cmd: "direct-setup", pairs: 2, firstPair: 0 });
  const r = await gen.send<RunResult>({
    cmd: "run",
    mode: "window",
    window: 4,
    rate: 0,
    seconds: 0.3,
  });
  assert(r.messages > 0);
  assertEquals(r.deliveries, r.messages);
  assertEquals(r.ack.count, r.messages);
  await gen.send({ cmd: "close" });
});

Deno.test("generator logs accounts back in with their session tokens, all at once", async () => {
  await using server = await startServer();
  const accounts = ["r0", "r1", "r2", "r3"];
  const tokens: string[] = [];
  for (const name of accounts) {
    await register(server.port, name);
    await using c = await RawClient.connect(server.port);
    const r = await c.request({ ...auth(name, "correct horse"), remember: true });
    tokens.push(r.token);
  }
  await using gen = await GeneratorProcess.start(config("jim", server.port));
  const r = await gen.send<{ seconds: number; logins: number }>({
    cmd: "token-login",
    accounts,
    tokens,
    concurrency: accounts.length,
  });
  assertEquals(r.logins, 4);
  await gen.send({ cmd: "close" });
});

Deno.test("generator fans out through a jim room and through the relay", async () => {
  await using server = await startServer();
  await using relay = await startRelay();
  for (const [target, port] of [["jim", server.port], ["relay", relay.port]] as const) {
    await using gen = await GeneratorProcess.start(config(target, port));
    await gen.send({ cmd: "room-setup", members: 5, senders: 2, room: "#bench" });
    const r = await gen.send<RunResult>({
      cmd: "run",
      mode: "rate",
      window: 8,
      rate: 200,
      seconds: 0.3,
    });
    assert(r.messages > 0, target);
    assertEquals(r.deliveries, r.messages * 4, target);
    await gen.send({ cmd: "close" });
  }
});

Deno.test({
  name: "generator speaks NATS: direct subjects, and a room without echo to the sender",
  ignore: NATS_SERVER === undefined,
  async fn() {
    await using nats = await startNats(NATS_SERVER!);
    await using gen = await GeneratorProcess.start(config("nats", nats.port));
    await gen.send({ cmd: "direct-setup", pairs: 2, firstPair: 0 });
    const direct = await gen.send<RunResult>({
      cmd: "run",
      mode: "window",
      window: 4,
      rate: 0,
      seconds: 0.3,
    });
    assert(direct.messages > 0);
    assertEquals(direct.deliveries, direct.messages);
    await gen.send({ cmd: "close" });
    await gen.send({ cmd: "room-setup", members: 5, senders: 2, room: "#bench" });
    const room = await gen.send<RunResult>({
      cmd: "run",
      mode: "rate",
      window: 8,
      rate: 200,
      seconds: 0.3,
    });
    assert(room.messages > 0);
    assertEquals(room.deliveries, room.messages * 4);
    await gen.send({ cmd: "close" });
  },
});

Deno.test("generator fails loudly when a message arrives twice", async () => {
  // A relay that pairs connections and repeats the first message it forwards.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    const waiting: Deno.Conn[] = [];
    for await (const conn of listener) {
      conns.push(conn);
      waiting.push(conn);
      if (waiting.length < 2) continue;
      const [a, b] = waiting.splice(0) as [Deno.Conn, Deno.Conn];
      for (const c of [a, b]) await c.write(new TextEncoder().encode("ok\n"));
      (async () => {
        const buf = new Uint8Array(65536);
        let first = true;
        try {
          while (true) {
            const n = await a.read(buf);
            if (n === null) return;
            let text = new TextDecoder().decode(buf.subarray(0, n));
            if (first) {
              text = text.replace(/^group [^\n]*\n/, "");
              const line = text.slice(0, text.indexOf("\n") + 1);
              if (line) {
                text = line + text;
                first = false;
              }
            }
            await b.write(new TextEncoder().encode(text));
          }
        } catch {
          // closed
        }
      })();
    }
  })();
  const gen = await GeneratorProcess.start(config("relay", listener.addr.port));
  await gen.send({ cmd: "direct-setup", pairs: 1, firstPair: 0 });
  await assertRejects(
    () => gen.send({ cmd: "run", mode: "window", window: 1, rate: 0, seconds: 0.2 }),
    Error,
    "duplicate",
  );
  await gen.exit();
  listener.close();
  for (const c of conns) {
    try {
      c.close();
    } catch {
      // closed already
    }
  }
  await serving.catch(() => {});
});

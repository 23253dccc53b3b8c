// deno-lint-ignore-file no-console -- a command-line report
/**
 * What room history and live presence cost:
 *
 * 1. A room of 50 members with 5 senders at a fixed rate, against two
 *    servers on database files, one keeping history (`--room-history 200`)
 *    and one not (`--room-history 0`), alternating in the same run: server
 *    CPU per delivery for each, and the ratio.
 * 2. Presence fan-out: 1,000 accounts watch one (`contacts`); it logs in and
 *    out; the time until every watcher has been told, and server CPU per
 *    notice.
 *
 * Servers run as child processes (`server.ts`) so that their CPU is theirs
 * alone; clients speak JIM over loopback.
 *
 * Usage: `deno run -A bench/history_presence.ts [--quick] [--seconds N] [--rate N]
 * [--watchers N] [--rounds N]`
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { LineConn } from "./line_conn.ts";
import { initClockTicks, sampleProcess } from "./stats.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const flags = parseArgs(Deno.args, {
  boolean: ["quick"],
  string: ["seconds", "rate", "watchers", "rounds"],
});
const quick = flags.quick;
const seconds = Number(flags.seconds ?? (quick ? 1 : 5));
/** Room messages per second in all (each one is 49 deliveries). */
const rate = Number(flags.rate ?? (quick ? 100 : 400));
const watchers = Number(flags.watchers ?? (quick ? 100 : 1000));
const rounds = Number(flags.rounds ?? (quick ? 3 : 10));
const MEMBERS = 50;
/** Set once the measurements are done and the servers stop. */
let stopping = false;
const SENDERS = 5;

function progress(text: string): void {
  console.error(text);
}

interface Server extends AsyncDisposable {
  port: number;
  pid: number;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

async function startServer(dir: string, name: string, args: string[]): Promise<Server> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}server.ts`,
      "-p",
      String(port),
      "-a",
      "127.0.0.1",
      "--db",
      `${dir}/${name}.db`,
      "--admin-socket",
      "off",
      "--rate-limit",
      "0",
      "--max-per-address",
      "0",
      "--register-limit",
      "0",
      "--register-pending",
      "0",
      "--hash-iterations",
      "1000",
      ...args,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  while (!log.includes("listening on")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Cannot start server: it exited:\n${log}`);
    log += value;
  }
  const drained = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe empty */ }
  })();
  return {
    port,
    pid: child.pid,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await drained;
    },
  };
}

/** A JIM client that counts what it reads and answers requests in order. */
class Client {
  readonly #answers: ((value: Record<string, unknown>) => void)[] = [];
  #conn: LineConn | null = null;
  onPush: (value: Record<string, unknown>) => void = () => {};

  static async open(port: number): Promise<Client> {
    const client = new Client();
    client.#conn = await LineConn.open("127.0.0.1", port, {
      onLine: (line) => client.#line(line),
      // Servers stopping at the end close what is left open; anything before is news.
      onFailure: (e) => {
        if (!stopping) progress(`a client failed: ${e.message}`);
      },
    });
    return client;
  }

  get conn(): LineConn {
    return this.#conn!;
  }

  #line(line: string): void {
    const value = JSON.parse(line) as Record<string, unknown>;
    if (typeof value.response === "number" && value.action === undefined) {
      this.#answers.shift()?.(value);
    } else {
      this.onPush(value);
    }
  }

  request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.#answers.push(resolve);
      this.conn.write(JSON.stringify({ time: 1, ...body }) + "\n");
    });
  }

  send(body: Record<string, unknown>): void {
    this.#answers.push(() => {});
    this.conn.write(JSON.stringify({ time: 1, ...body }) + "\n");
  }
}

async function expect(r: Promise<Record<string, unknown>>, codes: number[]): Promise<void> {
  const answer = await r;
  if (!codes.includes(answer.response as number)) {
    throw new Error(`Unexpected answer: ${JSON.stringify(answer)}`);
  }
}

// -- 1. room of 50, history on vs off --

interface RoomSetup {
  senders: Client[];
  all: Client[];
  delivered: () => number;
}

async function roomSetup(port: number): Promise<RoomSetup> {
  let delivered = 0;
  const all: Client[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    const c = await Client.open(port);
    c.onPush = (v) => {
      if (v.action === "msg") delivered++;
    };
    await expect(c.request({ action: "presence", user: { account_name: `m${i}` } }), [200]);
    await expect(c.request({ action: "join", room: "#bench" }), [200, 201]);
    all.push(c);
  }
  return { senders: all.slice(0, SENDERS), all, delivered: () => delivered };
}

/** Sends at `rate` msg/s for `seconds`; returns server CPU seconds and deliveries. */
async function roomPhase(
  server: Server,
  setup: RoomSetup,
): Promise<{ cpu: number; deliveries: number }> {
  const tickMs = 10;
  let owed = 0;
  let sent = 0;
  const startDelivered = setup.delivered();
  const before = await sampleProcess(server.pid);
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      owed = rate * elapsed / 1000 - sent;
      for (; owed >= 1; owed--, sent++) {
        setup.senders[sent % SENDERS]!.send({
          action: "msg",
          to: "#bench",
          encoding: "utf-8",
          message: "x".repeat(100),
        });
      }
      if (elapsed >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  // Waits for the deliveries still on their way (with a deadline).
  const expected = startDelivered + sent * (MEMBERS - 1);
  const deadline = performance.now() + 10_000;
  while (setup.delivered() < expected && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const after = await sampleProcess(server.pid);
  return {
    cpu: after.cpuSeconds - before.cpuSeconds,
    deliveries: setup.delivered() - startDelivered,
  };
}

// -- 2. presence fan-out --

async function fanOut(
  server: Server,
): Promise<{ onlineMs: number[]; offlineMs: number[]; cpuUsPerNotice: number }> {
  const port = server.port;
  const star = "star";
  {
    const c = await Client.open(port);
    await expect(
      c.request({ action: "register", user: { account_name: star, password: "long enough" } }),
      [201],
    );
    c.conn.close();
  }
  let told = 0;
  const clients: Client[] = [];
  for (let i = 0; i < watchers; i++) {
    const c = await Client.open(port);
    const name = `w${i}`;
    await expect(
      c.request({ action: "register", user: { account_name: name, password: "long enough" } }),
      [201],
    );
    await expect(
      c.request({ action: "authenticate", user: { account_name: name, password: "long enough" } }),
      [200],
    );
    await expect(c.request({ action: "contacts", add: star }), [200]);
    c.onPush = (v) => {
      if (v.action === "contact") told++;
    };
    clients.push(c);
  }
  const onlineMs: number[] = [];
  const offlineMs: number[] = [];
  const before = await sampleProcess(server.pid);
  async function allTold(target: number): Promise<number> {
    const deadline = performance.now() + 30_000;
    while (told < target) {
      if (performance.now() > deadline) throw new Error(`only ${told} of ${target} notices`);
      await new Promise((r) => setTimeout(r, 1));
    }
    return performance.now();
  }
  for (let round = 0; round < rounds; round++) {
    const c = await Client.open(port);
    let t0 = performance.now();
    c.send({ action: "authenticate", user: { account_name: star, password: "long enough" } });
    onlineMs.push(await allTold(told + watchers) - t0);
    t0 = performance.now();
    c.conn.close();
    offlineMs.push(await allTold(told + watchers) - t0);
  }
  const after = await sampleProcess(server.pid);
  for (const c of clients) c.conn.close();
  return {
    onlineMs,
    offlineMs,
    cpuUsPerNotice: (after.cpuSeconds - before.cpuSeconds) * 1e6 / (2 * rounds * watchers),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

await initClockTicks();
const dir = await Deno.makeTempDir({ prefix: "jim_bench_history_" });
try {
  progress(`room of ${MEMBERS}, ${SENDERS} senders, ${rate} msg/s, ${seconds} s phases`);
  await using on = await startServer(dir, "on", ["--room-history", "200"]);
  await using off = await startServer(dir, "off", ["--room-history", "0"]);
  const setups = new Map([[on, await roomSetup(on.port)], [off, await roomSetup(off.port)]]);
  const cpu = new Map<Server, number[]>([[on, []], [off, []]]);
  // Alternating, so that whatever else the machine does falls on both.
  for (let i = 0; i < (quick ? 2 : 4); i++) {
    for (const server of [on, off]) {
      const r = await roomPhase(server, setups.get(server)!);
      cpu.get(server)!.push(r.cpu * 1e6 / r.deliveries);
      progress(
        `  history ${server === on ? "on " : "off"}: ${r.deliveries} deliveries, ${
          (r.cpu * 1e6 / r.deliveries).toFixed(2)
        } µs CPU each`,
      );
    }
  }
  for (const s of setups.values()) for (const c of s.all) c.conn.close();
  const usOn = median(cpu.get(on)!);
  const usOff = median(cpu.get(off)!);
  console.log(
    `room of ${MEMBERS} at ${rate} msg/s: server CPU per delivery, median of ${
      cpu.get(on)!.length
    } phases: history on ${usOn.toFixed(2)} µs, off ${usOff.toFixed(2)} µs (${
      ((usOn / usOff - 1) * 100).toFixed(1)
    }% more)`,
  );

  progress(`presence fan-out: ${watchers} watchers, ${rounds} rounds`);
  await using fan = await startServer(dir, "fan", []);
  const f = await fanOut(fan);
  console.log(
    `presence fan-out to ${watchers} watchers: all told within median ${
      median(f.onlineMs).toFixed(1)
    } ms (max ${Math.max(...f.onlineMs).toFixed(1)}) of a login, ${
      median(f.offlineMs).toFixed(1)
    } ms (max ${Math.max(...f.offlineMs).toFixed(1)}) of a disconnect; server CPU ${
      f.cpuUsPerNotice.toFixed(2)
    } µs per notice`,
  );
  stopping = true;
} finally {
  await Deno.remove(dir, { recursive: true });
}

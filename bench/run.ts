// deno-lint-ignore-file no-console -- the benchmark's product is its printed report
/**
 * `deno task bench [--quick] [flags]`: runs the benchmark workloads against
 * jim, the Deno relay ceiling, ngircd and (optionally) nats-server, side by
 * side, and prints a Markdown
 * table (stdout; progress goes to stderr). Every run also writes a JSON file
 * under bench/results/ with the commit, the machine and every figure.
 *
 * Workloads (docs/performance.md has the details):
 * 1. direct: pairs of clients messaging each other; max throughput, then
 *    latency at 50% of it.
 * 2. room: one room of 50 (and 500) members, 5 senders; deliveries/s.
 * 3. idle: 10,000 connections that each sent presence; RSS per connection.
 * 4. storm: authenticate/s at the production hash cost, and the p99 of a
 *    direct-message load running beside it.
 * 5. reconnect: 1,000 accounts logging back in with session tokens, all at
 *    once, after a server restart; seconds until all are back (target 5 s).
 * 6. offline: 100,000 messages to offline accounts, then their logins.
 *
 * Any loss, duplication or reordering ends the run with exit code 1.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { DEFAULT_HASH_ITERATIONS, hashPassword } from "../lib/auth/password.ts";
import { newToken } from "../lib/auth/token.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import type { Command, GeneratorConfig, RunResult, TargetKind } from "./generator.ts";
import { ensureNats, natsArgs } from "./nats.ts";
import { startNats } from "../tests/_nats.ts";
import { startPostgres } from "../tests/_postgres.ts";
import { ensureNgircd, ngircdConfig } from "./ngircd.ts";
import {
  fmtBytes,
  fmtMs,
  fmtRate,
  Histogram,
  type HistogramData,
  initClockTicks,
  type LatencySummary,
  machineMemoryBytes,
  type ProcSample,
  sampleProcess,
  summarise,
} from "./stats.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BENCH = new URL(".", import.meta.url).pathname;

/** Usage, printed by `--help`. */
export const HELP_TEXT = `Usage: deno task bench [--quick] [options]

Runs the jim benchmark against jim, a minimal Deno relay, ngircd and
nats-server (a broker, the upper bound; direct and room workloads only).

Options:
  --quick                    toy sizes, a few seconds per workload (CI)
  --only LIST                workloads to run: direct,room,idle,storm,reconnect,offline
                             (default all)
  --targets LIST             jim,relay,ngircd,nats (default all; --quick leaves out
                             nats unless named: --quick --targets jim,relay,ngircd,nats)
  --seconds N                seconds per measured phase (default 5; quick 1)
  --pairs N                  direct: client pairs (default 50)
  --size N                   message payload characters (default 100)
  --window N                 direct: messages in flight per connection (default 16)
  --direct-rate N            direct: msg/s of the second phase (default 50% of the maximum);
                             a fixed rate makes CPU/msg comparable between builds
  --procs N                  direct: generator processes (default 1)
  --room-sizes LIST          room: member counts (default 50,500)
  --room-senders N           room: senders (default 5)
  --room-window N            room: messages in flight per sender (default 8)
  --room-rate N              room: messages/s of the second phase (default 50% of the maximum)
  --idle N                   idle: connections (default 10000; 1000 with --cluster)
  --idle-seconds N           idle with --cluster: seconds each idle phase is measured
                             (default 60; quick 5)
  --connect-batch N          connections opened at once (default 8: ngircd's backlog is 10)
  --storm-concurrency N      storm: concurrent login loops (default 4)
  --storm-rate N             storm: direct messages/s beside it (default 2000)
  --storm-hash-iterations N  storm, reconnect: server hash cost (default: the production cost)
  --reconnect N              reconnect: accounts that log back in with session tokens at
                             once after a server restart (default 1000)
  --offline N                offline: messages (default 100000)
  --offline-accounts N       offline: recipient accounts (default 100)
  --offline-senders N        offline: sending connections (default 50)
  --server-arg ARG           extra argument for the jim server (repeatable)
  --cluster N                direct, room and idle only, jim only: the same workloads on
                             one node without --cluster, then on 1..N nodes sharing a
                             nats-server (-js) and a PostgreSQL the bench starts on free
                             loopback ports; clients spread over the nodes so that most
                             deliveries cross nodes; CPU/delivery counts every jim node
                             and nats-server (needs nats-server and postgresql installed);
                             idle: a plain node and one clustered node, each with 0 and
                             then --idle logged-in connections, their CPU and NATS's
  --profile DIR              run the jim server with --cpu-prof into DIR
  --no-install               do not apt-get install ngircd or nats-server when missing
  --help                     this text
`;

/** Options after parsing and defaults. */
export interface BenchOptions {
  quick: boolean;
  only: Set<string>;
  targets: Set<string>;
  seconds: number;
  pairs: number;
  size: number;
  window: number;
  /** direct: the second phase's rate instead of 50% of the maximum */
  directRate: number | null;
  /** room: the second phase's message rate instead of 50% of the maximum */
  roomRate: number | null;
  procs: number;
  roomSizes: number[];
  roomSenders: number;
  roomWindow: number;
  idle: number;
  /** `--cluster` idle: seconds each idle phase is measured */
  idleSeconds: number;
  connectBatch: number;
  stormConcurrency: number;
  stormRate: number;
  stormHashIterations: number | null;
  reconnect: number;
  offline: number;
  offlineAccounts: number;
  offlineSenders: number;
  serverArgs: string[];
  profile: string | null;
  install: boolean;
  /** `--cluster N`: the cluster variant over 1..N nodes, or null */
  cluster: number | null;
}

const WORKLOADS = ["direct", "room", "idle", "storm", "reconnect", "offline"];
const TARGETS = ["jim", "relay", "ngircd", "nats"];
/**
 * What `--cluster` runs: the hot path, where the NATS hop adds its cost, and
 * what an idle node spends (claim and liveness renewals).
 */
const CLUSTER_WORKLOADS = ["direct", "room", "idle"];
/**
 * The quick run (CI) leaves nats out unless named: it would add about 30% to
 * the run, and an apt-get install on a fresh machine. The full suite keeps it
 * (about 30 s of about 150).
 */
const QUICK_TARGETS = ["jim", "relay", "ngircd"];

/** A bad command line (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failed run: loss, disorder, a server that would not start (exit 1). */
export class BenchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BenchError";
  }
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`Cannot parse --${name}: ${value}`);
  return n;
}

function list(
  value: unknown,
  known: string[],
  name: string,
  defaults: string[] = known,
): Set<string> {
  if (value === undefined) return new Set(defaults);
  const items = String(value).split(",").map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!known.includes(item)) throw new UsageError(`Cannot parse --${name}: unknown "${item}"`);
  }
  return new Set(items);
}

/** Parses the command line; `null` means `--help` was asked for. */
export function parseBenchArgs(args: string[]): BenchOptions | null {
  const numeric = [
    "seconds",
    "pairs",
    "size",
    "window",
    "direct-rate",
    "room-rate",
    "procs",
    "room-senders",
    "room-window",
    "idle",
    "idle-seconds",
    "connect-batch",
    "storm-concurrency",
    "storm-rate",
    "storm-hash-iterations",
    "reconnect",
    "offline",
    "offline-accounts",
    "offline-senders",
    "cluster",
  ];
  const flags = parseArgs(args, {
    boolean: ["quick", "help", "install"],
    string: ["only", "targets", "room-sizes", "server-arg", "profile", ...numeric],
    collect: ["server-arg"],
    negatable: ["install"],
    default: { install: true },
    unknown: (arg: string) => {
      throw new UsageError(`Cannot parse arguments: unknown option ${arg}`);
    },
  });
  if (flags.help) return null;
  const quick = Boolean(flags.quick);
  const q = (full: number, toy: number) => quick ? toy : full;
  const size = positive(flags.size, "size", 100);
  if (size < 40 || size > 400) throw new UsageError("Cannot parse --size: must be 40..400");
  const roomSizes = flags["room-sizes"] === undefined
    ? (quick ? [10, 40] : [50, 500])
    : String(flags["room-sizes"]).split(",").map((s) => positive(s, "room-sizes", 0));
  let cluster: number | null = null;
  if (flags.cluster !== undefined) {
    cluster = positive(flags.cluster, "cluster", 0);
    if (!Number.isInteger(cluster) || cluster > 9) {
      throw new UsageError(`Cannot parse --cluster: must be a whole number 1..9`);
    }
    if (flags.targets !== undefined && String(flags.targets).trim() !== "jim") {
      throw new UsageError("Cannot parse --targets: --cluster runs jim only");
    }
  }
  const only = list(flags.only, WORKLOADS, "only", cluster ? CLUSTER_WORKLOADS : WORKLOADS);
  if (cluster) {
    for (const w of only) {
      if (!CLUSTER_WORKLOADS.includes(w)) {
        throw new UsageError(`Cannot parse --only: --cluster runs direct, room and idle only`);
      }
    }
  }
  return {
    quick,
    cluster,
    only,
    targets: cluster
      ? new Set(["jim"])
      : list(flags.targets, TARGETS, "targets", quick ? QUICK_TARGETS : TARGETS),
    seconds: positive(flags.seconds, "seconds", q(5, 1)),
    pairs: positive(flags.pairs, "pairs", q(50, 5)),
    size,
    window: positive(flags.window, "window", 16),
    directRate: flags["direct-rate"] === undefined
      ? null
      : positive(flags["direct-rate"], "direct-rate", 0),
    roomRate: flags["room-rate"] === undefined
      ? null
      : positive(flags["room-rate"], "room-rate", 0),
    procs: positive(flags.procs, "procs", 1),
    roomSizes,
    roomSenders: positive(flags["room-senders"], "room-senders", q(5, 3)),
    roomWindow: positive(flags["room-window"], "room-window", 8),
    idle: positive(flags.idle, "idle", cluster ? q(1000, 100) : q(10000, 200)),
    idleSeconds: positive(flags["idle-seconds"], "idle-seconds", q(60, 5)),
    connectBatch: positive(flags["connect-batch"], "connect-batch", 8),
    stormConcurrency: positive(flags["storm-concurrency"], "storm-concurrency", q(4, 2)),
    stormRate: positive(flags["storm-rate"], "storm-rate", q(2000, 200)),
    stormHashIterations: flags["storm-hash-iterations"] === undefined
      ? (quick ? 1000 : null)
      : positive(flags["storm-hash-iterations"], "storm-hash-iterations", 0),
    reconnect: positive(flags.reconnect, "reconnect", 1000),
    offline: positive(flags.offline, "offline", q(100000, 2000)),
    offlineAccounts: positive(flags["offline-accounts"], "offline-accounts", q(100, 10)),
    offlineSenders: positive(flags["offline-senders"], "offline-senders", q(50, 10)),
    serverArgs: (flags["server-arg"] ?? []).map(String),
    profile: flags.profile === undefined ? null : String(flags.profile),
    install: Boolean(flags.install),
  };
}

// -- processes --

const FD_LIMIT = 30000;
const SH_WRAPPER = 'ulimit -n "$NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"';

/** A server under test, started fresh for one workload. */
interface Target {
  name: string;
  kind: TargetKind;
  port: number;
  pid: number;
  log: string;
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function tail(path: string, lines = 15): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function launch(
  name: string,
  kind: TargetKind,
  port: number,
  cmd: string[],
  dir: string,
): Promise<Target> {
  const log = `${dir}/${name}.log`;
  const child = new Deno.Command("sh", {
    args: ["-c", `${SH_WRAPPER} >"$LOG" 2>&1`, "sh", ...cmd],
    env: { NOFILE: String(FD_LIMIT), LOG: log },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (exited) return;
    try {
      child.kill("SIGTERM");
    } catch {
      // gone already
    }
    const t = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone already
      }
    }, 10000);
    await status;
    clearTimeout(t);
  };
  const deadline = Date.now() + 30000;
  while (true) {
    if (exited) {
      throw new BenchError(`Cannot start ${name}: it exited\n${await tail(log)}`);
    }
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new BenchError(`Cannot start ${name}: port ${port} not open after 30 s`);
      }
      await delay(50);
    }
  }
  return { name, kind, port, pid: child.pid, log, stop };
}

interface JimServerOptions {
  db: string;
  /** `--store` URL (then `db` is not passed) */
  store?: string;
  /** `--cluster` NATS URL */
  cluster?: string;
  /** the process's name in progress and log file names */
  name?: string;
  hashIterations?: number | null;
  offlineLimit?: number;
}

/** Flags that jim's server.ts actually has, read once from its `--help`. */
let serverHelp: string | null = null;

async function jimHelp(): Promise<string> {
  if (serverHelp !== null) return serverHelp;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}server.ts`, "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  serverHelp = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return serverHelp;
}

const warned = new Set<string>();

async function startJim(ctx: Context, port: number, o: JimServerOptions): Promise<Target> {
  const help = await jimHelp();
  const args = ["-p", String(port), "-a", "127.0.0.1"];
  if (o.store) args.push("--store", o.store);
  else args.push("--db", o.db);
  if (o.cluster) args.push("--cluster", o.cluster);
  const wanted: [string, string | null][] = [
    ["--rate-limit", "0"],
    ["--max-per-address", "0"],
    ["--max-connections", "20000"],
    ["--quiet", null],
    // Every bench client comes from 127.0.0.1, and logins in flight count toward this.
    ["--auth-failures", "100000"],
    ["--auth-address-failures", "100000"],
    // Likewise for the per-address registration limits and the hashing queue.
    ["--register-pending", "0"],
    ["--register-limit", "0"],
    ["--hash-queue", "100000"],
  ];
  if (o.hashIterations) wanted.push(["--hash-iterations", String(o.hashIterations)]);
  if (o.offlineLimit) wanted.push(["--offline-limit", String(o.offlineLimit)]);
  for (const [flag, value] of wanted) {
    if (help.includes(flag)) {
      args.push(flag);
      if (value !== null) args.push(value);
    } else if (!warned.has(flag)) {
      warned.add(flag);
      ctx.note(`jim server has no ${flag} flag: running with its default`);
    }
  }
  args.push(...ctx.options.serverArgs);
  const deno = [Deno.execPath(), "run", "-A"];
  if (ctx.options.profile) {
    deno.push("--cpu-prof", `--cpu-prof-dir=${ctx.options.profile}`);
  }
  return await launch(
    o.name ?? "jim",
    "jim",
    port,
    [...deno, `${ROOT}server.ts`, ...args],
    ctx.dir,
  );
}

async function startTarget(ctx: Context, name: string, o?: JimServerOptions): Promise<Target> {
  const port = freePort();
  switch (name) {
    case "jim":
      return await startJim(ctx, port, o ?? { db: ":memory:" });
    case "relay":
      return await launch(
        "relay",
        "relay",
        port,
        [Deno.execPath(), "run", "--allow-net=127.0.0.1", `${BENCH}relay.ts`, String(port)],
        ctx.dir,
      );
    case "ngircd": {
      const conf = `${ctx.dir}/ngircd.conf`;
      await Deno.writeTextFile(conf, ngircdConfig(port, ctx.dir));
      return await launch("ngircd", "irc", port, [ctx.ngircd!, "-n", "-f", conf], ctx.dir);
    }
    case "nats":
      return await launch("nats", "nats", port, [ctx.nats!, ...natsArgs(port)], ctx.dir);
  }
  throw new Error(`Cannot start ${name}: unknown target`);
}

/** One load-generator process, spoken to in JSON lines. */
export class GeneratorProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;

  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
  }

  /** Spawns a generator and waits for its hello. */
  static async start(config: GeneratorConfig): Promise<GeneratorProcess> {
    const child = new Deno.Command("sh", {
      args: [
        "-c",
        SH_WRAPPER,
        "sh",
        Deno.execPath(),
        "run",
        "--allow-net=127.0.0.1",
        `${BENCH}generator.ts`,
        JSON.stringify(config),
      ],
      env: { NOFILE: String(FD_LIMIT) },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const gen = new GeneratorProcess(child);
    await gen.#next("hello");
    return gen;
  }

  async #next(expect: string): Promise<Record<string, unknown>> {
    while (true) {
      const r = await this.#lines.next();
      if (r.done) throw new BenchError(`Cannot ${expect}: the generator exited`);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(r.value);
      } catch {
        console.error(`generator: ${r.value}`);
        continue;
      }
      if (msg.event === "fatal") throw new BenchError(String(msg.message));
      if (msg.event === "hello" || msg.event === "done") return msg;
    }
  }

  /** Sends one command and waits for its result (a fatal line throws {@linkcode BenchError}). */
  async send<T = Record<string, unknown>>(command: Command): Promise<T> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
    const msg = await this.#next(command.cmd);
    return msg.result as T;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.exit();
  }

  /** Asks the generator to exit (killing it if it does not) and waits for it. */
  async exit(): Promise<void> {
    try {
      await this.send({ cmd: "exit" });
    } catch {
      // already gone
    }
    try {
      await this.#writer.close();
    } catch {
      // already closed
    }
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // exited
    }
    while (!(await this.#lines.next()).done) {
      // drain stdout so its stream closes
    }
    await this.#child.status;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    let nl = rest.indexOf("\n");
    while (nl >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      nl = rest.indexOf("\n");
    }
  }
  if (rest) yield rest;
}

// -- results --

/** One line of the report. */
export interface Row {
  workload: string;
  target: string;
  /** headline figure and its unit */
  value: number;
  unit: string;
  latency?: LatencySummary;
  rssBytes?: number;
  cpuUsPerMsg?: number;
  /** key that matches the same measurement on other targets, for ratios */
  key?: string;
  notes: string[];
  /** every figure, for the JSON file */
  raw?: unknown;
}

interface Context {
  options: BenchOptions;
  dir: string;
  ngircd: string | null;
  nats: string | null;
  rows: Row[];
  notes: string[];
  note(s: string): void;
}

function progress(s: string): void {
  console.error(`[bench] ${s}`);
}

function genConfig(ctx: Context, target: Target): GeneratorConfig {
  return {
    target: target.kind,
    hostname: "127.0.0.1",
    port: target.port,
    connectBatch: ctx.options.connectBatch,
    size: ctx.options.size,
    drainSeconds: ctx.options.quick ? 5 : 10,
  };
}

interface Measured {
  run: RunResult;
  delivery: Histogram;
  ack: Histogram;
  scheduled: Histogram;
  cpuSeconds: number;
  after: ProcSample;
}

/** Runs one phase on every generator at once, with server CPU sampled around it. */
async function measure(
  target: Target | number[],
  gens: GeneratorProcess[],
  command: Command,
): Promise<Measured> {
  const pids = Array.isArray(target) ? target : [target.pid];
  const before = await sampleAll(pids);
  const results = await Promise.all(gens.map((g) => g.send<RunResult>(command)));
  const after = await sampleAll(pids);
  const delivery = new Histogram();
  const ack = new Histogram();
  const scheduled = new Histogram();
  let messages = 0, deliveries = 0, seconds = 0, stalls = 0, genCpu = 0;
  for (const r of results) {
    delivery.merge(r.delivery);
    ack.merge(r.ack);
    scheduled.merge(r.scheduled);
    messages += r.messages;
    deliveries += r.deliveries;
    stalls += r.stalls;
    genCpu += r.generatorCpuSeconds;
    seconds = Math.max(seconds, r.seconds);
  }
  const run: RunResult = {
    ...results[0]!,
    messages,
    deliveries,
    seconds,
    stalls,
    generatorCpuSeconds: genCpu,
    delivery: delivery.toJSON(),
    ack: ack.toJSON(),
    scheduled: scheduled.toJSON(),
  };
  return { run, delivery, ack, scheduled, cpuSeconds: after.cpuSeconds - before.cpuSeconds, after };
}

/** Several processes' CPU and memory, summed (one cluster's nodes and its NATS). */
async function sampleAll(pids: number[]): Promise<ProcSample> {
  const samples = await Promise.all(pids.map((pid) => sampleProcess(pid)));
  return {
    cpuSeconds: samples.reduce((a, s) => a + s.cpuSeconds, 0),
    rssBytes: samples.reduce((a, s) => a + s.rssBytes, 0),
    peakRssBytes: samples.reduce((a, s) => a + s.peakRssBytes, 0),
  };
}

function runRow(
  workload: string,
  target: Target,
  m: Measured,
  what: "msg" | "delivery",
  key: string,
): Row {
  const count = what === "msg" ? m.run.messages : m.run.deliveries;
  const notes: string[] = [];
  if (m.ack.count > 0) notes.push(`ack p99 ${fmtMs(summarise(m.ack).p99)} ms`);
  if (m.scheduled.count > 0) {
    notes.push(`p99 from schedule ${fmtMs(summarise(m.scheduled).p99)} ms`);
  }
  notes.push(`gen CPU ${Math.round(m.run.generatorCpuSeconds / m.run.seconds * 100)}%`);
  notes.push(`server CPU ${Math.round(m.cpuSeconds / m.run.seconds * 100)}%`);
  if (m.run.stalls > 0) notes.push(`${m.run.stalls} window stalls`);
  return {
    workload,
    target: target.name,
    value: count / m.run.seconds,
    unit: what === "msg" ? "msg/s" : "deliveries/s",
    latency: summarise(m.delivery),
    rssBytes: m.after.rssBytes,
    cpuUsPerMsg: m.cpuSeconds * 1e6 / m.run.deliveries,
    key,
    notes,
    raw: { ...m.run, serverCpuSeconds: m.cpuSeconds, serverRss: m.after },
  };
}

async function withTarget<T>(
  ctx: Context,
  name: string,
  fn: (target: Target) => Promise<T>,
  o?: JimServerOptions,
): Promise<T> {
  const target = await startTarget(ctx, name, o);
  try {
    return await fn(target);
  } catch (e) {
    if (e instanceof BenchError) {
      const log = await tail(target.log);
      if (log) e.message += `\n--- ${name} log ---\n${log}`;
    }
    throw e;
  } finally {
    await target.stop();
  }
}

function withGens<T>(
  ctx: Context,
  target: Target,
  n: number,
  fn: (gens: GeneratorProcess[]) => Promise<T>,
): Promise<T> {
  return withGensConfig(genConfig(ctx, target), n, fn);
}

async function withGensConfig<T>(
  config: GeneratorConfig,
  n: number,
  fn: (gens: GeneratorProcess[]) => Promise<T>,
): Promise<T> {
  const gens = await Promise.all(
    Array.from({ length: n }, () => GeneratorProcess.start(config)),
  );
  try {
    return await fn(gens);
  } finally {
    await Promise.all(gens.map((g) => g.exit()));
  }
}

function targetsFor(ctx: Context, allowed: string[]): string[] {
  return allowed.filter((t) =>
    ctx.options.targets.has(t) && (t !== "ngircd" || ctx.ngircd) && (t !== "nats" || ctx.nats)
  );
}

// -- workloads --

async function direct(ctx: Context): Promise<void> {
  const o = ctx.options;
  for (const name of targetsFor(ctx, ["jim", "relay", "ngircd", "nats"])) {
    progress(`direct: ${name}, ${o.pairs} pairs`);
    await withTarget(ctx, name, (target) =>
      withGens(ctx, target, o.procs, async (gens) => {
        const per = Math.ceil(o.pairs / gens.length);
        await Promise.all(gens.map((g, i) =>
          g.send({
            cmd: "direct-setup",
            pairs: Math.max(0, Math.min(per, o.pairs - i * per)),
            firstPair: i * per,
          })
        ));
        const max = await measure(target, gens, {
          cmd: "run",
          mode: "window",
          window: o.window,
          rate: 0,
          seconds: o.seconds,
        });
        ctx.rows.push(runRow("direct: max", target, max, "msg", "direct-max"));
        const rate = o.directRate ?? max.run.messages / max.run.seconds / 2;
        const half = await measure(target, gens, {
          cmd: "run",
          mode: "rate",
          window: o.window * 4,
          rate: rate / gens.length,
          seconds: o.seconds,
        });
        const label = o.directRate ? `direct: ${fmtRate(rate)} msg/s` : "direct: 50% load";
        ctx.rows.push(runRow(label, target, half, "msg", "direct-half"));
      }));
  }
}

async function room(ctx: Context): Promise<void> {
  const o = ctx.options;
  for (const members of o.roomSizes) {
    for (const name of targetsFor(ctx, ["jim", "relay", "ngircd", "nats"])) {
      progress(`room: ${name}, ${members} members, ${o.roomSenders} senders`);
      await withTarget(ctx, name, (target) =>
        withGens(ctx, target, 1, async (gens) => {
          await gens[0]!.send({
            cmd: "room-setup",
            members,
            senders: Math.min(o.roomSenders, members),
            room: "#bench",
          });
          const max = await measure(target, gens, {
            cmd: "run",
            mode: "window",
            window: o.roomWindow,
            rate: 0,
            seconds: o.seconds,
          });
          ctx.rows.push(
            runRow(`room ${members}: max`, target, max, "delivery", `room${members}-max`),
          );
          const rate = o.roomRate ?? max.run.messages / max.run.seconds / 2;
          const half = await measure(target, gens, {
            cmd: "run",
            mode: "rate",
            window: o.roomWindow * 4,
            rate,
            seconds: o.seconds,
          });
          ctx.rows.push(
            runRow(
              o.roomRate ? `room ${members}: ${fmtRate(rate)} msg/s` : `room ${members}: 50% load`,
              target,
              half,
              "delivery",
              `room${members}-half`,
            ),
          );
        }));
    }
  }
}

async function idle(ctx: Context): Promise<void> {
  const o = ctx.options;
  for (const name of targetsFor(ctx, ["jim", "ngircd"])) {
    progress(`idle: ${name}, ${o.idle} connections`);
    await withTarget(ctx, name, (target) =>
      withGens(ctx, target, 1, async (gens) => {
        await delay(500);
        const before = await sampleProcess(target.pid);
        const r = await gens[0]!.send<{ seconds: number; connections: number }>({
          cmd: "idle-connect",
          connections: o.idle,
        });
        await delay(o.quick ? 200 : 1000);
        const after = await sampleProcess(target.pid);
        const perConn = (after.rssBytes - before.rssBytes) / r.connections;
        ctx.rows.push({
          workload: `idle ${r.connections}: connect`,
          target: target.name,
          value: r.connections / r.seconds,
          unit: "conn/s",
          rssBytes: after.rssBytes,
          cpuUsPerMsg: (after.cpuSeconds - before.cpuSeconds) * 1e6 / r.connections,
          key: "idle",
          notes: [
            `RSS/conn ${fmtBytes(perConn)}`,
            `RSS ${fmtBytes(before.rssBytes)} → ${fmtBytes(after.rssBytes)}`,
            `${r.connections} held`,
          ],
          raw: { ...r, before, after, rssPerConnection: perConn },
        });
      }));
  }
}

async function storm(ctx: Context): Promise<void> {
  const o = ctx.options;
  if (!o.targets.has("jim")) return;
  const db = `${ctx.dir}/storm.db`;
  const accounts = Array.from({ length: o.stormConcurrency * 4 }, (_, i) => `acct${i}`);
  const password = "bench-password-123";
  progress(
    `storm: jim, ${o.stormConcurrency} login loops, hash ${
      o.stormHashIterations ?? "production"
    } cost, ${o.stormRate} msg/s beside`,
  );
  await withTarget(ctx, "jim", (target) =>
    withGens(ctx, target, 1, async (gens) => {
      const g = gens[0]!;
      const reg = await g.send<{ seconds: number }>({ cmd: "register", accounts, password });
      await g.send({ cmd: "direct-setup", pairs: o.quick ? 2 : 10, firstPair: 0 });
      const run: Command = {
        cmd: "run",
        mode: "rate",
        window: 64,
        rate: o.stormRate,
        seconds: o.seconds,
      };
      const base = await measure(target, gens, run);
      const during = await measure(target, gens, {
        ...run,
        storm: { accounts, password, concurrency: o.stormConcurrency },
      });
      const st = during.run.storm!;
      const authLatency = summarise(Histogram.from(st.latency));
      const baseP99 = summarise(base.delivery).p99;
      const stormP99 = summarise(during.delivery).p99;
      ctx.rows.push({
        workload: "storm: authenticate",
        target: "jim",
        value: st.authentications / during.run.seconds,
        unit: "auth/s",
        latency: authLatency,
        rssBytes: during.after.rssBytes,
        key: "storm-auth",
        notes: [
          `hash ${o.stormHashIterations ?? "production"}`,
          `${accounts.length} accounts registered in ${reg.seconds.toFixed(1)} s`,
          `server CPU ${Math.round(during.cpuSeconds / during.run.seconds * 100)}%`,
        ],
        raw: { register: reg, storm: st, during: during.run },
      });
      const row = runRow("storm: direct beside it", target, during, "msg", "storm-direct");
      delete row.cpuUsPerMsg; // the server's CPU goes to hashing here
      row.notes.unshift(
        `p99 ${fmtMs(baseP99)} ms without storm → ${fmtMs(stormP99)} ms with`,
      );
      row.raw = { baseline: base.run, during: during.run };
      ctx.rows.push(row);
    }), { db, hashIterations: o.stormHashIterations });
}

/** What a server leaves when it has issued session tokens: accounts, each with one token. */
async function seedTokens(
  db: string,
  accounts: string[],
  hashIterations: number | null,
): Promise<string[]> {
  await using store = SqliteStore.open(db, { synchronous: "normal" });
  // One hash for all: the accounts' passwords are never checked here.
  const hash = await hashPassword("bench-password-123", {
    iterations: hashIterations ?? DEFAULT_HASH_ITERATIONS,
  });
  const tokens: string[] = [];
  const expires = Date.now() + 86_400_000;
  for (const name of accounts) {
    await store.createAccount(name, hash);
    const t = await newToken();
    await store.addToken(name, t.hash, expires, 10);
    tokens.push(t.token);
  }
  return tokens;
}

/** Target for {@linkcode reconnect}: every account back within this many seconds. */
const RECONNECT_TARGET_SECONDS = 5;

async function reconnect(ctx: Context): Promise<void> {
  const o = ctx.options;
  if (!o.targets.has("jim")) return;
  const db = `${ctx.dir}/reconnect.db`;
  const accounts = Array.from({ length: o.reconnect }, (_, i) => `back${i}`);
  progress(
    `reconnect: jim, ${accounts.length} accounts with session tokens, hash ${
      o.stormHashIterations ?? "production"
    } cost`,
  );
  // Issued straight into the database: getting them through 1,000 password
  // logins would take over a minute at production cost, which is the point.
  const tokens = await seedTokens(db, accounts, o.stormHashIterations);
  type Wave = { seconds: number; logins: number; latency: HistogramData };
  const waves: Wave[] = [];
  // The first start brings every client online; then the server restarts and
  // they all come back at once, as after a deploy.
  for (let phase = 0; phase < 2; phase++) {
    await withTarget(ctx, "jim", (target) =>
      withGens(ctx, target, 1, async (gens) => {
        const wave = await gens[0]!.send<Wave>({
          cmd: "token-login",
          accounts,
          tokens,
          concurrency: accounts.length,
        });
        waves.push(wave);
        if (phase === 0) return;
        const first = waves[0]!;
        ctx.rows.push({
          workload: `reconnect: ${accounts.length} token logins after a restart`,
          target: "jim",
          value: wave.logins / wave.seconds,
          unit: "logins/s",
          latency: summarise(Histogram.from(wave.latency)),
          key: "reconnect",
          notes: [
            `all back in ${wave.seconds.toFixed(2)} s`,
            `first start ${first.seconds.toFixed(2)} s`,
            `hash ${o.stormHashIterations ?? "production"} cost, not used`,
          ],
          raw: { waves },
        });
      }), { db, hashIterations: o.stormHashIterations });
  }
}

async function dbBytes(db: string): Promise<number> {
  let total = 0;
  for (const suffix of ["", "-wal", "-shm"]) {
    try {
      total += (await Deno.stat(db + suffix)).size;
    } catch {
      // absent
    }
  }
  return total;
}

async function offline(ctx: Context): Promise<void> {
  const o = ctx.options;
  if (!o.targets.has("jim")) return;
  const db = `${ctx.dir}/offline.db`;
  const recipients = Array.from({ length: o.offlineAccounts }, (_, i) => `rcpt${i}`);
  const password = "bench-password-123";
  const hashIterations = 1000;
  progress(`offline: jim, ${o.offline} messages to ${recipients.length} offline accounts`);
  await withTarget(ctx, "jim", (target) =>
    withGens(ctx, target, 1, async (gens) => {
      const g = gens[0]!;
      const senders = Array.from({ length: o.offlineSenders }, (_, i) => `s${i}`);
      await g.send({ cmd: "register", accounts: [...recipients, ...senders], password });
      await g.send({ cmd: "offline-setup", senders, password });
      const cpu0 = (await sampleProcess(target.pid)).cpuSeconds;
      const sent = await g.send<{ seconds: number; stored: number; ack: never }>({
        cmd: "offline-send",
        recipients,
        total: o.offline,
        window: 4,
      });
      const cpu1 = (await sampleProcess(target.pid)).cpuSeconds;
      const size = await dbBytes(db);
      const login = await g.send<{ seconds: number; delivered: number; loginSeconds: number }>({
        cmd: "offline-login",
        recipients,
        password,
        timeoutSeconds: o.quick ? 30 : 120,
      });
      const after = await sampleProcess(target.pid);
      const sizeAfter = await dbBytes(db);
      ctx.rows.push({
        workload: `offline ${sent.stored}: store`,
        target: "jim",
        value: sent.stored / sent.seconds,
        unit: "stored/s",
        latency: summarise(Histogram.from(sent.ack)),
        cpuUsPerMsg: (cpu1 - cpu0) * 1e6 / sent.stored,
        key: "offline-store",
        notes: [`DB ${fmtBytes(size)} (${Math.round(size / sent.stored)} B/msg)`],
        raw: { sent, dbBytes: size },
      });
      ctx.rows.push({
        workload: `offline ${sent.stored}: deliver on login`,
        target: "jim",
        value: login.delivered / login.seconds,
        unit: "delivered/s",
        rssBytes: after.rssBytes,
        cpuUsPerMsg: (after.cpuSeconds - cpu1) * 1e6 / login.delivered,
        key: "offline-deliver",
        notes: [
          `${recipients.length} logins in ${fmtMs(login.loginSeconds * 1000)} ms`,
          `DB after ${fmtBytes(sizeAfter)}`,
        ],
        raw: { login, dbBytesAfter: sizeAfter },
      });
    }), { db, hashIterations, offlineLimit: Math.ceil(o.offline / recipients.length) * 2 });
}

/** One layout of the cluster variant: `nodes` jim processes, clustered or a plain single node. */
interface Layout {
  label: string;
  nodes: number;
  clustered: boolean;
}

/**
 * `--cluster N`: direct and room on a plain node (SQLite in memory, no
 * NATS), then on 1..N clustered nodes. The second phase of each runs at one
 * fixed rate for every layout (`--direct-rate`/`--room-rate`, else half the
 * plain node's maximum), so that CPU per delivery compares the layouts at the
 * same load. All processes share this machine's cores: the figures are the
 * cost of the NATS hop, not how the cluster scales.
 */
async function cluster(ctx: Context): Promise<void> {
  const o = ctx.options;
  const n = o.cluster!;
  const layouts: Layout[] = [{ label: "jim, 1 node, no cluster", nodes: 1, clustered: false }];
  for (let k = 1; k <= n; k++) {
    layouts.push({ label: `jim, ${k} node${k > 1 ? "s" : ""} + NATS`, nodes: k, clustered: true });
  }
  progress("cluster: starting nats-server and PostgreSQL");
  await using nats = await startNats();
  await using pg = await startPostgres();
  let databases = 0;
  const withNodes = async <T>(
    layout: Layout,
    fn: (nodes: Target[], pids: number[]) => Promise<T>,
  ): Promise<T> => {
    const nodes: Target[] = [];
    try {
      const store = layout.clustered ? await pg.createDatabase(`bench${databases++}`) : undefined;
      // One at a time: the first migrates the schema, the others find it done.
      for (let i = 0; i < layout.nodes; i++) {
        const server: JimServerOptions = { db: ":memory:", name: `jim${i}` };
        if (store) {
          server.store = store;
          server.cluster = nats.url;
        }
        nodes.push(await startJim(ctx, freePort(), server));
      }
      const pids = nodes.map((t) => t.pid);
      if (layout.clustered) pids.push(nats.pid);
      return await fn(nodes, pids);
    } catch (e) {
      if (e instanceof BenchError) {
        for (const t of nodes) {
          const log = await tail(t.log);
          if (log) e.message += `\n--- ${t.name} log ---\n${log}`;
        }
      }
      throw e;
    } finally {
      // SIGTERM: each node deletes its name claims, so the next layout can take the same names.
      await Promise.all(nodes.map((t) => t.stop()));
    }
  };
  const gensFor =
    (nodes: Target[], count: number) => (fn: (g: GeneratorProcess[]) => Promise<void>) =>
      withGensConfig(
        { ...genConfig(ctx, nodes[0]!), ports: nodes.map((t) => t.port) },
        count,
        fn,
      );
  const row = (r: Row, layout: Layout, natsCpu: number | null): Row => {
    r.target = layout.label;
    if (natsCpu !== null) {
      const raw = r.raw as { deliveries: number; seconds: number };
      r.notes.push(`nats-server ${(natsCpu * 1e6 / raw.deliveries).toFixed(1)} µs/delivery`);
    }
    r.notes = r.notes.map((s) => s.replace("server CPU", "CPU of all"));
    return r;
  };
  const natsCpuOf = async <T>(
    layout: Layout,
    fn: () => Promise<T>,
  ): Promise<[T, number | null]> => {
    if (!layout.clustered) return [await fn(), null];
    const before = (await sampleProcess(nats.pid)).cpuSeconds;
    const result = await fn();
    return [result, (await sampleProcess(nats.pid)).cpuSeconds - before];
  };

  if (o.only.has("direct")) {
    let rate = o.directRate;
    for (const layout of layouts) {
      progress(`cluster direct: ${layout.label}, ${o.pairs} pairs`);
      await withNodes(layout, (nodes, pids) =>
        gensFor(nodes, o.procs)(async (gens) => {
          const per = Math.ceil(o.pairs / gens.length);
          await Promise.all(gens.map((g, i) =>
            g.send({
              cmd: "direct-setup",
              pairs: Math.max(0, Math.min(per, o.pairs - i * per)),
              firstPair: i * per,
            })
          ));
          const [max, maxNats] = await natsCpuOf(layout, () =>
            measure(pids, gens, {
              cmd: "run",
              mode: "window",
              window: o.window,
              rate: 0,
              seconds: o.seconds,
            }));
          const fake = { ...nodes[0]!, name: layout.label };
          ctx.rows.push(
            row(
              runRow("cluster direct: max", fake, max, "msg", `cluster-direct-max`),
              layout,
              maxNats,
            ),
          );
          rate ??= max.run.messages / max.run.seconds / 2;
          const [fixed, fixedNats] = await natsCpuOf(layout, () =>
            measure(pids, gens, {
              cmd: "run",
              mode: "rate",
              window: o.window * 4,
              rate: rate! / gens.length,
              seconds: o.seconds,
            }));
          ctx.rows.push(
            row(
              runRow(
                `cluster direct: ${fmtRate(rate!)} msg/s`,
                fake,
                fixed,
                "msg",
                "cluster-direct-fixed",
              ),
              layout,
              fixedNats,
            ),
          );
        }));
    }
  }
  if (o.only.has("room")) {
    for (const members of o.roomSizes) {
      let rate = o.roomRate;
      for (const layout of layouts) {
        progress(`cluster room: ${layout.label}, ${members} members, ${o.roomSenders} senders`);
        await withNodes(layout, (nodes, pids) =>
          gensFor(nodes, 1)(async (gens) => {
            await gens[0]!.send({
              cmd: "room-setup",
              members,
              senders: Math.min(o.roomSenders, members),
              room: "#bench",
            });
            const [max, maxNats] = await natsCpuOf(layout, () =>
              measure(pids, gens, {
                cmd: "run",
                mode: "window",
                window: o.roomWindow,
                rate: 0,
                seconds: o.seconds,
              }));
            const fake = { ...nodes[0]!, name: layout.label };
            ctx.rows.push(
              row(
                runRow(
                  `cluster room ${members}: max`,
                  fake,
                  max,
                  "delivery",
                  `cluster-room${members}-max`,
                ),
                layout,
                maxNats,
              ),
            );
            rate ??= max.run.messages / max.run.seconds / 2;
            const [fixed, fixedNats] = await natsCpuOf(layout, () =>
              measure(pids, gens, {
                cmd: "run",
                mode: "rate",
                window: o.roomWindow * 4,
                rate: rate!,
                seconds: o.seconds,
              }));
            ctx.rows.push(
              row(
                runRow(
                  `cluster room ${members}: ${fmtRate(rate!)} msg/s`,
                  fake,
                  fixed,
                  "delivery",
                  `cluster-room${members}-fixed`,
                ),
                layout,
                fixedNats,
              ),
            );
          }));
      }
    }
  }
  if (o.only.has("idle")) {
    // A plain node and one clustered node: what each spends doing nothing,
    // first with no connections, then holding `--idle` logged-in guests (each
    // a name claimed in the cluster).
    for (const layout of layouts.slice(0, 2)) {
      progress(
        `cluster idle: ${layout.label}, 0 then ${o.idle} connections, ${o.idleSeconds} s each`,
      );
      await withNodes(layout, (nodes) =>
        gensFor(nodes, 1)(async (gens) => {
          const node = nodes[0]!;
          const idleFor = async (connections: number) => {
            const before = await sampleProcess(node.pid);
            const natsBefore = layout.clustered ? await sampleProcess(nats.pid) : null;
            const t0 = performance.now();
            await delay(o.idleSeconds * 1000);
            const after = await sampleProcess(node.pid);
            const natsAfter = layout.clustered ? await sampleProcess(nats.pid) : null;
            const seconds = (performance.now() - t0) / 1000;
            const cpu = (after.cpuSeconds - before.cpuSeconds) / seconds;
            const natsCpu = natsBefore && natsAfter
              ? (natsAfter.cpuSeconds - natsBefore.cpuSeconds) / seconds
              : null;
            return { connections, seconds, cpu, natsCpu, after };
          };
          await delay(1000);
          const empty = await idleFor(0);
          await gens[0]!.send({ cmd: "idle-connect", connections: o.idle });
          // Past the logins' own work (and the first renewal of every claim).
          await delay(3000);
          const held = await idleFor(o.idle);
          for (const m of [empty, held]) {
            const notes = [`node CPU ${(m.cpu * 100).toFixed(2)}% of a core`];
            if (m.natsCpu !== null) {
              notes.push(`nats-server ${(m.natsCpu * 100).toFixed(2)}% of a core`);
            }
            if (m === held) {
              const per = (held.cpu - empty.cpu) * 1e6 / held.connections;
              notes.push(`${per.toFixed(1)} µs/s per connection over 0 connections`);
              if (held.natsCpu !== null && empty.natsCpu !== null) {
                const natsPer = (held.natsCpu - empty.natsCpu) * 1e6 / held.connections;
                notes.push(`nats-server ${natsPer.toFixed(1)} µs/s per connection`);
              }
            }
            ctx.rows.push({
              workload: `cluster idle ${m.connections}: ${Math.round(m.seconds)} s`,
              target: layout.label,
              // CPU of the node and NATS together, in ms per second.
              value: (m.cpu + (m.natsCpu ?? 0)) * 1000,
              unit: "CPU ms/s",
              rssBytes: m.after.rssBytes,
              key: `cluster-idle${m.connections}`,
              notes,
              raw: m,
            });
          }
        }));
    }
  }
  hopNotes(ctx.rows);
}

/** Adds to each clustered row the CPU per delivery it costs over the plain node at the same load. */
function hopNotes(rows: Row[]): void {
  for (const r of rows) {
    if (!r.key?.startsWith("cluster-") || r.target.includes("no cluster")) continue;
    const base = rows.find((b) =>
      b.key === r.key && b.workload === r.workload && b.target.includes("no cluster")
    );
    if (!base?.cpuUsPerMsg || !r.cpuUsPerMsg) continue;
    const extra = r.cpuUsPerMsg - base.cpuUsPerMsg;
    r.notes.unshift(
      `${extra >= 0 ? "+" : ""}${extra.toFixed(1)} µs/delivery (${
        (r.cpuUsPerMsg / base.cpuUsPerMsg).toFixed(2)
      }×) vs no cluster`,
    );
  }
}

// -- report --

function ratioNotes(rows: Row[]): void {
  for (const row of rows) {
    if (row.target !== "jim" || !row.key?.endsWith("max") && row.key !== "idle") continue;
    const relay = rows.find((r) => r.target === "relay" && r.key === row.key);
    const peers = rows.filter((r) =>
      (r.target === "ngircd" || r.target === "nats") && r.key === row.key
    );
    if (relay) row.notes.unshift(`${Math.round(row.value / relay.value * 100)}% of relay`);
    row.notes.unshift(...peers.map((p) => `${(row.value / p.value).toFixed(2)}× ${p.target}`));
    for (const peer of peers) {
      if (row.cpuUsPerMsg && peer.cpuUsPerMsg) {
        row.notes.push(
          `CPU/msg ${(row.cpuUsPerMsg / peer.cpuUsPerMsg).toFixed(2)}× ${peer.target}`,
        );
      }
    }
  }
}

function table(rows: Row[]): string {
  const head =
    "| Workload | Target | Throughput | p50 ms | p99 ms | p99.9 ms | Server RSS | Server CPU µs/msg | Notes |";
  const sep = "|---|---|--:|--:|--:|--:|--:|--:|---|";
  const body = rows.map((r) =>
    [
      r.workload,
      r.target,
      `${fmtRate(r.value)} ${r.unit}`,
      r.latency ? fmtMs(r.latency.p50) : "",
      r.latency ? fmtMs(r.latency.p99) : "",
      r.latency ? fmtMs(r.latency.p999) : "",
      r.rssBytes ? fmtBytes(r.rssBytes) : "",
      r.cpuUsPerMsg !== undefined && Number.isFinite(r.cpuUsPerMsg) ? r.cpuUsPerMsg.toFixed(1) : "",
      r.notes.join("; "),
    ].join(" | ")
  ).map((s) => `| ${s} |`);
  return [head, sep, ...body].join("\n");
}

interface Check {
  target: string;
  ok: boolean | null;
  detail: string;
}

function checks(rows: Row[]): Check[] {
  const get = (key: string, target: string) =>
    rows.find((r) => r.key === key && r.target === target);
  const out: Check[] = [];
  const cmp = (what: string, ours: number | undefined, theirs: number | undefined, ok: boolean) => {
    if (ours === undefined || theirs === undefined) {
      out.push({ target: what, ok: null, detail: "not measured" });
    } else out.push({ target: what, ok, detail: `${fmtRate(ours)} vs ${fmtRate(theirs)}` });
  };
  const jd = get("direct-max", "jim"),
    rd = get("direct-max", "relay"),
    nd = get("direct-max", "ngircd");
  cmp(
    "direct ≥ 50% of relay",
    jd?.value,
    rd ? rd.value / 2 : undefined,
    !!jd && !!rd && jd.value >= rd.value / 2,
  );
  cmp("direct ≥ ngircd", jd?.value, nd?.value, !!jd && !!nd && jd.value >= nd.value);
  if (jd?.cpuUsPerMsg !== undefined && nd?.cpuUsPerMsg !== undefined) {
    out.push({
      target: "direct CPU/msg ≤ ngircd",
      ok: jd.cpuUsPerMsg <= nd.cpuUsPerMsg,
      detail: `${jd.cpuUsPerMsg.toFixed(1)} vs ${nd.cpuUsPerMsg.toFixed(1)} µs`,
    });
  }
  for (const r of rows) {
    if (r.target !== "jim" || !r.key?.startsWith("room") || !r.key.endsWith("max")) continue;
    const n = get(r.key, "ngircd");
    cmp(
      `${r.workload.replace(": max", "")} ≥ ngircd`,
      r.value,
      n?.value,
      !!n && r.value >= n.value,
    );
  }
  const jh = get("direct-half", "jim");
  if (jh?.latency) {
    out.push({
      target: "direct p99 at 50% ≤ 2 ms",
      ok: jh.latency.p99 <= 2,
      detail: `${fmtMs(jh.latency.p99)} ms`,
    });
  }
  const rh = rows.find((r) => r.target === "jim" && r.key === "room50-half");
  if (rh?.latency) {
    out.push({
      target: "room 50 p99 at 50% ≤ 5 ms",
      ok: rh.latency.p99 <= 5,
      detail: `${fmtMs(rh.latency.p99)} ms`,
    });
  }
  const jr = get("reconnect", "jim");
  const waves = (jr?.raw as { waves?: { seconds: number }[] } | undefined)?.waves;
  const back = waves?.[1]?.seconds;
  if (jr && back !== undefined) {
    out.push({
      target: `reconnect: all back ≤ ${RECONNECT_TARGET_SECONDS} s`,
      ok: back <= RECONNECT_TARGET_SECONDS,
      detail: `${back.toFixed(2)} s`,
    });
  }
  const ji = get("idle", "jim");
  const perConn = (ji?.raw as { rssPerConnection?: number } | undefined)?.rssPerConnection;
  if (ji && perConn !== undefined) {
    out.push({
      target: "≤ 16 KiB RSS per idle connection",
      ok: perConn <= 16384,
      detail: fmtBytes(perConn),
    });
  }
  return out;
}

async function commit(): Promise<string> {
  try {
    const out = await new Deno.Command("git", {
      args: ["-C", ROOT, "describe", "--always", "--dirty"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() || "unknown";
  } catch {
    return "unknown";
  }
}

async function cpuModel(): Promise<string> {
  try {
    const out = await new Deno.Command("cat", { args: ["/proc/cpuinfo"], stdout: "piped" })
      .output();
    const info = new TextDecoder().decode(out.stdout);
    return info.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

async function main(): Promise<number> {
  let options: BenchOptions | null;
  try {
    options = parseBenchArgs(Deno.args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message);
      console.error(HELP_TEXT);
      return 2;
    }
    throw e;
  }
  if (!options) {
    console.log(HELP_TEXT);
    return 0;
  }
  await initClockTicks();
  const started = performance.now();
  const dir = await Deno.makeTempDir({ prefix: "jim-bench-" });
  const ctx: Context = {
    options,
    dir,
    ngircd: null,
    nats: null,
    rows: [],
    notes: [],
    note(s) {
      progress(s);
      this.notes.push(s);
    },
  };
  let ngircdVersion = "";
  if (options.targets.has("ngircd")) {
    const found = await ensureNgircd(options.install, progress);
    if (found.path === null) {
      ctx.note(`${found.reason}: skipping ngircd`);
    } else {
      ctx.ngircd = found.path;
      ngircdVersion = found.version;
    }
  }
  let natsVersion = "";
  if (options.targets.has("nats")) {
    const found = await ensureNats(options.install, progress);
    if (found.path === null) {
      ctx.note(`${found.reason}: skipping nats`);
    } else {
      ctx.nats = found.path;
      natsVersion = found.version;
    }
  }
  const commitId = await commit();
  const machine = {
    nproc: navigator.hardwareConcurrency,
    memoryBytes: machineMemoryBytes(),
    cpu: await cpuModel(),
    os: Deno.osRelease(),
    deno: Deno.version.deno,
    ngircd: ngircdVersion || null,
    nats: natsVersion || null,
  };
  const work: Record<string, (ctx: Context) => Promise<void>> = {
    direct,
    room,
    idle,
    storm,
    reconnect,
    offline,
  };
  let failure: BenchError | null = null;
  try {
    if (options.cluster) await cluster(ctx);
    else for (const name of WORKLOADS) if (options.only.has(name)) await work[name]!(ctx);
  } catch (e) {
    if (!(e instanceof BenchError)) throw e;
    failure = e;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  ratioNotes(ctx.rows);
  // The targets are a single server's; the cluster variant reports costs only.
  const results = options.cluster ? [] : checks(ctx.rows);
  const seconds = (performance.now() - started) / 1000;
  const title =
    `jim benchmark${options.quick ? " (quick)" : ""}${
      options.cluster ? `, --cluster ${options.cluster}` : ""
    }: commit ${commitId}, ` +
    `${machine.nproc} cores, ${
      fmtBytes(machine.memoryBytes)
    }, ${machine.cpu}, deno ${machine.deno}` +
    (machine.ngircd ? `, ${machine.ngircd.split("-")[0]}` : "") +
    (machine.nats ? `, ${machine.nats}` : "");
  console.log(`\n## ${title}\n`);
  console.log(table(ctx.rows));
  if (results.length > 0) {
    if (options.quick) console.log("\nQuick run: toy sizes, so the targets below mean little.");
    console.log("\n| Target | Met | Measured |\n|---|---|---|");
    for (const c of results) {
      console.log(
        `| ${c.target} | ${c.ok === null ? "-" : c.ok ? "yes" : "**no**"} | ${c.detail} |`,
      );
    }
  }
  for (const n of ctx.notes) console.log(`\nNote: ${n}`);
  console.log(`\nFinished in ${seconds.toFixed(0)} s.`);
  await Deno.mkdir(`${BENCH}results`, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = `${BENCH}results/${stamp}-${commitId}.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      {
        commit: commitId,
        date: new Date().toISOString(),
        machine,
        options: { ...options, only: [...options.only], targets: [...options.targets] },
        seconds,
        failure: failure?.message ?? null,
        rows: ctx.rows,
        checks: results,
        notes: ctx.notes,
      },
      null,
      1,
    ),
  );
  progress(`results written to ${file}`);
  if (failure) {
    console.error(`\nBENCH FAILED: ${failure.message}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());

/**
 * The server suite run clustered (`JIM_TEST_CLUSTER=3`, see tests/cluster_suite.ts):
 * {@linkcode startClusteredServer} starts a throwaway nats-server, a fresh PostgreSQL
 * database and N jim nodes on them, behind one loopback port that sends each
 * accepted connection to a node picked at random, so that a test written for
 * one server checks the same behaviour with its clients spread over the nodes.
 *
 * @module
 */

import { type JimServer, serve, type ServeOptions } from "../lib/server/serve.ts";
import type { Store } from "../lib/store/store.ts";
import { PgStore } from "../lib/store/pg_store.ts";
import { EXCLUDED_TESTS } from "./cluster_suite.ts";
import { startNats } from "./_nats.ts";
import { startPostgres, type TestPostgres } from "./_postgres.ts";

/** Claims live this long unless a test says otherwise, so that a closed session's name comes free quickly. */
const CLAIM_TTL_MS = 2000;

/** Nodes to run, from `JIM_TEST_CLUSTER` (0: one plain server, as without it). */
export function clusterSize(): number {
  const value = Deno.env.get("JIM_TEST_CLUSTER");
  if (value === undefined || value === "" || value === "0") return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 16) {
    throw new Error(`Cannot start the clustered suite: JIM_TEST_CLUSTER=${value} is not 1..16`);
  }
  return n;
}

/**
 * Makes `Deno.test` register the tests that tests/cluster_suite.ts excludes
 * as ignored: they are still counted, and named in the run's output
 * (unless `JIM_TEST_ALL=1`).
 */
export function ignoreExcludedTests(): void {
  // JIM_TEST_ALL=1 runs them too: to see which pass now.
  const runAll = Deno.env.get("JIM_TEST_ALL") === "1";
  const test = Deno.test;
  const wrapped = (...args: unknown[]): void => {
    const [first] = args;
    const name = typeof first === "string"
      ? first
      : typeof first === "function"
      ? first.name
      : (first as { name?: string }).name;
    const register = test as (...a: unknown[]) => void;
    if (name === undefined || !Object.hasOwn(EXCLUDED_TESTS, name) || runAll) {
      return register(...args);
    }
    const fn = args.find((a) => typeof a === "function");
    const options = args.find((a, i) => typeof a === "object" && (i > 0 || fn === undefined));
    register({ ...(options as object | undefined), name, ...(fn ? { fn } : {}), ignore: true });
  };
  // The type says read-only; the runtime lets a test helper wrap it.
  (Deno as { test: unknown }).test = Object.assign(wrapped, {
    ignore: test.ignore,
    only: test.only,
  });
}

// -- one PostgreSQL per test process, one database per server (per dbPath file) --

let pgCluster: Promise<TestPostgres> | null = null;
let databases = 0;
/** A test that restarts a server on the same SQLite file gets the same database again. */
const databaseByPath = new Map<string, string>();

function pg(): Promise<TestPostgres> {
  if (pgCluster) return pgCluster;
  pgCluster = startPostgres();
  pgCluster.then((s) => globalThis.addEventListener("unload", () => s.stopSync()), () => {});
  return pgCluster;
}

async function database(dbPath: string | undefined): Promise<string> {
  const keyed = dbPath !== undefined && dbPath !== ":memory:";
  const known = keyed ? databaseByPath.get(dbPath) : undefined;
  if (known !== undefined) return known;
  const url = await (await pg()).createDatabase(`jim_suite_${Deno.pid}_${++databases}`);
  if (keyed) databaseByPath.set(dbPath, url);
  return url;
}

// -- seeded choice of node --

let random: (() => number) | null = null;

/** mulberry32: small, seeded, good enough to spread connections. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick(n: number): number {
  if (random === null) {
    const given = Deno.env.get("JIM_TEST_SEED");
    const seed = given ? Number(given) : Math.floor(Math.random() * 2 ** 31);
    // Printed once per test process: the same seed spreads connections the same way again.
    // deno-lint-ignore no-console
    console.error(`clustered suite: JIM_TEST_SEED=${seed}`);
    random = seeded(seed);
  }
  return Math.floor(random() * n);
}

// -- the forwarder --

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed already
  }
}

/**
 * Copies `from` to `to` until `from` ends, then half-closes `to`: each side's
 * end of writing reaches the other at once. A failure either way (a reset, a
 * write to a closed socket) closes both, so the other direction ends too.
 */
async function pump(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await to.write(buf.subarray(off, n));
    }
    await to.closeWrite();
  } catch {
    closeQuietly(from);
    closeQuietly(to);
  }
}

/** A loopback port that hands each connection to one of `ports`, chosen at random. */
class Forwarder {
  readonly #listener: Deno.TcpListener;
  readonly #ports: readonly number[];
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #pipes = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;

  constructor(ports: readonly number[]) {
    this.#ports = ports;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        const pipe = this.#forward(conn);
        this.#pipes.add(pipe);
        pipe.finally(() => this.#pipes.delete(pipe));
      }
    } catch {
      // listener closed
    }
  }

  async #forward(client: Deno.TcpConn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({
        hostname: "127.0.0.1",
        port: this.#ports[pick(this.#ports.length)]!,
      });
    } catch {
      this.#conns.delete(client);
      closeQuietly(client);
      return;
    }
    this.#conns.add(upstream);
    // Each write goes out at once, as the nodes' own sockets send theirs
    // (lib/server/transport.ts): with Nagle's algorithm a write waited for
    // the ACK of the last, which the client's kernel delays up to 40 ms, and
    // objects a node wrote 10 ms apart to a bare peer reached it in one read.
    for (const conn of [client, upstream]) {
      try {
        conn.setNoDelay(true);
      } catch {
        // closed already: the pumps end at once
      }
    }
    await Promise.all([pump(client, upstream), pump(upstream, client)]);
    for (const conn of [client, upstream]) {
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
  }

  /** Stops accepting. */
  stopAccepting(): void {
    try {
      this.#listener.close();
    } catch {
      // closed already
    }
  }

  /** Closes what is still open (a client that never closed its side) and waits for every pipe. */
  async close(): Promise<void> {
    this.stopAccepting();
    await this.#accepting;
    for (const conn of this.#conns) closeQuietly(conn);
    await Promise.all([...this.#pipes]);
  }
}

/** Makes a store that every node closes on shutdown close once, when the last one does. */
function shareStore(store: Store, holders: number): Store {
  const close = store.close.bind(store);
  let open = holders;
  store.close = () => --open === 0 ? close() : Promise.resolve();
  return store;
}

/** A clustered stand-in for one server; `nodes` are the jim nodes behind `port`. */
export interface ClusteredServer extends JimServer {
  readonly nodes: readonly JimServer[];
}

/**
 * Starts `size` nodes on a fresh nats-server and PostgreSQL database (the one
 * of `options.dbPath` when it was used before) with `options` each, behind a
 * forwarder on 127.0.0.1. A `store` the test passes is shared by the nodes.
 */
export async function startClusteredServer(
  size: number,
  options: ServeOptions,
): Promise<ClusteredServer> {
  const nats = await startNats();
  // In start order, so that a seed picks the same nodes again.
  const nodes: JimServer[] = [];
  try {
    const given = options.store ? shareStore(options.store, size) : null;
    const url = given ? null : await database(options.dbPath);
    const node = async (i: number) => {
      nodes[i] = await serve({
        claimTtlMs: CLAIM_TTL_MS,
        ...options,
        store: given ?? await PgStore.open(url!, { maxConnections: 4 }),
        cluster: nats.url,
      });
    };
    // The first migrates the schema; the others find it done.
    await node(0);
    await Promise.all(Array.from({ length: size - 1 }, (_, i) => node(i + 1)));
  } catch (e) {
    for (const n of nodes) await n?.shutdown().catch(() => {});
    await nats.stop();
    throw e;
  }
  const forwarder = new Forwarder(nodes.map((n) => n.port));
  let stopped: Promise<void> | null = null;
  const shutdown = () =>
    stopped ??= (async () => {
      forwarder.stopAccepting();
      // The nodes say 101 and close; the forwarder passes that on before it closes.
      await Promise.all(nodes.map((n) => n.shutdown()));
      await forwarder.close();
      await nats.stop();
    })();
  const finished = Promise.all(nodes.map((n) => n.finished)).then(() => {});
  return {
    nodes,
    get port() {
      return forwarder.port;
    },
    tlsPort: null,
    reloadTls: () => Promise.reject(new Error("Cannot reload TLS: the clustered suite has none")),
    hostname: "127.0.0.1",
    http: null,
    get connections() {
      return nodes.reduce((sum, n) => sum + n.connections, 0);
    },
    shutdown,
    finished,
    adminSocket: null,
    [Symbol.asyncDispose]: shutdown,
  };
}

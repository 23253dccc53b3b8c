/**
 * Test fixtures for jim nodes sharing one nats-server and one PostgreSQL on
 * loopback. The PostgreSQL server is shared by a test file (started on first
 * use, stopped by {@linkcode stopSharedPostgres} or on unload); each cluster
 * gets its own database and its own nats-server.
 *
 * @module
 */

import { PgStore } from "../lib/store/pg_store.ts";
import type { ClusterHandlers } from "../lib/server/cluster.ts";
import type { JimServer, ServeOptions } from "../lib/server/serve.ts";
import { startServer } from "./_helpers.ts";
import { startNats, type StartNatsOptions, type TestNats } from "./_nats.ts";
import { startPostgres, type TestPostgres } from "./_postgres.ts";

let shared: Promise<TestPostgres> | null = null;
let databases = 0;

/** The file's PostgreSQL server, started on first use. */
export function sharedPostgres(): Promise<TestPostgres> {
  if (shared) return shared;
  shared = startPostgres();
  shared.then((s) => globalThis.addEventListener("unload", () => s.stopSync()), () => {});
  return shared;
}

/** Stops the file's PostgreSQL server (the file's last test calls it). */
export async function stopSharedPostgres(): Promise<void> {
  if (shared === null) return;
  const server = await shared;
  shared = null;
  await server.stop();
}

/** Claims live this long in cluster tests, so that a dead node's names come free quickly. */
export const CLAIM_TTL_MS = 2000;

/** Nodes on one nats-server and one database. */
export interface TestCluster extends AsyncDisposable {
  nats: TestNats;
  storeUrl: string;
  nodes: JimServer[];
  /** Starts one more node in this process. */
  addNode(): Promise<JimServer>;
  /** What each node (by index) has logged. */
  logs: string[][];
}

/** Options for {@linkcode startCluster}. */
export interface StartClusterOptions {
  /** Nodes started in this process. @default {3} */
  size?: number;
  nats?: StartNatsOptions;
  /** Every node's `claimTtlMs` (the liveness records' TTL). @default {CLAIM_TTL_MS} */
  claimTtlMs?: number;
  /** Options every node gets besides its store, cluster and log. */
  server?: ServeOptions;
  /** Called with each node's store (by node index) before the node starts: to slow or watch it. */
  prepareStore?: (store: PgStore, index: number) => void;
}

/** Starts nats-server, a database and `size` nodes in this process. */
export async function startCluster(options: StartClusterOptions = {}): Promise<TestCluster> {
  const server = await sharedPostgres();
  const storeUrl = await server.createDatabase(`jim_cluster_${Deno.pid}_${++databases}`);
  const nats = await startNats(options.nats);
  const nodes: JimServer[] = [];
  const logs: string[][] = [];
  const addNode = async () => {
    const log: string[] = [];
    const store = await PgStore.open(storeUrl);
    options.prepareStore?.(store, logs.length);
    logs.push(log);
    const node = await startServer({
      ...options.server,
      store,
      cluster: nats.url,
      claimTtlMs: options.claimTtlMs ?? CLAIM_TTL_MS,
      log: (line) => log.push(line),
    });
    nodes.push(node);
    return node;
  };
  for (let i = 0; i < (options.size ?? 3); i++) await addNode();
  return {
    nats,
    storeUrl,
    nodes,
    addNode,
    logs,
    async [Symbol.asyncDispose]() {
      for (const node of nodes) await node.shutdown();
      await nats.stop();
    },
  };
}

/**
 * What a bare `Cluster` (no hub) is given to serve in tests: nobody is held
 * here and nothing is kept; `overrides` records what a test looks at.
 */
export function quietHandlers(overrides: Partial<ClusterHandlers> = {}): ClusterHandlers {
  return {
    direct: () => false,
    mail: () => {},
    whois: () => null,
    room: () => {},
    lost: () => {},
    member: () => {},
    topic: () => {},
    gone: () => {},
    snapshot: () => [],
    presence: () => {},
    usersChanged: () => {},
    online: () => [],
    watched: () => {},
    pubkey: () => null,
    admin: () => false,
    stats: () => ({ connections: 0, online: 0, accounts: 0, guests: 0 }),
    ...overrides,
  };
}

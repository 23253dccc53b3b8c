/**
 * The server: listener, accept loop, connection caps, liveness sweep and
 * graceful shutdown. The one place that wires store, hub and connections.
 *
 * @module
 */

import { Outgoing } from "../protocol/codec.ts";
import { WEB_ASSETS } from "../web/assets.ts";
import { response } from "../protocol/messages.ts";
import { permissionWarnings } from "../store/db_files.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import type { Store } from "../store/store.ts";
import { type AdminSocket, listenAdmin } from "./admin_socket.ts";
import { Connection } from "./connection.ts";
import { type HttpListener, startHttp } from "./http.ts";
import { Cluster } from "./cluster.ts";
import { Hub } from "./hub.ts";
import { SERVER_DEFAULTS, type ServerSettings } from "./options.ts";
import { sourceKey } from "./source_key.ts";
import { StreamTransport, type Transport } from "./transport.ts";
import { WebSocketTransport } from "./websocket_transport.ts";

/** Options for {@linkcode serve}: where to listen, what to store in, and any settings. */
export interface ServeOptions extends Partial<ServerSettings> {
  /** @default {7777} (0 picks a free port) */
  port?: number;
  /** @default {"0.0.0.0"} */
  hostname?: string;
  /** SQLite file, or ":memory:". Ignored when `store` is given. @default {":memory:"} */
  dbPath?: string;
  /** A store to use instead of opening `dbPath`; the server closes it on shutdown. */
  store?: Store;
  /** Also serve the web client and JIM over WebSocket here (`--http`). @default {off} */
  http?: { hostname: string; port: number };
  /** Origins allowed to open the WebSocket besides the served one (`--http-origin`). */
  httpOrigins?: readonly string[];
  /**
   * A NATS URL (`--cluster`): act as one server with the other nodes on it.
   * Give every node the same shared `store`. @default {none}
   */
  cluster?: string;
  /** Log sink. @default {no logging} */
  log?: (line: string) => void;
  /**
   * A Unix socket path on which `jim admin` acts on this server at once
   * (created 0600). @default {none}
   */
  adminSocket?: string;
}

/** A running server. */
export interface JimServer extends AsyncDisposable {
  /** The port it listens on. */
  readonly port: number;
  /** The address it listens on. */
  readonly hostname: string;
  /** The HTTP listener's address, when `http` was given. */
  readonly http: { hostname: string; port: number } | null;
  /** Connections open now (TCP and WebSocket). */
  readonly connections: number;
  /** Sends 101 to everyone, flushes within the grace period, closes all and the store. */
  shutdown(): Promise<void>;
  /** Resolves when the server has shut down. */
  readonly finished: Promise<void>;
  /** The admin socket's path, if it has one. */
  readonly adminSocket: string | null;
}

/** Starts a jim server. */
export async function serve(options: ServeOptions = {}): Promise<JimServer> {
  const settings: ServerSettings = { ...SERVER_DEFAULTS };
  for (const key of Object.keys(SERVER_DEFAULTS) as (keyof ServerSettings)[]) {
    const v = options[key];
    if (v !== undefined) (settings as unknown as Record<string, unknown>)[key] = v;
  }
  const log = options.log ?? (() => {});
  const store = options.store ?? SqliteStore.open(options.dbPath ?? ":memory:", {
    lockWaitMs: settings.dbLockWaitMs,
  });
  if (!options.store) {
    for (const line of permissionWarnings(options.dbPath ?? ":memory:")) log(line);
  }
  let hub: Hub;
  let listener: Deno.TcpListener | undefined;
  let http: HttpListener | null = null;
  let cluster: Cluster | undefined;
  try {
    // Joined before the port opens: a node takes clients only once it can
    // claim their names.
    if (options.cluster !== undefined) {
      cluster = await Cluster.connect({
        url: options.cluster,
        nodeId: crypto.randomUUID(),
        claimTtlMs: settings.claimTtlMs,
        log,
      });
    }
    hub = await Hub.create({ store, settings, log, ...(cluster ? { cluster } : {}) });
    listener = Deno.listen({
      port: options.port ?? 7777,
      hostname: options.hostname ?? "0.0.0.0",
      transport: "tcp",
    });
    if (options.http) {
      http = await startHttp({
        ...options.http,
        origins: options.httpOrigins ?? [],
        assets: WEB_ASSETS,
        log,
        onSocket(socket, address) {
          const transport = new WebSocketTransport(socket, {
            address,
            maxObjectBytes: settings.maxObjectBytes,
            maxBufferedBytes: settings.maxQueueBytes,
          });
          if (stopping) transport.close(1001, "server shutting down");
          else accept(transport);
        },
        async health() {
          let ok = true;
          try {
            await store.countOffline("");
          } catch {
            ok = false;
          }
          return { connections: connections.size, store: ok };
        },
      });
    }
  } catch (e) {
    listener?.close();
    await cluster?.close();
    await store.close();
    throw e;
  }
  const tcp = listener;

  const connections = new Set<Connection>();
  let admin: AdminSocket | null = null;
  if (options.adminSocket !== undefined) {
    try {
      admin = await listenAdmin({
        path: options.adminSocket,
        hub,
        connections: () => connections.size,
        log,
      });
    } catch (e) {
      listener.close();
      await cluster?.close();
      await store.close();
      throw e;
    }
  }
  const perAddress = new Map<string, number>();
  const running = new Set<Promise<void>>();
  let stopping = false;

  function release(c: Connection): void {
    connections.delete(c);
    const source = sourceKey(c.address);
    const n = (perAddress.get(source) ?? 1) - 1;
    if (n <= 0) perAddress.delete(source);
    else perAddress.set(source, n);
  }

  function refuse(transport: Transport, text: string): void {
    transport.write([new Outgoing(response(503, text))], true).catch(() => {})
      .finally(() => transport.close());
  }

  /** Adopts a new peer (TCP or WebSocket), unless a connection cap refuses it. */
  function accept(transport: Transport): void {
    // Counted per source: the address, or an IPv6 address's /64.
    const source = sourceKey(transport.address);
    const fromAddress = perAddress.get(source) ?? 0;
    if (settings.maxConnections > 0 && connections.size >= settings.maxConnections) {
      refuse(transport, "Cannot connect: the server is full");
      return;
    }
    if (settings.maxPerAddress > 0 && fromAddress >= settings.maxPerAddress) {
      refuse(transport, "Cannot connect: too many connections from your address");
      return;
    }
    perAddress.set(source, fromAddress + 1);
    const c = new Connection(transport, { hub, settings, log, onClose: release });
    connections.add(c);
    const p = c.run().catch((e) => log(`connection failed: ${e}`));
    running.add(p);
    p.finally(() => running.delete(p));
  }

  async function acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await tcp.accept();
      } catch (e) {
        if (stopping) return;
        // Out of file descriptors and the like: pause rather than spin.
        log(`accept failed: ${e}`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (stopping) {
        conn.close();
        continue;
      }
      accept(new StreamTransport(conn, settings));
    }
  }

  // One sweep for every connection's timers, rather than a timer each.
  const sweepEvery = Math.max(
    10,
    Math.min(
      1000,
      settings.probeTimeoutMs / 2,
      settings.probeIntervalMs / 2,
      settings.handshakeTimeoutMs / 2,
      settings.shutdownGraceMs / 2,
    ),
  );
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const c of connections) {
      if (c.closing) {
        // It flushes what it has queued; a peer that does not read it gets
        // the grace period, as at shutdown, and no longer.
        if (now - c.closingAt > settings.shutdownGraceMs) c.abort("did not read its last answers");
        continue;
      }
      if (!c.greeted && now - c.openedAt > settings.handshakeTimeoutMs) {
        c.abort("no valid request within the handshake timeout");
      } else if (c.probedAt > 0) {
        if (now - c.probedAt > settings.probeTimeoutMs) c.probeUnanswered();
      } else if (now - c.lastHeard > settings.probeIntervalMs && c.wantsProbe) {
        // Only where a probe cannot cost a working client its connection:
        // see Connection.wantsProbe and docs/protocol.md.
        c.probe();
      }
    }
  }, sweepEvery);

  // `jim admin block` writes to the database, maybe from another process:
  // look for blocked accounts that are online now and then.
  // The same timer drops history past its age limit (`--history-age`).
  let checkingBlocks = false;
  const blockChecker = setInterval(() => {
    if (checkingBlocks || stopping) return;
    checkingBlocks = true;
    Promise.all([
      hub.enforceBlocks().catch((e) => log(`cannot check blocked accounts: ${e}`)),
      hub.pruneHistory().catch((e) => log(`cannot drop old history: ${e}`)),
    ]).finally(() => checkingBlocks = false);
  }, settings.blockCheckMs);

  const accepting = acceptLoop();
  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => resolveFinished = r);
  let shutdownPromise: Promise<void> | null = null;

  async function shutdown(): Promise<void> {
    stopping = true;
    // Queued logins and registrations are refused now rather than hashed
    // one by one past the grace period (and no account is created after
    // the signal).
    hub.stop();
    clearInterval(sweeper);
    clearInterval(blockChecker);
    try {
      tcp.close();
    } catch { /* already closed */ }
    await admin?.close();
    await accepting;
    // One turn of the loop, so that those refusals are queued before the
    // notice below and the close that follows it (which drops later answers).
    await new Promise((r) => setTimeout(r, 0));
    const notice = new Outgoing(response(101, "server shutting down"));
    for (const c of connections) {
      c.send(notice);
      c.close("server shutting down");
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((r) => timer = setTimeout(r, settings.shutdownGraceMs));
    await Promise.race([Promise.all(running), grace]);
    clearTimeout(timer);
    for (const c of connections) c.abort("shutdown grace period over");
    await Promise.all(running);
    // After the connections: stopping it cuts off upgraded sockets at once.
    await http?.shutdown();
    // Its claims go at once, so that its users can log in elsewhere.
    await cluster?.close().catch((e) => log(`cannot leave the cluster: ${e}`));
    await store.close().catch((e) => log(`cannot close the store: ${e}`));
    resolveFinished();
  }

  const addr = tcp.addr as Deno.NetAddr;
  return {
    port: addr.port,
    hostname: addr.hostname,
    http: http && { hostname: http.hostname, port: http.port },
    get connections() {
      return connections.size;
    },
    finished,
    adminSocket: admin?.path ?? null,
    shutdown() {
      return shutdownPromise ??= shutdown();
    },
    [Symbol.asyncDispose]() {
      return shutdownPromise ??= shutdown();
    },
  };
}

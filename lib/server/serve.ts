/**
 * The server: listeners (plain TCP, TLS, HTTP), accept loops, connection caps, liveness sweep and
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
import { FdReserve, isOutOfDescriptors } from "./fd_limit.ts";
import { Hub } from "./hub.ts";
import { type Listener, listenTcp, TlsListener } from "./listener.ts";
import { SERVER_DEFAULTS, type ServerSettings } from "./options.ts";
import { sourceKey } from "./source_key.ts";
import { StreamTransport, type Transport } from "./transport.ts";
import { WebSocketTransport } from "./websocket_transport.ts";

/** A TLS listener's port and certificate files. */
export interface ServeTlsOptions {
  /** @default {7443} (0 picks a free port) */
  port?: number;
  /** PEM certificate chain; read again by {@linkcode JimServer.reloadTls}. */
  certFile: string;
  /** PEM private key. */
  keyFile: string;
}

/** Options for {@linkcode serve}: where to listen, what to store in, and any settings. */
export interface ServeOptions extends Partial<ServerSettings> {
  /** The plain TCP port. @default {7777} (0 picks a free port) */
  port?: number;
  /** @default {"0.0.0.0"} */
  hostname?: string;
  /** Whether to listen for plain TCP on `port` (false needs `tls`). @default {true} */
  plain?: boolean;
  /** A TLS listener as well, on its own port. */
  tls?: ServeTlsOptions;
  /** SQLite file, or ":memory:". Ignored when `store` is given. @default {":memory:"} */
  dbPath?: string;
  /** A store to use instead of opening `dbPath`; the server closes it on shutdown. */
  store?: Store;
  /**
   * Also serve the web client and JIM over WebSocket here (`--http`); HTTPS
   * with `tls`'s certificate. @default {off}
   */
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
  /** The plain TCP port; the TLS port when there is no plain listener. */
  readonly port: number;
  /** The TLS port, or null without TLS. */
  readonly tlsPort: number | null;
  /**
   * Reads the TLS certificate and key again for new connections (SIGHUP),
   * on the TLS port and the HTTPS listener (restarted: its open WebSockets
   * are closed, 1001). Rejects when they cannot be read or used; the old
   * ones stay in use.
   */
  reloadTls(): Promise<void>;
  /** The address it listens on. */
  readonly hostname: string;
  /** The HTTP listener's address, when `http` was given; "https" with `tls`. */
  readonly http: { hostname: string; port: number; scheme: "http" | "https" } | null;
  /** Connections open now (TCP and WebSocket). */
  readonly connections: number;
  /** Sends 101 to everyone, flushes within the grace period, closes all and the store. */
  shutdown(): Promise<void>;
  /** Resolves when the server has shut down. */
  readonly finished: Promise<void>;
  /** The admin socket's path, if it has one. */
  readonly adminSocket: string | null;
}

/** Opens a listener; a busy or foreign address becomes "Cannot listen on HOST:PORT: …". */
function listening<T>(hostname: string, port: number, open: () => T): T {
  try {
    return open();
  } catch (e) {
    const reason = e instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : e instanceof Deno.errors.AddrNotAvailable
      ? "address not available"
      : null;
    if (reason === null) throw e;
    throw new Error(`Cannot listen on ${hostname}:${port}: ${reason}`, { cause: e });
  }
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
  const listeners: Listener[] = [];
  let tlsListener: TlsListener | null = null;
  const hostname = options.hostname ?? "0.0.0.0";
  let http: HttpListener | null = null;
  let cluster: Cluster | undefined;
  try {
    if (options.plain === false && !options.tls) {
      throw new TypeError("Cannot serve: neither a plain nor a TLS listener is asked for");
    }
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
    if (options.plain !== false) {
      const port = options.port ?? 7777;
      listeners.push(listening(hostname, port, () => listenTcp({ hostname, port })));
    }
    if (options.tls) {
      const { port = 7443, certFile, keyFile } = options.tls;
      tlsListener = listening(
        hostname,
        port,
        () => TlsListener.listen({ hostname, port, certFile, keyFile }),
      );
      listeners.push(tlsListener);
    }
    if (options.http) {
      http = await startHttp({
        ...options.http,
        origins: options.httpOrigins ?? [],
        // The same certificate as the TLS listener: the page is then HTTPS and its socket wss://.
        ...(options.tls
          ? { tls: { certFile: options.tls.certFile, keyFile: options.tls.keyFile } }
          : {}),
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
    for (const l of listeners) l.close();
    await cluster?.close();
    await store.close();
    throw e;
  }
  // Held back for the moment descriptors run out (see acceptLoop).
  const reserve = new FdReserve();

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
      for (const l of listeners) l.close();
      reserve.release();
      await http?.shutdown();
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
    wakeAccept?.();
    const source = sourceKey(c.address);
    const n = (perAddress.get(source) ?? 1) - 1;
    if (n <= 0) perAddress.delete(source);
    else perAddress.set(source, n);
  }

  /** Answers 503 and closes; resolves once closed (a TLS peer gets 1 s for its handshake). */
  function refuse(transport: Transport, text: string): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      transport.write([new Outgoing(response(503, text))], true).catch(() => {}),
      new Promise((r) => timer = setTimeout(r, 1000)),
    ]).finally(() => {
      clearTimeout(timer);
      transport.close();
    }).then(() => {});
  }

  /** Adopts a new peer (TCP or WebSocket), unless a connection cap refuses it. */
  function accept(transport: Transport): void {
    // Counted per source: the address, or an IPv6 address's /64.
    const source = sourceKey(transport.address);
    const fromAddress = perAddress.get(source) ?? 0;
    if (settings.maxConnections > 0 && connections.size >= settings.maxConnections) {
      void refuse(transport, "Cannot connect: the server is full");
      return;
    }
    if (settings.maxPerAddress > 0 && fromAddress >= settings.maxPerAddress) {
      void refuse(transport, "Cannot connect: too many connections from your address");
      return;
    }
    perAddress.set(source, fromAddress + 1);
    const c = new Connection(transport, { hub, settings, log, onClose: release });
    connections.add(c);
    const p = c.run().catch((e) => log(`connection failed: ${e}`));
    running.add(p);
    p.finally(() => running.delete(p));
  }

  // Out of file descriptors: accept fails (EMFILE) with clients waiting in
  // the backlog. Each is told 503 through the reserved descriptor; when even
  // that is gone, accepting pauses until a connection closes.
  let outOfFds = false;
  let refusedForFds = 0;
  let wakeAccept: (() => void) | null = null;

  async function outOfDescriptors(listener: Listener): Promise<void> {
    if (!outOfFds) {
      outOfFds = true;
      refusedForFds = 0;
      log("out of file descriptors (ulimit -n): new connections get 503 until some close");
    }
    if (reserve.held) {
      reserve.release();
      try {
        const conn = await listener.accept();
        refusedForFds++;
        await refuse(
          new StreamTransport(conn, settings),
          "Cannot connect: the server is out of file descriptors; try again later",
        );
      } catch { /* still none free, or closed */ }
      if (reserve.take()) return;
    }
    // Nothing to answer with: wait for a connection to close (or a second).
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((r) => {
      wakeAccept = r;
      timer = setTimeout(r, 1000);
    });
    clearTimeout(timer);
    wakeAccept = null;
    reserve.take();
  }

  async function acceptLoop(listener: Listener): Promise<void> {
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (stopping) return;
        if (isOutOfDescriptors(e)) {
          await outOfDescriptors(listener);
        } else {
          // Some other failure (a reset during a TLS accept): pause rather than spin.
          log(`${listener.kind} accept failed: ${e}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        continue;
      }
      if (outOfFds) {
        outOfFds = false;
        log(`accepting connections again (${refusedForFds} refused while out of file descriptors)`);
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

  const accepting = Promise.all(listeners.map((l) => acceptLoop(l)));
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
    for (const l of listeners) {
      try {
        l.close();
      } catch { /* already closed */ }
    }
    wakeAccept?.();
    await admin?.close();
    await accepting;
    reserve.release();
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

  const addr = listeners[0]!.addr;
  return {
    port: addr.port,
    hostname: addr.hostname,
    tlsPort: tlsListener?.addr.port ?? null,
    async reloadTls() {
      // Both, even when one fails; the same files, so mostly the same error.
      const results = await Promise.allSettled([tlsListener?.reload(), http?.reloadTls()]);
      for (const r of results) if (r.status === "rejected") throw r.reason;
    },
    http: http && { hostname: http.hostname, port: http.port, scheme: http.scheme },
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

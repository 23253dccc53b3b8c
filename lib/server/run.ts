/**
 * Running a server as a process: start it (falling back to no admin socket
 * when only the default one cannot be made), keep bad input from ending the
 * process, stop cleanly on SIGINT/SIGTERM, and say why it could not start.
 * `lib/cli` parses the command line and hands the result here.
 *
 * @module
 */

import { defaultAdminSocket } from "../store/db_path.ts";
import { PgStore } from "../store/pg_store.ts";
import { connectionCap } from "./fd_limit.ts";
import { HttpListenError } from "./http.ts";
import { redactUrl } from "./redact_url.ts";
import { SERVER_DEFAULTS, type ServerSettings } from "./options.ts";
import { type JimServer, serve } from "./serve.ts";

/** What {@linkcode runServer} needs: the parsed command line, and where to write. */
export interface RunServerOptions {
  settings: Partial<ServerSettings>;
  port: number;
  hostname: string;
  /** Whether to listen for plain TCP on `port` (`--no-plain` turns it off). */
  plain: boolean;
  /** The TLS listener (`--tls-cert`, `--tls-key`, `--tls-port`), or undefined. */
  tls: { port: number; certFile: string; keyFile: string } | undefined;
  /** The web client's listener (`--http`), or null. */
  http: { hostname: string; port: number } | null;
  httpOrigins: readonly string[];
  /** The SQLite file (ignored with `storeUrl`). */
  dbPath: string;
  /** A PostgreSQL URL: the store instead of the SQLite file. */
  storeUrl?: string;
  /** A NATS URL: the other nodes of the cluster. */
  clusterUrl?: string;
  /**
   * The admin socket's path; null for none; undefined for the default beside
   * the database (none with `storeUrl`).
   */
  adminSocket: string | null | undefined;
  /** Where log lines go; undefined when quiet. */
  log: ((line: string) => void) | undefined;
  /** Where the reason it cannot start goes (always written, quiet or not). */
  fail: (line: string) => void;
  /** Where the process's own lines go (listening, shutting down, stopped), quiet or not. */
  notice: (line: string) => void;
}

/** Runs the server until a signal stops it; returns the exit code. */
export async function runServer(options: RunServerOptions): Promise<number> {
  const { dbPath, storeUrl, log, notice } = options;
  const cap = connectionCap(options.settings.maxConnections, SERVER_DEFAULTS.maxConnections);
  if (cap.line !== null) log?.(cap.line);
  const settings = { ...options.settings, maxConnections: cap.maxConnections };
  const adminSocket = options.adminSocket === undefined
    ? storeUrl === undefined ? defaultAdminSocket(dbPath) : null
    : options.adminSocket;
  // Shown in logs and errors: never the password.
  const database = storeUrl === undefined ? dbPath : redactUrl(storeUrl);
  const start = async (admin: string | null) =>
    serve({
      ...settings,
      port: options.port,
      hostname: options.hostname,
      plain: options.plain,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.http ? { http: options.http, httpOrigins: options.httpOrigins } : {}),
      ...(storeUrl === undefined ? { dbPath } : { store: await PgStore.open(storeUrl) }),
      ...(options.clusterUrl === undefined ? {} : { cluster: options.clusterUrl }),
      ...(log ? { log } : {}),
      ...(admin === null ? {} : { adminSocket: admin }),
    });
  let server: JimServer;
  try {
    try {
      server = await start(adminSocket);
    } catch (e) {
      // Only a socket asked for by name is worth refusing to start over:
      // without the default one, jim admin still works on the file.
      const adminFailed = e instanceof Error &&
        e.message.startsWith("Cannot listen on admin socket");
      if (!adminFailed || options.adminSocket !== undefined) throw e;
      notice(`${e.message}; jim admin will work on the database file only`);
      server = await start(null);
    }
  } catch (e) {
    options.fail(describeStartError(e, database));
    return 1;
  }
  // Bad input must never end the process: log what escaped and carry on.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    notice(
      `unhandled rejection: ${event.reason instanceof Error ? event.reason.stack : event.reason}`,
    );
  });
  let stopping = false;
  const stop = () => {
    // A second signal (a task runner forwarding its own) changes nothing.
    if (stopping) return;
    stopping = true;
    notice("shutting down");
    server.shutdown();
  };
  // New certificates (a renewal) are read on SIGHUP; open connections keep theirs.
  const reload = () => {
    server.reloadTls().then(
      () => notice(`TLS certificate ${options.tls?.certFile} reloaded`),
      (e) => notice(`${e instanceof Error ? e.message : e}`),
    );
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  if (options.tls) Deno.addSignalListener("SIGHUP", reload);
  const where = `${server.hostname}:${server.port}`;
  const listening = server.tlsPort === null
    ? where
    : options.plain
    ? `${where}, TLS on ${server.hostname}:${server.tlsPort}`
    : `${where} (TLS only)`;
  const adminNote = server.adminSocket === null ? "" : `, admin socket ${server.adminSocket}`;
  notice(
    `jim server listening on ${listening} (database ${database}${adminNote}${
      options.clusterUrl === undefined
        ? ""
        : `, cluster ${redactUrl(options.clusterUrl, { loneUserIsSecret: true })}`
    })`,
  );
  if (server.http) {
    notice(`web client on ${server.http.scheme}://${server.http.hostname}:${server.http.port}/`);
  }
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  if (options.tls) Deno.removeSignalListener("SIGHUP", reload);
  notice("stopped");
  return 0;
}

function describeStartError(e: unknown, dbPath: string): string {
  if (e instanceof HttpListenError) return e.message;
  if (e instanceof Deno.errors.PermissionDenied) return `Cannot start: ${e.message}`;
  const message = e instanceof Error ? e.message : String(e);
  if (/^Cannot (open database|listen|read TLS|use TLS)/.test(message)) return message;
  if (/sqlite|database/i.test(message)) return `Cannot open database ${dbPath}: ${message}`;
  return `Cannot start: ${message}`;
}

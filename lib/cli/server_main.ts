// deno-lint-ignore-file no-console
/**
 * `jim server`: parse the command line, start the server, log to stderr, and
 * shut down cleanly on SIGINT/SIGTERM.
 *
 * @module
 */

import { HttpListenError } from "../server/http.ts";
import { serve } from "../server/serve.ts";
import { defaultAdminSocket, defaultDbPath } from "../store/db_path.ts";
import { UsageError } from "./parse.ts";
import { parseServerArgs, SERVER_HELP } from "./server_args.ts";

function logLine(line: string): void {
  console.error(`${new Date().toISOString()} ${line}`);
}

/** Runs the server until a signal stops it; returns the exit code. */
export async function runServer(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseServerArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`jim server: ${e.message}`);
    console.error("Usage: jim server [-p PORT] [-a ADDR] [--db PATH] [options]; see --help");
    return 2;
  }
  if (parsed.help) {
    console.log(SERVER_HELP);
    return 0;
  }
  let dbPath: string;
  try {
    dbPath = parsed.dbPath ?? defaultDbPath(Deno.env);
  } catch (e) {
    console.error(`jim server: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  const log = parsed.quiet ? undefined : logLine;
  const adminSocket = parsed.adminSocket === undefined
    ? defaultAdminSocket(dbPath)
    : parsed.adminSocket;
  const start = (admin: string | null) =>
    serve({
      ...parsed.settings,
      port: parsed.port,
      hostname: parsed.hostname,
      ...(parsed.http ? { http: parsed.http, httpOrigins: parsed.httpOrigins } : {}),
      dbPath,
      ...(log ? { log } : {}),
      ...(admin === null ? {} : { adminSocket: admin }),
    });
  let server;
  try {
    try {
      server = await start(adminSocket);
    } catch (e) {
      // Only a socket asked for by name is worth refusing to start over:
      // without the default one, jim admin still works on the file.
      const adminFailed = e instanceof Error &&
        e.message.startsWith("Cannot listen on admin socket");
      if (!adminFailed || parsed.adminSocket !== undefined) throw e;
      logLine(`${e.message}; jim admin will work on the database file only`);
      server = await start(null);
    }
  } catch (e) {
    console.error(`jim server: ${describeStartError(e, parsed.hostname, parsed.port, dbPath)}`);
    return 1;
  }
  // Bad input must never end the process: log what escaped and carry on.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logLine(
      `unhandled rejection: ${event.reason instanceof Error ? event.reason.stack : event.reason}`,
    );
  });
  let stopping = false;
  const stop = () => {
    // A second signal (a task runner forwarding its own) changes nothing.
    if (stopping) return;
    stopping = true;
    logLine("shutting down");
    server.shutdown();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const adminNote = server.adminSocket === null ? "" : `, admin socket ${server.adminSocket}`;
  logLine(
    `jim server listening on ${server.hostname}:${server.port} (database ${dbPath}${adminNote})`,
  );
  if (server.http) {
    logLine(`web client on http://${server.http.hostname}:${server.http.port}/`);
  }
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  logLine("stopped");
  return 0;
}

function describeStartError(e: unknown, hostname: string, port: number, dbPath: string): string {
  if (e instanceof HttpListenError) return e.message;
  if (e instanceof Deno.errors.AddrInUse) {
    return `Cannot listen on ${hostname}:${port}: address already in use`;
  }
  if (e instanceof Deno.errors.PermissionDenied) return `Cannot start: ${e.message}`;
  if (e instanceof Deno.errors.AddrNotAvailable) {
    return `Cannot listen on ${hostname}:${port}: address not available`;
  }
  const message = e instanceof Error ? e.message : String(e);
  if (message.startsWith("Cannot open database")) return message;
  if (message.startsWith("Cannot listen on admin socket")) return message;
  if (/sqlite|database/i.test(message)) return `Cannot open database ${dbPath}: ${message}`;
  return `Cannot start: ${message}`;
}

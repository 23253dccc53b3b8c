// deno-lint-ignore-file no-console
/**
 * `jim server`: parse the command line and hand it to the server layer
 * (lib/server/run.ts), which starts it; log lines go to stderr.
 *
 * @module
 */

import { runServer } from "../server/run.ts";
import { defaultDbPath } from "../store/db_path.ts";
import { parsePgUrl } from "../store/pg_store.ts";
import { UsageError } from "./parse.ts";
import { parseServerArgs, SERVER_HELP } from "./server_args.ts";

function logLine(line: string): void {
  console.error(`${new Date().toISOString()} ${line}`);
}

/** Parses `jim server`'s arguments and runs the server; returns the exit code. */
export function runServerCommand(args: readonly string[]): Promise<number> | number {
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
  // --db names a SQLite file: it wins over $JIM_STORE, as --store does.
  const storeUrl = parsed.storeUrl ??
    (parsed.dbPath === undefined ? Deno.env.get("JIM_STORE") || undefined : undefined);
  if (storeUrl !== undefined && parsed.storeUrl === undefined) {
    try {
      parsePgUrl(storeUrl);
    } catch (e) {
      console.error(`jim server: Cannot use $JIM_STORE: ${e instanceof Error ? e.message : e}`);
      return 2;
    }
  }
  if (parsed.clusterUrl !== undefined && storeUrl === undefined) {
    console.error(
      "jim server: Cannot use --cluster without --store (or $JIM_STORE): the nodes share one PostgreSQL",
    );
    return 2;
  }
  let dbPath: string;
  try {
    dbPath = storeUrl === undefined ? parsed.dbPath ?? defaultDbPath(Deno.env) : "";
  } catch (e) {
    console.error(`jim server: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  return runServer({
    settings: parsed.settings,
    port: parsed.port,
    hostname: parsed.hostname,
    plain: parsed.plain,
    tls: parsed.tls,
    http: parsed.http,
    httpOrigins: parsed.httpOrigins,
    dbPath,
    ...(storeUrl === undefined ? {} : { storeUrl }),
    ...(parsed.clusterUrl === undefined ? {} : { clusterUrl: parsed.clusterUrl }),
    adminSocket: parsed.adminSocket,
    log: parsed.quiet ? undefined : logLine,
    notice: logLine,
    fail: (line) => console.error(`jim server: ${line}`),
  });
}

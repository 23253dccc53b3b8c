/**
 * `jim admin`: list, block and unblock accounts in a server's database.
 *
 * It works on the database file while a server runs on it (WAL mode and a
 * busy timeout let both write). The server reads `blocked` on every
 * `authenticate`, and every `--block-check` seconds (default 5) it
 * disconnects blocked accounts that are online.
 *
 * @module
 */

import { limitPositional, parseFlags, UsageError } from "../cli/parse.ts";
import { defaultDbPath, type EnvReader } from "../store/db_path.ts";
import { SqliteStore } from "../store/sqlite_store.ts";

/** Where `jim admin` writes, and the environment it reads. */
export interface AdminIo {
  stdout(line: string): void;
  stderr(line: string): void;
  env: EnvReader;
}

/** The one-line usage shown after an argument error. */
export const ADMIN_USAGE = "Usage: jim admin users|block NAME|unblock NAME [--db PATH]";

/** The text `jim admin --help` prints. */
export const ADMIN_HELP = `jim admin: manage the accounts of a jim server

USAGE:
  jim admin users [--db PATH]         list accounts
  jim admin block NAME [--db PATH]    disconnect the account and refuse its logins
  jim admin unblock NAME [--db PATH]  allow the account's logins again

OPTIONS:
  --db PATH   the server's database (default: $JIM_DB, else
              $XDG_DATA_HOME/jim/jim.db, else ~/.local/share/jim/jim.db)
  -h, --help  show this help

Safe to run while the server is running: a running server disconnects a
blocked account within its --block-check interval (default 5 s) and refuses
its logins from then on. Account names are case-sensitive.`;

/** A parsed `jim admin` command line. */
type AdminCommand =
  | { kind: "help" }
  | { kind: "users"; db: string | undefined }
  | { kind: "block" | "unblock"; name: string; db: string | undefined };

/** Reads the arguments after `admin`; throws {@linkcode UsageError}. */
function parseAdminArgs(args: readonly string[]): AdminCommand {
  const { values, flags, positional } = parseFlags(args, {
    string: ["db"],
    boolean: ["help"],
    alias: { h: "help" },
  });
  if (flags.help) return { kind: "help" };
  const { db } = values;
  const [command, name] = positional;
  switch (command) {
    case undefined:
      throw new UsageError("Cannot parse arguments: a command is required");
    case "users":
      limitPositional(positional, 1);
      return { kind: "users", db };
    case "block":
    case "unblock":
      if (name === undefined || name === "") {
        throw new UsageError("Cannot parse arguments: NAME is required");
      }
      limitPositional(positional, 2);
      return { kind: command, name, db };
    default:
      throw new UsageError(`Cannot parse arguments: unknown command "${command}"`);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Lays out rows in columns two spaces apart, with no trailing spaces. */
function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, [...cell].length));
  }
  return rows.map((row) =>
    row.map((cell, i) => cell + " ".repeat((widths[i] ?? 0) - [...cell].length)).join("  ")
      .trimEnd()
  );
}

async function listUsers(store: SqliteStore, io: AdminIo): Promise<number> {
  const accounts = await store.listAccounts();
  if (accounts.length === 0) {
    io.stdout("No accounts");
    return 0;
  }
  const rows = [["NAME", "BLOCKED", "CREATED", "OFFLINE"]];
  for (const account of accounts) {
    rows.push([
      account.name,
      account.blocked ? "yes" : "no",
      new Date(account.createdAt).toISOString().slice(0, 10),
      String(await store.countOffline(account.name)),
    ]);
  }
  for (const line of table(rows)) io.stdout(line);
  return 0;
}

async function setBlocked(
  store: SqliteStore,
  io: AdminIo,
  name: string,
  blocked: boolean,
): Promise<number> {
  const verb = blocked ? "block" : "unblock";
  if (!await store.setBlocked(name, blocked)) {
    io.stderr(`Cannot ${verb} ${name}: no such account`);
    return 1;
  }
  io.stdout(
    blocked
      ? `Blocked ${name}: a running server disconnects the account within seconds`
      : `Unblocked ${name}: the account may log in again`,
  );
  return 0;
}

/**
 * Runs `jim admin` with the arguments after `admin`, and returns the exit
 * code: 0 done, 1 failed (no such account, unusable database), 2 bad
 * command line.
 *
 * @example
 * ```ts
 * import { runAdmin } from "./admin.ts";
 * const code = await runAdmin(["users", "--db", ":memory:"], {
 *   stdout: (line) => console.log(line),
 *   stderr: (line) => console.error(line),
 *   env: Deno.env,
 * });
 * console.assert(code === 0);
 * ```
 */
export async function runAdmin(args: string[], io: AdminIo): Promise<number> {
  let command: AdminCommand;
  try {
    command = parseAdminArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`jim admin: ${error.message}`);
    io.stderr(ADMIN_USAGE);
    return 2;
  }
  if (command.kind === "help") {
    for (const line of ADMIN_HELP.split("\n")) io.stdout(line);
    return 0;
  }

  let path: string;
  let store: SqliteStore;
  try {
    path = command.db ?? defaultDbPath(io.env);
  } catch (error) {
    io.stderr(errorText(error));
    return 1;
  }
  try {
    if (path !== ":memory:" && !exists(path)) {
      io.stderr(`Cannot open database ${path}: no such file`);
      return 1;
    }
    store = SqliteStore.open(path);
  } catch (error) {
    io.stderr(`Cannot open database ${path}: ${errorText(error)}`);
    return 1;
  }

  try {
    if (command.kind === "users") return await listUsers(store, io);
    return await setBlocked(store, io, command.name, command.kind === "block");
  } catch (error) {
    const action = command.kind === "users" ? "list accounts" : `${command.kind} ${command.name}`;
    io.stderr(`Cannot ${action}: ${errorText(error)}`);
    return 1;
  } finally {
    await store.close();
  }
}

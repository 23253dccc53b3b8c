/**
 * `jim admin`: manage the accounts of a jim server.
 *
 * With a server running on the database and its admin socket (`DB.sock`
 * beside the database, or `--admin-socket`), block, unblock, kick,
 * logout-all, reset-password and stats go through the socket and act at
 * once. Without one, all but kick and stats work on the database file (WAL
 * mode and a busy timeout let a server and `jim admin` both write; a server
 * without an admin socket notices a block within `--block-check`).
 *
 * @module
 */

import { hashPassword } from "../auth/password.ts";
import { limitPositional, parseFlags, UsageError } from "../cli/parse.ts";
import type {
  AdminAnswer,
  AdminRequest,
  AdminRoom,
  AdminStats,
} from "../protocol/admin_messages.ts";
import { LIMITS } from "../protocol/validate.ts";
import { defaultAdminSocket, defaultDbPath, type EnvReader } from "../store/db_path.ts";
import { SqliteStore } from "../store/sqlite_store.ts";

/** Where `jim admin` writes, and the environment it reads. */
export interface AdminIo {
  stdout(line: string): void;
  stderr(line: string): void;
  env: EnvReader;
  /**
   * Asks for a password without echo (`reset-password` when `JIM_PASSWORD`
   * is not set); null when there is no terminal to ask on.
   */
  promptPassword?: (prompt: string) => Promise<string | null>;
}

/** The one-line usage shown after an argument error. */
export const ADMIN_USAGE =
  "Usage: jim admin users|stats|rooms|block|unblock|kick|logout-all|reset-password [NAME] [--db PATH]";

/** The text `jim admin --help` prints. */
export const ADMIN_HELP = `jim admin: manage the accounts of a jim server

USAGE:
  jim admin users                 list accounts (from the database file)
  jim admin stats                 connections, online accounts and guests, rooms
  jim admin rooms                 rooms with their topic, members and kept messages
                                  (online guests too with a running server)
  jim admin block NAME            disconnect the account, revoke its tokens, refuse its logins
  jim admin unblock NAME          allow the account's logins again
  jim admin kick NAME             disconnect whoever holds the name now
  jim admin logout-all NAME       revoke every session token of the account, disconnect it
  jim admin reset-password NAME   set a new password (asked without echo, or $JIM_PASSWORD);
                                  revokes its tokens and disconnects it

OPTIONS:
  --db PATH            the server's database (default: $JIM_DB, else
                       $XDG_DATA_HOME/jim/jim.db, else ~/.local/share/jim/jim.db)
  --admin-socket PATH  the running server's admin socket (default: DB.sock, beside
                       the database)
  -h, --help           show this help

With a server running on the database, commands go through its admin socket
and act at once. Without one, they change the database file (kick and stats
need a running server); a server without an admin socket disconnects a
blocked account within its --block-check interval (default 5 s). Account
names are case-sensitive.`;

/** Commands that take a NAME. */
const NAMED = ["block", "unblock", "kick", "logout-all", "reset-password"] as const;
type NamedKind = typeof NAMED[number];

/** A parsed `jim admin` command line. */
type AdminCommand =
  | { kind: "help" }
  | { kind: "users"; db: string | undefined; socket: string | undefined }
  | { kind: "stats"; db: string | undefined; socket: string | undefined }
  | { kind: "rooms"; db: string | undefined; socket: string | undefined }
  | { kind: NamedKind; name: string; db: string | undefined; socket: string | undefined };

/** Reads the arguments after `admin`; throws {@linkcode UsageError}. */
function parseAdminArgs(args: readonly string[]): AdminCommand {
  const { values, flags, positional } = parseFlags(args, {
    string: ["db", "admin-socket"],
    boolean: ["help"],
    alias: { h: "help" },
  });
  if (flags.help) return { kind: "help" };
  const { db } = values;
  const socket = values["admin-socket"];
  const [command, name] = positional;
  switch (command) {
    case undefined:
      throw new UsageError("Cannot parse arguments: a command is required");
    case "users":
    case "stats":
    case "rooms":
      limitPositional(positional, 1);
      return { kind: command, db, socket };
    default:
      if (!NAMED.includes(command as NamedKind)) {
        throw new UsageError(`Cannot parse arguments: unknown command "${command}"`);
      }
      if (name === undefined || name === "") {
        throw new UsageError("Cannot parse arguments: NAME is required");
      }
      limitPositional(positional, 2);
      return { kind: command as NamedKind, name, db, socket };
  }
}

/** The longest answer `jim admin` reads from the socket, in bytes. */
const MAX_ANSWER = 65536;

/**
 * Sends one request to a running server's admin socket. Null when no server
 * listens there (no socket file, or a stale one).
 */
async function askServer(path: string, request: AdminRequest): Promise<AdminAnswer | null> {
  // No socket file, no server: checked first, since it needs no net permission.
  if (!exists(path)) return null;
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (error) {
    if (
      error instanceof Deno.errors.NotFound || error instanceof Deno.errors.ConnectionRefused
    ) return null;
    throw error;
  }
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(request) + "\n");
    for (let written = 0; written < bytes.length;) {
      written += await conn.write(bytes.subarray(written));
    }
    const buf = new Uint8Array(MAX_ANSWER);
    let used = 0;
    while (used < buf.length) {
      const n = await conn.read(buf.subarray(used));
      if (n === null) break;
      used += n;
      if (buf.subarray(0, used).includes(10)) break;
    }
    const line = new TextDecoder().decode(buf.subarray(0, used)).split("\n")[0] ?? "";
    if (line === "") throw new Error("the server closed the admin socket without an answer");
    return JSON.parse(line) as AdminAnswer;
  } finally {
    conn.close();
  }
}

function printStats(stats: AdminStats, io: AdminIo): void {
  const rows = [
    ["connections", String(stats.connections)],
    ["online", String(stats.online)],
    ["accounts", String(stats.accounts)],
    ["guests", String(stats.guests)],
    ["rooms", String(stats.rooms)],
    ["uptime", `${stats.uptime} s`],
    ["nodes", String(stats.nodes ?? 1)],
  ];
  for (const line of table(rows)) io.stdout(line);
}

/** The new password for `reset-password`: `$JIM_PASSWORD`, else asked. */
async function newPassword(name: string, io: AdminIo): Promise<string> {
  const fromEnv = io.env.get("JIM_PASSWORD");
  const password = fromEnv !== undefined && fromEnv !== ""
    ? fromEnv
    : await io.promptPassword?.(`New password for ${name}: `) ?? null;
  if (password === null) {
    throw new Error("set JIM_PASSWORD or run jim admin on a terminal to be asked");
  }
  const n = [...password].length;
  if (n < LIMITS.passwordMin || n > LIMITS.passwordMax) {
    throw new Error(
      `the password must have ${LIMITS.passwordMin} to ${LIMITS.passwordMax} characters`,
    );
  }
  return password;
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

function printRooms(rooms: readonly AdminRoom[], io: AdminIo): void {
  if (rooms.length === 0) {
    io.stdout("No rooms");
    return;
  }
  const rows = [["ROOM", "MEMBERS", "MESSAGES", "TOPIC", "NAMES"]];
  for (const room of rooms) {
    rows.push([
      room.name,
      String(room.members.length),
      String(room.messages),
      room.topic === "" ? "-" : room.topic,
      room.members.join(","),
    ]);
  }
  for (const line of table(rows)) io.stdout(line);
}

/** The rooms as the database holds them (no server: account members only). */
async function storedRooms(store: SqliteStore): Promise<AdminRoom[]> {
  const counts = await store.countRoomHistory();
  const members = new Map<string, string[]>();
  for (const { room, account } of await store.listRoomMemberships()) {
    let list = members.get(room);
    if (!list) members.set(room, list = []);
    list.push(account);
  }
  return (await store.listRooms()).map(({ name, topic }) => ({
    name,
    topic,
    members: members.get(name) ?? [],
    messages: counts.get(name) ?? 0,
  }));
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
      ? `Blocked ${name}: its tokens revoked; a running server disconnects it within seconds`
      : `Unblocked ${name}: the account may log in again`,
  );
  return 0;
}

/** Phrases each command's failure ("Cannot block alice: …"). */
function actionText(command: Exclude<AdminCommand, { kind: "help" }>): string {
  switch (command.kind) {
    case "users":
      return "list accounts";
    case "stats":
      return "get stats";
    case "rooms":
      return "list rooms";
    case "logout-all":
      return `log out ${command.name}`;
    case "reset-password":
      return `reset the password of ${command.name}`;
    default:
      return `${command.kind} ${command.name}`;
  }
}

/**
 * Runs `jim admin` with the arguments after `admin`, and returns the exit
 * code: 0 done, 1 failed (no such account, unusable database, no running
 * server for kick or stats), 2 bad command line.
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

  // Without --db the default path is needed only to find the default socket
  // or the file: a server on PostgreSQL is reached by --admin-socket alone.
  let path: string | null = null;
  let pathError: unknown = null;
  try {
    path = command.db ?? defaultDbPath(io.env);
  } catch (error) {
    pathError = error;
  }
  if (path === null && (command.kind === "users" || command.socket === undefined)) {
    io.stderr(errorText(pathError));
    return 1;
  }

  // A running server is asked first, so that the command acts at once.
  let password: string | undefined;
  if (command.kind !== "users") {
    const socket = command.socket ?? (path === null ? null : defaultAdminSocket(path));
    try {
      let request: AdminRequest;
      if (command.kind === "stats" || command.kind === "rooms") {
        request = { command: command.kind };
      } else if (command.kind === "reset-password") {
        password = await newPassword(command.name, io);
        request = { command: command.kind, name: command.name, password };
      } else request = { command: command.kind, name: command.name };
      const answer = socket === null ? null : await askServer(socket, request);
      if (answer !== null) {
        if (!answer.ok) {
          io.stderr(answer.error);
          return 1;
        }
        if (answer.stats) printStats(answer.stats, io);
        else if (answer.rooms) printRooms(answer.rooms, io);
        else io.stdout(answer.message);
        return 0;
      }
      if (command.kind === "stats" || command.kind === "kick") {
        io.stderr(
          path === null
            ? `Cannot ${actionText(command)}: nothing answers on ${socket}`
            : `Cannot ${actionText(command)}: no server is running on ${path}` +
              (socket === null ? "" : ` (nothing answers on ${socket})`),
        );
        return 1;
      }
    } catch (error) {
      io.stderr(`Cannot ${actionText(command)}: ${errorText(error)}`);
      return 1;
    }
  }

  if (path === null) {
    io.stderr(errorText(pathError));
    return 1;
  }
  let store: SqliteStore;
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
    switch (command.kind) {
      case "users":
        return await listUsers(store, io);
      case "rooms":
        printRooms(await storedRooms(store), io);
        return 0;
      case "block":
      case "unblock":
        return await setBlocked(store, io, command.name, command.kind === "block");
      case "logout-all": {
        if (!(await store.getAccount(command.name))) {
          io.stderr(`Cannot log out ${command.name}: no such account`);
          return 1;
        }
        const revoked = await store.revokeTokens(command.name);
        io.stdout(`Logged out ${command.name}: ${revoked} token(s) revoked`);
        return 0;
      }
      case "reset-password": {
        if (!(await store.setPassword(command.name, await hashPassword(password!)))) {
          io.stderr(`Cannot reset the password of ${command.name}: no such account`);
          return 1;
        }
        io.stdout(`Reset the password of ${command.name}: its tokens revoked`);
        return 0;
      }
      default:
        throw new Error(`unexpected command ${command.kind}`);
    }
  } catch (error) {
    io.stderr(`Cannot ${actionText(command)}: ${errorText(error)}`);
    return 1;
  } finally {
    await store.close();
  }
}

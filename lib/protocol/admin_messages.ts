/**
 * The admin socket's vocabulary: `jim admin` sends one request as one line
 * of JSON over the server's local Unix socket and reads one answer line.
 * Pure types and a parser; no I/O.
 *
 * @module
 */

/** Commands that act on a running server. */
export const ADMIN_COMMANDS = [
  "block",
  "unblock",
  "kick",
  "logout-all",
  "reset-password",
  "stats",
  "rooms",
] as const;

/** One of {@linkcode ADMIN_COMMANDS}. */
export type AdminCommandName = typeof ADMIN_COMMANDS[number];

/** A request on the admin socket. */
export type AdminRequest =
  | { command: "stats" }
  | { command: "rooms" }
  | { command: "block" | "unblock" | "kick" | "logout-all"; name: string }
  | { command: "reset-password"; name: string; password: string };

/** What the server reports for `stats`. */
export interface AdminStats {
  /** Open client connections (in a cluster, the sum over its nodes, as the next three). */
  connections: number;
  /** Sessions with a name: accounts and guests. */
  online: number;
  /** Logged-in accounts. */
  accounts: number;
  /** Named guests. */
  guests: number;
  /** Rooms that exist (with at least one member). */
  rooms: number;
  /** Seconds since the server (the node asked, in a cluster) started. */
  uptime: number;
  /** The nodes counted: 1 for a single server; in a cluster, those that answered. */
  nodes: number;
}

/** One room, for `rooms`. */
export interface AdminRoom {
  name: string;
  topic: string;
  /** Accounts that are members (online or not), and online guests. */
  members: string[];
  /** Messages kept in its history. */
  messages: number;
}

/** The answer to an {@linkcode AdminRequest}. */
export type AdminAnswer =
  | { ok: true; message: string; stats?: AdminStats; rooms?: AdminRoom[] }
  | { ok: false; error: string };

/** The longest request line the server reads, in bytes. */
export const ADMIN_MAX_LINE = 4096;

/**
 * Reads one request line; throws a `TypeError` naming what is wrong.
 *
 * @example
 * ```ts
 * import { parseAdminRequest } from "./admin_messages.ts";
 * console.assert(parseAdminRequest('{"command":"kick","name":"bob"}').command === "kick");
 * ```
 */
export function parseAdminRequest(line: string): AdminRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TypeError("Cannot parse admin request: not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("Cannot parse admin request: not an object");
  }
  const { command, name, password } = value as Record<string, unknown>;
  if (!ADMIN_COMMANDS.includes(command as AdminCommandName)) {
    throw new TypeError(`Cannot parse admin request: unknown command ${JSON.stringify(command)}`);
  }
  if (command === "stats" || command === "rooms") return { command };
  if (typeof name !== "string" || name === "") {
    throw new TypeError("Cannot parse admin request: name must be a non-empty string");
  }
  if (command === "reset-password") {
    if (typeof password !== "string") {
      throw new TypeError("Cannot parse admin request: password must be a string");
    }
    return { command, name, password };
  }
  return { command: command as "block" | "unblock" | "kick" | "logout-all", name };
}

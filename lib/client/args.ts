/**
 * The client's command line: a typed, validating wrapper over std's
 * `parseArgs`, and the help text.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";

/** The default server port. */
export const DEFAULT_PORT = 7777;

/** How the client identifies itself. */
export type AuthMode = "guest" | "login" | "register";

/** Everything the command line can say. */
export interface ClientArgs {
  /** Server host name or address. */
  host: string;
  /** Server port. */
  port: number;
  /** Name to use; `undefined`: the login name from the environment. */
  user: string | undefined;
  /** Guest (presence), log in, or register then log in. */
  auth: AuthMode;
  /** Scripting: where `message` (or each stdin line) goes. */
  to: string | undefined;
  /** Scripting: one message to send, then exit. */
  message: string | undefined;
  /** Directory for per-conversation history files. */
  logDir: string | undefined;
  /** `--no-color`. */
  noColor: boolean;
  /** First reconnect delay, in milliseconds. */
  reconnectDelayMs: number;
  /** Longest reconnect delay, in milliseconds. */
  reconnectMaxDelayMs: number;
  /** Reconnect attempts after a loss; `undefined`: the mode's default. */
  retries: number | undefined;
  /** `--help`. */
  help: boolean;
}

/** A bad command line; the entry prints the message and usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The usage line. */
export const CLIENT_USAGE = "Usage: jim client [OPTIONS] ADDR [PORT]";

/** `--help` output. */
export const CLIENT_HELP = `${CLIENT_USAGE}

Connects to a JIM server at ADDR (port ${DEFAULT_PORT} unless PORT is given) and
opens a chat screen, or, when stdin or stdout is not a terminal, works line by line.

Options:
  -u, --user NAME            name to use (default: $USER or $LOGNAME)
      --login                log in to the account NAME (password asked, or $JIM_PASSWORD)
      --register             create the account NAME, then log in
      --to TARGET            NAME or #ROOM that --message and stdin lines go to
  -m, --message TEXT         send TEXT to --to and exit (0 on 200/202)
      --log-dir DIR          keep a plain-text history file per conversation in DIR
      --no-color             no colours (also when NO_COLOR is set)
      --retries N            reconnect attempts after a lost connection
                             (default: unlimited on a terminal, 3 otherwise; 0: none)
      --reconnect-delay MS   first reconnect delay (default 1000)
      --reconnect-max-delay MS
                             longest reconnect delay (default 30000)
  -h, --help                 show this help

Exit codes: 0 ok, 1 the server refused a request, 2 bad usage,
3 cannot connect or connection lost.`;

const STRING_FLAGS = [
  "user",
  "to",
  "message",
  "log-dir",
  "retries",
  "reconnect-delay",
  "reconnect-max-delay",
] as const;
const BOOLEAN_FLAGS = ["login", "register", "help", "color"] as const;
const ALIASES: Record<string, string> = { u: "user", m: "message", h: "help" };
const KNOWN = new Set<string>([...STRING_FLAGS, ...BOOLEAN_FLAGS, ...Object.keys(ALIASES)]);

function integer(value: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(
      `Cannot parse ${flag}: expected an integer from ${min} to ${max}, got "${value}"`,
    );
  }
  return Number(value);
}

function stringFlag(parsed: Record<string, unknown>, key: string): string | undefined {
  const v = parsed[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw new UsageError(`Cannot parse --${key}: given more than once`);
  if (typeof v !== "string" || v === "") {
    throw new UsageError(`Cannot parse --${key}: a value is required`);
  }
  return v;
}

/**
 * Parses and validates the client's arguments.
 *
 * @throws {UsageError} on an unknown flag, a missing address, a bad port or a bad value
 */
export function parseClientArgs(args: readonly string[]): ClientArgs {
  const unknown: string[] = [];
  const parsed = parseArgs([...args], {
    string: [...STRING_FLAGS],
    boolean: [...BOOLEAN_FLAGS],
    negatable: ["color"],
    alias: ALIASES,
    default: { color: true },
    unknown: (arg: string, key?: string) => {
      if (key !== undefined && !KNOWN.has(key)) unknown.push(arg);
      return key === undefined; // keep positionals
    },
  }) as Record<string, unknown> & { _: (string | number)[] };
  if (unknown.length > 0) {
    throw new UsageError(`Cannot parse arguments: unknown option ${unknown[0]}`);
  }
  const help = parsed.help === true;
  const positional = parsed._.map(String);
  if (help) {
    return {
      host: "",
      port: DEFAULT_PORT,
      user: undefined,
      auth: "guest",
      to: undefined,
      message: undefined,
      logDir: undefined,
      noColor: false,
      reconnectDelayMs: 1000,
      reconnectMaxDelayMs: 30000,
      retries: undefined,
      help,
    };
  }
  if (positional.length === 0) throw new UsageError("Cannot connect: no server address given");
  if (positional.length > 2) {
    throw new UsageError(`Cannot parse arguments: unexpected "${positional[2]}"`);
  }
  const host = positional[0]!;
  if (host.startsWith("-") || host.trim() === "") {
    throw new UsageError(`Cannot parse arguments: bad address "${host}"`);
  }
  const portText = positional[1];
  const port = portText === undefined ? DEFAULT_PORT : integer(portText, "PORT", 1, 65535);
  if (parsed.login === true && parsed.register === true) {
    throw new UsageError("Cannot parse arguments: --login and --register exclude each other");
  }
  const auth: AuthMode = parsed.register === true
    ? "register"
    : parsed.login === true
    ? "login"
    : "guest";
  const to = stringFlag(parsed, "to");
  const message = stringFlag(parsed, "message");
  if (message !== undefined && to === undefined) {
    throw new UsageError("Cannot send --message: --to TARGET is required");
  }
  const retriesText = stringFlag(parsed, "retries");
  const delayText = stringFlag(parsed, "reconnect-delay");
  const maxText = stringFlag(parsed, "reconnect-max-delay");
  const reconnectDelayMs = delayText === undefined
    ? 1000
    : integer(delayText, "--reconnect-delay", 1, 3_600_000);
  const reconnectMaxDelayMs = maxText === undefined
    ? Math.max(30000, reconnectDelayMs)
    : integer(maxText, "--reconnect-max-delay", 1, 3_600_000);
  if (reconnectMaxDelayMs < reconnectDelayMs) {
    throw new UsageError(
      "Cannot parse --reconnect-max-delay: it must not be below --reconnect-delay",
    );
  }
  return {
    host,
    port,
    user: stringFlag(parsed, "user"),
    auth,
    to,
    message,
    logDir: stringFlag(parsed, "log-dir"),
    noColor: parsed.color === false,
    reconnectDelayMs,
    reconnectMaxDelayMs,
    retries: retriesText === undefined
      ? undefined
      : integer(retriesText, "--retries", 0, 1_000_000),
    help,
  };
}

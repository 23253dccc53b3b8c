/**
 * The client's command line: its flags, checked through the shared
 * {@linkcode parseFlags}, and the help text.
 *
 * @module
 */

import { intFlag, limitPositional, parseFlags, parsePort, UsageError } from "../cli/parse.ts";

/** The default server port. */
export const DEFAULT_PORT = 7777;
/** The default server port with --tls. */
export const DEFAULT_TLS_PORT = 7443;

/** Milliseconds to wait for the server's first answer. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;

/**
 * Messages a second the client sends at most: under the server's default
 * limit (100 a second, burst 200), so that a pipe is never refused.
 */
export const DEFAULT_RATE = 90;

/** After a reconnect, how long a queued message to a name not online yet is retried. */
export const DEFAULT_RETRY_ABSENT_MS = 60_000;

/** How the client identifies itself. */
export type AuthMode = "guest" | "login" | "register";

/** Everything the command line can say. */
export interface ClientArgs {
  /** Server host name or address. */
  host: string;
  /** Server port. */
  port: number;
  /** Connect over TLS, verifying the certificate and the host name. */
  tls: boolean;
  /** A PEM CA certificate file to trust besides the system's roots (`--ca`). */
  caFile: string | undefined;
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
  /** How long to wait for the server's first answer, in milliseconds. */
  handshakeTimeoutMs: number;
  /** Messages sent per second at most (0: no pacing). */
  rate: number;
  /** After a reconnect, how long a queued message to an absent name is retried, in ms. */
  retryAbsentMs: number;
  /** `--help`. */
  help: boolean;
}

/** The usage line. */
export const CLIENT_USAGE = "Usage: jim client [OPTIONS] ADDR [PORT]";

/** `--help` output. */
export const CLIENT_HELP = `${CLIENT_USAGE}

Connects to a JIM server at ADDR (port ${DEFAULT_PORT}, or ${DEFAULT_TLS_PORT} with --tls, unless PORT is
given) and
opens a chat screen, or, when stdin or stdout is not a terminal, works line by line.

Options:
  -u, --user NAME            name to use (default: $USER or $LOGNAME)
      --tls                  connect over TLS; the certificate must be valid for ADDR
      --ca FILE              PEM CA certificate to trust besides the system's (with --tls)
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
      --handshake-timeout MS how long to wait for the server's first answer
                             before giving up with exit 3 (default 5000)
      --rate N               send at most N messages a second, below the
                             server's limit (default 90; 0: no pacing); a
                             message refused with 429 is sent again later
      --retry-absent MS      after a reconnect, how long a queued message to a
                             name that is not online yet (a guest not back yet)
                             is retried before it is reported (default 60000)
  -h, --help                 show this help

Exit codes: 0 ok, 1 the server refused a request, 2 bad usage,
3 cannot connect, no answer, not a JIM server, or connection lost,
130 Ctrl-C at a password prompt (129 SIGHUP, 143 SIGTERM while it waits).`;

/**
 * Parses and validates the client's arguments.
 *
 * @throws {UsageError} on an unknown flag, a missing address, a bad port or a bad value
 */
export function parseClientArgs(args: readonly string[]): ClientArgs {
  const { values, flags, positional } = parseFlags(args, {
    string: [
      "user",
      "ca",
      "to",
      "message",
      "log-dir",
      "retries",
      "reconnect-delay",
      "reconnect-max-delay",
      "handshake-timeout",
      "rate",
      "retry-absent",
    ],
    boolean: ["login", "register", "help", "color", "tls"],
    negatable: ["color"],
    alias: { u: "user", m: "message", h: "help" },
  });
  if (flags.help) {
    return {
      host: "",
      port: DEFAULT_PORT,
      tls: false,
      caFile: undefined,
      user: undefined,
      auth: "guest",
      to: undefined,
      message: undefined,
      logDir: undefined,
      noColor: false,
      reconnectDelayMs: 1000,
      reconnectMaxDelayMs: 30000,
      retries: undefined,
      handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
      rate: DEFAULT_RATE,
      retryAbsentMs: DEFAULT_RETRY_ABSENT_MS,
      help: true,
    };
  }
  const [host, portText] = positional;
  if (host === undefined) throw new UsageError("Cannot parse arguments: ADDR is required");
  limitPositional(positional, 2);
  if (host.startsWith("-") || host.trim() === "") {
    throw new UsageError(`Cannot parse ADDR: expected a host name or address, got "${host}"`);
  }
  const port = portText === undefined
    ? (flags.tls ? DEFAULT_TLS_PORT : DEFAULT_PORT)
    : parsePort(portText);
  if (values.ca !== undefined && !flags.tls) {
    throw new UsageError("Cannot parse --ca: it needs --tls");
  }
  if (flags.login && flags.register) {
    throw new UsageError("Cannot parse arguments: --login and --register exclude each other");
  }
  const auth: AuthMode = flags.register ? "register" : flags.login ? "login" : "guest";
  const { to, message } = values;
  if (message !== undefined && to === undefined) {
    throw new UsageError("Cannot send --message: --to TARGET is required");
  }
  const delays = { min: 1, max: 3_600_000 };
  const reconnectDelayMs = intFlag(values, "reconnect-delay", delays) ?? 1000;
  const reconnectMaxDelayMs = intFlag(values, "reconnect-max-delay", delays) ??
    Math.max(30000, reconnectDelayMs);
  if (reconnectMaxDelayMs < reconnectDelayMs) {
    throw new UsageError(
      "Cannot parse --reconnect-max-delay: it must not be below --reconnect-delay",
    );
  }
  return {
    host,
    port,
    tls: flags.tls,
    caFile: values.ca,
    user: values.user,
    auth,
    to,
    message,
    logDir: values["log-dir"],
    noColor: !flags.color,
    reconnectDelayMs,
    reconnectMaxDelayMs,
    retries: intFlag(values, "retries", { min: 0, max: 1_000_000 }),
    handshakeTimeoutMs: intFlag(values, "handshake-timeout", { min: 1, max: 3_600_000 }) ??
      DEFAULT_HANDSHAKE_TIMEOUT_MS,
    rate: intFlag(values, "rate", { min: 0, max: 1_000_000 }) ?? DEFAULT_RATE,
    retryAbsentMs: intFlag(values, "retry-absent", { min: 0, max: 86_400_000 }) ??
      DEFAULT_RETRY_ABSENT_MS,
    help: false,
  };
}

/**
 * The server's command line: one table of tunable flags (each mapped to a
 * {@linkcode ServerSettings} field), the help text built from it, and a typed
 * parser over it.
 *
 * @module
 */

import { SERVER_DEFAULTS, type ServerSettings } from "../server/options.ts";
import { parseHttpAddress } from "../server/http.ts";
import { parsePgUrl } from "../store/pg_store.ts";
import { parseNatsUrl } from "../server/cluster.ts";
import { intFlag, limitPositional, parseFlags, parsePort, UsageError } from "./parse.ts";

/** A numeric setting's flag. `scale` turns the flag's unit into the setting's. */
interface NumericFlag {
  flag: string;
  key: keyof ServerSettings;
  min: number;
  max: number;
  /** Multiplier from the flag's unit to the setting's (seconds → ms is 1000). */
  scale?: number;
  unit?: string;
  help: string;
  /** What the default is, where a bare number would not say (shown before it). */
  defaultNote?: string;
}

/** Every numeric server flag, in help order. */
export const NUMERIC_FLAGS: readonly NumericFlag[] = [
  {
    flag: "offline-limit",
    key: "offlineLimit",
    min: 1,
    max: 1e7,
    help: "messages kept per offline account",
  },
  {
    flag: "bare-write-gap",
    key: "bareWriteGapMs",
    min: 0,
    max: 1000,
    unit: "ms",
    help: "pause between objects to clients without newlines (0: none)",
  },
  {
    flag: "max-contacts",
    key: "maxContacts",
    min: 1,
    max: 100_000,
    help: "names on one contact list",
  },
  {
    flag: "max-rooms-per-user",
    key: "maxRoomsPerUser",
    min: 1,
    max: 1e6,
    help: "rooms one connection or account may be in",
  },
  {
    flag: "max-rooms",
    key: "maxRooms",
    min: 1,
    max: 1e7,
    help: "rooms on the server in all",
  },
  {
    flag: "room-history",
    key: "roomHistory",
    min: 0,
    max: 100_000,
    help: "messages kept per room for members to read back; 0 keeps none",
  },
  {
    flag: "direct-history",
    key: "directHistory",
    min: 0,
    max: 100_000,
    help: "messages kept per direct conversation of an account; 0 keeps none",
  },
  {
    flag: "history-age",
    key: "historyAgeMs",
    min: 0,
    max: 36500,
    scale: 86_400_000,
    unit: "d",
    help: "days after which kept messages are dropped; 0 for no age limit",
  },
  {
    flag: "offline-share",
    key: "offlineShare",
    min: 1,
    max: 100,
    unit: "%",
    help: "share of an offline mailbox one sender may fill; 100 turns it off",
  },
  {
    flag: "probe-interval",
    key: "probeIntervalMs",
    min: 1,
    max: 86400,
    scale: 1000,
    unit: "s",
    help: "silence before a probe",
  },
  {
    flag: "probe-timeout",
    key: "probeTimeoutMs",
    min: 1,
    max: 3600,
    scale: 1000,
    unit: "s",
    help: "time to answer a probe",
  },
  {
    flag: "handshake-timeout",
    key: "handshakeTimeoutMs",
    min: 1,
    max: 3600,
    scale: 1000,
    unit: "s",
    help: "time to send a first valid request",
  },
  {
    flag: "rate-limit",
    key: "rateLimit",
    min: 0,
    max: 1e9,
    unit: "/s",
    help: "requests per second per connection; 0 turns the limit off",
  },
  { flag: "rate-burst", key: "rateBurst", min: 1, max: 1e9, help: "requests allowed in a burst" },
  {
    flag: "flood-disconnect",
    key: "floodDisconnect",
    min: 1,
    max: 1e9,
    help: "consecutive 429s before disconnecting",
  },
  {
    flag: "auth-failures",
    key: "authFailures",
    min: 1,
    max: 1e6,
    help: "failed logins for one account from one address before a lockout",
  },
  {
    flag: "auth-address-failures",
    key: "authAddressFailures",
    min: 1,
    max: 1e6,
    help: "failed logins from one address, any accounts, before a lockout",
  },
  {
    flag: "auth-window",
    key: "authWindowMs",
    min: 1,
    max: 86400,
    scale: 1000,
    unit: "s",
    help: "window in which failed logins count",
  },
  {
    flag: "auth-lockout",
    key: "authLockoutMs",
    min: 1,
    max: 86400,
    scale: 1000,
    unit: "s",
    help: "lockout after too many failed logins",
  },
  {
    flag: "max-connections",
    key: "maxConnections",
    min: 0,
    max: 1e7,
    help: "connections in all; 0 for no limit; by default at most the open-file limit less 64",
  },
  {
    flag: "max-per-address",
    key: "maxPerAddress",
    min: 0,
    max: 1e7,
    help: "connections per source address; 0 for no limit",
  },
  {
    flag: "max-queue-bytes",
    key: "maxQueueBytes",
    min: 1024,
    max: 1 << 30,
    help: "bytes queued for a slow reader before it is dropped",
  },
  {
    flag: "max-queue-objects",
    key: "maxQueueObjects",
    min: 1,
    max: 1e7,
    help: "objects queued for a slow reader before it is dropped",
  },
  {
    flag: "max-object-bytes",
    key: "maxObjectBytes",
    min: 1024,
    max: 1 << 20,
    help: "raw bytes one incoming object may take",
  },
  {
    flag: "hash-iterations",
    key: "hashIterations",
    min: 1000,
    max: 10_000_000,
    help: "PBKDF2-SHA256 iterations for new passwords",
  },
  {
    flag: "hash-concurrency",
    key: "hashConcurrency",
    min: 1,
    max: 1024,
    help: "password hashes computed at once",
    defaultNote: "cores - 1, here",
  },
  {
    flag: "hash-queue",
    key: "hashQueue",
    min: 0,
    max: 1e6,
    help: "logins and registrations that may wait for a hash; beyond it 429",
  },
  {
    flag: "register-pending",
    key: "registerPending",
    min: 0,
    max: 1e6,
    help: "registrations one address may have in progress; 0 for no limit",
  },
  {
    flag: "register-limit",
    key: "registerLimit",
    min: 0,
    max: 1e9,
    help: "accounts one address may create per hour; 0 for no limit",
  },
  {
    flag: "block-check",
    key: "blockCheckMs",
    min: 1,
    max: 3600,
    scale: 1000,
    unit: "s",
    help: "how often blocked accounts are looked for and disconnected",
  },
  {
    flag: "shutdown-grace",
    key: "shutdownGraceMs",
    min: 0,
    max: 600,
    scale: 1000,
    unit: "s",
    help: "time to flush writes on shutdown",
  },
  {
    flag: "token-lifetime",
    key: "tokenLifetimeMs",
    min: 1,
    max: 3650,
    scale: 86_400_000,
    unit: "d",
    help: "days a session token (resumable login) stays valid",
  },
  {
    flag: "tokens-per-account",
    key: "tokensPerAccount",
    min: 1,
    max: 1000,
    help: "session tokens kept per account; a new one drops the oldest",
  },
  {
    flag: "db-lock-wait",
    key: "dbLockWaitMs",
    min: 0,
    max: 3600,
    scale: 1000,
    unit: "s",
    help: "time a database call waits for another process's lock before failing",
  },
  {
    flag: "claim-ttl",
    key: "claimTtlMs",
    min: 1,
    max: 3600,
    scale: 1000,
    unit: "s",
    help: "with --cluster: a dead node's names are free again after this",
  },
];

function defaultText(f: NumericFlag): string {
  return `${SERVER_DEFAULTS[f.key] as number / (f.scale ?? 1)}${
    f.unit === "/s" ? "" : f.unit ?? ""
  }`;
}

/** `jim server --help`. */
export const SERVER_HELP = `Usage: jim server [options]

Runs a JIM messenger server.

Options:
  -p, --port PORT               port to listen on (default 7777; 0 picks a free one)
  -a, --addr ADDR               address to listen on (default 0.0.0.0, all addresses)
      --db PATH                 SQLite database file, or :memory: for a throwaway server
                                (default $JIM_DB, else $XDG_DATA_HOME/jim/jim.db,
                                else ~/.local/share/jim/jim.db)
      --store URL               keep everything in PostgreSQL instead of SQLite:
                                postgres://USER[:PASSWORD]@HOST:PORT/DB, shared by every
                                node (default $JIM_STORE, else the SQLite file of --db;
                                jim admin works on SQLite files only)
      --cluster URL             act as one server with the other nodes on this NATS
                                (nats://[USER:PASSWORD@|TOKEN@]HOST:PORT, JetStream on:
                                nats-server -js); needs --store (default none: a single
                                server)
      --admin-socket PATH       Unix socket (mode 0600) on which jim admin acts at once;
                                off for none (default DB.sock beside the database; none
                                with --store)
      --http PORT|ADDR:PORT     also serve the web client and JIM over WebSocket (GET /jim)
                                and GET /healthz over HTTP here, HTTPS with --tls-cert
                                (default off; ADDR defaults to --addr)
      --http-origin LIST        comma-separated origins (e.g. https://chat.example.org)
                                also allowed to open the WebSocket, besides the page's own
                                when reached by address or as localhost; a page reached by
                                a DNS name must be listed (default none)
      --tls-cert FILE           PEM certificate chain: also listen for TLS (with --tls-key)
                                and make --http HTTPS; both files are read again on SIGHUP
      --tls-key FILE            PEM private key for --tls-cert
      --tls-port PORT           TLS port (default 7443; 0 picks a free one)
      --no-plain                no plain TCP listener: TLS only
      --require-auth            refuse guests: only registered accounts may chat
      --no-offline-store        answer 410 instead of keeping messages for offline accounts
      --quiet                   log nothing
  -h, --help                    show this help

Clients: jim's own, and the course's clients in every dialect of JIM, recognised by
what they send: the seed's (msg, quit), lesson 8's (message, exit), the contacts
lessons' (get_contacts, add, remove, get_users, pubkey_need) and the 2018 contact list.
Probes go only to clients that answer them or whose presence a contact list asked
about; clients that never answer them are not cut off. See docs/protocol.md.

Limits:
${
  NUMERIC_FLAGS.map((f) => {
    const left = `      --${f.flag} N`;
    const note = f.defaultNote ? `${f.defaultNote} ` : "";
    return `${left.padEnd(32)}${f.help} (default ${note}${defaultText(f)})`;
  }).join("\n")
}
`;

/** The parsed server command line. */
export interface ServerArgs {
  help: boolean;
  port: number;
  hostname: string;
  /** Undefined: use the default path. */
  dbPath: string | undefined;
  /** `--store`: a PostgreSQL URL; undefined for SQLite (or $JIM_STORE). */
  storeUrl: string | undefined;
  /** `--cluster`: a NATS URL; undefined for a single server. */
  clusterUrl: string | undefined;
  /** Undefined: the default beside the database; null: none. */
  adminSocket: string | null | undefined;
  quiet: boolean;
  /** Whether to listen for plain TCP on `port`. */
  plain: boolean;
  /** The TLS listener, when --tls-cert and --tls-key are given. */
  tls: { port: number; certFile: string; keyFile: string } | undefined;
  /** The `--http` listener, or null when off. */
  http: { hostname: string; port: number } | null;
  /** `--http-origin`. */
  httpOrigins: string[];
  settings: Partial<ServerSettings>;
}

/**
 * Parses `jim server` arguments.
 *
 * @throws {UsageError} with a one-line reason
 */
export function parseServerArgs(args: readonly string[]): ServerArgs {
  const { values, flags, positional } = parseFlags(args, {
    string: [
      "port",
      "addr",
      "db",
      "store",
      "cluster",
      "admin-socket",
      "http",
      "http-origin",
      "tls-cert",
      "tls-key",
      "tls-port",
      ...NUMERIC_FLAGS.map((f) => f.flag),
    ],
    boolean: ["help", "require-auth", "offline-store", "quiet", "plain"],
    negatable: ["offline-store", "plain"],
    alias: { p: "port", a: "addr", h: "help" },
  });
  limitPositional(positional, 0);
  const settings: Partial<ServerSettings> = {};
  for (const f of NUMERIC_FLAGS) {
    const n = intFlag(values, f.flag, f);
    if (n !== undefined) (settings as Record<string, number>)[f.key] = n * (f.scale ?? 1);
  }
  if (flags["require-auth"]) settings.requireAuth = true;
  if (!flags["offline-store"]) settings.offlineStore = false;
  const certFile = values["tls-cert"];
  const keyFile = values["tls-key"];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError("Cannot parse arguments: --tls-cert and --tls-key go together");
  }
  if (certFile === undefined && values["tls-port"] !== undefined) {
    throw new UsageError("Cannot parse --tls-port: it needs --tls-cert and --tls-key");
  }
  if (certFile === undefined && !flags.plain) {
    throw new UsageError("Cannot parse --no-plain: it needs --tls-cert and --tls-key");
  }
  const tls = certFile === undefined || keyFile === undefined ? undefined : {
    port: values["tls-port"] === undefined
      ? 7443
      : parsePort(values["tls-port"], { what: "--tls-port", min: 0 }),
    certFile,
    keyFile,
  };
  const hostname = values.addr ?? "0.0.0.0";
  let http = null;
  if (values.http !== undefined) {
    http = parseHttpAddress(values.http, hostname);
    if (!http) {
      throw new UsageError(
        `Cannot parse --http: expected PORT or ADDR:PORT, got "${values.http}"`,
      );
    }
  }
  const httpOrigins = (values["http-origin"] ?? "").split(",").map((o) => o.trim())
    .filter((o) => o !== "");
  for (const o of httpOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(o)) {
      throw new UsageError(
        `Cannot parse --http-origin: expected origins like https://host:port, got "${o}"`,
      );
    }
  }
  const storeUrl = values.store;
  if (storeUrl !== undefined) {
    if (values.db !== undefined) {
      throw new UsageError(
        "Cannot use --db with --store: the store is either SQLite or PostgreSQL",
      );
    }
    try {
      parsePgUrl(storeUrl);
    } catch (e) {
      throw new UsageError(`Cannot parse --store: ${e instanceof Error ? e.message : e}`);
    }
  }
  const clusterUrl = values.cluster;
  if (clusterUrl !== undefined) {
    try {
      parseNatsUrl(clusterUrl);
    } catch (e) {
      throw new UsageError(`Cannot parse --cluster: ${e instanceof Error ? e.message : e}`);
    }
    if (values.db !== undefined) {
      throw new UsageError("Cannot use --db with --cluster: the nodes share one --store");
    }
  }
  return {
    help: flags.help,
    port: values.port === undefined ? 7777 : parsePort(values.port, { what: "--port", min: 0 }),
    hostname,
    http,
    httpOrigins,
    dbPath: values.db,
    storeUrl,
    clusterUrl,
    adminSocket: values["admin-socket"] === "off" ? null : values["admin-socket"],
    quiet: flags.quiet,
    plain: flags.plain,
    tls,
    settings,
  };
}

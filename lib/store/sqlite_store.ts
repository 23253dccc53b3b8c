/**
 * The embedded {@linkcode Store}: one SQLite file through `node:sqlite`.
 *
 * - WAL mode with a busy timeout, so `jim admin` can write to the file while
 *   a server runs on it.
 * - `synchronous=FULL` by default: a message answered 202 is on disk before
 *   the answer is sent.
 * - Group commit: the {@linkcode SqliteStore.enqueueOffline} calls made in
 *   the same turn of the event loop are written in one transaction (one
 *   fsync; up to {@linkcode MAX_BATCH} calls), and each call resolves only
 *   after its transaction commits.
 * - The schema version is `PRAGMA user_version`; migrations run on open,
 *   inside one write transaction, and are idempotent.
 *
 * @module
 */

import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite";
import type { DeliveredMsg } from "../protocol/messages.ts";
import { skeleton } from "../protocol/names.ts";
import { prepareDatabaseFile } from "./db_files.ts";
import { limitRoomMemberships } from "./room_limits.ts";
import type {
  Account,
  EnqueueResult,
  HistoryEntry,
  HistoryPage,
  HistoryQuery,
  OfflineLimits,
  OfflineMessage,
  RoomInfo,
  RoomLimits,
  RoomMembership,
  Store,
} from "./store.ts";

/** Options for {@linkcode SqliteStore.open}. */
export interface SqliteStoreOptions {
  /**
   * SQLite's `synchronous` setting. `"full"` syncs the WAL on every commit, so
   * a committed write survives a power loss; `"normal"` may lose the last
   * commits on power loss (never on a process crash) and is faster.
   *
   * @default {"full"}
   */
  synchronous?: "full" | "normal";
  /**
   * How long one SQLite call may block the thread (and with it the event
   * loop) waiting for another process's lock, in milliseconds. Kept short:
   * past it the call waits asynchronously and retries (see `lockWaitMs`).
   *
   * @default {10}
   */
  busyTimeoutMs?: number;
  /**
   * How long a call keeps retrying while another process holds the lock, in
   * milliseconds, before it fails with "Cannot write database: it is locked
   * by another process". The event loop runs in between.
   *
   * @default {5000}
   */
  lockWaitMs?: number;
}

/**
 * Schema migrations; entry `i` moves the schema from version `i` to `i + 1`.
 * Append only: never edit a migration that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  // 1: accounts, offline mail, room memberships. `name` uses SQLite's default
  // BINARY collation, so account names compare case-sensitively.
  `CREATE TABLE IF NOT EXISTS accounts (
     name TEXT PRIMARY KEY NOT NULL,
     password_hash TEXT NOT NULL,
     blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE IF NOT EXISTS offline (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     recipient TEXT NOT NULL,
     body TEXT NOT NULL
   ) STRICT;
   CREATE INDEX IF NOT EXISTS offline_recipient_id ON offline (recipient, id);
   CREATE TABLE IF NOT EXISTS room_members (
     room TEXT NOT NULL,
     account TEXT NOT NULL,
     PRIMARY KEY (room, account)
   ) STRICT, WITHOUT ROWID;`,
  // 2: session tokens, stored only as the SHA-256 of the token.
  `CREATE TABLE IF NOT EXISTS tokens (
     hash TEXT PRIMARY KEY NOT NULL,
     account TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS tokens_account ON tokens (account, created_at);`,
  // 3: contact lists, one per account. `added` keeps the order of adding.
  `CREATE TABLE IF NOT EXISTS contacts (
     owner TEXT NOT NULL,
     contact TEXT NOT NULL,
     added INTEGER NOT NULL,
     PRIMARY KEY (owner, contact)
   ) STRICT, WITHOUT ROWID;`,
  // 4: each offline message's sender in a column of its own, so that a
  // mailbox's share per sender can be counted from an index.
  `ALTER TABLE offline ADD COLUMN sender TEXT NOT NULL DEFAULT '';
   UPDATE offline SET sender = coalesce(json_extract(body, '$.from'), '');
   CREATE INDEX IF NOT EXISTS offline_recipient_sender ON offline (recipient, sender);`,
  // 5: each account's name skeleton (lib/protocol/names.ts, computed by the
  // jim_skeleton function registered on open), so that no account can be
  // created that looks like another. Accounts that already look alike keep
  // their rows; an index, not a constraint, for that reason.
  `ALTER TABLE accounts ADD COLUMN skeleton TEXT;
   UPDATE accounts SET skeleton = jim_skeleton(name);
   CREATE INDEX IF NOT EXISTS accounts_skeleton ON accounts (skeleton);`,
  // 6: the public key each account last announced (the lessons' end-to-end
  // encryption), for \`pubkey_need\` while the account is offline.
  `CREATE TABLE IF NOT EXISTS public_keys (
     account TEXT PRIMARY KEY NOT NULL,
     pubkey TEXT NOT NULL
   ) STRICT, WITHOUT ROWID;`,
  // 7: rooms that live on when empty, with a topic; kept messages of rooms and
  // direct conversations (recipient is the message's `to`, so that an
  // account's deletion finds its direct history); when an account was last
  // seen and whether it shows its presence to its contacts only.
  `CREATE TABLE IF NOT EXISTS rooms (
     name TEXT PRIMARY KEY NOT NULL,
     topic TEXT NOT NULL DEFAULT ''
   ) STRICT, WITHOUT ROWID;
   INSERT INTO rooms (name) SELECT DISTINCT room FROM room_members WHERE true
     ON CONFLICT DO NOTHING;
   CREATE TABLE IF NOT EXISTS history (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     conversation TEXT NOT NULL,
     sender TEXT NOT NULL,
     recipient TEXT NOT NULL,
     kept_at INTEGER NOT NULL,
     body TEXT NOT NULL
   ) STRICT;
   CREATE INDEX IF NOT EXISTS history_conversation_id ON history (conversation, id);
   CREATE INDEX IF NOT EXISTS history_kept_at ON history (kept_at);
   ALTER TABLE accounts ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE accounts ADD COLUMN contacts_only INTEGER NOT NULL DEFAULT 0
     CHECK (contacts_only IN (0, 1));`,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * The most enqueues one transaction writes. A batch of 4096 100-character
 * messages takes about 25 ms here, which bounds how long a flood of offline
 * mail holds the event loop; one fsync per 4096 messages is already cheap.
 */
export const MAX_BATCH = 4096;

/**
 * How long kept history may wait to be written, in ms: one transaction (and
 * fsync) per this many ms instead of per turn of the event loop, which took
 * room delivery from 3.5 to 5.8 µs of CPU per delivery (bench/history_presence.ts).
 * History is not acknowledged to anyone, so a crash may lose this much of it;
 * every read writes what is pending first.
 */
export const HISTORY_FLUSH_MS = 100;
/** Pending history messages that are written at once, whatever the time. */
const HISTORY_BATCH_MAX = 2000;

/** How many recipients' offline counts the store remembers between batches. */
const MAX_CACHED_COUNTS = 100_000;

const CLOSED_MESSAGE = "Cannot use store: it is closed";
const LOCKED_MESSAGE = "Cannot write database: it is locked by another process";
/** Longest pause between retries of a locked call, in milliseconds. */
const MAX_RETRY_DELAY_MS = 50;

/** Whether SQLite refused for another connection's lock (SQLITE_BUSY), so a retry may work. */
function isBusy(error: unknown): boolean {
  return error instanceof Error && /database is locked/.test(error.message);
}

/** Thrown inside a step when pending enqueues could not be written for a lock. */
class BusyError extends Error {
  constructor() {
    super("database is locked");
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type Row = Record<string, SQLOutputValue>;

function text(row: Row, key: string): string {
  const value = row[key];
  if (typeof value !== "string") throw new TypeError(`Cannot read row: ${key} is not text`);
  return value;
}

function integer(row: Row, key: string): number {
  const value = row[key];
  if (typeof value !== "number") throw new TypeError(`Cannot read row: ${key} is not a number`);
  return value;
}

/** A `LIMIT` value: `Infinity` means no limit, anything else is at least 0. */
function sqlLimit(max: number): number {
  if (max === Infinity) return -1;
  return Number.isFinite(max) && max > 0 ? Math.floor(max) : 0;
}

function toAccount(row: Row): Account {
  return {
    name: text(row, "name"),
    passwordHash: text(row, "password_hash"),
    blocked: integer(row, "blocked") === 1,
    createdAt: integer(row, "created_at"),
    lastSeen: integer(row, "last_seen"),
    contactsOnly: integer(row, "contacts_only") === 1,
  };
}

/** One queued {@linkcode SqliteStore.appendHistory} call awaiting its batch. */
interface PendingHistory {
  conversation: string;
  entry: HistoryEntry;
  keep: number;
  resolve(): void;
  reject(error: unknown): void;
}

/** One queued {@linkcode SqliteStore.enqueueOffline} call awaiting its batch. */
interface PendingEnqueue {
  to: string;
  from: string;
  body: string;
  limit: number;
  perSender: number;
  /** performance.now() after which a lock held by another process fails it. */
  deadline: number;
  resolve(result: EnqueueResult): void;
  reject(error: unknown): void;
}

function migrate(db: DatabaseSync): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    const row = db.prepare("PRAGMA user_version").get() as Row | undefined;
    const version = row === undefined ? 0 : integer(row, "user_version");
    if (version > MIGRATIONS.length) {
      throw new Error(
        `Cannot open database: its schema version ${version} is newer than this jim's (${MIGRATIONS.length})`,
      );
    }
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    // Written even when unchanged: SQLite opens a file it may not write
    // read-only without a word, and this write is what finds that out at
    // start rather than at the first message.
    db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    db.exec("COMMIT");
  } catch (error) {
    rollback(db);
    throw error;
  }
}

function rollback(db: DatabaseSync): void {
  try {
    if (db.isTransaction) db.exec("ROLLBACK");
  } catch {
    // The transaction is already gone; the original error is what matters.
  }
}

/**
 * A {@linkcode Store} in one SQLite database. Account names (and room names)
 * compare case-sensitively: `alice` and `Alice` are two accounts.
 *
 * @example
 * ```ts
 * import { SqliteStore } from "./sqlite_store.ts";
 * await using store = SqliteStore.open(":memory:");
 * await store.createAccount("alice", "pbkdf2-sha256$…");
 * ```
 */
export class SqliteStore implements Store, AsyncDisposable {
  #db: DatabaseSync;
  #closed = false;
  #pending: PendingEnqueue[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #lockWaitMs: number;
  /** The pause before the timer retries a batch refused for a lock; 0 when none was. */
  #retryDelay = 0;
  #closing: Promise<void> | null = null;
  /** Offline messages per recipient, as this connection last counted them. */
  #counts = new Map<string, number>();
  /** Offline messages per recipient and sender (`recipient\nsender`), likewise. */
  #senderCounts = new Map<string, number>();
  #lastDataVersion = -1;

  #insertAccount: StatementSync;
  #selectAccountLike: StatementSync;
  #selectAccount: StatementSync;
  #updateBlocked: StatementSync;
  #selectAccounts: StatementSync;
  #selectBlocked: StatementSync;
  #countOffline: StatementSync;
  #countOfflineFrom: StatementSync;
  #insertOffline: StatementSync;
  #selectOffline: StatementSync;
  #deleteOffline: StatementSync;
  #deleteOneOffline: StatementSync;
  #dataVersion: StatementSync;
  #selectRooms: StatementSync;
  #insertRoomMember: StatementSync;
  #deleteRoomMember: StatementSync;
  #updatePassword: StatementSync;
  #deleteAccount: StatementSync;
  #deleteAccountMail: StatementSync;
  #deleteAccountRooms: StatementSync;
  #insertToken: StatementSync;
  #pruneTokens: StatementSync;
  #selectToken: StatementSync;
  #deleteTokens: StatementSync;
  #selectContacts: StatementSync;
  #insertContact: StatementSync;
  #deleteContact: StatementSync;
  #deleteOwnContacts: StatementSync;
  #upsertPublicKey: StatementSync;
  #selectPublicKey: StatementSync;
  #deletePublicKey: StatementSync;
  #selectContact: StatementSync;
  #selectRoomInfo: StatementSync;
  #insertRoom: StatementSync;
  #deleteConversation: StatementSync;
  #upsertTopic: StatementSync;
  #insertHistory: StatementSync;
  #pruneConversation: StatementSync;
  #pruneOld: StatementSync;
  #selectHistory: StatementSync;
  #selectHistorySeq: StatementSync;
  #countHistory: StatementSync;
  #deleteAccountHistory: StatementSync;
  #updateLastSeen: StatementSync;
  #updateContactsOnly: StatementSync;
  #pendingHistory: PendingHistory[] = [];
  #historyTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(db: DatabaseSync, lockWaitMs: number) {
    this.#db = db;
    this.#lockWaitMs = lockWaitMs;
    // In one statement, so that two look-alike names cannot both get in.
    this.#insertAccount = db.prepare(
      `INSERT INTO accounts (name, password_hash, blocked, created_at, skeleton)
       SELECT ?1, ?2, 0, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE skeleton = ?4)
       ON CONFLICT (name) DO NOTHING`,
    );
    this.#selectAccountLike = db.prepare(
      "SELECT name FROM accounts WHERE skeleton = ? AND name != ? ORDER BY name LIMIT 1",
    );
    this.#selectAccount = db.prepare(
      "SELECT name, password_hash, blocked, created_at, last_seen, contacts_only FROM accounts WHERE name = ?",
    );
    this.#updateBlocked = db.prepare("UPDATE accounts SET blocked = ? WHERE name = ?");
    this.#selectAccounts = db.prepare(
      `SELECT name, password_hash, blocked, created_at, last_seen, contacts_only FROM accounts
       ORDER BY name`,
    );
    this.#selectBlocked = db.prepare("SELECT name FROM accounts WHERE blocked = 1 ORDER BY name");
    this.#countOffline = db.prepare("SELECT count(*) AS n FROM offline WHERE recipient = ?");
    this.#countOfflineFrom = db.prepare(
      "SELECT count(*) AS n FROM offline WHERE recipient = ? AND sender = ?",
    );
    this.#insertOffline = db.prepare(
      "INSERT INTO offline (recipient, sender, body) VALUES (?, ?, ?)",
    );
    this.#selectOffline = db.prepare(
      "SELECT id, body FROM offline WHERE recipient = ? AND id > ? ORDER BY id LIMIT ?",
    );
    this.#deleteOffline = db.prepare("DELETE FROM offline WHERE recipient = ? AND id <= ?");
    this.#deleteOneOffline = db.prepare("DELETE FROM offline WHERE recipient = ? AND id = ?");
    this.#dataVersion = db.prepare("PRAGMA data_version");
    this.#selectRooms = db.prepare(
      "SELECT room, account FROM room_members ORDER BY room, account",
    );
    this.#insertRoomMember = db.prepare(
      "INSERT INTO room_members (room, account) VALUES (?, ?) ON CONFLICT DO NOTHING",
    );
    this.#deleteRoomMember = db.prepare(
      "DELETE FROM room_members WHERE room = ? AND account = ?",
    );
    this.#updatePassword = db.prepare("UPDATE accounts SET password_hash = ? WHERE name = ?");
    this.#deleteAccount = db.prepare("DELETE FROM accounts WHERE name = ?");
    this.#deleteAccountMail = db.prepare("DELETE FROM offline WHERE recipient = ?");
    this.#deleteAccountRooms = db.prepare("DELETE FROM room_members WHERE account = ?");
    this.#insertToken = db.prepare(
      "INSERT INTO tokens (hash, account, created_at, expires_at) VALUES (?, ?, ?, ?)",
    );
    // Expired tokens, and all but the newest `keep` (ties broken by hash).
    this.#pruneTokens = db.prepare(
      `DELETE FROM tokens WHERE account = ?1 AND (expires_at <= ?2 OR hash NOT IN (
         SELECT hash FROM tokens WHERE account = ?1 ORDER BY created_at DESC, hash LIMIT ?3))`,
    );
    this.#selectToken = db.prepare(
      "SELECT account FROM tokens WHERE hash = ? AND expires_at > ?",
    );
    this.#deleteTokens = db.prepare("DELETE FROM tokens WHERE account = ?");
    this.#selectContacts = db.prepare(
      "SELECT contact FROM contacts WHERE owner = ? ORDER BY added",
    );
    this.#insertContact = db.prepare(
      `INSERT INTO contacts (owner, contact, added)
       VALUES (?1, ?2, (SELECT coalesce(max(added), 0) + 1 FROM contacts WHERE owner = ?1))
       ON CONFLICT DO NOTHING`,
    );
    this.#deleteContact = db.prepare("DELETE FROM contacts WHERE owner = ? AND contact = ?");
    this.#deleteOwnContacts = db.prepare("DELETE FROM contacts WHERE owner = ?");
    this.#upsertPublicKey = db.prepare(
      `INSERT INTO public_keys (account, pubkey) VALUES (?, ?)
       ON CONFLICT (account) DO UPDATE SET pubkey = excluded.pubkey`,
    );
    this.#selectPublicKey = db.prepare("SELECT pubkey FROM public_keys WHERE account = ?");
    this.#deletePublicKey = db.prepare("DELETE FROM public_keys WHERE account = ?");
    this.#selectContact = db.prepare("SELECT 1 AS n FROM contacts WHERE owner = ? AND contact = ?");
    this.#selectRoomInfo = db.prepare("SELECT name, topic FROM rooms ORDER BY name");
    this.#insertRoom = db.prepare("INSERT INTO rooms (name) VALUES (?) ON CONFLICT DO NOTHING");
    this.#deleteConversation = db.prepare("DELETE FROM history WHERE conversation = ?");
    this.#upsertTopic = db.prepare(
      "INSERT INTO rooms (name, topic) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET topic = ?2",
    );
    this.#insertHistory = db.prepare(
      `INSERT INTO history (id, conversation, sender, recipient, kept_at, body)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    // Everything older than the newest ?2 of the conversation.
    this.#pruneConversation = db.prepare(
      `DELETE FROM history WHERE conversation = ?1 AND id <= (
         SELECT id FROM history WHERE conversation = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`,
    );
    this.#selectHistory = db.prepare(
      `SELECT id, body FROM history
       WHERE conversation = ? AND id < ? AND id > ? AND kept_at >= ?
       ORDER BY id DESC LIMIT ?`,
    );
    this.#pruneOld = db.prepare("DELETE FROM history WHERE kept_at < ?");
    this.#selectHistorySeq = db.prepare(
      "SELECT seq FROM sqlite_sequence WHERE name = 'history'",
    );
    this.#countHistory = db.prepare(
      `SELECT conversation, count(*) AS n FROM history WHERE conversation LIKE '#%'
       GROUP BY conversation`,
    );
    this.#deleteAccountHistory = db.prepare(
      "DELETE FROM history WHERE sender = ?1 OR recipient = ?1",
    );
    this.#updateLastSeen = db.prepare("UPDATE accounts SET last_seen = ? WHERE name = ?");
    this.#updateContactsOnly = db.prepare("UPDATE accounts SET contacts_only = ? WHERE name = ?");
  }

  /** Runs `step` in one write transaction, rolled back if it throws. */
  #transaction<T>(step: () => T): T {
    // Pending offline mail and history go first, so that a delete sees them.
    this.#flush(true);
    this.#flushHistory();
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = step();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      rollback(this.#db);
      throw error;
    } finally {
      this.#counts.clear();
      this.#senderCounts.clear();
    }
  }

  /**
   * Opens (creating if needed) the database at `path`, or a throwaway one for
   * `":memory:"`, and brings its schema up to {@linkcode SCHEMA_VERSION}. A
   * new file is created 0600 and missing parent directories 0700 (see
   * db_files.ts).
   *
   * @throws {Error} "Cannot open database PATH: it is read-only …" when it
   * cannot be written
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const { synchronous = "full", busyTimeoutMs = 10, lockWaitMs = 5000 } = options;
    if (synchronous !== "full" && synchronous !== "normal") {
      throw new TypeError(`Cannot open store: unknown synchronous mode ${synchronous}`);
    }
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new RangeError("Cannot open store: busyTimeoutMs must be a non-negative integer");
    }
    if (!Number.isInteger(lockWaitMs) || lockWaitMs < 0) {
      throw new RangeError("Cannot open store: lockWaitMs must be a non-negative integer");
    }
    prepareDatabaseFile(path);
    const db = new DatabaseSync(path);
    try {
      db.function("jim_skeleton", { deterministic: true }, (name) => skeleton(String(name)));
      // Opening may block: nobody is being served yet.
      db.exec(`PRAGMA busy_timeout = ${Math.max(busyTimeoutMs, lockWaitMs)}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${synchronous.toUpperCase()}`);
      migrate(db);
      db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
      return new SqliteStore(db, lockWaitMs);
    } catch (error) {
      db.close();
      if (error instanceof Error && /readonly database/i.test(error.message)) {
        throw new Error(
          `Cannot open database ${path}: it is read-only for this user (the server must write to it and create files beside it)`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Runs a synchronous database step as a promise; rejects once closed.
   * While another process holds the lock, the step is retried after a pause
   * that lets the event loop run, for up to `lockWaitMs` in all: one busy
   * lock then delays the calls that need the database, not every client.
   */
  #call<T>(step: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error(CLOSED_MESSAGE));
    try {
      return Promise.resolve(step());
    } catch (error) {
      if (!isBusy(error)) return Promise.reject(error);
      return this.#retry(step, performance.now() + this.#lockWaitMs);
    }
  }

  async #retry<T>(step: () => T, deadline: number): Promise<T> {
    for (let delay = 1;; delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS)) {
      if (performance.now() >= deadline) throw new Error(LOCKED_MESSAGE);
      await sleep(delay);
      if (this.#closed) throw new Error(CLOSED_MESSAGE);
      try {
        return step();
      } catch (error) {
        if (!isBusy(error)) throw error;
      }
    }
  }

  /**
   * Creates an account; false when the name is taken (case-sensitively), or
   * an account that looks like it exists (the same skeleton).
   */
  createAccount(name: string, passwordHash: string): Promise<boolean> {
    return this.#call(() =>
      Number(
        this.#insertAccount.run(name, passwordHash, Date.now(), skeleton(name)).changes,
      ) === 1
    );
  }

  /** An account other than `name` with the same skeleton, or null. */
  accountLike(name: string): Promise<string | null> {
    return this.#call(() => {
      const row = this.#selectAccountLike.get(skeleton(name), name) as Row | undefined;
      return row === undefined ? null : text(row, "name");
    });
  }

  /** The account of exactly that name, or null. */
  getAccount(name: string): Promise<Account | null> {
    return this.#call(() => {
      const row = this.#selectAccount.get(name) as Row | undefined;
      return row === undefined ? null : toAccount(row);
    });
  }

  /**
   * Blocks or unblocks an account; false when there is no such account.
   * Blocking also revokes its session tokens.
   */
  setBlocked(name: string, blocked: boolean): Promise<boolean> {
    return this.#call(() =>
      this.#transaction(() => {
        if (blocked) this.#deleteTokens.run(name);
        return Number(this.#updateBlocked.run(blocked ? 1 : 0, name).changes) === 1;
      })
    );
  }

  /** Replaces the password hash and revokes the account's tokens; false for an unknown name. */
  setPassword(name: string, passwordHash: string): Promise<boolean> {
    return this.#call(() =>
      this.#transaction(() => {
        this.#deleteTokens.run(name);
        return Number(this.#updatePassword.run(passwordHash, name).changes) === 1;
      })
    );
  }

  /** Deletes an account, its mail, memberships, contact list, public key and tokens; false for an unknown name. */
  deleteAccount(name: string): Promise<boolean> {
    return this.#call(() =>
      this.#transaction(() => {
        this.#deleteTokens.run(name);
        this.#deleteOwnContacts.run(name);
        this.#deletePublicKey.run(name);
        this.#deleteAccountRooms.run(name);
        this.#deleteAccountMail.run(name);
        this.#deleteAccountHistory.run(name);
        return Number(this.#deleteAccount.run(name).changes) === 1;
      })
    );
  }

  /** Stores a token hash; drops the account's expired tokens and all but the newest `keep`. */
  addToken(account: string, hash: string, expiresAt: number, keep: number): Promise<void> {
    return this.#call(() =>
      this.#transaction(() => {
        const now = Date.now();
        this.#insertToken.run(hash, account, now, expiresAt);
        this.#pruneTokens.run(account, now, sqlLimit(keep));
      })
    );
  }

  /** The account of an unexpired token hash, or null. */
  tokenAccount(hash: string, now: number): Promise<string | null> {
    return this.#call(() => {
      const row = this.#selectToken.get(hash, now) as Row | undefined;
      return row === undefined ? null : text(row, "account");
    });
  }

  /** Revokes every token of an account; resolves to how many there were. */
  revokeTokens(account: string): Promise<number> {
    return this.#call(() => Number(this.#deleteTokens.run(account).changes));
  }

  /** Every account, ordered by name (by code point). */
  listAccounts(): Promise<Account[]> {
    return this.#call(() => (this.#selectAccounts.all() as Row[]).map(toAccount));
  }

  /** The names of blocked accounts, ordered by name. */
  listBlocked(): Promise<string[]> {
    return this.#call(() => (this.#selectBlocked.all() as Row[]).map((row) => String(row.name)));
  }

  /**
   * Stores a message for an offline account; refused when that account
   * already holds `limits.total` messages (`"full"`), or `limits.perSender`
   * from this message's sender (`"sender-full"`). Calls made in the same turn
   * of the event loop are written in one transaction, in call order, and the
   * limits hold exactly across them. Resolves after the transaction commits;
   * if it fails, every call in it rejects.
   */
  enqueueOffline(
    to: string,
    message: DeliveredMsg,
    limits: OfflineLimits,
  ): Promise<EnqueueResult> {
    if (this.#closed) return Promise.reject(new Error(CLOSED_MESSAGE));
    const body = JSON.stringify(message);
    const { total: limit, perSender = Infinity } = limits;
    const from = message.from;
    return new Promise((resolve, reject) => {
      const deadline = performance.now() + this.#lockWaitMs;
      this.#pending.push({ to, from, body, limit, perSender, deadline, resolve, reject });
      this.#flushTimer ??= setTimeout(() => this.#flush(false), 0);
    });
  }

  /**
   * Writes pending enqueues, at most {@linkcode MAX_BATCH} per transaction,
   * and settles their promises. The timer writes one transaction and
   * schedules the next, so a flood never holds the event loop for long;
   * `all` writes everything now (before reads, and on close).
   *
   * A batch refused for another process's lock goes back to the front: the
   * timer retries it after a growing pause, and fails it once its first
   * call's `lockWaitMs` is over; with `all`, a {@linkcode BusyError} makes
   * the calling step retry as a whole.
   */
  #flush(all: boolean): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    let busy = false;
    do {
      const batch = this.#pending.length > MAX_BATCH
        ? this.#pending.splice(0, MAX_BATCH)
        : this.#pending.splice(0);
      if (batch.length === 0) break;
      if (!this.#commit(batch)) {
        busy = true;
        if (performance.now() >= batch[0]!.deadline) {
          const error = new Error(LOCKED_MESSAGE);
          for (const item of batch) item.reject(error);
        } else {
          this.#pending.unshift(...batch);
        }
        break;
      }
    } while (all && this.#pending.length > 0);
    this.#retryDelay = busy ? Math.min(Math.max(1, this.#retryDelay * 2), MAX_RETRY_DELAY_MS) : 0;
    if (this.#pending.length > 0) {
      this.#flushTimer = setTimeout(() => this.#flush(false), this.#retryDelay);
    }
    if (busy && all) throw new BusyError();
  }

  /**
   * The cached per-recipient offline counts, valid inside a write
   * transaction: emptied when another connection has committed since the
   * last look (`PRAGMA data_version`), or when it grows too large.
   */
  #offlineCounts(): Map<string, number> {
    const version = integer(this.#dataVersion.get() as Row, "data_version");
    if (
      version !== this.#lastDataVersion || this.#counts.size > MAX_CACHED_COUNTS ||
      this.#senderCounts.size > MAX_CACHED_COUNTS
    ) {
      this.#counts.clear();
      this.#senderCounts.clear();
      this.#lastDataVersion = version;
    }
    return this.#counts;
  }

  /**
   * Writes one batch in one transaction; on failure every call in it
   * rejects. False, with nothing settled, when another process holds the lock.
   */
  #commit(batch: PendingEnqueue[]): boolean {
    const results: EnqueueResult[] = [];
    const db = this.#db;
    try {
      db.exec("BEGIN IMMEDIATE");
      const counts = this.#offlineCounts();
      const senderCounts = this.#senderCounts;
      for (const item of batch) {
        let count = counts.get(item.to);
        if (count === undefined) {
          count = integer(this.#countOffline.get(item.to) as Row, "n");
        }
        counts.set(item.to, count);
        if (count >= item.limit) {
          results.push("full");
          continue;
        }
        // Counted only when a share applies: most calls never need it.
        const key = `${item.to}\n${item.from}`;
        let fromSender = senderCounts.get(key);
        if (item.perSender !== Infinity && fromSender === undefined) {
          fromSender = integer(this.#countOfflineFrom.get(item.to, item.from) as Row, "n");
        }
        if (fromSender !== undefined && fromSender >= item.perSender) {
          senderCounts.set(key, fromSender);
          results.push("sender-full");
          continue;
        }
        this.#insertOffline.run(item.to, item.from, item.body);
        counts.set(item.to, count + 1);
        if (fromSender !== undefined) senderCounts.set(key, fromSender + 1);
        results.push("stored");
      }
      db.exec("COMMIT");
    } catch (error) {
      rollback(db);
      this.#counts.clear();
      this.#senderCounts.clear();
      if (isBusy(error)) return false;
      for (const item of batch) item.reject(error);
      return true;
    }
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
    return true;
  }

  /**
   * An account's waiting messages, oldest first (at most `max`). Writes any
   * pending enqueues first, so it sees every earlier call.
   */
  peekOffline(to: string, max: number, afterId = 0): Promise<OfflineMessage[]> {
    return this.#call(() => {
      this.#flush(true);
      const rows = this.#selectOffline.all(to, afterId, sqlLimit(max)) as Row[];
      return rows.map((row) => ({
        id: integer(row, "id"),
        message: JSON.parse(text(row, "body")) as DeliveredMsg,
      }));
    });
  }

  /** Removes an account's waiting messages up to and including `lastId`. */
  ackOffline(to: string, lastId: number): Promise<void> {
    return this.#call(() => {
      this.#flush(true);
      this.#deleteOffline.run(to, lastId);
      this.#counts.delete(to);
      // Per-sender counts are keyed `to\nsender`: cheaper to forget them all.
      this.#senderCounts.clear();
    });
  }

  /** Stores a message answered 200 past the mailbox's limits, after the pending enqueues; its id. */
  holdOffline(to: string, message: DeliveredMsg): Promise<number> {
    const body = JSON.stringify(message);
    return this.#call(() => {
      this.#flush(true);
      const id = Number(this.#insertOffline.run(to, message.from, body).lastInsertRowid);
      this.#counts.delete(to);
      this.#senderCounts.clear();
      return id;
    });
  }

  /** Removes one waiting message by id. */
  dropOffline(to: string, id: number): Promise<void> {
    return this.#call(() => {
      this.#flush(true);
      this.#deleteOneOffline.run(to, id);
      this.#counts.delete(to);
      this.#senderCounts.clear();
    });
  }

  /** How many messages wait for an account (pending enqueues included). */
  countOffline(to: string): Promise<number> {
    return this.#call(() => {
      this.#flush(true);
      return integer(this.#countOffline.get(to) as Row, "n");
    });
  }

  /**
   * Every persistent room membership, ordered by room, then account; with
   * `limits`, each account's first rooms by name and the first rooms in all.
   */
  listRoomMemberships(limits: RoomLimits = {}): Promise<RoomMembership[]> {
    return this.#call(() => {
      const rows = this.#selectRooms.iterate() as Iterable<Row>;
      return limitRoomMemberships(
        (function* () {
          for (const row of rows) yield { room: text(row, "room"), account: text(row, "account") };
        })(),
        limits,
      );
    });
  }

  /** Records that an account is a member of a room (idempotent); the room is kept from then on. */
  addRoomMember(room: string, account: string): Promise<void> {
    return this.#call(() =>
      this.#transaction(() => {
        this.#insertRoomMember.run(room, account);
        this.#insertRoom.run(room);
      })
    );
  }

  /**
   * Records that an account is a member of each of `rooms` (idempotent), in
   * one transaction: a login bringing a guest's many rooms is one commit.
   */
  addRoomMembers(rooms: Iterable<string>, account: string): Promise<void> {
    const list = [...rooms];
    if (list.length === 0) return this.#call(() => {});
    return this.#call(() =>
      this.#transaction(() => {
        for (const room of list) {
          this.#insertRoomMember.run(room, account);
          this.#insertRoom.run(room);
        }
      })
    );
  }

  /** Removes an account from a room (idempotent). */
  removeRoomMember(room: string, account: string): Promise<void> {
    return this.#call(() => {
      this.#deleteRoomMember.run(room, account);
    });
  }

  /** An account's contacts, in the order they were added. */
  listContacts(owner: string): Promise<string[]> {
    return this.#call(() =>
      (this.#selectContacts.all(owner) as Row[]).map((row) => text(row, "contact"))
    );
  }

  /** Adds a contact to an account's list (idempotent). */
  addContact(owner: string, contact: string): Promise<void> {
    return this.#call(() => {
      this.#insertContact.run(owner, contact);
    });
  }

  /** Records the public key an account announced, replacing any earlier one. */
  setPublicKey(account: string, pubkey: string): Promise<void> {
    return this.#call(() => {
      this.#upsertPublicKey.run(account, pubkey);
    });
  }

  /** The public key an account last announced, or null. */
  getPublicKey(account: string): Promise<string | null> {
    return this.#call(() => {
      const row = this.#selectPublicKey.get(account) as Row | undefined;
      return row === undefined ? null : text(row, "pubkey");
    });
  }

  /**
   * Adds several contacts in one transaction, in order (idempotent): a login
   * bringing a guest's contact list is one commit.
   */
  addContacts(owner: string, contacts: Iterable<string>): Promise<void> {
    const list = [...contacts];
    if (list.length === 0) return this.#call(() => {});
    return this.#call(() =>
      this.#transaction(() => {
        for (const contact of list) this.#insertContact.run(owner, contact);
      })
    );
  }

  /** Removes a contact from an account's list; false when it was not there. */
  removeContact(owner: string, contact: string): Promise<boolean> {
    return this.#call(() => Number(this.#deleteContact.run(owner, contact).changes) === 1);
  }

  /** Whether `contact` is on `owner`'s list. */
  hasContact(owner: string, contact: string): Promise<boolean> {
    return this.#call(() => this.#selectContact.get(owner, contact) !== undefined);
  }

  /** Every room, ordered by name. */
  listRooms(): Promise<RoomInfo[]> {
    return this.#call(() =>
      (this.#selectRoomInfo.all() as Row[]).map((row) => ({
        name: text(row, "name"),
        topic: text(row, "topic"),
      }))
    );
  }

  /** Forgets a conversation's kept messages (a guests' room that is gone). */
  dropHistory(conversation: string): Promise<void> {
    return this.#call(() => {
      this.#flushHistory();
      this.#deleteConversation.run(conversation);
    });
  }

  /** Sets a room's topic. */
  setTopic(room: string, topic: string): Promise<void> {
    return this.#call(() => {
      this.#upsertTopic.run(room, topic);
    });
  }

  /**
   * Keeps a message; calls within {@linkcode HISTORY_FLUSH_MS} share one
   * transaction (one fsync), and each conversation they touch is pruned to
   * its newest `keep` once per transaction. Resolves once written.
   */
  appendHistory(conversation: string, entry: HistoryEntry, keep: number): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(CLOSED_MESSAGE));
    return new Promise((resolve, reject) => {
      this.#pendingHistory.push({ conversation, entry, keep, resolve, reject });
      if (this.#pendingHistory.length >= HISTORY_BATCH_MAX && this.#historyTimer !== undefined) {
        clearTimeout(this.#historyTimer);
        this.#historyTimer = undefined;
      }
      this.#historyTimer ??= setTimeout(() => {
        try {
          this.#flushHistory();
        } catch (error) {
          // Each call in the batch was rejected; a lock is retried by the next write.
          if (!isBusy(error)) return;
          this.#historyTimer ??= setTimeout(() => this.#flushHistory(), MAX_RETRY_DELAY_MS);
        }
      }, this.#pendingHistory.length >= HISTORY_BATCH_MAX ? 0 : HISTORY_FLUSH_MS);
    });
  }

  /** Writes pending history in one transaction; throws (settling nothing) on a lock. */
  #flushHistory(): void {
    if (this.#historyTimer !== undefined) {
      clearTimeout(this.#historyTimer);
      this.#historyTimer = undefined;
    }
    if (this.#pendingHistory.length === 0) return;
    const batch = this.#pendingHistory;
    const db = this.#db;
    const now = Date.now();
    try {
      db.exec("BEGIN IMMEDIATE");
      const keeps = new Map<string, number>();
      for (const { conversation, entry, keep } of batch) {
        const m = entry.message;
        this.#insertHistory.run(entry.id, conversation, m.from, m.to, now, JSON.stringify(m));
        keeps.set(conversation, keep);
      }
      for (const [conversation, keep] of keeps) {
        this.#pruneConversation.run(conversation, Math.max(0, Math.floor(keep)));
      }
      db.exec("COMMIT");
    } catch (error) {
      rollback(db);
      if (isBusy(error)) throw error;
      this.#pendingHistory = [];
      for (const item of batch) item.reject(error);
      return;
    }
    this.#pendingHistory = [];
    for (const item of batch) item.resolve();
  }

  /** A page of kept messages, oldest first: the newest that match the query. */
  readHistory(conversation: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.#call(() => {
      this.#flushHistory();
      const { before = Number.MAX_SAFE_INTEGER, after = 0, notBefore = 0 } = query;
      const maxBytes = query.maxBytes ?? Infinity;
      const limit = sqlLimit(query.limit);
      // One more than asked, to tell whether more remain.
      const rows = this.#selectHistory.all(
        conversation,
        before,
        after,
        notBefore,
        limit < 0 ? -1 : limit + 1,
      ) as Row[];
      const messages: HistoryEntry[] = [];
      let bytes = 0;
      let more = false;
      for (const row of rows) {
        const body = text(row, "body");
        if (messages.length === limit || (messages.length > 0 && bytes + body.length > maxBytes)) {
          more = true;
          break;
        }
        bytes += body.length;
        messages.push({ id: integer(row, "id"), message: JSON.parse(body) as DeliveredMsg });
      }
      return { messages: messages.reverse(), more };
    });
  }

  /** Drops kept messages older than `notBefore` (unix ms). */
  pruneHistory(notBefore: number): Promise<number> {
    return this.#call(() => {
      this.#flushHistory();
      return Number(this.#pruneOld.run(notBefore).changes);
    });
  }

  /** The largest history id ever assigned, pruned ones included. */
  lastHistoryId(): Promise<number> {
    return this.#call(() => {
      this.#flushHistory();
      const row = this.#selectHistorySeq.get() as Row | undefined;
      return row === undefined ? 0 : integer(row, "seq");
    });
  }

  /** Kept messages per room. */
  countRoomHistory(): Promise<Map<string, number>> {
    return this.#call(() => {
      this.#flushHistory();
      const counts = new Map<string, number>();
      for (const row of this.#countHistory.all() as Row[]) {
        counts.set(text(row, "conversation"), integer(row, "n"));
      }
      return counts;
    });
  }

  /** Records when an account's last session ended. */
  setLastSeen(name: string, at: number): Promise<void> {
    return this.#call(() => {
      this.#updateLastSeen.run(at, name);
    });
  }

  /** Shows an account's presence to its contacts only, or to everyone. */
  setContactsOnly(name: string, contactsOnly: boolean): Promise<boolean> {
    return this.#call(() =>
      Number(this.#updateContactsOnly.run(contactsOnly ? 1 : 0, name).changes) === 1
    );
  }

  /**
   * Writes pending enqueues and closes the database. Later calls reject with
   * "Cannot use store: it is closed"; closing again does nothing.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#closing ??= this.#call(() => {
      this.#flush(true);
      this.#flushHistory();
      this.#closed = true;
      this.#db.close();
    }).catch((error) => {
      // Locked past the wait, or a failed write: what is still pending
      // cannot be written, and the database is closed all the same.
      if (!this.#closed) {
        clearTimeout(this.#flushTimer);
        clearTimeout(this.#historyTimer);
        for (const item of this.#pending.splice(0)) item.reject(error);
        for (const item of this.#pendingHistory.splice(0)) item.reject(error);
        this.#closed = true;
        this.#db.close();
      }
      throw error;
    });
  }

  /** Same as {@linkcode SqliteStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

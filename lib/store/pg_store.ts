/**
 * A {@linkcode Store} in PostgreSQL (`--store postgres://USER@HOST:PORT/DB`),
 * for several jim nodes sharing one database.
 *
 * - Every write a 200/202 depends on is one statement or one transaction,
 *   awaited: it is committed before the method resolves.
 * - Group commit: offline mail (per mailbox) and history calls made while
 *   the last write of their kind is under way go together in the next
 *   transaction, in call order, so a flood costs a few round trips.
 * - What must hold across nodes (no two look-alike accounts, a mailbox's
 *   limits) is checked and written in one transaction under an advisory
 *   lock on the name or the mailbox, so two nodes cannot both pass a check.
 * - The schema version is the one row of `jim_schema`; migrations run on
 *   open, in one transaction under an advisory lock, so nodes starting
 *   together migrate once.
 * - Names compare case-sensitively (text, ordered with `COLLATE "C"` to match
 *   SQLite's byte order).
 *
 * @module
 */

import postgres from "postgres";
import type { DeliveredMsg } from "../protocol/messages.ts";
import { skeleton } from "../protocol/names.ts";
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

/** Options for {@linkcode PgStore.open}. */
export interface PgStoreOptions {
  /** Connections in the pool. @default {10} */
  maxConnections?: number;
  /** Seconds to wait for a connection before a call fails. @default {5} */
  connectTimeoutS?: number;
}

/**
 * Schema migrations; entry `i` moves the schema from version `i` to `i + 1`.
 * Append only: never edit a migration that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  // 1: the schema of SQLite's version 7 in one step.
  `CREATE TABLE accounts (
     name TEXT PRIMARY KEY,
     password_hash TEXT NOT NULL,
     blocked BOOLEAN NOT NULL DEFAULT false,
     created_at BIGINT NOT NULL,
     skeleton TEXT NOT NULL,
     last_seen BIGINT NOT NULL DEFAULT 0,
     contacts_only BOOLEAN NOT NULL DEFAULT false
   );
   CREATE INDEX accounts_skeleton ON accounts (skeleton);
   CREATE TABLE offline (
     id BIGSERIAL PRIMARY KEY,
     recipient TEXT NOT NULL,
     sender TEXT NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX offline_recipient_id ON offline (recipient, id);
   CREATE INDEX offline_recipient_sender ON offline (recipient, sender);
   CREATE TABLE room_members (
     room TEXT NOT NULL,
     account TEXT NOT NULL,
     PRIMARY KEY (room, account)
   );
   CREATE INDEX room_members_account ON room_members (account);
   CREATE TABLE rooms (name TEXT PRIMARY KEY, topic TEXT NOT NULL DEFAULT '');
   CREATE TABLE tokens (
     hash TEXT PRIMARY KEY,
     account TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL
   );
   CREATE INDEX tokens_account ON tokens (account, created_at);
   CREATE TABLE contacts (
     owner TEXT NOT NULL,
     contact TEXT NOT NULL,
     added BIGINT NOT NULL,
     PRIMARY KEY (owner, contact)
   );
   CREATE TABLE public_keys (account TEXT PRIMARY KEY, pubkey TEXT NOT NULL);
   CREATE TABLE history (
     id BIGINT PRIMARY KEY,
     conversation TEXT NOT NULL,
     sender TEXT NOT NULL,
     recipient TEXT NOT NULL,
     kept_at BIGINT NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX history_conversation_id ON history (conversation, id);
   CREATE INDEX history_kept_at ON history (kept_at);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
   INSERT INTO counters VALUES ('history', 0);`,
];

/** The schema version this code writes. */
export const PG_SCHEMA_VERSION: number = MIGRATIONS.length;

/** The advisory lock key under which migrations run (any fixed number). */
const MIGRATION_LOCK = 7_717_001;

/** The first key of the advisory lock that orders one room's kept messages (any fixed number). */
const ROOM_ORDER_LOCK = 7_717_002;
/** The first key of the advisory locks of {@linkcode PgStore.underLock} (any fixed number). */
const NAMED_LOCK = 7_717_003;

const CLOSED_MESSAGE = "Cannot use store: it is closed";

type Sql = postgres.Sql;
type Row = Record<string, unknown>;

function toAccount(row: Row): Account {
  return {
    name: String(row.name),
    passwordHash: String(row.password_hash),
    blocked: row.blocked === true,
    createdAt: Number(row.created_at),
    lastSeen: Number(row.last_seen),
    contactsOnly: row.contacts_only === true,
  };
}

const ACCOUNT_COLUMNS = "name, password_hash, blocked, created_at, last_seen, contacts_only";

/**
 * Where a `postgres://USER[:PASSWORD]@HOST:PORT/DB` URL points.
 *
 * @throws {TypeError} "Cannot use store URL …" for anything else
 */
export function parsePgUrl(
  url: string,
): { host: string; port: number; user: string; password?: string; database: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`Cannot use store URL ${url}: not a URL`);
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new TypeError(`Cannot use store URL ${url}: expected postgres://USER@HOST:PORT/DB`);
  }
  const user = decodeURIComponent(u.username);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (user === "" || database === "" || u.hostname === "") {
    throw new TypeError(
      `Cannot use store URL ${url}: it must name a user, a host and a database (postgres://USER@HOST:PORT/DB)`,
    );
  }
  const port = u.port === "" ? 5432 : Number(u.port);
  const password = u.password === "" ? undefined : decodeURIComponent(u.password);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port,
    user,
    ...(password === undefined ? {} : { password }),
    database,
  };
}

/**
 * Calls of {@linkcode PgStore.enqueueOffline} one transaction may write: a
 * session that leaves 20,000 messages unread is stored in five.
 */
export const PG_ENQUEUE_BATCH = 4096;

/** Rows per INSERT statement (six parameters at most each, well below PostgreSQL's 65,535). */
const PG_INSERT_ROWS = 1000;

/** One {@linkcode PgStore.enqueueOffline} call waiting for its mailbox's next batch. */
interface PendingEnqueue {
  message: DeliveredMsg;
  body: string;
  limits: OfflineLimits;
  resolve(written: Enqueued): void;
  reject(error: unknown): void;
}

/** What became of one call in a batch: its result, and its id when stored. */
interface Enqueued {
  result: EnqueueResult;
  id: number | null;
}

/** Calls of {@linkcode PgStore.appendHistory} one transaction may write. */
const PG_HISTORY_BATCH = 1000;

/** One {@linkcode PgStore.appendHistory} call waiting for the next batch. */
interface PendingHistory {
  conversation: string;
  entry: HistoryEntry;
  keep: number;
  resolve(): void;
  reject(error: unknown): void;
}

/** A mailbox being written. */
interface Mailbox {
  /** Calls made since its current batch began, in order. */
  pending: PendingEnqueue[];
  /** Settles once its latest call is written (or failed): reads wait for it. */
  last: Promise<void>;
  /** Settles once nothing is left to write. */
  written: Promise<void>;
}

/** A {@linkcode Store} in one PostgreSQL database, shared by any number of jim nodes. */
export class PgStore implements Store, AsyncDisposable {
  readonly #sql: Sql;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Mailboxes being written: their calls waiting for the next batch, and the writer. */
  readonly #mailboxes = new Map<string, Mailbox>();
  /** History writes not yet committed: reads wait for them, so they see every earlier call. */
  readonly #historyWrites = new Set<Promise<unknown>>();
  /**
   * Connections held for locks ({@linkcode PgStore.keepRoomHistory},
   * {@linkcode PgStore.underLock}) at once: half the pool, so the rest serve
   * the others.
   */
  readonly #roomSlots: number;
  /** Calls waiting for one of those. */
  readonly #roomQueue: (() => void)[] = [];
  #roomsHeld = 0;
  /** By name, the last call of {@linkcode PgStore.underLock} here: the next waits for it. */
  readonly #lockTails = new Map<string, Promise<void>>();
  /** History calls waiting for the next batch, in order. */
  #historyPending: PendingHistory[] = [];
  /** The history writer, while one runs. */
  #historyWriter: Promise<void> | null = null;

  private constructor(sql: Sql, maxConnections: number) {
    this.#sql = sql;
    this.#roomSlots = Math.max(1, Math.floor(maxConnections / 2));
  }

  /**
   * Connects to the database at `url` and brings its schema up to
   * {@linkcode PG_SCHEMA_VERSION}.
   *
   * @throws {Error} "Cannot open database …" when it cannot connect or migrate
   */
  static async open(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const where = parsePgUrl(url);
    const sql = postgres({
      ...where,
      max: options.maxConnections ?? 10,
      connect_timeout: options.connectTimeoutS ?? 5,
      // Options given here are not read from PG* variables.
      idle_timeout: 0,
      max_lifetime: null,
      onnotice: () => {},
      connection: { application_name: "jim" },
    });
    try {
      await migrate(sql);
    } catch (error) {
      await sql.end({ timeout: 0 }).catch(() => {});
      const where2 = `${where.user}@${where.host}:${where.port}/${where.database}`;
      throw new Error(
        `Cannot open database postgres://${where2}: ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    return new PgStore(sql, options.maxConnections ?? 10);
  }

  /** The pool, or a rejection once closed. */
  #db(): Sql {
    if (this.#closed) throw new Error(CLOSED_MESSAGE);
    return this.#sql;
  }

  async createAccount(name: string, passwordHash: string): Promise<boolean> {
    const s = skeleton(name);
    return await this.#db().begin(async (tx) => {
      // Two nodes creating look-alike names at once: the second waits here.
      await tx`SELECT pg_advisory_xact_lock(hashtext(${"account:" + s}))`;
      const [taken] = await tx`SELECT 1 FROM accounts WHERE skeleton = ${s} OR name = ${name}`;
      if (taken) return false;
      await tx`INSERT INTO accounts (name, password_hash, created_at, skeleton)
               VALUES (${name}, ${passwordHash}, ${Date.now()}, ${s})`;
      return true;
    });
  }

  async getAccount(name: string): Promise<Account | null> {
    const [row] = await this.#db().unsafe(
      `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE name = $1`,
      [name],
    );
    return row ? toAccount(row) : null;
  }

  async accountLike(name: string): Promise<string | null> {
    const [row] = await this.#db()`SELECT name FROM accounts
      WHERE skeleton = ${skeleton(name)} AND name <> ${name} ORDER BY name COLLATE "C" LIMIT 1`;
    return row ? String(row.name) : null;
  }

  async setBlocked(name: string, blocked: boolean): Promise<boolean> {
    return await this.#db().begin(async (tx) => {
      if (blocked) await tx`DELETE FROM tokens WHERE account = ${name}`;
      const r = await tx`UPDATE accounts SET blocked = ${blocked} WHERE name = ${name}`;
      return r.count === 1;
    });
  }

  async setPassword(name: string, passwordHash: string): Promise<boolean> {
    return await this.#db().begin(async (tx) => {
      await tx`DELETE FROM tokens WHERE account = ${name}`;
      const r = await tx`UPDATE accounts SET password_hash = ${passwordHash} WHERE name = ${name}`;
      return r.count === 1;
    });
  }

  async deleteAccount(name: string): Promise<boolean> {
    return await this.#db().begin(async (tx) => {
      await tx`DELETE FROM tokens WHERE account = ${name}`;
      await tx`DELETE FROM contacts WHERE owner = ${name}`;
      await tx`DELETE FROM public_keys WHERE account = ${name}`;
      await tx`DELETE FROM room_members WHERE account = ${name}`;
      await tx`DELETE FROM offline WHERE recipient = ${name}`;
      await tx`DELETE FROM history WHERE sender = ${name} OR recipient = ${name}`;
      const r = await tx`DELETE FROM accounts WHERE name = ${name}`;
      return r.count === 1;
    });
  }

  async listAccounts(): Promise<Account[]> {
    const rows = await this.#db().unsafe(
      `SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY name COLLATE "C"`,
    );
    return rows.map(toAccount);
  }

  async listBlocked(): Promise<string[]> {
    const rows = await this.#db()`SELECT name FROM accounts WHERE blocked
      ORDER BY name COLLATE "C"`;
    return rows.map((r) => String(r.name));
  }

  /**
   * Stores a message for an offline account. The calls for one mailbox are
   * written in the order they were made (the pool's connections would
   * otherwise commit them in any order): those made while its last write is
   * under way go together in the next, one transaction for up to
   * {@linkcode PG_ENQUEUE_BATCH} calls, so that a session that leaves thousands
   * unread is stored in a few round trips, not one transaction each.
   */
  enqueueOffline(
    to: string,
    message: DeliveredMsg,
    limits: OfflineLimits,
  ): Promise<EnqueueResult> {
    return this.#inMailbox(to, message, limits).then(({ result }) => result);
  }

  /** Queues a call for a mailbox's next batch (see {@linkcode PgStore.enqueueOffline}). */
  #inMailbox(to: string, message: DeliveredMsg, limits: OfflineLimits): Promise<Enqueued> {
    if (this.#closed) return Promise.reject(new Error(CLOSED_MESSAGE));
    let mailbox = this.#mailboxes.get(to);
    if (mailbox === undefined) {
      const created: Mailbox = { pending: [], last: Promise.resolve(), written: Promise.resolve() };
      this.#mailboxes.set(to, created);
      created.written = this.#writeMailbox(to, created);
      mailbox = created;
    }
    const pending = mailbox.pending;
    const call = new Promise<Enqueued>((resolve, reject) => {
      pending.push({ message, body: JSON.stringify(message), limits, resolve, reject });
    });
    mailbox.last = call.then(() => {}, () => {});
    return call;
  }

  /** Writes a mailbox's pending calls, a batch at a time, until none is left; then forgets it. */
  async #writeMailbox(to: string, mailbox: Mailbox): Promise<void> {
    // The calls of this turn go in the first batch.
    await Promise.resolve();
    while (mailbox.pending.length > 0) {
      const batch = mailbox.pending.splice(0, PG_ENQUEUE_BATCH);
      try {
        const results = await this.#enqueue(to, batch);
        batch.forEach((call, i) => call.resolve(results[i]!));
      } catch (error) {
        for (const call of batch) call.reject(error);
      }
    }
    // In the same turn as the check above: a later call starts a new writer.
    this.#mailboxes.delete(to);
  }

  /**
   * Stores a batch of one mailbox's calls in one transaction, each checked
   * against its limits in order, as if written one after another.
   */
  async #enqueue(to: string, batch: readonly PendingEnqueue[]): Promise<Enqueued[]> {
    // Not #db(): a call made before close() is still written.
    return await this.#sql.begin(async (tx) => {
      // The mailbox's count and the insert are one step across nodes.
      await tx`SELECT pg_advisory_xact_lock(hashtext(${"offline:" + to}))`;
      // Counted in the database once, when a limit first needs it; what this
      // batch stores is added as it goes.
      let held: number | null = null;
      const heldFrom = new Map<string, number>();
      let stored = 0;
      const storedFrom = new Map<string, number>();
      const results: Enqueued[] = [];
      const rows: { recipient: string; sender: string; body: string }[] = [];
      for (const { message, body, limits } of batch) {
        const from = message.from;
        if (limits.total !== Infinity) {
          if (held === null) {
            const [row] = await tx`SELECT count(*)::int AS n FROM offline WHERE recipient = ${to}`;
            held = Number(row?.n);
          }
          if (held + stored >= limits.total) {
            results.push({ result: "full", id: null });
            continue;
          }
        }
        const perSender = limits.perSender ?? Infinity;
        if (perSender !== Infinity) {
          let fromSender = heldFrom.get(from);
          if (fromSender === undefined) {
            const [row] = await tx`SELECT count(*)::int AS n FROM offline
              WHERE recipient = ${to} AND sender = ${from}`;
            fromSender = Number(row?.n);
            heldFrom.set(from, fromSender);
          }
          if (fromSender + (storedFrom.get(from) ?? 0) >= perSender) {
            results.push({ result: "sender-full", id: null });
            continue;
          }
        }
        rows.push({ recipient: to, sender: from, body });
        stored++;
        storedFrom.set(from, (storedFrom.get(from) ?? 0) + 1);
        results.push({ result: "stored", id: null });
      }
      // The ids (BIGSERIAL) are taken in the rows' order, the mail's order;
      // RETURNING promises no order, so they are sorted back.
      const ids: number[] = [];
      for (let i = 0; i < rows.length; i += PG_INSERT_ROWS) {
        const chunk = rows.slice(i, i + PG_INSERT_ROWS);
        const inserted = await tx`INSERT INTO offline ${
          tx(chunk, "recipient", "sender", "body")
        } RETURNING id`;
        ids.push(...inserted.map((r) => Number(r.id)).sort((a, b) => a - b));
      }
      let next = 0;
      for (const call of results) if (call.result === "stored") call.id = ids[next++]!;
      return results;
    }) as Enqueued[];
  }

  /** In the mailbox's turn, as enqueueOffline (its id comes after theirs), past its limits. */
  holdOffline(to: string, message: DeliveredMsg): Promise<number> {
    return this.#inMailbox(to, message, { total: Infinity }).then(({ id }) => id!);
  }

  async dropOffline(to: string, id: number): Promise<void> {
    await this.#mailboxes.get(to)?.last;
    await this.#db()`DELETE FROM offline WHERE recipient = ${to} AND id = ${id}`;
  }

  async peekOffline(to: string, max: number, afterId = 0): Promise<OfflineMessage[]> {
    await this.#mailboxes.get(to)?.last;
    if (!(max > 0)) return [];
    const limit = max === Infinity ? null : Math.floor(max);
    const rows = await this.#db()`SELECT id, body FROM offline
      WHERE recipient = ${to} AND id > ${afterId} ORDER BY id LIMIT ${limit}`;
    return rows.map((r) => ({
      id: Number(r.id),
      message: JSON.parse(String(r.body)) as DeliveredMsg,
    }));
  }

  async ackOffline(to: string, lastId: number): Promise<void> {
    await this.#mailboxes.get(to)?.last;
    await this.#db()`DELETE FROM offline WHERE recipient = ${to} AND id <= ${lastId}`;
  }

  async countOffline(to: string): Promise<number> {
    await this.#mailboxes.get(to)?.last;
    const [row] = await this.#db()`SELECT count(*)::int AS n FROM offline
      WHERE recipient = ${to}`;
    return Number(row?.n);
  }

  async addToken(account: string, hash: string, expiresAt: number, keep: number): Promise<void> {
    const now = Date.now();
    await this.#db().begin(async (tx) => {
      await tx`INSERT INTO tokens (hash, account, created_at, expires_at)
               VALUES (${hash}, ${account}, ${now}, ${expiresAt})`;
      // Expired tokens, and all but the newest `keep` (ties broken by hash).
      await tx`DELETE FROM tokens WHERE account = ${account} AND (expires_at <= ${now} OR
        hash NOT IN (SELECT hash FROM tokens WHERE account = ${account}
                     ORDER BY created_at DESC, hash COLLATE "C" LIMIT ${Math.max(0, keep)}))`;
    });
  }

  async tokenAccount(hash: string, now: number): Promise<string | null> {
    const [row] = await this.#db()`SELECT account FROM tokens
      WHERE hash = ${hash} AND expires_at > ${now}`;
    return row ? String(row.account) : null;
  }

  async revokeTokens(account: string): Promise<number> {
    const r = await this.#db()`DELETE FROM tokens WHERE account = ${account}`;
    return r.count;
  }

  async listRoomMemberships(limits: RoomLimits = {}): Promise<RoomMembership[]> {
    const rows = await this.#db()`SELECT room, account FROM room_members
      ORDER BY room COLLATE "C", account COLLATE "C"`;
    return limitRoomMemberships(
      rows.map((row) => ({ room: String(row.room), account: String(row.account) })),
      limits,
    );
  }

  async addRoomMember(room: string, account: string): Promise<void> {
    await this.addRoomMembers([room], account);
  }

  async addRoomMembers(rooms: Iterable<string>, account: string): Promise<void> {
    const list = [...new Set(rooms)];
    if (list.length === 0) {
      this.#db();
      return;
    }
    await this.#db().begin(async (tx) => {
      for (const room of list) {
        await tx`INSERT INTO room_members (room, account) VALUES (${room}, ${account})
                 ON CONFLICT DO NOTHING`;
        await tx`INSERT INTO rooms (name) VALUES (${room}) ON CONFLICT DO NOTHING`;
      }
    });
  }

  async removeRoomMember(room: string, account: string): Promise<void> {
    await this.#db()`DELETE FROM room_members WHERE room = ${room} AND account = ${account}`;
  }

  async listRooms(): Promise<RoomInfo[]> {
    const rows = await this.#db()`SELECT name, topic FROM rooms ORDER BY name COLLATE "C"`;
    return rows.map((r) => ({ name: String(r.name), topic: String(r.topic) }));
  }

  async setTopic(room: string, topic: string): Promise<void> {
    await this.#db()`INSERT INTO rooms (name, topic) VALUES (${room}, ${topic})
      ON CONFLICT (name) DO UPDATE SET topic = excluded.topic`;
  }

  /**
   * Keeps a message. Calls made while a write is under way go together in
   * the next one (one transaction for up to {@linkcode PG_HISTORY_BATCH}):
   * every node's messages wait for theirs, and one at a time they queued
   * behind the history counter's row lock.
   */
  appendHistory(conversation: string, entry: HistoryEntry, keep: number): Promise<void> {
    try {
      this.#db();
    } catch (error) {
      return Promise.reject(error);
    }
    const write = new Promise<void>((resolve, reject) => {
      this.#historyPending.push({ conversation, entry, keep, resolve, reject });
    });
    this.#historyWriter ??= this.#writeHistory();
    this.#historyWrites.add(write);
    const done = () => void this.#historyWrites.delete(write);
    write.then(done, done);
    return write;
  }

  /** Writes the pending history, a batch at a time, until none is left. */
  async #writeHistory(): Promise<void> {
    // The calls of this turn go in the first batch.
    await Promise.resolve();
    while (this.#historyPending.length > 0) {
      const batch = this.#historyPending.splice(0, PG_HISTORY_BATCH);
      try {
        await this.#appendBatch(batch);
        for (const call of batch) call.resolve();
      } catch (error) {
        for (const call of batch) call.reject(error);
      }
    }
    // In the same turn as the check above: a later call starts a new writer.
    this.#historyWriter = null;
  }

  /** Keeps a batch in one transaction, then trims each conversation in it to its `keep`. */
  async #appendBatch(batch: readonly PendingHistory[]): Promise<void> {
    const now = Date.now();
    const rows = batch.map(({ conversation, entry }) => ({
      id: entry.id,
      conversation,
      sender: entry.message.from,
      recipient: entry.message.to,
      kept_at: now,
      body: JSON.stringify(entry.message),
    }));
    let last = 0;
    const keeps = new Map<string, number>();
    for (const { conversation, entry, keep } of batch) {
      last = Math.max(last, entry.id);
      keeps.set(conversation, keep);
    }
    const columns = ["id", "conversation", "sender", "recipient", "kept_at", "body"] as const;
    // Not #db(): a call made before close() is still written.
    await this.#sql.begin(async (tx) => {
      for (let i = 0; i < rows.length; i += PG_INSERT_ROWS) {
        await tx`INSERT INTO history ${tx(rows.slice(i, i + PG_INSERT_ROWS), ...columns)}`;
      }
      await tx`UPDATE counters SET value = greatest(value, ${last}) WHERE name = 'history'`;
      // Everything older than the newest `keep` of each conversation.
      for (const [conversation, keep] of keeps) {
        await tx`DELETE FROM history WHERE conversation = ${conversation} AND id <= (
          SELECT id FROM history WHERE conversation = ${conversation}
          ORDER BY id DESC LIMIT 1 OFFSET ${Math.max(0, Math.floor(keep))})`;
      }
    });
  }

  /** Resolves once the history written so far is committed (or failed). */
  async #historySettled(): Promise<void> {
    if (this.#historyWrites.size > 0) await Promise.allSettled([...this.#historyWrites]);
  }

  async readHistory(conversation: string, query: HistoryQuery): Promise<HistoryPage> {
    await this.#historySettled();
    const { before = Number.MAX_SAFE_INTEGER, after = 0, notBefore = 0 } = query;
    const maxBytes = query.maxBytes ?? Infinity;
    const limit = query.limit === Infinity
      ? null
      : Number.isFinite(query.limit) && query.limit > 0
      ? Math.floor(query.limit)
      : 0;
    // One more than asked, to tell whether more remain.
    const rows = await this.#db()`SELECT id, body FROM history
      WHERE conversation = ${conversation} AND id < ${before} AND id > ${after}
        AND kept_at >= ${notBefore}
      ORDER BY id DESC LIMIT ${limit === null ? null : limit + 1}`;
    const messages: HistoryEntry[] = [];
    let bytes = 0;
    let more = false;
    for (const row of rows) {
      const body = String(row.body);
      if (messages.length === limit || (messages.length > 0 && bytes + body.length > maxBytes)) {
        more = true;
        break;
      }
      bytes += body.length;
      messages.push({ id: Number(row.id), message: JSON.parse(body) as DeliveredMsg });
    }
    return { messages: messages.reverse(), more };
  }

  async dropHistory(conversation: string): Promise<void> {
    await this.#historySettled();
    await this.#db()`DELETE FROM history WHERE conversation = ${conversation}`;
  }

  async pruneHistory(notBefore: number): Promise<number> {
    await this.#historySettled();
    const r = await this.#db()`DELETE FROM history WHERE kept_at < ${notBefore}`;
    return r.count;
  }

  async lastHistoryId(): Promise<number> {
    await this.#historySettled();
    const [row] = await this.#db()`SELECT value FROM counters WHERE name = 'history'`;
    return row ? Number(row.value) : 0;
  }

  async nextHistoryIds(count: number): Promise<number> {
    // Not behind #historySettled: appendHistory only raises the counter to an id taken here.
    const [row] = await this.#db()`UPDATE counters SET value = value + ${count}::bigint
      WHERE name = 'history' RETURNING value`;
    if (!row) throw new Error("Cannot assign a history id: the counter is missing");
    return Number(row.value);
  }

  async keepRoomHistory(
    room: string,
    messages: readonly DeliveredMsg[],
    keep: number,
    publish: (firstId: number) => Promise<void>,
  ): Promise<number> {
    const n = messages.length;
    const now = Date.now();
    const conn = await this.#reserve();
    try {
      // A session lock (not a transaction's): the rows are committed before
      // `publish`, and the lock held until it settles. Sent together, so the
      // ids are taken as soon as the lock is granted.
      const locked = conn`SELECT pg_advisory_lock(${ROOM_ORDER_LOCK}, hashtext(${room}))`;
      const kept = conn`WITH ids AS (
          UPDATE counters SET value = value + ${n}::bigint WHERE name = 'history' RETURNING value)
        INSERT INTO history (id, conversation, sender, recipient, kept_at, body)
        SELECT ids.value - ${n}::bigint + m.ord, ${room}, m.sender, m.recipient, ${now}, m.body
        FROM ids, unnest(${messages.map((m) => m.from)}::text[],
          ${messages.map((m) => m.to)}::text[],
          ${messages.map((m) => JSON.stringify(m))}::text[])
          WITH ORDINALITY AS m(sender, recipient, body, ord)
        RETURNING id`;
      let rows;
      try {
        await locked;
      } finally {
        rows = await kept;
      }
      if (rows.length !== n) throw new Error("Cannot assign a history id: the counter is missing");
      const first = Math.min(...rows.map((r) => Number(r.id)));
      try {
        await publish(first);
      } finally {
        await conn`SELECT pg_advisory_unlock(${ROOM_ORDER_LOCK}, hashtext(${room}))`;
      }
      // Everything older than the newest `keep` of the room.
      await conn`DELETE FROM history WHERE conversation = ${room} AND id <= (
        SELECT id FROM history WHERE conversation = ${room}
        ORDER BY id DESC LIMIT 1 OFFSET ${Math.max(0, Math.floor(keep))})`;
      return first;
    } finally {
      conn.release();
      this.#nextRoomSlot();
    }
  }

  async underLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    // One call per name here at a time asks PostgreSQL, so that waiters do
    // not fill the connections held for locks (a holder may take a second).
    const before = this.#lockTails.get(name);
    let done!: () => void;
    const tail = new Promise<void>((resolve) => done = resolve);
    this.#lockTails.set(name, tail);
    try {
      if (before) await before;
      return await this.#underLock(name, fn);
    } finally {
      done();
      if (this.#lockTails.get(name) === tail) this.#lockTails.delete(name);
    }
  }

  async #underLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const conn = await this.#reserve();
    try {
      await conn`SELECT pg_advisory_lock(${NAMED_LOCK}, hashtext(${name}))`;
      try {
        return await fn();
      } finally {
        await conn`SELECT pg_advisory_unlock(${NAMED_LOCK}, hashtext(${name}))`;
      }
    } finally {
      conn.release();
      this.#nextRoomSlot();
    }
  }

  /**
   * A connection of the pool for a lock held across calls (released with
   * {@linkcode PgStore.#nextRoomSlot} after `release()`): at most half the
   * pool at once, so the rest serve the others.
   */
  async #reserve(): Promise<postgres.ReservedSql> {
    this.#db();
    if (this.#roomsHeld >= this.#roomSlots) {
      await new Promise<void>((resolve) => this.#roomQueue.push(resolve));
    } else this.#roomsHeld++;
    try {
      return await this.#db().reserve();
    } catch (e) {
      this.#nextRoomSlot();
      throw e;
    }
  }

  /** Hands a slot of {@linkcode PgStore.#reserve} to the next waiting, or frees it. */
  #nextRoomSlot(): void {
    const next = this.#roomQueue.shift();
    if (next) next();
    else this.#roomsHeld--;
  }

  async countRoomHistory(): Promise<Map<string, number>> {
    await this.#historySettled();
    const rows = await this.#db()`SELECT conversation, count(*)::int AS n FROM history
      WHERE conversation LIKE '#%' GROUP BY conversation`;
    return new Map(rows.map((r) => [String(r.conversation), Number(r.n)]));
  }

  async setLastSeen(name: string, at: number): Promise<void> {
    await this.#db()`UPDATE accounts SET last_seen = ${at} WHERE name = ${name}`;
  }

  async setContactsOnly(name: string, contactsOnly: boolean): Promise<boolean> {
    const r = await this.#db()`UPDATE accounts SET contacts_only = ${contactsOnly}
      WHERE name = ${name}`;
    return r.count === 1;
  }

  async listContacts(owner: string): Promise<string[]> {
    const rows = await this.#db()`SELECT contact FROM contacts WHERE owner = ${owner}
      ORDER BY added`;
    return rows.map((r) => String(r.contact));
  }

  async addContact(owner: string, contact: string): Promise<void> {
    await this.addContacts(owner, [contact]);
  }

  async addContacts(owner: string, contacts: Iterable<string>): Promise<void> {
    const list = [...contacts];
    if (list.length === 0) {
      this.#db();
      return;
    }
    await this.#db().begin(async (tx) => {
      // One list is changed by one transaction at a time: `added` keeps the order.
      await tx`SELECT pg_advisory_xact_lock(hashtext(${"contacts:" + owner}))`;
      for (const contact of list) {
        await tx`INSERT INTO contacts (owner, contact, added)
          VALUES (${owner}, ${contact},
                  (SELECT coalesce(max(added), 0) + 1 FROM contacts WHERE owner = ${owner}))
          ON CONFLICT DO NOTHING`;
      }
    });
  }

  async removeContact(owner: string, contact: string): Promise<boolean> {
    const r = await this.#db()`DELETE FROM contacts
      WHERE owner = ${owner} AND contact = ${contact}`;
    return r.count === 1;
  }

  async hasContact(owner: string, contact: string): Promise<boolean> {
    const [row] = await this.#db()`SELECT 1 FROM contacts
      WHERE owner = ${owner} AND contact = ${contact}`;
    return row !== undefined;
  }

  async setPublicKey(account: string, pubkey: string): Promise<void> {
    await this.#db()`INSERT INTO public_keys (account, pubkey) VALUES (${account}, ${pubkey})
      ON CONFLICT (account) DO UPDATE SET pubkey = excluded.pubkey`;
  }

  async getPublicKey(account: string): Promise<string | null> {
    const [row] = await this.#db()`SELECT pubkey FROM public_keys WHERE account = ${account}`;
    return row ? String(row.pubkey) : null;
  }

  /** Waits for calls under way and closes the pool; later calls reject. */
  close(): Promise<void> {
    if (this.#closed) return this.#closing ?? Promise.resolve();
    this.#closed = true;
    const writes = [...this.#mailboxes.values()].map((mailbox) => mailbox.written);
    return this.#closing = Promise.all([this.#historySettled(), ...writes]).then(() =>
      this.#sql.end({ timeout: 5 })
    );
  }

  /** Same as {@linkcode PgStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Brings the schema up to date, once, however many nodes start together. */
async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS jim_schema (version INT NOT NULL)`;
    const [row] = await tx`SELECT version FROM jim_schema`;
    const version = row ? Number(row.version) : 0;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `its schema version ${version} is newer than this jim's (${MIGRATIONS.length})`,
      );
    }
    for (let v = version; v < MIGRATIONS.length; v++) await tx.unsafe(MIGRATIONS[v]!);
    if (!row) await tx`INSERT INTO jim_schema (version) VALUES (${MIGRATIONS.length})`;
    else await tx`UPDATE jim_schema SET version = ${MIGRATIONS.length}`;
  });
}

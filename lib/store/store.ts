/**
 * What the server keeps durably: accounts, offline mail, accounts' room
 * memberships and contact lists. The hub sees only this interface; `sqlite_store.ts` is the
 * embedded default, and a multi-node deployment can put another engine
 * behind the same methods. Every method is asynchronous for that reason.
 *
 * @module
 */

import type { DeliveredMsg } from "../protocol/messages.ts";

/** A registered account. */
export interface Account {
  name: string;
  /** The encoded password hash (see lib/auth/password.ts). */
  passwordHash: string;
  blocked: boolean;
  /** Unix milliseconds. */
  createdAt: number;
  /** When its last session ended, in unix milliseconds; 0 when never recorded. */
  lastSeen: number;
  /** It shows its presence only to the accounts on its own contact list. */
  contactsOnly: boolean;
}

/** A direct message waiting for its addressee to log in. */
export interface OfflineMessage {
  /** Increasing per store; delivery order. */
  id: number;
  message: DeliveredMsg;
}

/** Limits on one {@linkcode Store.enqueueOffline} call. */
export interface OfflineLimits {
  /** Messages the recipient's mailbox may hold in all (`Infinity`: no limit). */
  total: number;
  /**
   * Messages from this message's sender (its `from`) the mailbox may hold, so
   * that one sender cannot fill it for everyone else.
   *
   * @default {Infinity}
   */
  perSender?: number;
}

/**
 * What {@linkcode Store.enqueueOffline} did: stored it, or refused it because
 * the mailbox is full (`"full"`) or holds the sender's share (`"sender-full"`).
 */
export type EnqueueResult = "stored" | "full" | "sender-full";

/** Bounds on what {@linkcode Store.listRoomMemberships} returns. */
export interface RoomLimits {
  /** Memberships per account, the first by room name. @default {Infinity} */
  perAccount?: number;
  /** Distinct rooms, the first by name. @default {Infinity} */
  rooms?: number;
}

/** A persistent room membership of an account. */
export interface RoomMembership {
  room: string;
  account: string;
}

/** A room: it lives on when its last member leaves. */
export interface RoomInfo {
  name: string;
  /** Empty when none was set. */
  topic: string;
}

/** One kept message of a room or a direct conversation. */
export interface HistoryEntry {
  /** Increasing per server, across conversations; the hub assigns it. */
  id: number;
  message: DeliveredMsg;
}

/** Which kept messages {@linkcode Store.readHistory} returns. */
export interface HistoryQuery {
  /** Only messages with a smaller id. */
  before?: number;
  /** Only messages with a larger id. */
  after?: number;
  /** At most this many: the newest that match. */
  limit: number;
  /** Only messages kept at or after this time (unix ms): the age limit. */
  notBefore?: number;
  /**
   * At most this many bytes of message JSON, so that a page fits what a
   * client reads in one object; at least one message is returned.
   *
   * @default {Infinity}
   */
  maxBytes?: number;
}

/** A page of history, oldest first. */
export interface HistoryPage {
  messages: HistoryEntry[];
  /** Older messages matching the query remain. */
  more: boolean;
}

/** The durable state of a jim server. */
export interface Store {
  /** Creates an account; false when the name is taken, or one that looks like it. */
  createAccount(name: string, passwordHash: string): Promise<boolean>;
  /** The account of that name, or null. */
  getAccount(name: string): Promise<Account | null>;
  /**
   * The name of an account other than `name` that looks like it (the same
   * skeleton, see lib/protocol/names.ts), or null.
   */
  accountLike(name: string): Promise<string | null>;
  /**
   * Blocks or unblocks an account; false when there is no such account.
   * Blocking also revokes the account's session tokens.
   */
  setBlocked(name: string, blocked: boolean): Promise<boolean>;
  /**
   * Replaces an account's password hash and revokes its session tokens, in
   * one transaction; false when there is no such account.
   */
  setPassword(name: string, passwordHash: string): Promise<boolean>;
  /**
   * Deletes an account with its offline mail, room memberships, contact
   * list, session tokens and the history it sent or was sent directly, in
   * one transaction; false when there is no such account.
   */
  deleteAccount(name: string): Promise<boolean>;
  /** Every account, by name. */
  listAccounts(): Promise<Account[]>;
  /** The names of blocked accounts (also those blocked by another process on the same data). */
  listBlocked(): Promise<string[]>;

  /**
   * Stores a message for an offline account. Resolves only once the message
   * is durable (on disk for SQLite). Refused (not stored) when that account
   * already holds `limits.total` messages, or `limits.perSender` from the
   * message's sender.
   */
  enqueueOffline(
    to: string,
    message: DeliveredMsg,
    limits: OfflineLimits,
  ): Promise<EnqueueResult>;
  /** An account's waiting messages with an id above `afterId` (default 0), oldest first (at most `max`). */
  peekOffline(to: string, max: number, afterId?: number): Promise<OfflineMessage[]>;
  /** Removes an account's waiting messages up to and including `lastId`. */
  ackOffline(to: string, lastId: number): Promise<void>;
  /**
   * Stores a direct message already answered 200 that its recipient's
   * connection has not written yet (a slow reader's, in a cluster), after
   * every earlier call for that mailbox and past its limits (it was
   * accepted); resolves to its id once it is durable.
   */
  holdOffline(to: string, message: DeliveredMsg): Promise<number>;
  /** Removes one waiting message by id (one held that was then written). */
  dropOffline(to: string, id: number): Promise<void>;
  /** How many messages wait for an account. */
  countOffline(to: string): Promise<number>;

  /**
   * Stores a session token's hash for an account, valid until `expiresAt`
   * (unix ms). Drops the account's expired tokens, and its oldest ones beyond
   * the newest `keep`.
   */
  addToken(account: string, hash: string, expiresAt: number, keep: number): Promise<void>;
  /** The account a token hash belongs to, or null if unknown, revoked or expired at `now`. */
  tokenAccount(hash: string, now: number): Promise<string | null>;
  /** Revokes every session token of an account; resolves to how many there were. */
  revokeTokens(account: string): Promise<number>;

  /** Every persistent room membership. */
  /**
   * Every persistent room membership, or, with `limits`, only those within
   * them (the rest stay stored), so that memberships piled up beyond the
   * server's caps cost no memory at start.
   */
  listRoomMemberships(limits?: RoomLimits): Promise<RoomMembership[]>;
  /**
   * Records that an account is a member of a room (idempotent). A room an
   * account has been a member of is kept (see {@linkcode Store.listRooms}).
   */
  addRoomMember(room: string, account: string): Promise<void>;
  /** Records that an account is a member of each of `rooms` (idempotent), in one write. */
  addRoomMembers(rooms: Iterable<string>, account: string): Promise<void>;
  /** Removes an account from a room (idempotent). */
  removeRoomMember(room: string, account: string): Promise<void>;
  /** Every kept room (one an account has been a member of, or with a topic), by name. */
  listRooms(): Promise<RoomInfo[]>;
  /** Sets a room's topic (keeping the room from then on). */
  setTopic(room: string, topic: string): Promise<void>;

  /**
   * Keeps a message of a conversation (a `#room`, or a direct conversation
   * named by {@linkcode directConversation}), then drops that conversation's
   * oldest beyond the newest `keep`. Calls in one turn of the event loop are
   * written in one transaction; reads see every earlier call.
   */
  appendHistory(conversation: string, entry: HistoryEntry, keep: number): Promise<void>;
  /** A page of a conversation's kept messages, oldest first. */
  readHistory(conversation: string, query: HistoryQuery): Promise<HistoryPage>;
  /** Forgets a conversation's kept messages. */
  dropHistory(conversation: string): Promise<void>;
  /** Drops kept messages older than `notBefore` (unix ms); resolves to how many. */
  pruneHistory(notBefore: number): Promise<number>;
  /** The largest history id ever assigned (0 for none), so that ids keep increasing. */
  lastHistoryId(): Promise<number>;
  /**
   * Assigns the next `count` history ids; resolves to the last of them. A
   * store several nodes share has it, so that their ids are one sequence; a
   * node's own store has none: the node counts from
   * {@linkcode Store.lastHistoryId}.
   */
  nextHistoryIds?(count: number): Promise<number>;
  /**
   * Keeps room messages where several nodes share the store, in one order
   * across them: under a lock on the room, takes the next ids for
   * `messages`, writes them (committed) and drops the room's oldest beyond
   * the newest `keep`, then calls `publish(firstId)` and holds the lock until
   * what it returns settles; resolves to the first id. So one room's ids
   * increase in the order its messages are published from any node, and a
   * message is kept before anyone hears of it.
   */
  keepRoomHistory?(
    room: string,
    messages: readonly DeliveredMsg[],
    keep: number,
    publish: (firstId: number) => Promise<void>,
  ): Promise<number>;
  /**
   * Runs `fn` where several nodes share the store, while this node holds the
   * lock named `name` (one node at a time across them, released once `fn`
   * settles), so that what each does in turn sees what the one before did.
   */
  underLock?<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Kept messages per room, for rooms that have any. */
  countRoomHistory(): Promise<Map<string, number>>;

  /** Records when an account's last session ended (unix ms). */
  setLastSeen(name: string, at: number): Promise<void>;
  /** Shows an account's presence to its contacts only, or to everyone; false for no such account. */
  setContactsOnly(name: string, contactsOnly: boolean): Promise<boolean>;

  /**
   * An account's contact list, by name. One list per account, whichever
   * dialect reads or changes it; later features (presence, history) build on it.
   */
  listContacts(owner: string): Promise<string[]>;
  /** Adds a contact to an account's list (idempotent). */
  addContact(owner: string, contact: string): Promise<void>;
  /** Adds several contacts to an account's list in one write, in order (idempotent). */
  addContacts(owner: string, contacts: Iterable<string>): Promise<void>;
  /** Removes a contact from an account's list; false when it was not there. */
  removeContact(owner: string, contact: string): Promise<boolean>;
  /** Whether `contact` is on `owner`'s list. */
  hasContact(owner: string, contact: string): Promise<boolean>;

  /** Records the public key an account announced in its presence, replacing any earlier one. */
  setPublicKey(account: string, pubkey: string): Promise<void>;
  /** The public key an account last announced, or null. */
  getPublicKey(account: string): Promise<string | null>;

  /** Flushes and releases the store; later calls reject. */
  close(): Promise<void>;
}

/**
 * The history key of the direct conversation between two names: the same
 * whichever of them asks. Names hold no newline (validate.ts), rooms start
 * with `#`, so keys never collide.
 */
export function directConversation(a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`;
}

/**
 * Every operational limit of the server, with its default. Protocol limits
 * (field lengths) live in lib/protocol/validate.ts; these are the ones an
 * operator tunes, each with a command-line flag (lib/cli/server_args.ts).
 *
 * @module
 */

import { DEFAULT_MAX_OBJECT_BYTES } from "../protocol/codec.ts";

/** Server settings. Every field has a default in {@linkcode SERVER_DEFAULTS}. */
export interface ServerSettings {
  /** Refuse guests: `presence` before `authenticate` gets 401. */
  requireAuth: boolean;
  /** Keep direct messages for offline accounts (else 410). */
  offlineStore: boolean;
  /** Messages one offline account may hold before 410. */
  offlineLimit: number;
  /**
   * Least time between two writes to a bare peer (one that reads each object
   * with its own recv), in ms; 0 writes at once.
   */
  bareWriteGapMs: number;
  /** Names one contact list may hold. */
  maxContacts: number;
  /** Rooms one connection (guest or account) and one account may be in. */
  maxRoomsPerUser: number;
  /** Rooms on the server in all. */
  maxRooms: number;
  /** Messages kept per room for members to read back (0 keeps none). */
  roomHistory: number;
  /** Messages kept per direct conversation of an account (0 keeps none). */
  directHistory: number;
  /** Age after which kept messages are dropped, in ms (0: no age limit). */
  historyAgeMs: number;
  /**
   * The share of an offline account's mailbox one sender may fill, in percent
   * of `offlineLimit` (at least one message), so that others still get through.
   */
  offlineShare: number;
  /** PBKDF2 iterations for new password hashes. */
  hashIterations: number;
  /** Password hashes computed at once; the rest wait, so the event loop keeps a core. */
  hashConcurrency: number;
  /** Password hashes that may wait for their turn; beyond it 429. */
  hashQueue: number;
  /** Registrations one source address may have waiting or hashing at once (0 = no limit). */
  registerPending: number;
  /** Accounts one source address may create per hour (0 = no limit). */
  registerLimit: number;
  /** Silence after which the server sends `probe`, in ms. */
  probeIntervalMs: number;
  /** Time a probed connection has to answer, in ms. */
  probeTimeoutMs: number;
  /** Time a new connection has to send its first valid request, in ms. */
  handshakeTimeoutMs: number;
  /** Requests per second one connection may make on average (0 = no limit). */
  rateLimit: number;
  /** Requests one connection may make in a burst. */
  rateBurst: number;
  /** Consecutive 429 answers after which a connection is closed. */
  floodDisconnect: number;
  /** Failed `authenticate`/`register` for one account from one address before a cool-down. */
  authFailures: number;
  /** Failed `authenticate`/`register` from one address, any accounts, before a cool-down. */
  authAddressFailures: number;
  /** The window in which those failures count, in ms. */
  authWindowMs: number;
  /** The cool-down during which that pair or address gets 403, in ms. */
  authLockoutMs: number;
  /** Concurrent connections in all (0 = no limit). */
  maxConnections: number;
  /** Concurrent connections from one source address (0 = no limit). */
  maxPerAddress: number;
  /** Bytes queued for one connection before it counts as a slow reader. */
  maxQueueBytes: number;
  /** Objects queued for one connection before it counts as a slow reader. */
  maxQueueObjects: number;
  /** Raw bytes one incoming object may take before it ends. */
  maxObjectBytes: number;
  /** How often the server looks for newly blocked accounts to disconnect, in ms. */
  blockCheckMs: number;
  /** Time shutdown waits for queued writes before closing, in ms. */
  shutdownGraceMs: number;
  /** How long a session token stays valid after it is issued, in ms. */
  tokenLifetimeMs: number;
  /** Session tokens kept per account; issuing one more drops the oldest. */
  tokensPerAccount: number;
  /**
   * Time a database call keeps retrying while another process (`jim admin`,
   * a backup) holds the write lock, in ms; the event loop runs meanwhile.
   */
  dbLockWaitMs: number;
  /**
   * With `--cluster`: how long a node's claim on a name lives unless renewed,
   * in ms (a dead node's names are free again after it; renewed every third).
   */
  claimTtlMs: number;
}

/** The defaults, also printed by `--help`. */
export const SERVER_DEFAULTS: Readonly<ServerSettings> = Object.freeze({
  requireAuth: false,
  offlineStore: true,
  offlineLimit: 1000,
  maxContacts: 500,
  maxRoomsPerUser: 100,
  maxRooms: 10_000,
  bareWriteGapMs: 10,
  roomHistory: 200,
  directHistory: 100,
  historyAgeMs: 90 * 86_400_000,
  offlineShare: 25,
  hashIterations: 600_000,
  hashConcurrency: Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1),
  hashQueue: 256,
  registerPending: 2,
  registerLimit: 30,
  probeIntervalMs: 30_000,
  probeTimeoutMs: 10_000,
  handshakeTimeoutMs: 30_000,
  rateLimit: 100,
  rateBurst: 200,
  floodDisconnect: 50,
  authFailures: 5,
  authAddressFailures: 20,
  authWindowMs: 15 * 60_000,
  authLockoutMs: 5 * 60_000,
  maxConnections: 20_000,
  maxPerAddress: 256,
  maxQueueBytes: 1 << 20,
  maxQueueObjects: 8192,
  maxObjectBytes: DEFAULT_MAX_OBJECT_BYTES,
  blockCheckMs: 5000,
  shutdownGraceMs: 2000,
  tokenLifetimeMs: 30 * 86_400_000,
  tokensPerAccount: 10,
  dbLockWaitMs: 5000,
  claimTtlMs: 6000,
});

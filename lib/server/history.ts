/**
 * Kept messages (room and direct history): each gets the next history id
 * and is written to the store; a page of them is read back within the age
 * limit. Messaging keeps, rooms read.
 *
 * @module
 */

import type { DeliveredMsg } from "../protocol/messages.ts";
import type { HistoryEntry, HistoryPage, Store } from "../store/store.ts";

/**
 * Bytes of message JSON one history page holds at most: jim's client reads
 * objects of up to 64 KiB, and 200 long messages in UTF-8 would not fit.
 */
const HISTORY_PAGE_BYTES = 48 * 1024;

/** Options for {@linkcode History}. */
export interface HistoryOptions {
  store: Store;
  /** Kept messages older than this (ms) are not read back; 0: no age limit. */
  historyAgeMs: number;
  /** Where to write log lines. */
  log: (line: string) => void;
  /**
   * Several nodes share the store: ids come from it (when it assigns them),
   * so that every node's are one sequence.
   */
  shared?: boolean;
  /**
   * With shared ids: resolves once what other nodes published before now has
   * reached this node, and what this node published has reached them (see
   * {@linkcode History.keepRoom}).
   */
  caughtUp?: () => Promise<void>;
}

/** How long a room's order waits for the cluster to catch up before going on (ms). */
const CAUGHT_UP_WAIT_MS = 2000;

/** A room message waiting for its turn in the room's order across nodes. */
interface RoomTurn {
  message: DeliveredMsg;
  deliver: (id: number | null) => void;
  done: () => void;
}

/** A message kept with an id the store assigned (see {@linkcode History.keepShared}). */
export interface SharedKeep {
  /** Null when the store could not assign one. */
  id: number | null;
  /** Settles once it is written (or failed, which is logged). */
  kept: Promise<void>;
}

/** Which page of a conversation to read. */
export interface PageQuery {
  limit: number;
  before?: number | undefined;
  after?: number | undefined;
}

/** Kept messages: ids, writes and pages. */
export class History {
  readonly #store: Store;
  readonly #historyAgeMs: number;
  readonly #log: (line: string) => void;
  /** The last history id assigned. */
  #lastId = 0;
  /** Assigns ids, when the store does (see {@linkcode HistoryOptions.shared}). */
  readonly #nextIds: ((count: number) => Promise<number>) | null;
  /** Calls waiting for an id, in call order: asked of the store together, one batch at a time. */
  #waiting: ((id: number | null) => void)[] = [];
  /** Whether a batch is being asked of the store. */
  #asking = false;
  /** Keeps room messages in one order across nodes (see {@linkcode History.keepRoom}). */
  readonly #keepRoom: Store["keepRoomHistory"];
  readonly #caughtUp: () => Promise<void>;
  /** Room messages waiting for their room's turn, by room; a room is here while one is kept. */
  readonly #roomTurns = new Map<string, RoomTurn[]>();

  constructor(options: HistoryOptions) {
    this.#store = options.store;
    this.#historyAgeMs = options.historyAgeMs;
    this.#log = options.log;
    const store = options.store;
    this.#nextIds = options.shared && store.nextHistoryIds
      ? (count) => store.nextHistoryIds!(count)
      : null;
    this.#keepRoom = options.shared && store.keepRoomHistory
      ? store.keepRoomHistory.bind(store)
      : undefined;
    this.#caughtUp = options.caughtUp ?? (() => Promise.resolve());
  }

  /** Whether ids come from the store (nodes that share it), so that keeping one is awaited. */
  get shared(): boolean {
    return this.#nextIds !== null;
  }

  /** Goes on from the last id the store holds. */
  async load(): Promise<void> {
    this.#lastId = await this.#store.lastHistoryId();
  }

  /**
   * Assigns a message the next history id and keeps it (written with the
   * others of this turn in one transaction, not awaited: the message is
   * delivered either way).
   */
  keep(conversation: string, message: DeliveredMsg, keep: number): number {
    const id = ++this.#lastId;
    void this.#append(conversation, id, message, keep);
    return id;
  }

  /**
   * {@linkcode History.keep} for nodes that share the store: resolves to
   * the id the store assigned, in the order of the calls (so that what is
   * delivered after it keeps the order it was sent in), or null when the
   * store could not assign one (the message is delivered without an id and
   * not kept), with `kept`, which settles once it is written (so that a
   * message is answered once any node reads it back). Without shared ids,
   * as `keep`.
   */
  keepShared(
    conversation: string,
    message: DeliveredMsg,
    keep: number,
  ): number | Promise<SharedKeep> {
    if (this.#nextIds === null) return this.keep(conversation, message, keep);
    const id = new Promise<number | null>((resolve) => this.#waiting.push(resolve));
    this.#ask();
    return id.then((id) => ({
      id,
      kept: id === null ? Promise.resolve() : this.#append(conversation, id, message, keep),
    }));
  }

  /**
   * Keeps a room message where nodes share the store and delivers it in the
   * room's one order across them: its id is taken and it is written under
   * the room's lock in the store; only then does this node hear what other
   * nodes published before (so they are delivered here first), `deliver(id)`
   * hand it to members here and publish it, and the lock go once the cluster
   * has it. So every member anywhere gets a room's messages in id order, and
   * one that catches up `after` the last id it saw misses none. Messages for
   * a room that come while one is kept go together next. `deliver(null)`:
   * the store could not keep it (delivered without an id). Resolves once it
   * is kept and delivered. Without {@linkcode Store.keepRoomHistory}: as
   * {@linkcode History.keepShared}.
   */
  keepRoom(
    room: string,
    message: DeliveredMsg,
    keep: number,
    deliver: (id: number | null) => void,
  ): Promise<void> {
    if (this.#keepRoom === undefined) {
      const id = this.keepShared(room, message, keep);
      if (typeof id === "number") return Promise.resolve(deliver(id));
      return id.then(({ id, kept }) => {
        deliver(id);
        return kept;
      });
    }
    return new Promise<void>((done) => {
      const waiting = this.#roomTurns.get(room);
      if (waiting) return void waiting.push({ message, deliver, done });
      this.#roomTurns.set(room, []);
      void this.#keepRoomTurns(room, [{ message, deliver, done }], keep);
    });
  }

  /** Keeps `batch`, then whatever came for the room meanwhile, until none is left. */
  async #keepRoomTurns(room: string, batch: RoomTurn[], keep: number): Promise<void> {
    while (batch.length > 0) {
      let delivered = false;
      try {
        await this.#keepRoom!(room, batch.map((t) => t.message), keep, async (first) => {
          await this.#caughtUpWithin();
          delivered = true;
          batch.forEach((turn, i) => turn.deliver(first + i));
          await this.#caughtUpWithin();
        });
      } catch (e) {
        this.#log(`cannot keep history of ${room}: ${e}`);
        if (!delivered) { for (const turn of batch) turn.deliver(null); }
      }
      for (const turn of batch) turn.done();
      batch = this.#roomTurns.get(room) ?? [];
      this.#roomTurns.set(room, []);
    }
    this.#roomTurns.delete(room);
  }

  /** {@linkcode HistoryOptions.caughtUp}, or on after a while (a cluster away holds no room). */
  async #caughtUpWithin(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, CAUGHT_UP_WAIT_MS));
    try {
      await Promise.race([this.#caughtUp().catch(() => {}), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Asks the store for the ids of the calls waiting (those of this turn
   * together), unless a batch is out: ids and their calls then keep one
   * order, which a query per call on a pool of connections would not.
   */
  #ask(): void {
    const nextIds = this.#nextIds;
    if (nextIds === null || this.#asking || this.#waiting.length === 0) return;
    this.#asking = true;
    queueMicrotask(() => {
      const batch = this.#waiting;
      this.#waiting = [];
      nextIds(batch.length).then((last) => {
        const first = last - batch.length + 1;
        batch.forEach((resolve, i) => resolve(first + i));
      }, (e) => {
        this.#log(`cannot assign history ids: ${e}`);
        for (const resolve of batch) resolve(null);
      }).finally(() => {
        this.#asking = false;
        this.#ask();
      });
    });
  }

  #append(conversation: string, id: number, message: DeliveredMsg, keep: number): Promise<void> {
    return this.#store.appendHistory(conversation, { id, message }, keep).catch((e) =>
      this.#log(`cannot keep history of ${conversation}: ${e}`)
    );
  }

  /** A page of kept messages, within the age limit, as a response's extra fields. */
  async page(
    conversation: string,
    query: PageQuery,
  ): Promise<{ messages: DeliveredMsg[]; more: boolean }> {
    const page: HistoryPage = await this.#store.readHistory(conversation, {
      limit: query.limit,
      ...(query.before !== undefined ? { before: query.before } : {}),
      ...(query.after !== undefined ? { after: query.after } : {}),
      ...(this.#historyAgeMs > 0 ? { notBefore: Date.now() - this.#historyAgeMs } : {}),
      maxBytes: HISTORY_PAGE_BYTES,
    });
    return {
      messages: page.messages.map(({ id, message }: HistoryEntry) => ({
        ...message,
        history_id: id,
      })),
      more: page.more,
    };
  }

  /** Drops kept messages past the age limit; resolves to how many. */
  prune(): Promise<number> {
    if (this.#historyAgeMs <= 0) return Promise.resolve(0);
    return this.#store.pruneHistory(Date.now() - this.#historyAgeMs);
  }
}

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

  constructor(options: HistoryOptions) {
    this.#store = options.store;
    this.#historyAgeMs = options.historyAgeMs;
    this.#log = options.log;
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
    this.#store.appendHistory(conversation, { id, message }, keep).catch((e) =>
      this.#log(`cannot keep history of ${conversation}: ${e}`)
    );
    return id;
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

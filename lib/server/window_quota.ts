/**
 * A count per key in a fixed window: at most `limit` uses per key per
 * `windowMs`, then a wait until the key's window ends. Used for accounts
 * created per source address. Keys tracked are bounded, so a spray of
 * addresses cannot grow memory without end.
 *
 * @module
 */

/** Options for {@linkcode WindowQuota}. */
export interface WindowQuotaOptions {
  /** Uses per key per window; 0 turns the quota off. */
  limit: number;
  /** The window, in ms. */
  windowMs: number;
  /** Keys tracked at most; past it the oldest are forgotten. @default {100_000} */
  maxKeys?: number;
  /** Clock in ms, for tests. @default {Date.now} */
  now?: () => number;
}

interface Window {
  start: number;
  used: number;
}

/** Uses per key in a fixed window. */
export class WindowQuota {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(options: WindowQuotaOptions) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  /** Takes one use for `key`: 0 when granted, else the seconds until one is free. */
  take(key: string): number {
    if (this.#limit <= 0) return 0;
    const now = this.#now();
    let w = this.#windows.get(key);
    if (!w || now - w.start >= this.#windowMs) {
      if (w) this.#windows.delete(key);
      w = { start: now, used: 0 };
      this.#trim(now);
      this.#windows.set(key, w); // at the back: the map stays in window order
    }
    if (w.used >= this.#limit) {
      return Math.max(1, Math.ceil((w.start + this.#windowMs - now) / 1000));
    }
    w.used++;
    return 0;
  }

  /** Gives back a use taken with {@linkcode WindowQuota.take} that did not happen. */
  refund(key: string): void {
    const w = this.#windows.get(key);
    if (w && w.used > 0) w.used--;
  }

  /** Drops ended windows, then the oldest while over the bound. */
  #trim(now: number): void {
    for (const [key, w] of this.#windows) {
      if (now - w.start < this.#windowMs && this.#windows.size < this.#maxKeys) break;
      this.#windows.delete(key);
    }
  }
}

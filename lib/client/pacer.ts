/**
 * The client's side of the server's rate limit: a token bucket that says how
 * long to wait before the next message, and slows down when the server
 * answers 429 anyway (its limit is lower than ours). No timers of its own.
 *
 * @module
 */

/** Options for {@linkcode Pacer}. */
export interface PacerOptions {
  /** Requests a second at most; 0 turns pacing off. */
  rate: number;
  /**
   * Requests that may go at once before the rate applies.
   * @default {rate, at least 1}
   */
  burst?: number;
  /**
   * The clock, in milliseconds.
   * @default {performance.now}
   */
  now?: () => number;
}

/** The slowest a 429 can make the pacer, in requests a second. */
const MIN_RATE = 1;

/** A token bucket for outgoing requests. */
export class Pacer {
  #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(options: PacerOptions) {
    if (!(options.rate >= 0)) {
      throw new RangeError(`Cannot pace: rate must be 0 or more, got ${options.rate}`);
    }
    this.#rate = options.rate;
    this.#burst = Math.max(1, options.burst ?? options.rate);
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = this.#burst;
    this.#last = this.#now();
  }

  /** Requests a second now (lower after a 429); 0 when off. */
  get rate(): number {
    return this.#rate;
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate / 1000);
    this.#last = now;
  }

  /** Milliseconds until the next request may go (0: now). */
  delay(): number {
    if (this.#rate === 0) return 0;
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) * 1000 / this.#rate);
  }

  /** Counts one request sent (also one that did not wait its turn: the next ones wait more). */
  take(): void {
    if (this.#rate === 0) return;
    this.#refill();
    this.#tokens -= 1;
  }

  /** The server refused one (429): halve the rate and start from an empty bucket. */
  slowDown(): void {
    if (this.#rate === 0) return;
    this.#refill();
    this.#rate = Math.max(MIN_RATE, this.#rate / 2);
    this.#tokens = Math.min(this.#tokens, 0);
  }
}

/**
 * A token bucket: `rate` tokens a second, holding at most `burst`.
 *
 * @module
 */

/** Options for {@linkcode TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second; 0 means unlimited. */
  rate: number;
  /** The most tokens the bucket holds (and starts with). */
  burst: number;
  /** Clock in ms, for tests. @default {performance.now} */
  now?: () => number;
}

/** Rate limiter for one connection's requests. */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(options: TokenBucketOptions) {
    if (!(options.rate >= 0) || !(options.burst >= 1)) {
      throw new RangeError(
        `Cannot create token bucket: rate must be >= 0 and burst >= 1, got ${options.rate} and ${options.burst}`,
      );
    }
    this.#rate = options.rate;
    this.#burst = options.burst;
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = options.burst;
    this.#last = this.#now();
  }

  /**
   * Takes one token as of time `at` (default: now), on the bucket's clock; a
   * request read earlier passes when it was read. A time before the last take
   * counts as that take's. False when the bucket is empty.
   */
  take(at?: number): boolean {
    if (this.#rate === 0) return true;
    const now = Math.max(this.#last, at ?? this.#now());
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) * this.#rate) / 1000);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Brute-force protection: counts failed `authenticate`/`register` attempts
 * per (account, source address) pair and per source address, and locks
 * either out for a cool-down once it reaches its limit within the window.
 *
 * A lockout is per pair rather than per account so that failures from an
 * attacker's addresses never lock the owner out from theirs; the per-address
 * bound, higher, stops one address from spraying guesses across accounts.
 *
 * @module
 */

/** Options for {@linkcode AuthGuard}. */
export interface AuthGuardOptions {
  /** Failures for one account from one address within the window that lock that pair out. */
  maxFailures: number;
  /** Failures from one address, whatever the accounts, that lock the address out. */
  maxAddressFailures: number;
  /** The window, in ms. */
  windowMs: number;
  /** The lockout, in ms. */
  lockoutMs: number;
  /** Clock in ms, for tests. @default {Date.now} */
  now?: () => number;
}

interface Entry {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

/** Keys tracked before expired entries are swept. */
const SWEEP_AT = 10_000;
/** Keys tracked at most, bounding memory under a spray of names. */
const MAX_ENTRIES = 100_000;

function pairKey(account: string, address: string): string {
  return "p:" + address + "\0" + account;
}

function addressKey(address: string): string {
  return "i:" + address;
}

/** Per-(account, address) and per-address failure counters with lockouts. */
export class AuthGuard {
  readonly #options: AuthGuardOptions;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  /** Attempts begun and not yet ended, per key: they may all fail. */
  readonly #inFlight = new Map<string, number>();
  #sweepAt = SWEEP_AT;

  constructor(options: AuthGuardOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Seconds until this account may be tried from this address again; 0 when it may now. */
  lockedFor(account: string, address: string): number {
    const now = this.#now();
    const until = Math.max(
      this.#entries.get(pairKey(account, address))?.lockedUntil ?? 0,
      this.#entries.get(addressKey(address))?.lockedUntil ?? 0,
    );
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  /**
   * Starts an attempt: returns 0 and counts it as in flight, or the seconds
   * to wait. Attempts in flight count toward the limits as if they had
   * failed, so guesses made at once on many connections cannot get past them.
   * End every attempt that got 0 with {@linkcode AuthGuard.end}.
   */
  begin(account: string, address: string): number {
    const wait = this.lockedFor(account, address);
    if (wait > 0) return wait;
    const p = pairKey(account, address);
    const i = addressKey(address);
    if (
      this.#pending(p) >= this.#options.maxFailures ||
      this.#pending(i) >= this.#options.maxAddressFailures
    ) {
      return 1;
    }
    this.#inFlight.set(p, (this.#inFlight.get(p) ?? 0) + 1);
    this.#inFlight.set(i, (this.#inFlight.get(i) ?? 0) + 1);
    return 0;
  }

  /** Ends an attempt begun with {@linkcode AuthGuard.begin} (before recording its outcome). */
  end(account: string, address: string): void {
    for (const key of [pairKey(account, address), addressKey(address)]) {
      const n = (this.#inFlight.get(key) ?? 1) - 1;
      if (n <= 0) this.#inFlight.delete(key);
      else this.#inFlight.set(key, n);
    }
  }

  /** Failures counted in the current window plus attempts in flight. */
  #pending(key: string): number {
    const entry = this.#entries.get(key);
    const live = entry && this.#now() - entry.windowStart <= this.#options.windowMs;
    return (live ? entry.failures : 0) + (this.#inFlight.get(key) ?? 0);
  }

  /** Records a failure for the pair and for the address. */
  fail(account: string, address: string): void {
    this.#count(pairKey(account, address), this.#options.maxFailures);
    this.#count(addressKey(address), this.#options.maxAddressFailures);
  }

  /** Clears the pair's failures after a successful login (the address's stay). */
  succeed(account: string, address: string): void {
    this.#entries.delete(pairKey(account, address));
  }

  #count(key: string, limit: number): void {
    const now = this.#now();
    const { windowMs, lockoutMs } = this.#options;
    if (this.#entries.size >= this.#sweepAt) this.#sweep(now);
    let entry = this.#entries.get(key);
    if (!entry || now - entry.windowStart > windowMs) {
      entry = { failures: 0, windowStart: now, lockedUntil: 0 };
      this.#entries.set(key, entry);
    }
    if (++entry.failures >= limit) {
      entry.lockedUntil = now + lockoutMs;
      entry.failures = 0;
      entry.windowStart = now;
    }
  }

  #sweep(now: number): void {
    for (const [key, e] of this.#entries) {
      if (e.lockedUntil <= now && now - e.windowStart > this.#options.windowMs) {
        this.#entries.delete(key);
      }
    }
    // Still full of live entries (an attack from many names): forget the
    // oldest, those not locked out first, so a spray cannot lift a lockout.
    for (const [key, e] of this.#entries) {
      if (this.#entries.size < MAX_ENTRIES) break;
      if (e.lockedUntil <= now) this.#entries.delete(key);
    }
    for (const key of this.#entries.keys()) {
      if (this.#entries.size < MAX_ENTRIES) break;
      this.#entries.delete(key);
    }
    this.#sweepAt = Math.max(SWEEP_AT, this.#entries.size * 2);
  }
}

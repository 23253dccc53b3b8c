/**
 * Reconnect timing: exponential backoff with jitter, and an abortable wait
 * built on std's `delay`.
 *
 * @module
 */

import { delay } from "@std/async/delay";

/** Options for {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** Delay before the first attempt, in milliseconds. */
  minDelayMs: number;
  /** Cap on any delay, in milliseconds. */
  maxDelayMs: number;
  /**
   * Source of randomness in [0, 1).
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * The wait before reconnect attempt `attempt` (1-based): `min * 2^(attempt-1)`,
 * capped at `max`, then scaled by a random factor in [0.5, 1) so that many
 * clients dropped at once do not all come back at the same instant.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const base = Math.min(options.maxDelayMs, options.minDelayMs * 2 ** exponent);
  return Math.max(1, Math.round(base * (0.5 + random() / 2)));
}

/** Waits `ms`; rejects with the signal's reason if it aborts first. */
export function wait(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, { signal }) as Promise<void>;
}

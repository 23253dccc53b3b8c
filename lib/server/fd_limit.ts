/**
 * File descriptors: how many the server may open, checked at start, and one
 * held in reserve so that a client arriving when they have run out can
 * still be told so.
 *
 * Deno has no getrlimit. `/proc/self/limits` gives the limit when the
 * process may read it (Deno asks for --allow-all); otherwise the check opens
 * `/dev/null` up to the number needed and closes them again (about 10 µs
 * each), which finds how many are free. Without either, nothing is checked.
 *
 * @module
 */

import { closeSync, openSync } from "node:fs";

/** Descriptors the server needs beside its connections: database, listeners, runtime. */
export const FD_HEADROOM = 64;

/** The soft open-file limit from /proc/self/limits, or undefined when unreadable. */
function procLimit(): number | undefined {
  try {
    const text = Deno.readTextFileSync("/proc/self/limits");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (!m) return undefined;
    return m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * How many more descriptors can be opened, counted up to `want`, by opening
 * `/dev/null`; undefined when that cannot be opened at all.
 */
function freeDescriptors(want: number): number | undefined {
  const fds: number[] = [];
  try {
    while (fds.length < want) fds.push(openSync("/dev/null", "r"));
  } catch (error) {
    if (fds.length === 0 && (error as { code?: string }).code !== "EMFILE") return undefined;
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  return fds.length;
}

/**
 * A warning when fewer descriptors are available than `maxConnections` plus
 * {@linkcode FD_HEADROOM}, else null (also when it cannot be told).
 */
export function fdLimitWarning(maxConnections: number): string | null {
  if (maxConnections <= 0 || Deno.build.os === "windows") return null;
  const need = maxConnections + FD_HEADROOM;
  const advice = `raise it (ulimit -n ${need}) or lower --max-connections; ` +
    "clients past the limit get 503";
  const limit = procLimit();
  if (limit !== undefined) {
    if (limit >= need) return null;
    return `warning: the open-file limit (ulimit -n) is ${limit}, below --max-connections ${maxConnections} plus ${FD_HEADROOM} for the server itself: ${advice}`;
  }
  const free = freeDescriptors(need);
  if (free === undefined || free >= need) return null;
  return `warning: only ${free} more files can be opened (ulimit -n), fewer than --max-connections ${maxConnections} plus ${FD_HEADROOM} for the server itself: ${advice}`;
}

/** What {@linkcode connectionCap} decided. */
export interface ConnectionCap {
  /** The cap on connections to use. */
  maxConnections: number;
  /** A line for the log (a note or a warning), or null when all is well. */
  line: string | null;
}

/**
 * The cap on connections for this process. One asked for on the command
 * line is kept, with a warning when descriptors cannot cover it; the
 * default is lowered to what the open-file limit allows, since a stock
 * `ulimit -n` of 1024 would otherwise warn at every start.
 */
export function connectionCap(asked: number | undefined, fallback: number): ConnectionCap {
  if (asked !== undefined) return { maxConnections: asked, line: fdLimitWarning(asked) };
  if (fallback <= 0 || Deno.build.os === "windows") return { maxConnections: fallback, line: null };
  const need = fallback + FD_HEADROOM;
  const limit = procLimit();
  const free = limit === undefined ? freeDescriptors(need) : undefined;
  const room = limit ?? free;
  if (room === undefined || room >= need) return { maxConnections: fallback, line: null };
  const maxConnections = Math.max(1, room - FD_HEADROOM);
  const why = limit !== undefined
    ? `the open-file limit (ulimit -n) is ${limit}`
    : `only ${free} more files can be opened (ulimit -n)`;
  return {
    maxConnections,
    line:
      `note: at most ${maxConnections} connections: ${why} and the server keeps ${FD_HEADROOM} for itself; ` +
      "raise the limit or set --max-connections",
  };
}

/**
 * One descriptor held back (`/dev/null`), to be let go when accept fails
 * for want of descriptors: the freed one takes the waiting client, which is
 * answered 503 and closed, and the reserve is taken again.
 */
export class FdReserve {
  #fd: number | null = null;

  constructor() {
    this.take();
  }

  /** Whether a descriptor is held. */
  get held(): boolean {
    return this.#fd !== null;
  }

  /** Takes the reserve descriptor if not held; false when it cannot be opened. */
  take(): boolean {
    if (this.#fd !== null) return true;
    try {
      this.#fd = openSync("/dev/null", "r");
    } catch {
      this.#fd = null;
    }
    return this.#fd !== null;
  }

  /** Lets the reserve descriptor go. */
  release(): void {
    if (this.#fd === null) return;
    try {
      closeSync(this.#fd);
    } catch { /* already gone */ }
    this.#fd = null;
  }
}

/** Whether an error means the process (or system) is out of file descriptors. */
export function isOutOfDescriptors(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "EMFILE" || code === "ENFILE" ||
    (error instanceof Error && /too many open files/i.test(error.message));
}

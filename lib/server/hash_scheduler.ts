/**
 * The queue in front of password hashing. Each hash takes a core for about
 * 100 ms, so only a few run at once and the rest wait here. Who waits how
 * long is the point: logins go ahead of registrations, and within each kind
 * turns go round the source addresses and, within an address, round the
 * accounts, so that a flood from some addresses (or at one account) costs
 * the others a few turns rather than the whole queue. The queue is bounded;
 * a login that finds it full takes the place of the latest registration of
 * the address with the most waiting.
 *
 * @module
 */

/** What a hash is for: logins go first. */
export type HashKind = "login" | "register";

/** Who a hash is for, which decides its turn. */
export interface HashTicket {
  kind: HashKind;
  /** The source key (see source_key.ts): turns go round these. */
  source: string;
  /** The account name: within a source, turns go round these. */
  account: string;
}

/** Options for {@linkcode HashScheduler}. */
export interface HashSchedulerOptions {
  /** Hashes run at once. */
  concurrency: number;
  /** Hashes that may wait for a turn; beyond it {@linkcode HashQueueFullError}. */
  maxQueued: number;
}

/** The queue is full: the hash was not queued (or lost its place to a login). */
export class HashQueueFullError extends Error {
  constructor() {
    super("Cannot queue password hash: the queue is full");
    this.name = "HashQueueFullError";
  }
}

/** The scheduler was closed (the server is shutting down): the hash will not run. */
export class HashSchedulerClosedError extends Error {
  constructor() {
    super("Cannot queue password hash: the server is shutting down");
    this.name = "HashSchedulerClosedError";
  }
}

interface Waiter {
  ticket: HashTicket;
  start(): void;
  reject(error: Error): void;
}

/** source → account → waiters, each map in turn order (first is next). */
type Lanes = Map<string, Map<string, Waiter[]>>;

/** A bounded, fair queue of password hashes with a fixed number running at once. */
export class HashScheduler {
  readonly #concurrency: number;
  readonly #maxQueued: number;
  #running = 0;
  #queued = 0;
  #closed = false;
  readonly #lanes: Record<HashKind, Lanes> = { login: new Map(), register: new Map() };
  /** Hashes queued or running, per kind and source, for per-address limits. */
  readonly #pending = new Map<string, number>();

  constructor(options: HashSchedulerOptions) {
    const { concurrency, maxQueued } = options;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(
        `Cannot create hash scheduler: concurrency must be a whole number >= 1, got ${concurrency}`,
      );
    }
    if (!Number.isInteger(maxQueued) || maxQueued < 0) {
      throw new RangeError(
        `Cannot create hash scheduler: maxQueued must be a whole number >= 0, got ${maxQueued}`,
      );
    }
    this.#concurrency = concurrency;
    this.#maxQueued = maxQueued;
  }

  /** Hashes running now. */
  get running(): number {
    return this.#running;
  }

  /** Hashes waiting for a turn. */
  get queued(): number {
    return this.#queued;
  }

  /** Hashes of `kind` queued or running for `source`. */
  pending(kind: HashKind, source: string): number {
    return this.#pending.get(kind + "\0" + source) ?? 0;
  }

  /**
   * Runs `task` in its turn and settles with it.
   *
   * @throws {HashQueueFullError} when the queue is full, or a login took its place
   * @throws {HashSchedulerClosedError} when closed before its turn
   */
  async run<T>(ticket: HashTicket, task: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new HashSchedulerClosedError();
    const key = ticket.kind + "\0" + ticket.source;
    if (this.#running < this.#concurrency && this.#queued === 0) {
      this.#running++;
    } else {
      if (this.#queued >= this.#maxQueued && !this.#evictFor(ticket)) {
        throw new HashQueueFullError();
      }
      this.#count(key, 1);
      try {
        // The slot is handed over by #next with #running already counted.
        await new Promise<void>((start, reject) => this.#enqueue({ ticket, start, reject }));
      } finally {
        this.#count(key, -1);
      }
    }
    this.#count(key, 1);
    try {
      return await task();
    } finally {
      this.#count(key, -1);
      this.#next();
    }
  }

  /** Refuses every hash still waiting, and any later one; those running finish. */
  close(): void {
    this.#closed = true;
    for (const kind of ["login", "register"] as const) {
      const lanes = this.#lanes[kind];
      for (const accounts of lanes.values()) {
        for (const waiters of accounts.values()) {
          for (const w of waiters) w.reject(new HashSchedulerClosedError());
        }
      }
      lanes.clear();
    }
    this.#queued = 0;
  }

  #count(key: string, delta: number): void {
    const n = (this.#pending.get(key) ?? 0) + delta;
    if (n <= 0) this.#pending.delete(key);
    else this.#pending.set(key, n);
  }

  #enqueue(w: Waiter): void {
    const lanes = this.#lanes[w.ticket.kind];
    let accounts = lanes.get(w.ticket.source);
    if (!accounts) lanes.set(w.ticket.source, accounts = new Map());
    let waiters = accounts.get(w.ticket.account);
    if (!waiters) accounts.set(w.ticket.account, waiters = []);
    waiters.push(w);
    this.#queued++;
  }

  /** Passes a freed slot to the next waiter in turn, or frees it. */
  #next(): void {
    const w = this.#take(this.#lanes.login) ?? this.#take(this.#lanes.register);
    if (!w) {
      this.#running--;
      return;
    }
    this.#queued--;
    w.start();
  }

  /** The next waiter in `lanes`: the first source's first account; both then go to the back. */
  #take(lanes: Lanes): Waiter | undefined {
    for (const [source, accounts] of lanes) {
      for (const [account, waiters] of accounts) {
        const w = waiters.shift()!;
        accounts.delete(account);
        if (waiters.length > 0) accounts.set(account, waiters);
        lanes.delete(source);
        if (accounts.size > 0) lanes.set(source, accounts);
        return w;
      }
    }
    return undefined;
  }

  /**
   * Makes room in a full queue for a login by refusing the latest
   * registration of the source with the most waiting. False when there is
   * none to refuse (or `ticket` is itself a registration).
   */
  #evictFor(ticket: HashTicket): boolean {
    if (ticket.kind !== "login") return false;
    let victim: Map<string, Waiter[]> | undefined;
    let victimSource = "";
    let most = 0;
    for (const [source, accounts] of this.#lanes.register) {
      const n = this.pending("register", source);
      if (n > most) [victim, victimSource, most] = [accounts, source, n];
    }
    if (!victim) return false;
    const [account, waiters] = [...victim].at(-1)!;
    const w = waiters.pop()!;
    if (waiters.length === 0) victim.delete(account);
    if (victim.size === 0) this.#lanes.register.delete(victimSource);
    this.#queued--;
    w.reject(new HashQueueFullError());
    return true;
  }
}

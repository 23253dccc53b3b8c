/**
 * The directory: who holds which name, and which names are reserved while
 * an account is being registered. The hub asks it before a name is taken
 * (409 for a name in use or one that looks like it) and tells it when a name
 * is taken or let go. {@linkcode LocalDirectory} keeps it in this process; a
 * clustered directory would keep the claims in a shared engine and hold only
 * this node's holders here.
 *
 * @module
 */

import { NameMap } from "../protocol/names.ts";

/** Options for {@linkcode Directory.acquire}. */
export interface AcquireOptions {
  /**
   * The name the asking holder has now: a look-alike of it is no conflict
   * (the claim moves to the new name). @default {null}
   */
  own?: string | null;
  /**
   * An account takes the name: an account whose name looks like another
   * account's (both registered before names were compared) may be online
   * beside it. @default {false}
   */
  account?: boolean;
}

/** Who holds which name. `H` is what holds a name (the hub's session). */
export interface Directory<H> {
  /** Names held now. */
  readonly size: number;
  /** The holder of a name, or undefined when nobody holds it. */
  get(name: string): H | undefined;
  /** Whether somebody holds a name. */
  has(name: string): boolean;
  /**
   * Takes a name for this node before it is claimed: in a cluster, across
   * every node (when any holds it or a name that looks like it: that name);
   * a local directory has nobody else to ask (true). Followed by
   * {@linkcode claim}, or {@linkcode abandon} if the name is not taken after all.
   */
  acquire(name: string, options?: AcquireOptions): true | Promise<true | string>;
  /**
   * The name held that `name` is or looks like, here or (in a cluster) on
   * any node; null when none is.
   */
  heldLike(name: string): string | null | Promise<string | null>;
  /** Gives back a name acquired and then not claimed. */
  abandon(name: string): void;
  /** Gives a name to a holder (replacing any other holder of it). */
  claim(name: string, holder: H): void;
  /**
   * Lets a name go if `holder` holds it; false when it held something else
   * or nothing. In a cluster, other nodes may take it once `settled` has
   * (what the holder left is stored).
   */
  release(name: string, holder: H, settled?: Promise<unknown>): boolean;
  /**
   * Resolves once every name let go so far is free for anyone to take: at
   * once here, and in a cluster once its claim is deleted.
   */
  settled(): Promise<void>;
  /** The names held, in the order they were taken. */
  keys(): IterableIterator<string>;
  /** The holders, in the order they took their names. */
  values(): IterableIterator<H>;
  /** Name and holder pairs, in the order the names were taken. */
  [Symbol.iterator](): IterableIterator<[string, H]>;
  /**
   * Reserves a name while its account is being registered: nobody may take
   * it meanwhile. True, or (in a cluster) the name another node holds or
   * reserves, the same or one that looks like it: then nothing is reserved.
   * `own`: the name the registering session holds now.
   */
  reserve(name: string, own?: string | null): true | Promise<true | string>;
  /** Ends a reservation; in a cluster, settles once every node may take the name. */
  unreserve(name: string): void | Promise<void>;
  /** Whether a name is reserved here. */
  isReserved(name: string): boolean;
  /** Whether a name is reserved here or (in a cluster) on another node. */
  reservedAnywhere(name: string): boolean | Promise<boolean>;
  /**
   * Why `name` cannot be taken by one holding `own` because it looks like a
   * name held by someone else or reserved, or null when nothing looks like it.
   */
  lookalike(name: string, own: string | null): string | null;
}

/** A {@linkcode Directory} for one process. */
export class LocalDirectory<H> implements Directory<H> {
  readonly #held = new NameMap<H>();
  readonly #reserved = new NameMap<true>();

  get size(): number {
    return this.#held.size;
  }

  get(name: string): H | undefined {
    return this.#held.get(name);
  }

  has(name: string): boolean {
    return this.#held.has(name);
  }

  acquire(_name: string, _options?: AcquireOptions): true | Promise<true | string> {
    return true;
  }

  heldLike(name: string): string | null | Promise<string | null> {
    return this.#held.has(name) ? name : this.#held.lookalike(name) ?? null;
  }

  abandon(_name: string): void {}

  claim(name: string, holder: H): void {
    this.#held.set(name, holder);
  }

  release(name: string, holder: H, _settled?: Promise<unknown>): boolean {
    if (this.#held.get(name) !== holder) return false;
    return this.#held.delete(name);
  }

  settled(): Promise<void> {
    return Promise.resolve();
  }

  keys(): IterableIterator<string> {
    return this.#held.keys();
  }

  values(): IterableIterator<H> {
    return this.#held.values();
  }

  [Symbol.iterator](): IterableIterator<[string, H]> {
    return this.#held.entries();
  }

  reserve(name: string, _own?: string | null): true | Promise<true | string> {
    this.#reserved.set(name, true);
    return true;
  }

  unreserve(name: string): void {
    this.#reserved.delete(name);
  }

  isReserved(name: string): boolean {
    return this.#reserved.has(name);
  }

  reservedAnywhere(name: string): boolean | Promise<boolean> {
    return this.#reserved.has(name);
  }

  lookalike(name: string, own: string | null): string | null {
    const held = this.#held.lookalike(name);
    if (held !== undefined && held !== own) return `it looks like ${held}, which is in use`;
    const reserved = this.#reserved.lookalike(name);
    if (reserved !== undefined) return `it looks like ${reserved}, which is being registered`;
    return null;
  }
}

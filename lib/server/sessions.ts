/**
 * The sessions of this node: one per connection, found by name through the
 * {@linkcode Directory}, and the one way a message is handed to one of them
 * (a direct message waits behind the session's offline mail while that goes
 * out; a room message is queued at once). The router delivers here.
 *
 * @module
 */

import type { Outgoing } from "../protocol/codec.ts";
import type { Directory } from "./directory.ts";
import type { LocalDelivery } from "./router.ts";

/** What the hub needs of a connection. */
export interface Peer {
  /** The source address, for per-address limits and logs. */
  readonly address: string;
  /** Queues an object; false when it was not queued (closed, or too slow and now closing). */
  send(message: Outgoing): boolean;
  /**
   * Resolves once everything queued so far (or up to `through`, when
   * given) is written; false if the peer closed first.
   */
  drain(through?: Outgoing): Promise<boolean>;
  /** Closes the connection after what is queued. */
  close(reason: string): void;
  /**
   * Closes at once: what is still queued goes back to the hub's `disconnect`
   * as unsent (for a peer too slow to keep up).
   */
  abort(reason: string): void;
  /**
   * Keeps an object back from the writer (it, and what is queued after it,
   * wait) until {@linkcode unpin}, while the copy that replaces it is made
   * durable: "pinned"; "writing" when its write has begun; "gone" when it
   * is written or the peer closed. `queued`: false for one not handed to
   * `send` yet, pinned for when it is.
   */
  pin(out: Outgoing, queued: boolean): Pin;
  /** Lets a pinned object go, replaced by `next` if it is still queued: true then. */
  unpin(out: Outgoing, next: Outgoing | null): boolean;
}

/** Where an object stands when {@linkcode Peer.pin} is asked to hold it back. */
export type Pin = "pinned" | "writing" | "gone";

/** One connection's state in the hub. */
export interface Session {
  readonly peer: Peer;
  /** The name it is known by: a guest name or an account; null before presence. */
  name: string | null;
  /** Whether `name` is an authenticated account. */
  account: boolean;
  status: string;
  /** When it took its name (ms since the epoch): the users online are listed in this order. */
  since: number;
  /** Rooms this session is in (for guests, the only record of membership). */
  readonly rooms: Set<string>;
  /**
   * Direct messages that arrived while its offline mail is being delivered,
   * held so that they follow that mail; null when none is being delivered.
   */
  held: Outgoing[] | null;
  /** A guest's contact list (an account's is in the store). */
  readonly contacts: Set<string>;
  /**
   * Someone's contact list has named it: the seed's probe is for checking
   * such clients (see serve.ts).
   */
  watched: boolean;
  /** It asked for the users online (`get_users`): it is told when they change (205). */
  watchesUsers: boolean;
  /** The public key it announced in its presence (the lessons' end-to-end encryption). */
  pubkey: string | null;
  /** Settles once its offline mail has gone out; null when none is being delivered. */
  delivering: Promise<void> | null;
  /** Mail was stored while its offline mail was going out: the mailbox is read once more. */
  recheck: boolean;
  /** The id of the last stored message written to its socket (0: none). */
  written: number;
  /** The id up to which the store was told the mail arrived. */
  acked: number;
  /** It asked for history: its messages carry ids, and it is told of topic changes. */
  ids: boolean;
  /** The names whose presence it asked to be told of (`contacts`); null when it never asked. */
  watching: Set<string> | null;
  /**
   * For an account that shows its presence to its contacts only: the names
   * on its contact list, who alone see it. Null: everyone sees it.
   */
  shownTo: Set<string> | null;
}

/** Options for {@linkcode Sessions}. */
export interface SessionsOptions {
  /** Who holds which name: how a session is found by name. */
  directory: Directory<Session>;
  /**
   * A session whose peer refused a message held for it (too slow): it is to
   * be let go, and `rest` (the held messages after the refused one, which the
   * peer kept with its unsent queue) kept for it.
   */
  dropped(session: Session, rest: Outgoing[]): void;
  /**
   * Direct messages held per session while its offline mail goes out; one
   * more drops the session. @default {1000}
   */
  heldMax?: number;
}

/** The sessions of this node, and how a message is handed to one. */
export class Sessions implements LocalDelivery<Session> {
  readonly #all = new Set<Session>();
  readonly #directory: Directory<Session>;
  readonly #dropped: (session: Session, rest: Outgoing[]) => void;
  readonly #heldMax: number;

  constructor(options: SessionsOptions) {
    this.#directory = options.directory;
    this.#dropped = options.dropped;
    this.#heldMax = options.heldMax ?? 1000;
  }

  /** Sessions open, named or not. */
  get size(): number {
    return this.#all.size;
  }

  /** A new session for a connection. */
  open(peer: Peer): Session {
    const session: Session = {
      peer,
      name: null,
      account: false,
      status: "",
      since: 0,
      rooms: new Set(),
      held: null,
      contacts: new Set(),
      watched: false,
      watchesUsers: false,
      pubkey: null,
      delivering: null,
      recheck: false,
      written: 0,
      acked: 0,
      ids: false,
      watching: null,
      shownTo: null,
    };
    this.#all.add(session);
    return session;
  }

  /** Whether a session is still open (not yet closed by its connection). */
  has(session: Session): boolean {
    return this.#all.has(session);
  }

  /**
   * Forgets a session. Returns the direct messages held for it (behind its
   * offline mail), which never reached it; null when it was not open.
   */
  close(session: Session): Outgoing[] | null {
    if (!this.#all.delete(session)) return null;
    const held = session.held ?? [];
    session.held = null;
    return held;
  }

  /** The session here holding a name, if any. */
  named(name: string): Session | undefined {
    return this.#directory.get(name);
  }

  /**
   * Hands a direct message to a session: behind its offline mail while that
   * goes out, else into its queue.
   */
  direct(session: Session, out: Outgoing): void {
    if (session.held) {
      // Held behind its offline mail. So many that it is not keeping up:
      // drop it; its queue and what is held go to the store, in order.
      session.held.push(out);
      if (session.held.length > this.#heldMax) session.peer.abort("too slow to take its messages");
    } else {
      // A reader too slow to take it is disconnected; its queue, this
      // message included, goes to the offline store (see Hub.disconnect).
      session.peer.send(out);
    }
  }

  /**
   * Keeps a direct message handed to a session from being written until
   * {@linkcode restamp} (see {@linkcode Peer.pin}); "gone" once the session
   * has closed.
   */
  pin(session: Session, out: Outgoing): Pin {
    if (!this.#all.has(session)) return "gone";
    // Held behind its offline mail: pinned for when it is queued.
    if (session.held?.includes(out)) return session.peer.pin(out, false);
    return session.peer.pin(out, true);
  }

  /**
   * Lets a pinned direct message go, replaced by `next` where it waits
   * (held, or queued): true when it was replaced, false when the session
   * closed meanwhile (it went with what the connection left unsent).
   */
  restamp(session: Session, out: Outgoing, next: Outgoing): boolean {
    const i = session.held?.indexOf(out) ?? -1;
    if (i < 0) return session.peer.unpin(out, next);
    session.held![i] = next;
    session.peer.unpin(out, null);
    return true;
  }

  /** Hands a room message to a session: queued at once. */
  room(session: Session, out: Outgoing): void {
    session.peer.send(out);
  }

  /**
   * Sends a session's offline mail (`send`) once the current turn is over,
   * so after the answer queued in it; direct messages that arrive meanwhile
   * are held and follow that mail, in order. Its later answers wait on
   * `session.delivering`. `send(again)` is called once more (`again`: true)
   * for each {@linkcode recheck} that came while it ran.
   */
  holdWhile(session: Session, send: (again: boolean) => Promise<void>): void {
    session.held = [];
    session.recheck = false;
    let done!: () => void;
    session.delivering = new Promise<void>((resolve) => done = resolve);
    setTimeout(() => void this.#sendThenRelease(session, send).finally(done), 0);
  }

  /**
   * Mail was stored for a session that may have read its mailbox before it
   * was in: `send(true)` once more, after the round under way or in a new
   * one (direct messages wait behind it, as at login).
   */
  recheck(session: Session, send: (again: boolean) => Promise<void>): void {
    if (session.delivering) session.recheck = true;
    else this.holdWhile(session, send);
  }

  async #sendThenRelease(
    session: Session,
    send: (again: boolean) => Promise<void>,
  ): Promise<void> {
    try {
      await send(false);
      // Checked in the same turn as the end below: a recheck after this
      // finds the session idle and starts a new round.
      while (session.recheck) {
        session.recheck = false;
        await send(true);
      }
    } finally {
      session.delivering = null;
      // What came in meanwhile follows the stored mail, in order.
      const held = session.held ?? [];
      session.held = null;
      for (let i = 0; i < held.length; i++) {
        if (session.peer.send(held[i]!)) continue;
        // Too slow: the peer kept this one with its unsent queue; the rest
        // go to the offline store after it.
        this.#dropped(session, held.slice(i + 1));
        break;
      }
    }
  }
}

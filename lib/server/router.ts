/**
 * The router: how a direct or room message reaches its recipients. The hub
 * checks the request (who may send what where), builds the message once, and
 * hands it here. {@linkcode LocalRouter} delivers to the sessions of this
 * process; a clustered router would deliver here first and then to the nodes
 * that hold the other recipients.
 *
 * @module
 */

import type { Outgoing } from "../protocol/codec.ts";
import type { Directory } from "./directory.ts";

/**
 * The form of a message one recipient gets (say, with its history id when
 * it asked for ids), built by the hub once the recipient is found.
 */
export type FormFor<S> = (recipient: S) => Outgoing;

/**
 * Where a direct message stands among its sender's, for the node that
 * delivers it: a sender's messages to one name keep their order while the
 * recipient moves between nodes (see Messaging).
 */
export interface DirectOrder {
  /** The sending session, unique across the cluster. */
  sender: string;
  /** The message's number among its sender's. */
  seq: number;
  /** The number of the sender's last one to the same name, while its outcome is not known. */
  after?: number;
}

/** How direct and room messages reach their recipients (`S`: a recipient's session). */
export interface Router<S> {
  /**
   * Delivers a direct message to whoever holds `to` (`formFor` picks the form
   * a session here gets; another node gets `out`); false when nobody does
   * (offline); "again" when the node holding it did not have the message
   * `order.after` (it is to be sent again once that one is settled).
   */
  direct(
    to: string,
    out: Outgoing,
    formFor: FormFor<S>,
    order?: DirectOrder,
  ): boolean | Promise<boolean | "again">;
  /**
   * Delivers a room message to every member but the sender (`members`: those
   * this node knows); members offline get nothing. `historyId`: its id in
   * the room's history, for other nodes' members that asked for ids.
   */
  room(
    room: string,
    members: Iterable<string>,
    from: string,
    out: Outgoing,
    formFor: FormFor<S>,
    historyId?: number,
  ): void;
  /**
   * This node has members in a room now (`true`), or none any more. What it
   * returns settles once messages sent to the room elsewhere reach this node.
   */
  watchRoom(room: string, watch: boolean): Promise<void> | void;
}

/** How a message is handed to a session of this process. */
export interface LocalDelivery<S> {
  /** A direct message: it may have to wait behind the session's offline mail. */
  direct(session: S, out: Outgoing): void;
  /** A room message: queued at once. */
  room(session: S, out: Outgoing): void;
}

/** Options for {@linkcode LocalRouter}. */
export interface LocalRouterOptions<S> {
  /** Who holds which name here. */
  directory: Directory<S>;
  /** How to hand a message to a session here. */
  delivery: LocalDelivery<S>;
}

/** A {@linkcode Router} for one process: every recipient is a local session. */
export class LocalRouter<S> implements Router<S> {
  readonly #directory: Directory<S>;
  readonly #delivery: LocalDelivery<S>;

  constructor(options: LocalRouterOptions<S>) {
    this.#directory = options.directory;
    this.#delivery = options.delivery;
  }

  direct(to: string, _out: Outgoing, formFor: FormFor<S>): boolean {
    const target = this.#directory.get(to);
    if (target === undefined) return false;
    this.#delivery.direct(target, formFor(target));
    return true;
  }

  room(
    _room: string,
    members: Iterable<string>,
    from: string,
    _out: Outgoing,
    formFor: FormFor<S>,
  ): void {
    for (const member of members) {
      if (member === from) continue;
      const target = this.#directory.get(member);
      if (target !== undefined) this.#delivery.room(target, formFor(target));
    }
  }

  watchRoom(_room: string, _watch: boolean): void {}
}

/**
 * The rooms this node knows: each room's members (accounts, kept in the
 * store, and online guests), which rooms the store keeps, and their topics.
 * Rooms, messaging (who gets a room message) and identity (a guest's rooms
 * become its account's at login) all read it; membership changes made here
 * are told to the router (which rooms to watch) and, in a cluster, to the
 * other nodes.
 *
 * @module
 */

import { NameMap } from "../protocol/names.ts";
import type { RoomLimits, Store } from "../store/store.ts";
import type { Cluster } from "./cluster.ts";
import type { Router } from "./router.ts";

/** Options for {@linkcode RoomState}. */
export interface RoomStateOptions {
  /** Told when this node has members in a room, or none any more. */
  router: Pick<Router<unknown>, "watchRoom">;
  /** The other nodes, told of joins and leaves here; null for a single server. */
  cluster: Pick<Cluster, "publishMember" | "dropRoom"> | null;
  /** Where a guests' room's history is dropped when the room goes. */
  store: Pick<Store, "dropHistory">;
  /** Messages kept per room (0: no history to drop). */
  roomHistory: number;
  /** Where to write log lines. */
  log: (line: string) => void;
}

/** Room members, kept rooms and topics. */
export class RoomState {
  readonly #router: RoomStateOptions["router"];
  readonly #cluster: RoomStateOptions["cluster"];
  readonly #store: RoomStateOptions["store"];
  readonly #roomHistory: number;
  readonly #log: (line: string) => void;
  /** Room name → member names (persistent account members and online guests). */
  readonly #rooms = new NameMap<Set<string>>();
  /**
   * Rooms the store keeps (an account has been a member): they live on when
   * empty. A room only guests were ever in is gone with its last guest.
   */
  readonly #persistent = new Set<string>();
  /** Room name → topic (rooms without one are absent). */
  readonly #topics = new Map<string, string>();
  /** Rooms being dropped (their key across the cluster, their history), until done. */
  readonly #dropping = new Set<Promise<unknown>>();

  constructor(options: RoomStateOptions) {
    this.#router = options.router;
    this.#cluster = options.cluster;
    this.#store = options.store;
    this.#roomHistory = options.roomHistory;
    this.#log = options.log;
  }

  /**
   * Loads the rooms the store keeps, their account members and topics.
   * Memberships beyond the caps (stored before they existed, or under larger
   * ones) stay on disk but are not loaded.
   */
  async load(store: Store, limits: Required<RoomLimits>): Promise<void> {
    for (const { room, account } of await store.listRoomMemberships(limits)) {
      this.members(room, true).add(account);
    }
    // Rooms live on when empty: every room the store knows exists, within the cap.
    for (const { name, topic } of await store.listRooms()) {
      if (!this.#rooms.has(name)) {
        if (this.#rooms.size >= limits.rooms) continue;
        this.members(name, true);
      }
      this.#persistent.add(name);
      if (topic !== "") this.#topics.set(name, topic);
    }
  }

  /** Rooms known. */
  get size(): number {
    return this.#rooms.size;
  }

  /** A room's members, or undefined for no such room. */
  get(room: string): Set<string> | undefined {
    return this.#rooms.get(room);
  }

  /** Whether a room exists. */
  has(room: string): boolean {
    return this.#rooms.has(room);
  }

  /** A room that `room` looks like (not itself), if any. */
  lookalike(room: string): string | undefined {
    return this.#rooms.lookalike(room);
  }

  /** Rooms and their members, in the order the rooms were made. */
  entries(): IterableIterator<[string, Set<string>]> {
    return this.#rooms.entries();
  }

  /** Each room's members, in the order the rooms were made. */
  values(): IterableIterator<Set<string>> {
    return this.#rooms.values();
  }

  /** A room's members; with `create`, the room is made (and watched) if it is not there. */
  members(room: string, create: boolean): Set<string> {
    let members = this.#rooms.get(room);
    if (!members && create) {
      members = new Set();
      this.#rooms.set(room, members);
      this.#router.watchRoom(room, true);
    }
    return members ?? new Set();
  }

  /** Tells the other nodes that a member here joined or left (`account`: it is kept). */
  tell(room: string, name: string, joined: boolean, account: boolean): void {
    this.#cluster?.publishMember(room, name, joined, account);
  }

  /**
   * Removes a member. A room an account has been in lives on when empty; a
   * guests' room is gone with its last member, and so is its history (the
   * next room of that name is someone else's). `here` is false for a member
   * another node saw leave: that node has told the cluster. True when the
   * room is gone.
   */
  removeMember(room: string, name: string, here = true): boolean {
    const members = this.#rooms.get(room);
    if (!members) return false;
    // `here`: the member left on this node, which tells the others (and drops what is shared).
    if (members.delete(name) && here) this.#cluster?.publishMember(room, name, false, false);
    if (members.size > 0 || this.#persistent.has(room)) return false;
    this.#rooms.delete(room);
    this.#router.watchRoom(room, false);
    this.#topics.delete(room);
    if (!here) return true;
    const drops: Promise<unknown>[] = [];
    if (this.#cluster) drops.push(this.#cluster.dropRoom(room));
    if (this.#roomHistory > 0) {
      drops.push(
        this.#store.dropHistory(room).catch((e) =>
          this.#log(`cannot drop the history of ${room}: ${e}`)
        ),
      );
    }
    const dropping = Promise.all(drops);
    this.#dropping.add(dropping);
    void dropping.then(() => this.#dropping.delete(dropping));
    return true;
  }

  /**
   * Settles once the rooms dropped so far are gone from the cluster and
   * their history from the store, so that a leave answered after it leaves
   * the next join anywhere a fresh room.
   */
  async dropped(): Promise<void> {
    if (this.#dropping.size > 0) await Promise.all([...this.#dropping]);
  }

  /**
   * A room being dropped by this node for nodes that are gone (their guests
   * were its last members): {@linkcode RoomState.dropped} waits for it too.
   */
  dropping(done: Promise<unknown>): void {
    this.#dropping.add(done);
    void done.then(() => this.#dropping.delete(done));
  }

  /** Whether the store keeps a room (it lives on when empty). */
  isKept(room: string): boolean {
    return this.#persistent.has(room);
  }

  /** The store keeps a room from now on. */
  keep(room: string): void {
    this.#persistent.add(room);
  }

  /** A room's topic, or undefined when it has none. */
  topic(room: string): string | undefined {
    return this.#topics.get(room);
  }

  /** Sets a room's topic ("" clears it). */
  setTopic(room: string, topic: string): void {
    if (topic === "") this.#topics.delete(room);
    else this.#topics.set(room, topic);
  }

  /**
   * The rooms (of `rooms`, a guest's) that become the account `name`'s when
   * it logs in: those the account is in already, and others in order while
   * the account stays within `maxRoomsPerUser`.
   */
  toCarry(rooms: Iterable<string>, name: string, maxRoomsPerUser: number): string[] {
    let own = 0;
    for (const members of this.#rooms.values()) if (members.has(name)) own++;
    let budget = maxRoomsPerUser - own;
    const carried: string[] = [];
    for (const room of rooms) {
      if (this.#rooms.get(room)?.has(name)) carried.push(room);
      else if (budget-- > 0) carried.push(room);
    }
    return carried;
  }
}

/**
 * The hub: the composition of the server's parts. It builds the directory
 * (who holds which name), the sessions of this node (and the one local
 * delivery path), the router, room state, history and presence watchers,
 * and the handler modules (identity, messaging, rooms, contacts), each given
 * only the parts it needs; it owns the table of handlers per action, the
 * life of a session (`connect`, `handle`, `disconnect`) and the entry points
 * of administration. It takes validated requests from a {@linkcode Peer} and
 * never sees a socket.
 *
 * @module
 */

import { Outgoing } from "../protocol/codec.ts";
import { type DeliveredMsg, type Request, type Response, response } from "../protocol/messages.ts";
import type { Store } from "../store/store.ts";
import {
  type AdminDisconnect,
  type Cluster,
  ClusterDirectory,
  ClusterRouter,
  type NodeStats,
  type RoomSnapshot,
} from "./cluster.ts";
import { type Directory, LocalDirectory } from "./directory.ts";
import type { Handler, Handlers, HubSettings } from "./handlers/context.ts";
import { contactHandlers } from "./handlers/contacts.ts";
import { Identity } from "./handlers/identity.ts";
import { Messaging } from "./handlers/messaging.ts";
import { roomHandlers, tellTopic } from "./handlers/rooms.ts";
import { History } from "./history.ts";
import { Presence, shows } from "./presence.ts";
import { RoomState } from "./room_state.ts";
import { LocalRouter, type Router } from "./router.ts";
import { type Peer, type Session, Sessions } from "./sessions.ts";

export type { Peer, Pin, Session } from "./sessions.ts";

/** What `jim admin rooms` lists of one room. */
export interface RoomSummary {
  name: string;
  topic: string;
  /** Members: accounts (online or not) and online guests. */
  members: string[];
  /** Messages kept in its history. */
  messages: number;
}

/** Options for {@linkcode Hub.create}. */
export interface HubOptions {
  store: Store;
  settings: HubSettings;
  /** Where to write log lines. */
  log?: (line: string) => void;
  /** Other nodes to act as one server with (`--cluster`); none by default. */
  cluster?: Cluster;
}

/** The parts of one server, wired together, and the handler table. */
export class Hub {
  readonly #store: Store;
  readonly #settings: HubOptions["settings"];
  readonly #log: (line: string) => void;
  /** Who holds which name (guests and accounts share one namespace), and names being registered. */
  readonly #directory: Directory<Session>;
  /** How direct and room messages reach their recipients. */
  readonly #router: Router<Session>;
  /** The other nodes (`--cluster`), or null for a single server. */
  readonly #cluster: Cluster | null;
  /** Room members, kept rooms and topics. */
  readonly #rooms: RoomState;
  /** Kept messages (room and direct history). */
  readonly #history: History;
  /** The sessions of this node, and the one way to hand a message to one. */
  readonly #sessions: Sessions;
  /** Who is told of whose presence. */
  readonly #presence: Presence;
  /** Direct messages and offline mail. */
  readonly #messaging: Messaging;
  /** Names, logins, accounts and keys. */
  readonly #identity: Identity;
  /** Messages from other nodes waiting for their history id before they are handed, by session. */
  readonly #handing = new WeakMap<Session, Set<Promise<unknown>>>();

  private constructor(options: HubOptions) {
    this.#cluster = options.cluster ?? null;
    const cluster = options.cluster;
    this.#directory = cluster
      ? new ClusterDirectory<Session>(cluster)
      : new LocalDirectory<Session>();
    this.#presence = new Presence(this.#directory, this.#cluster);
    const delivery = this.#sessions = new Sessions({
      directory: this.#directory,
      dropped: (session, rest) => void this.disconnect(session, rest),
    });
    if (cluster) {
      this.#router = new ClusterRouter<Session>({
        cluster,
        directory: this.#directory,
        delivery,
        isGuest: (out) => this.#messaging.isGuest(out),
      });
      cluster.serve({
        direct: (to, message, guest, order) => {
          const target = this.#directory.get(to);
          if (!target) return false;
          // It follows one of its sender's that went elsewhere: it waits for that one.
          if (order !== undefined && !this.#messaging.inOrder(target, order)) return "again";
          // A msg another node built (and checked) for this name. With its
          // history id when the sender's node kept it (its recipient was
          // there when it was sent).
          const sent = message as unknown as DeliveredMsg;
          const withId = sent.history_id !== undefined;
          let form = sent;
          if (withId && !target.ids) {
            form = { ...sent };
            delete form.history_id;
          }
          const received = this.#messaging.received(form, guest);
          // Else kept by the recipient's node, with the id the store
          // assigns: queued once it has it.
          const keeping = this.#history.shared && !withId
            ? this.#messaging.keepReceived(received, guest, target)
            : null;
          if (keeping === null) this.#sessions.direct(target, received);
          // Handed to the session once it has its id; if the session left
          // meanwhile, kept with what it left unsent, before its name is let
          // go (see disconnect), so that it precedes what is sent after.
          const handed = keeping?.then(async (done) => {
            const out = done.out as Outgoing<DeliveredMsg>;
            if (this.#sessions.has(target)) this.#sessions.direct(target, out);
            else await this.#keepLeft(target, [out]);
            return out;
          });
          if (handed) this.#receiving(target, handed);
          return {
            stalled: this.#messaging.stalled(target),
            // Answered once written to the socket (or, for a connection that
            // closed first, kept with its unsent messages): a node killed
            // after answering 200 has delivered it. A kept one also once its
            // history is committed, as a message sent here is.
            written: (async () => {
              let kept: Promise<void> = Promise.resolve();
              if (keeping !== null) {
                kept = (await keeping).kept;
                await handed;
              }
              if (target.delivering) await target.delivering;
              await target.peer.drain();
              await kept;
              return true;
            })(),
            // Or, not written within the hold, once it is in the mailbox.
            keep: () =>
              (handed ?? Promise.resolve(received)).then(
                (out) => this.#messaging.holdReceived(target, out),
                () => false,
              ),
          };
        },
        mail: (name) => {
          if (this.#directory.get(name)?.account) this.#messaging.mailStored(name);
        },
        whois: (name, viewer) => {
          const target = this.#directory.get(name);
          return target && shows(target, viewer) ? { status: target.status } : null;
        },
        lost: (name) => {
          // Another node holds the name now: whoever holds it here must go.
          this.kick(name, `${name} is connected elsewhere now`);
        },
        member: (room, name, joined, account) => {
          // Kept in step with the other nodes: who, 201 and the caps see every member.
          if (!joined) return this.#rooms.removeMember(room, name, false);
          this.#rooms.members(room, true).add(name);
          if (account) this.#rooms.keep(room);
        },
        topic: (room, topic, from, own) => {
          const members = this.#rooms.get(room);
          if (!members) return;
          this.#rooms.setTopic(room, topic);
          // This node told its own members when the change was made.
          if (!own) tellTopic(this.#directory, { members, room, topic, from, setter: null });
        },
        gone: (members, since) => {
          const emptied = new Set<string>();
          for (const { room, name } of members) {
            // Back here under its name, and in the room again: it stays.
            if (this.#directory.get(name)?.rooms.has(room)) continue;
            if (this.#rooms.removeMember(room, name, false)) emptied.add(room);
          }
          for (const room of emptied) {
            this.#rooms.dropping(this.#dropOrphanRoom(cluster, room, since));
          }
        },
        snapshot: () => this.#roomSnapshot(),
        presence: (change) => this.#presence.changedElsewhere(change),
        usersChanged: () => this.#presence.usersChanged(true),
        online: (viewer) => this.#presence.visibleHere(viewer),
        watched: (name) => {
          const target = this.#directory.get(name);
          if (target) target.watched = true;
        },
        pubkey: (name) => {
          const target = this.#directory.get(name);
          return target ? { key: target.pubkey, account: target.account } : null;
        },
        admin: (name, command) => this.#disconnectHere(name, command),
        stats: () => ({ connections: this.#sessions.size, ...this.stats() }),
        room: (room, from, message, historyId) => {
          const members = this.#rooms.get(room);
          if (!members) return;
          const out = new Outgoing(message);
          // Members here that asked for history get its id, as on the sender's node.
          let withId: Outgoing | null = null;
          for (const member of members) {
            if (member === from) continue;
            const target = this.#directory.get(member);
            if (!target) continue;
            const form = historyId !== undefined && target.ids
              ? withId ??= new Outgoing({ ...message, history_id: historyId })
              : out;
            this.#sessions.room(target, form);
          }
        },
      });
    } else {
      this.#router = new LocalRouter<Session>({ directory: this.#directory, delivery });
    }
    this.#store = options.store;
    this.#settings = options.settings;
    this.#log = options.log ?? (() => {});
    this.#rooms = new RoomState({
      router: this.#router,
      cluster: this.#cluster,
      store: this.#store,
      roomHistory: this.#settings.roomHistory,
      log: this.#log,
    });
    this.#history = new History({
      store: this.#store,
      historyAgeMs: this.#settings.historyAgeMs,
      log: this.#log,
      shared: cluster !== undefined,
      ...(cluster ? { caughtUp: () => cluster.caughtUp() } : {}),
    });
    this.#messaging = new Messaging({
      store: this.#store,
      settings: this.#settings,
      directory: this.#directory,
      router: this.#router,
      sessions: this.#sessions,
      cluster: this.#cluster,
      rooms: this.#rooms,
      history: this.#history,
      log: this.#log,
    });
    this.#identity = new Identity({
      store: this.#store,
      settings: this.#settings,
      directory: this.#directory,
      sessions: this.#sessions,
      presence: this.#presence,
      rooms: this.#rooms,
      mail: this.#messaging,
      cluster: this.#cluster,
      log: this.#log,
    });
    this.#handlers = this.#table();
  }

  /** Creates a hub and loads the persistent room memberships. */
  static async create(options: HubOptions): Promise<Hub> {
    const hub = new Hub(options);
    await hub.#rooms.load(options.store, {
      perAccount: options.settings.maxRoomsPerUser,
      rooms: options.settings.maxRooms,
    });
    await hub.#history.load();
    // Guests online on other nodes are in no store: ask those nodes.
    await options.cluster?.sync();
    return hub;
  }

  /** Each room's topic and members online here, for other nodes (see `Cluster.sync`). */
  #roomSnapshot(): RoomSnapshot[] {
    const snapshot: RoomSnapshot[] = [];
    for (const [room, members] of this.#rooms.entries()) {
      const guests: string[] = [];
      const accounts: string[] = [];
      for (const member of members) {
        const session = this.#directory.get(member);
        if (session?.rooms.has(room)) (session.account ? accounts : guests).push(member);
      }
      const topic = this.#rooms.topic(room) ?? "";
      if (guests.length > 0 || accounts.length > 0 || topic !== "") {
        snapshot.push({ room, topic, guests, accounts });
      }
    }
    return snapshot;
  }

  /** A guests' room whose members all died with their nodes: freed across the cluster. */
  async #dropOrphanRoom(cluster: Cluster, room: string, since: number): Promise<void> {
    try {
      if (!await cluster.dropOrphanRoom(room, since)) return;
      if (this.#settings.roomHistory > 0) await this.#store.dropHistory(room);
    } catch (e) {
      this.#log(`cannot drop the room ${room} of a node that is gone: ${e}`);
    }
  }

  /** Connected sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Stops for shutdown: logins and registrations waiting for a hash are
   * refused (503) at once, as are later ones, and those hashing now neither
   * create an account nor log in when they finish.
   */
  stop(): void {
    this.#identity.stop();
  }

  /** Registers a new connection. */
  connect(peer: Peer): Session {
    return this.#sessions.open(peer);
  }

  /**
   * Forgets a closing connection. `unsent` holds what its queue still had:
   * the direct messages among them go to the offline store if it is an
   * account. A connection may call again with what it failed to write later.
   * Resolves once that is stored and the name is free on every node.
   */
  async disconnect(session: Session, unsent: readonly Outgoing[] = []): Promise<void> {
    const name = session.name;
    // Called again later for a session that has left, it only keeps what
    // its closing connection could not write in the end.
    const held = this.#sessions.close(session);
    if (held !== null && held.length > 0) unsent = [...unsent, ...held];
    // Enqueued now, in order, before any later message to this name can be
    // (those go to the store too, now that the name is offline).
    const kept = this.#keepLeft(session, unsent);
    let freed: Promise<void> | null = null;
    if (held !== null) {
      this.#presence.forget(session);
      // In a cluster, another node may take the name (and read its mailbox)
      // once what this session left is stored and its acknowledgements done,
      // and its offline told (below). Messages from other nodes still taking
      // their history id when it left are kept too (see the cluster's
      // direct) before that.
      let told: (offline: Promise<void> | null) => void = () => {};
      const settled = name !== null && session.account
        ? Promise.all([
          kept,
          this.#messaging.acknowledged(name),
          this.#messaging.holding(name),
          new Promise<Promise<void> | null>((resolve) => told = resolve),
          this.#received(session),
        ])
        : undefined;
      if (name !== null && this.#directory.release(name, session, settled)) {
        freed = this.#directory.settled();
        this.#presence.usersChanged();
        const now = Date.now();
        const seen = session.account
          ? this.#store.setLastSeen(name, now).catch((e) =>
            this.#log(`cannot record when ${name} was last seen: ${e}`)
          )
          : null;
        // A watcher on another node may ask for its contacts as soon as it
        // is told, and reads the store there: told once the time is in it.
        // The name is let go only after that, so that a login on another
        // node is told after it, and its watchers end seeing it online.
        if (seen && this.#cluster) {
          // Unless it is back here meanwhile (then its login was told).
          told(seen.then(() => {
            if (!this.#directory.has(name)) this.#presence.announce(name, session, now);
          }));
        } else {
          this.#presence.announce(name, session, now);
        }
      }
      told(null);
      if (name !== null && !session.account) {
        for (const room of session.rooms) this.#rooms.removeMember(room, name);
      }
    }
    await kept;
    await freed;
  }

  /**
   * Keeps for an account's session that has left the direct messages it
   * could not take (`unsent`), in order; null when there is nowhere to keep
   * them (a guest, or no offline store).
   */
  #keepLeft(session: Session, unsent: readonly Outgoing[]): Promise<void> | null {
    const name = session.name;
    if (name === null || !session.account || !this.#settings.offlineStore) return null;
    return this.#messaging.keepUnsent(name, unsent);
  }

  /** Notes a message from another node being handed to `session` until `handed` settles. */
  #receiving(session: Session, handed: Promise<unknown>): void {
    let pending = this.#handing.get(session);
    if (!pending) this.#handing.set(session, pending = new Set());
    pending.add(handed);
    // A failure is the answer's to report (see the cluster's direct).
    const done = () => void pending.delete(handed);
    handed.then(done, done);
  }

  /** Settles once the messages from other nodes being handed to `session` now are handed or kept. */
  #received(session: Session): Promise<unknown> {
    const pending = this.#handing.get(session);
    return pending && pending.size > 0 ? Promise.allSettled(pending) : Promise.resolve();
  }

  /**
   * Disconnects every session holding a blocked account's name (`jim admin
   * block` may have changed the store from another process): the account's
   * own, and a guest that held the name before it was registered (or
   * registered it itself without logging in). Returns their names.
   */
  async enforceBlocks(): Promise<string[]> {
    const kicked: string[] = [];
    for (const name of await this.#store.listBlocked()) {
      if (this.#disconnectHere(name, "block")) kicked.push(name);
    }
    return kicked;
  }

  // -- live administration (the admin socket) --

  /**
   * Disconnects the session of this node holding `name` for `jim admin`, with
   * a 101 notice: for `logout-all` and `reset-password` only an account's.
   * False when there is none.
   */
  #disconnectHere(name: string, command: AdminDisconnect): boolean {
    const session = this.#directory.get(name);
    if (!session) return false;
    if (!session.account && (command === "logout-all" || command === "reset-password")) {
      return false;
    }
    const reason = {
      "block": `account ${name} is blocked`,
      "kick": "disconnected by an administrator",
      "logout-all": "logged out by an administrator",
      "reset-password": "password reset by an administrator",
    }[command];
    this.#log(`disconnecting ${name}: ${command === "block" ? "account blocked" : reason}`);
    session.peer.send(new Outgoing(response(101, reason)));
    session.peer.close(command === "block" ? "account blocked" : reason);
    return true;
  }

  /**
   * Disconnects `name` for `jim admin` on whichever node holds it: here, or
   * (in a cluster) on the node that answers its subject. True when one did.
   */
  async #disconnect(name: string, command: AdminDisconnect): Promise<boolean> {
    if (this.#disconnectHere(name, command)) return true;
    if (this.#cluster === null) return false;
    try {
      return await this.#cluster.adminDisconnect(name, command);
    } catch (e) {
      // What the command wrote is in the store; only the disconnect failed.
      throw new Error(
        `Cannot disconnect ${name} on the other nodes: ${e instanceof Error ? e.message : e}`,
      );
    }
  }

  /**
   * Blocks an account and disconnects whoever holds its name now, on any
   * node, instead of at the next `--block-check`. False when there is no
   * such account.
   */
  async block(name: string): Promise<boolean> {
    if (!(await this.#store.setBlocked(name, true))) return false;
    await this.#disconnect(name, "block");
    // Any other blocked name a process without the socket blocked, here.
    await this.enforceBlocks();
    return true;
  }

  /** Unblocks an account; false when there is no such account. */
  unblock(name: string): Promise<boolean> {
    return this.#store.setBlocked(name, false);
  }

  /**
   * Disconnects the session holding a name, on any node, with a 101 notice;
   * false when nobody holds it.
   */
  adminKick(name: string): Promise<boolean> {
    return this.#disconnect(name, "kick");
  }

  /** Disconnects the session of this node holding a name, with a 101 notice; false when none. */
  kick(name: string, reason = "disconnected by an administrator"): boolean {
    const session = this.#directory.get(name);
    if (!session) return false;
    this.#log(`disconnecting ${name}: ${reason}`);
    session.peer.send(new Outgoing(response(101, reason)));
    session.peer.close(reason);
    return true;
  }

  /**
   * Revokes every session token of an account and disconnects it if online,
   * on any node. Resolves to the number of tokens revoked, or null for no
   * such account.
   */
  async logoutAll(name: string): Promise<number | null> {
    if (!(await this.#store.getAccount(name))) return null;
    const revoked = await this.#store.revokeTokens(name);
    await this.#disconnect(name, "logout-all");
    return revoked;
  }

  /**
   * Sets an account's password (revoking its tokens) and disconnects it if
   * online, on any node; false when there is no such account.
   */
  async resetPassword(name: string, password: string): Promise<boolean> {
    const hash = await this.#identity.adminHash(name, password);
    if (!(await this.#store.setPassword(name, hash))) return false;
    await this.#disconnect(name, "reset-password");
    return true;
  }

  /** The other nodes' counts for `jim admin stats` (none for a single server). */
  otherNodesStats(): Promise<NodeStats[]> {
    return this.#cluster?.stats() ?? Promise.resolve([]);
  }

  /** Counts for `jim admin stats`. */
  stats(): { online: number; accounts: number; guests: number; rooms: number } {
    let accounts = 0;
    for (const session of this.#directory.values()) if (session.account) accounts++;
    return {
      online: this.#directory.size,
      accounts,
      guests: this.#directory.size - accounts,
      rooms: this.#rooms.size,
    };
  }

  /**
   * Records that a request (or a `quit`) was read from this session: the
   * stored mail written to it before then has arrived, so the store drops it.
   */
  acknowledge(session: Session): void {
    this.#messaging.acknowledge(session);
  }

  /**
   * Answers one request (all but `quit`, which the connection handles).
   * While the session's offline mail goes out, the answer waits for it, so
   * that a client knows, on the answer to any request sent after logging in,
   * that it has all of its mail.
   */
  handle(session: Session, request: Request): Response | Promise<Response> {
    const delivering = session.delivering;
    if (delivering) return delivering.then(() => this.#handle(session, request));
    return this.#handle(session, request);
  }

  #handle(session: Session, request: Request): Response | Promise<Response> {
    // The table holds, for each action, a handler of that action's request.
    const handler = this.#handlers[request.action] as Handler<Request["action"]>;
    return handler(session, request);
  }

  /**
   * One small handler per action, by area. The mapped type makes a missing
   * action a type error.
   */
  readonly #handlers: Handlers;

  /** The table: each area's handlers, given the parts they need. */
  #table(): Handlers {
    return {
      // -- identity --
      ...this.#identity.handlers,
      // -- messaging --
      ...this.#messaging.handlers,
      // -- rooms, topics and history --
      ...roomHandlers({
        store: this.#store,
        settings: this.#settings,
        directory: this.#directory,
        router: this.#router,
        sessions: this.#sessions,
        presence: this.#presence,
        rooms: this.#rooms,
        history: this.#history,
        cluster: this.#cluster,
      }),
      // -- contacts and users --
      ...contactHandlers({
        store: this.#store,
        settings: this.#settings,
        directory: this.#directory,
        sessions: this.#sessions,
        presence: this.#presence,
        cluster: this.#cluster,
      }),
      quit: () => response(200),
    };
  }

  /** Every room with its members and kept messages, for `jim admin rooms`. */
  async rooms(): Promise<RoomSummary[]> {
    const counts = await this.#store.countRoomHistory();
    return [...this.#rooms.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map((
      [name, members],
    ) => ({
      name,
      topic: this.#rooms.topic(name) ?? "",
      members: [...members].sort(),
      messages: counts.get(name) ?? 0,
    }));
  }

  /** Drops kept messages past the age limit (`--history-age`); resolves to how many. */
  pruneHistory(): Promise<number> {
    return this.#history.prune();
  }
}

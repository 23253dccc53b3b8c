/**
 * The hub: who is online, rooms, and delivery. It takes validated requests
 * from a {@linkcode Peer} and answers them; it never sees a socket, so it can
 * be driven by anything that implements the narrow peer interface.
 *
 * @module
 */

import { dummyVerify, hashPassword, verifyPassword } from "../auth/password.ts";
import { newToken, tokenHash } from "../auth/token.ts";
import { Outgoing } from "../protocol/codec.ts";
import { type Request, type Response, response, unixTime } from "../protocol/messages.ts";
import { type Account, type Store } from "../store/store.ts";
import { AuthGuard } from "./auth_guard.ts";
import { HashQueueFullError, HashScheduler, HashSchedulerClosedError } from "./hash_scheduler.ts";
import { sourceKey } from "./source_key.ts";
import { WindowQuota } from "./window_quota.ts";
import { type Directory, LocalDirectory } from "./directory.ts";
import { LocalRouter, type Router } from "./router.ts";
import { type Cluster, ClusterDirectory, ClusterRouter } from "./cluster.ts";
import { type Peer, type Session, Sessions } from "./sessions.ts";
import { Presence } from "./presence.ts";
import type { Handler, Handlers, HubSettings } from "./handlers/context.ts";
import { contactHandlers } from "./handlers/contacts.ts";
import { Messaging } from "./handlers/messaging.ts";
import { roomHandlers } from "./handlers/rooms.ts";
import { History } from "./history.ts";
import { RoomState } from "./room_state.ts";

export type { Peer, Session } from "./sessions.ts";

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

/** The window of `registerLimit`, in ms. */
const REGISTER_WINDOW_MS = 3600_000;
/** Why `name` cannot be taken while `held` (itself, or a name like it) is held. */
function inUse(name: string, held: string): string {
  return held === name ? "it is in use" : `it looks like ${held}, which is in use`;
}

/** Presence, rooms and delivery for one server. */
export class Hub {
  readonly #store: Store;
  readonly #settings: HubOptions["settings"];
  readonly #log: (line: string) => void;
  readonly #guard: AuthGuard;
  /** Bounds and orders password hashing (each takes a core for ~100 ms). */
  readonly #hashing: HashScheduler;
  /** Accounts created per source address in the last hour. */
  readonly #created: WindowQuota;
  /** Set by {@linkcode Hub.stop}: no account is created or login completed after it. */
  #stopped = false;
  /** Who holds which name (guests and accounts share one namespace), and names being registered. */
  readonly #online: Directory<Session>;
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

  private constructor(options: HubOptions) {
    this.#cluster = options.cluster ?? null;
    const cluster = options.cluster;
    this.#online = cluster ? new ClusterDirectory<Session>(cluster) : new LocalDirectory<Session>();
    this.#presence = new Presence(this.#online);
    const delivery = this.#sessions = new Sessions({
      directory: this.#online,
      dropped: (session, rest) => void this.disconnect(session, rest),
    });
    if (cluster) {
      this.#router = new ClusterRouter<Session>({
        cluster,
        directory: this.#online,
        delivery,
        isGuest: (out) => this.#messaging.isGuest(out),
      });
      cluster.serve({
        direct: (to, message, guest) => {
          const target = this.#online.get(to);
          if (!target) return false;
          const out = new Outgoing(message);
          if (guest) this.#messaging.markGuest(out);
          this.#sessions.direct(target, out);
          return true;
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
        room: (room, from, message) => {
          const members = this.#rooms.get(room);
          if (!members) return;
          const out = new Outgoing(message);
          for (const member of members) {
            if (member === from) continue;
            const target = this.#online.get(member);
            if (target) this.#sessions.room(target, out);
          }
        },
      });
    } else {
      this.#router = new LocalRouter<Session>({ directory: this.#online, delivery });
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
    });
    this.#messaging = new Messaging({
      store: this.#store,
      settings: this.#settings,
      directory: this.#online,
      router: this.#router,
      rooms: this.#rooms,
      history: this.#history,
      log: this.#log,
    });
    this.#guard = new AuthGuard({
      maxFailures: options.settings.authFailures,
      maxAddressFailures: options.settings.authAddressFailures,
      windowMs: options.settings.authWindowMs,
      lockoutMs: options.settings.authLockoutMs,
    });
    this.#hashing = new HashScheduler({
      concurrency: options.settings.hashConcurrency,
      maxQueued: options.settings.hashQueue,
    });
    this.#created = new WindowQuota({
      limit: options.settings.registerLimit,
      windowMs: REGISTER_WINDOW_MS,
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
    return hub;
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
    this.#stopped = true;
    this.#hashing.close();
  }

  /** Registers a new connection. */
  connect(peer: Peer): Session {
    return this.#sessions.open(peer);
  }

  /**
   * Forgets a closing connection. `unsent` holds what its queue still had:
   * the direct messages among them go to the offline store if it is an
   * account. A connection may call again with what it failed to write later.
   */
  async disconnect(session: Session, unsent: readonly Outgoing[] = []): Promise<void> {
    const name = session.name;
    // Called again later for a session that has left, it only keeps what
    // its closing connection could not write in the end.
    const held = this.#sessions.close(session);
    if (held !== null) {
      this.#presence.forget(session);
      if (held.length > 0) unsent = [...unsent, ...held];
      if (name !== null && this.#online.release(name, session)) {
        this.#presence.usersChanged();
        const now = Date.now();
        this.#presence.announce(name, session, now);
        if (session.account) {
          this.#store.setLastSeen(name, now).catch((e) =>
            this.#log(`cannot record when ${name} was last seen: ${e}`)
          );
        }
      }
      if (name !== null && !session.account) {
        for (const room of session.rooms) this.#rooms.removeMember(room, name);
      }
    }
    if (name !== null && session.account && this.#settings.offlineStore) {
      await this.#messaging.keepUnsent(name, unsent);
    }
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
      const session = this.#online.get(name);
      if (!session) continue;
      kicked.push(name);
      this.#log(`disconnecting ${name}: account blocked`);
      session.peer.send(new Outgoing(response(101, `account ${name} is blocked`)));
      session.peer.close("account blocked");
    }
    return kicked;
  }

  // -- live administration (the admin socket) --

  /**
   * Blocks an account and disconnects whoever holds its name now, instead of
   * at the next `--block-check`. False when there is no such account.
   */
  async block(name: string): Promise<boolean> {
    if (!(await this.#store.setBlocked(name, true))) return false;
    await this.enforceBlocks();
    return true;
  }

  /** Unblocks an account; false when there is no such account. */
  unblock(name: string): Promise<boolean> {
    return this.#store.setBlocked(name, false);
  }

  /** Disconnects the session holding a name, with a 101 notice; false when nobody holds it. */
  kick(name: string, reason = "disconnected by an administrator"): boolean {
    const session = this.#online.get(name);
    if (!session) return false;
    this.#log(`disconnecting ${name}: ${reason}`);
    session.peer.send(new Outgoing(response(101, reason)));
    session.peer.close(reason);
    return true;
  }

  /**
   * Revokes every session token of an account and disconnects it if online.
   * Resolves to the number of tokens revoked, or null for no such account.
   */
  async logoutAll(name: string): Promise<number | null> {
    if (!(await this.#store.getAccount(name))) return null;
    const revoked = await this.#store.revokeTokens(name);
    const session = this.#online.get(name);
    if (session?.account) this.kick(name, "logged out by an administrator");
    return revoked;
  }

  /**
   * Sets an account's password (revoking its tokens) and disconnects it if
   * online; false when there is no such account.
   */
  async resetPassword(name: string, password: string): Promise<boolean> {
    // An administrator's hash goes with the logins, ahead of registrations.
    const hash = await this.#hashing.run(
      { kind: "login", source: "admin socket", account: name },
      () => hashPassword(password, { iterations: this.#settings.hashIterations }),
    );
    if (!(await this.#store.setPassword(name, hash))) return false;
    const session = this.#online.get(name);
    if (session?.account) this.kick(name, "password reset by an administrator");
    return true;
  }

  /** Counts for `jim admin stats`. */
  stats(): { online: number; accounts: number; guests: number; rooms: number } {
    let accounts = 0;
    for (const session of this.#online.values()) if (session.account) accounts++;
    return {
      online: this.#online.size,
      accounts,
      guests: this.#online.size - accounts,
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
      presence: (session, { user }) =>
        user.pubkey !== undefined
          ? this.#presenceWithKey(session, user, user.pubkey)
          : this.#setPresence(session, user.account_name, user.status),
      authenticate: (session, { user, remember }) =>
        user.token !== undefined
          ? this.#resume(session, user.account_name, user.token, remember === true)
          : this.#authenticate(session, user.account_name, user.password!, remember === true),
      register: (session, { user }) => this.#register(session, user.account_name, user.password),
      passwd: (session, { user, remember }) =>
        this.#passwd(
          session,
          user.account_name,
          user.password,
          user.new_password,
          remember === true,
        ),
      unregister: (session, { user }) =>
        this.#unregister(session, user.account_name, user.password),
      pubkey_need: (session, request) => this.#pubkey(session, request.account_name),
      // -- messaging --
      ...this.#messaging.handlers,
      // -- rooms, topics and history --
      ...roomHandlers({
        store: this.#store,
        settings: this.#settings,
        directory: this.#online,
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
        directory: this.#online,
        sessions: this.#sessions,
        presence: this.#presence,
      }),
      quit: () => response(200),
    };
  }

  // -- identity --

  #setPresence(session: Session, name: string, status?: string): Response | Promise<Response> {
    if (session.account) {
      if (name !== session.name) {
        return response(
          403,
          `Cannot set presence for ${name}: you are logged in as ${session.name}`,
        );
      }
      if (status !== undefined && status !== session.status) {
        session.status = status;
        this.#presence.announce(name, session);
      }
      return response(200);
    }
    if (this.#settings.requireAuth) {
      return response(401, "Cannot join as a guest: this server requires authentication");
    }
    if (name === session.name) {
      if (status !== undefined && status !== session.status) {
        session.status = status;
        this.#presence.announce(name, session);
      }
      return response(200);
    }
    if (this.#online.has(name)) return response(409, `Cannot use the name ${name}: it is in use`);
    return this.#claimGuestName(session, name, status);
  }

  async #claimGuestName(session: Session, name: string, status?: string): Promise<Response> {
    if (await this.#store.getAccount(name) || this.#online.isReserved(name)) {
      return response(401, `Cannot use the name ${name}: authenticate to use this name`);
    }
    const like = await this.#lookalike(session, name);
    if (like) return response(409, `Cannot use the name ${name}: ${like}`);
    // The name may have been claimed while the store answered.
    if (this.#online.has(name)) return response(409, `Cannot use the name ${name}: it is in use`);
    const claimed = this.#lookalikeOnline(session, name);
    if (claimed) return response(409, `Cannot use the name ${name}: ${claimed}`);
    if (!this.#sessions.has(session)) return response(200);
    const acquired = this.#online.acquire(name);
    if (acquired !== true) {
      const held = await acquired;
      if (held !== true) return response(409, `Cannot use the name ${name}: ${inUse(name, held)}`);
      // The cluster answered: the session may have gone, or the name been taken here.
      if (!this.#sessions.has(session) || this.#online.has(name)) {
        this.#online.abandon(name);
        if (!this.#sessions.has(session)) return response(200);
        return response(409, `Cannot use the name ${name}: it is in use`);
      }
    }
    const old = session.name;
    if (old !== null) {
      this.#online.release(old, session);
      for (const room of session.rooms) {
        const members = this.#rooms.get(room);
        members?.delete(old);
        members?.add(name);
      }
    }
    session.name = name;
    session.status = status ?? "";
    this.#online.claim(name, session);
    this.#presence.usersChanged();
    if (old !== null) this.#presence.announce(old, session);
    this.#presence.announce(name, session);
    return response(200);
  }

  async #authenticate(
    session: Session,
    name: string,
    password: string,
    remember: boolean,
  ): Promise<Response> {
    if (session.account) {
      return response(409, `Cannot authenticate: already logged in as ${session.name}`);
    }
    // Limits count per source: the address, or an IPv6 address's /64.
    const address = sourceKey(session.peer.address);
    const wait = this.#guard.lockedFor(name, address);
    if (wait > 0) {
      return response(403, `Cannot authenticate: too many failed attempts; try again in ${wait} s`);
    }
    // Logins in progress count as failures until they end, so that guesses
    // made at once cannot pass the limit; the excess is asked to wait.
    if (this.#guard.begin(name, address) > 0) {
      return response(
        429,
        "Cannot authenticate: too many logins in progress for this account or address; try again shortly",
      );
    }
    let account;
    let ok;
    try {
      account = await this.#store.getAccount(name);
      const found = account;
      ok = await this.#hashing.run(
        { kind: "login", source: address, account: name },
        () =>
          found
            ? verifyPassword(password, found.passwordHash)
            : dummyVerify(password, { iterations: this.#settings.hashIterations }),
      );
    } catch (e) {
      const refused = hashRefusal(e, "authenticate");
      if (refused) return refused;
      throw e;
    } finally {
      this.#guard.end(name, address);
    }
    if (this.#stopped) return response(503, "Cannot authenticate: the server is shutting down");
    if (!account || !ok) {
      this.#guard.fail(name, address);
      this.#log(`failed login for ${JSON.stringify(name)} from ${address}`);
      return response(402, "Cannot authenticate: wrong account name or password");
    }
    return await this.#admit(
      session,
      account,
      remember,
      () => this.#guard.succeed(name, address),
    );
  }

  /**
   * `authenticate` with a session token: one SHA-256 and one lookup instead
   * of a password hash. A token cannot be guessed (256 random bits), so a
   * refused one is not counted toward the lockout, and a lockout (which
   * anyone can cause with wrong passwords) does not stop its owner.
   */
  async #resume(
    session: Session,
    name: string,
    token: string,
    remember: boolean,
  ): Promise<Response> {
    if (session.account) {
      return response(409, `Cannot authenticate: already logged in as ${session.name}`);
    }
    const owner = await this.#store.tokenAccount(await tokenHash(token), Date.now());
    const account = owner === name ? await this.#store.getAccount(name) : null;
    if (!account) {
      this.#log(
        `refused token for ${JSON.stringify(name)} from ${sourceKey(session.peer.address)}`,
      );
      return response(402, "Cannot authenticate: the token is expired, revoked or unknown");
    }
    return await this.#admit(session, account, remember);
  }

  /**
   * Logs a session in to an account whose credentials have been checked:
   * refuses a blocked account or one connected elsewhere, issues a token if
   * asked (before the session changes, so a failure leaves it logged out),
   * then takes the name and starts offline delivery.
   */
  async #admit(
    session: Session,
    account: Account,
    remember: boolean,
    onSuccess?: () => void,
  ): Promise<Response> {
    const name = account.name;
    if (account.blocked) return response(403, `Cannot authenticate: account ${name} is blocked`);
    const connectedElsewhere = () => {
      const holder = this.#online.get(name);
      return holder !== undefined && holder !== session;
    };
    if (connectedElsewhere()) {
      return response(409, `Cannot authenticate: ${name} is already connected`);
    }
    if (!this.#sessions.has(session)) return response(200);
    // What the login changes in the store is written first: if the store
    // fails (disk full), the answer is 500 and the session stays as it was,
    // not logged in. A guest's rooms and contacts become the account's, and
    // persist: the rooms in one commit, however many the guest was in, and
    // as many as the cap on rooms per user allows beside the account's own.
    const carried = this.#rooms.toCarry(session.rooms, name, this.#settings.maxRoomsPerUser);
    if (carried.length > 0 || session.contacts.size > 0 || session.pubkey !== null) {
      try {
        if (carried.length > 0) await this.#store.addRoomMembers(carried, name);
        if (session.contacts.size > 0) await this.#store.addContacts(name, session.contacts);
        if (session.pubkey !== null) await this.#store.setPublicKey(name, session.pubkey);
      } catch (e) {
        this.#log(`cannot log ${name} in: cannot save its rooms and contacts: ${e}`);
        return response(500, "Cannot authenticate: the server could not save the login");
      }
    }
    let extra: Record<string, unknown> | undefined;
    if (remember) extra = await this.#issueToken(name);
    const shownTo = account.contactsOnly ? new Set(await this.#store.listContacts(name)) : null;
    // Across the cluster: a holder on another node is a 409 too.
    const mine = this.#online.get(name) === session;
    if (!mine) {
      const acquired = this.#online.acquire(name);
      const held = acquired === true ? true : await acquired;
      if (held === name) return response(409, `Cannot authenticate: ${name} is already connected`);
      if (held !== true) {
        return response(409, `Cannot authenticate: ${name} looks like ${held}, which is in use`);
      }
    }
    // Another connection may have logged in while the store answered.
    if (connectedElsewhere() || !this.#sessions.has(session)) {
      if (!mine) this.#online.abandon(name);
      if (!this.#sessions.has(session)) return response(200);
      return response(409, `Cannot authenticate: ${name} is already connected`);
    }
    onSuccess?.();
    const guestName = session.name;
    if (guestName !== null && guestName !== name) this.#online.release(guestName, session);
    session.name = name;
    session.account = true;
    session.shownTo = shownTo;
    this.#online.claim(name, session);
    this.#presence.usersChanged();
    if (guestName !== null && guestName !== name) this.#presence.announce(guestName, session);
    this.#presence.announce(name, session);
    session.contacts.clear(); // saved as the account's above
    const kept = new Set(carried);
    for (const room of session.rooms) {
      // Beyond the cap: the guest leaves it.
      if (!kept.has(room)) {
        if (guestName !== null) this.#rooms.removeMember(room, guestName);
        continue;
      }
      const members = this.#rooms.get(room);
      if (guestName !== null) {
        members?.delete(guestName);
        this.#rooms.tell(room, guestName, false, false);
      }
      members?.add(name);
      this.#rooms.tell(room, name, true, true);
      this.#rooms.keep(room); // the store keeps it now (addRoomMembers)
    }
    // No await from here on: once the name is online, room messages reach
    // it, so the session must already know its rooms.
    session.rooms.clear();
    for (const [room, members] of this.#rooms.entries()) {
      if (members.has(name)) session.rooms.add(room);
    }
    // After the 200 is queued: the connection sends it when this promise settles.
    this.#sessions.holdWhile(session, () => this.#messaging.deliverStored(session, name));
    return response(200, "OK", extra);
  }

  /** A new session token for an account, stored hashed: the extra fields of a 200. */
  async #issueToken(name: string): Promise<{ token: string; expires: number }> {
    const { token, hash } = await newToken();
    const expiresAt = Date.now() + this.#settings.tokenLifetimeMs;
    await this.#store.addToken(name, hash, expiresAt, this.#settings.tokensPerAccount);
    return { token, expires: unixTime(expiresAt) };
  }

  /**
   * Checks the password of the account a session is logged in to, for
   * `passwd` and `unregister`: the same lockout and hashing queue as a login.
   * Returns the refusal, or null when the password is right.
   */
  async #checkOwnPassword(
    session: Session,
    name: string,
    password: string,
    what: string,
  ): Promise<Response | null> {
    if (!session.account) return response(401, `Cannot ${what}: log in first`);
    if (name !== session.name) {
      return response(403, `Cannot ${what} for ${name}: you are logged in as ${session.name}`);
    }
    const address = sourceKey(session.peer.address);
    const wait = this.#guard.lockedFor(name, address);
    if (wait > 0) {
      return response(403, `Cannot ${what}: too many failed attempts; try again in ${wait} s`);
    }
    if (this.#guard.begin(name, address) > 0) {
      return response(429, `Cannot ${what}: too many requests in progress; try again shortly`);
    }
    let ok = false;
    try {
      const account = await this.#store.getAccount(name);
      if (account) {
        ok = await this.#hashing.run(
          { kind: "login", source: address, account: name },
          () => verifyPassword(password, account.passwordHash),
        );
      }
    } catch (e) {
      const refused = hashRefusal(e, what);
      if (refused) return refused;
      throw e;
    } finally {
      this.#guard.end(name, address);
    }
    if (!ok) {
      this.#guard.fail(name, address);
      this.#log(`failed password check for ${JSON.stringify(name)} from ${address}`);
      return response(402, `Cannot ${what}: wrong password`);
    }
    return null;
  }

  async #passwd(
    session: Session,
    name: string,
    password: string,
    newPassword: string,
    remember: boolean,
  ): Promise<Response> {
    const refused = await this.#checkOwnPassword(session, name, password, "change password");
    if (refused) return refused;
    let hash: string;
    try {
      hash = await this.#hashing.run(
        { kind: "login", source: sourceKey(session.peer.address), account: name },
        () => hashPassword(newPassword, { iterations: this.#settings.hashIterations }),
      );
    } catch (e) {
      const refusal = hashRefusal(e, "change password");
      if (refusal) return refusal;
      throw e;
    }
    if (this.#stopped) return response(503, "Cannot change password: the server is shutting down");
    if (!(await this.#store.setPassword(name, hash))) {
      return response(404, `Cannot change password: account ${name} no longer exists`);
    }
    this.#log(`password changed for ${name}; its tokens are revoked`);
    const extra = remember ? await this.#issueToken(name) : undefined;
    return response(200, "password changed; every session token was revoked", extra);
  }

  async #unregister(session: Session, name: string, password: string): Promise<Response> {
    const refused = await this.#checkOwnPassword(session, name, password, "delete account");
    if (refused) return refused;
    if (!(await this.#store.deleteAccount(name))) {
      return response(404, `Cannot delete account: account ${name} no longer exists`);
    }
    // The connection stays, with no identity: it may register again or quit.
    if (this.#online.release(name, session)) {
      this.#presence.usersChanged();
      this.#presence.announce(name, session);
    }
    this.#presence.unwatch(session);
    session.shownTo = null;
    for (const [room] of this.#rooms.entries()) this.#rooms.removeMember(room, name);
    session.rooms.clear();
    session.name = null;
    session.account = false;
    session.status = "";
    this.#log(`account ${name} deleted by its owner from ${sourceKey(session.peer.address)}`);
    return response(200, `account ${name} deleted`);
  }

  async #register(session: Session, name: string, password: string): Promise<Response> {
    // Limits count per source: the address, or an IPv6 address's /64.
    const address = sourceKey(session.peer.address);
    const wait = this.#guard.lockedFor(name, address);
    if (wait > 0) {
      return response(403, `Cannot register: too many failed attempts; try again in ${wait} s`);
    }
    const holder = this.#online.get(name);
    if (holder && holder !== session) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: the name is in use`);
    }
    if (this.#online.isReserved(name) || await this.#store.getAccount(name)) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: the name is taken`);
    }
    const like = await this.#lookalike(session, name);
    if (like) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: ${like}`);
    }
    // A guest may have taken the name (or one like it) while the store answered.
    const taker = this.#online.get(name);
    if (taker && taker !== session) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: the name is in use`);
    }
    const claimed = this.#lookalikeOnline(session, name);
    if (claimed) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: ${claimed}`);
    }
    // In a cluster, a guest may hold the name, or one like it, on another node.
    const heldElsewhere = await this.#online.heldLike(name);
    if (heldElsewhere !== null && heldElsewhere !== session.name) {
      this.#guard.fail(name, address);
      const why = heldElsewhere === name ? "the name is in use" : inUse(name, heldElsewhere);
      return response(409, `Cannot register ${name}: ${why}`);
    }
    // Hashing is the expensive part: one address gets only a few at a time
    // and a few accounts an hour, and registrations wait behind logins, so a
    // flood of them cannot starve others' logins.
    const { registerPending } = this.#settings;
    if (registerPending > 0 && this.#hashing.pending("register", address) >= registerPending) {
      return response(
        429,
        "Cannot register: too many registrations in progress from your address; try again shortly",
      );
    }
    const quotaWait = this.#created.take(address);
    if (quotaWait > 0) {
      return response(
        429,
        `Cannot register: too many accounts created from your address; try again in ${quotaWait} s`,
      );
    }
    if (this.#guard.begin(name, address) > 0) {
      this.#created.refund(address);
      return response(
        429,
        "Cannot register: too many requests in progress for this account or address; try again shortly",
      );
    }
    // From here until the account exists, the name is reserved.
    this.#online.reserve(name);
    let created = false;
    try {
      let hash: string;
      try {
        hash = await this.#hashing.run(
          { kind: "register", source: address, account: name },
          () => hashPassword(password, { iterations: this.#settings.hashIterations }),
        );
      } catch (e) {
        const refused = hashRefusal(e, "register");
        if (refused) return refused;
        throw e;
      } finally {
        this.#guard.end(name, address);
      }
      if (this.#stopped) return response(503, "Cannot register: the server is shutting down");
      if (!(await this.#store.createAccount(name, hash))) {
        this.#guard.fail(name, address);
        return response(409, `Cannot register ${name}: the name is taken`);
      }
      created = true;
    } finally {
      this.#online.unreserve(name);
      if (!created) this.#created.refund(address);
    }
    this.#log(`registered ${name} from ${address}`);
    return response(201, `account ${name} created`);
  }

  // -- messages --

  // -- names that look alike --

  /**
   * Why `name` cannot be taken by `session` because it looks like a name
   * online (not the session's own), being registered, or of an account; or
   * null when nothing looks like it.
   */
  async #lookalike(session: Session, name: string): Promise<string | null> {
    const online = this.#lookalikeOnline(session, name);
    if (online) return online;
    const account = await this.#store.accountLike(name);
    if (account !== null) return `it looks like the account ${account}`;
    return this.#lookalikeOnline(session, name);
  }

  /** The part of {@linkcode Hub.#lookalike} that needs no store. */
  #lookalikeOnline(session: Session, name: string): string | null {
    return this.#online.lookalike(name, session.name);
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

  /**
   * A presence that announces a public key: a guest's is kept with its
   * session, an account's also in the store, for when it is offline.
   */
  async #presenceWithKey(
    session: Session,
    user: { account_name: string; status?: string },
    pubkey: string,
  ): Promise<Response> {
    const answer = await this.#setPresence(session, user.account_name, user.status);
    if (answer.response !== 200 || session.name !== user.account_name) return answer;
    session.pubkey = pubkey;
    if (session.account) await this.#store.setPublicKey(user.account_name, pubkey);
    return answer;
  }

  async #pubkey(session: Session, name: string): Promise<Response> {
    if (session.name === null) {
      return response(401, "Cannot get a public key: send presence or authenticate first");
    }
    const online = this.#online.get(name);
    const key = online?.pubkey ??
      (online && !online.account ? null : await this.#store.getPublicKey(name));
    if (!key) return response(404, `Cannot get the public key of ${name}: no key announced`);
    return response(200, `public key of ${name}`, { pubkey: key });
  }
}

/** The answer for a hash the scheduler refused, or null for any other error. */
function hashRefusal(e: unknown, action: string): Response | null {
  if (e instanceof HashQueueFullError) {
    return response(
      429,
      `Cannot ${action}: the server is busy hashing passwords; try again shortly`,
    );
  }
  if (e instanceof HashSchedulerClosedError) {
    return response(503, `Cannot ${action}: the server is shutting down`);
  }
  return null;
}

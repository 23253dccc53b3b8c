/**
 * Identity: names and logins. `presence` (a guest's name, a status, a
 * public key), `authenticate` (password or session token), `register`,
 * `passwd`, `unregister` and `pubkey_need`. Logins and registrations are
 * limited per account and source address and hash passwords through one
 * bounded queue; a login takes the name in the directory (409 when it is
 * held, here or in a cluster elsewhere) and starts the offline mail.
 *
 * @module
 */

import { dummyVerify, hashPassword, verifyPassword } from "../../auth/password.ts";
import { newToken, tokenHash } from "../../auth/token.ts";
import { type Response, response, unixTime } from "../../protocol/messages.ts";
import type { Account } from "../../store/store.ts";
import { AuthGuard } from "../auth_guard.ts";
import { HashQueueFullError, HashScheduler, HashSchedulerClosedError } from "../hash_scheduler.ts";
import type { Session } from "../sessions.ts";
import { sourceKey } from "../source_key.ts";
import { WindowQuota } from "../window_quota.ts";
import type { HandlerContext, Handlers } from "./context.ts";
import type { Messaging } from "./messaging.ts";

/** The window of `registerLimit`, in ms. */
const REGISTER_WINDOW_MS = 3600_000;

/** What identity is given. */
export type IdentityContext =
  & Pick<
    HandlerContext,
    "store" | "settings" | "directory" | "sessions" | "presence" | "rooms" | "cluster" | "log"
  >
  & {
    /** Sends an account's offline mail once it has logged in. */
    mail: Pick<Messaging, "deliverStored">;
  };

/** Why `name` cannot be taken while `held` (itself, or a name like it) is held. */
function inUse(name: string, held: string): string {
  return held === name ? "it is in use" : `it looks like ${held}, which is in use`;
}

/** Names, logins, accounts and keys. */
export class Identity {
  readonly #store: IdentityContext["store"];
  readonly #settings: IdentityContext["settings"];
  /** Who holds which name (guests and accounts share one namespace), and names being registered. */
  readonly #directory: IdentityContext["directory"];
  readonly #sessions: IdentityContext["sessions"];
  readonly #presence: IdentityContext["presence"];
  readonly #rooms: IdentityContext["rooms"];
  readonly #mail: IdentityContext["mail"];
  readonly #cluster: IdentityContext["cluster"];
  readonly #log: IdentityContext["log"];
  readonly #guard: AuthGuard;
  /** Bounds and orders password hashing (each takes a core for ~100 ms). */
  readonly #hashing: HashScheduler;
  /** Accounts created per source address in the last hour. */
  readonly #created: WindowQuota;
  /** Set by {@linkcode Identity.stop}: no account is created or login completed after it. */
  #stopped = false;

  /** The handlers of identity. */
  readonly handlers: Pick<
    Handlers,
    "presence" | "authenticate" | "register" | "passwd" | "unregister" | "pubkey_need"
  > = {
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
    unregister: (session, { user }) => this.#unregister(session, user.account_name, user.password),
    pubkey_need: (session, request) => this.#pubkey(session, request.account_name),
  };

  constructor(ctx: IdentityContext) {
    this.#store = ctx.store;
    this.#settings = ctx.settings;
    this.#directory = ctx.directory;
    this.#sessions = ctx.sessions;
    this.#presence = ctx.presence;
    this.#rooms = ctx.rooms;
    this.#mail = ctx.mail;
    this.#cluster = ctx.cluster;
    this.#log = ctx.log;
    this.#guard = new AuthGuard({
      maxFailures: ctx.settings.authFailures,
      maxAddressFailures: ctx.settings.authAddressFailures,
      windowMs: ctx.settings.authWindowMs,
      lockoutMs: ctx.settings.authLockoutMs,
    });
    this.#hashing = new HashScheduler({
      concurrency: ctx.settings.hashConcurrency,
      maxQueued: ctx.settings.hashQueue,
    });
    this.#created = new WindowQuota({
      limit: ctx.settings.registerLimit,
      windowMs: REGISTER_WINDOW_MS,
    });
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

  /** A password hash for an administrator (it goes with the logins, ahead of registrations). */
  adminHash(name: string, password: string): Promise<string> {
    return this.#hashing.run(
      { kind: "login", source: "admin socket", account: name },
      () => hashPassword(password, { iterations: this.#settings.hashIterations }),
    );
  }

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
    if (this.#directory.has(name)) {
      return response(409, `Cannot use the name ${name}: it is in use`);
    }
    return this.#claimGuestName(session, name, status);
  }

  async #claimGuestName(session: Session, name: string, status?: string): Promise<Response> {
    if (await this.#store.getAccount(name) || this.#directory.isReserved(name)) {
      return response(401, `Cannot use the name ${name}: authenticate to use this name`);
    }
    const like = await this.#lookalike(session, name);
    if (like) return response(409, `Cannot use the name ${name}: ${like}`);
    // The name may have been claimed while the store answered.
    if (this.#directory.has(name)) {
      return response(409, `Cannot use the name ${name}: it is in use`);
    }
    const claimed = this.#lookalikeOnline(session, name);
    if (claimed) return response(409, `Cannot use the name ${name}: ${claimed}`);
    if (!this.#sessions.has(session)) return response(200);
    const acquired = this.#directory.acquire(name, { own: session.name });
    if (acquired !== true) {
      const held = await acquired;
      if (held !== true) {
        // Being registered on another node: as here, only its account may use it.
        if (held === name && await this.#directory.reservedAnywhere(name)) {
          return response(401, `Cannot use the name ${name}: authenticate to use this name`);
        }
        return response(409, `Cannot use the name ${name}: ${inUse(name, held)}`);
      }
      // The cluster answered: the session may have gone, or the name been taken here.
      if (!this.#sessions.has(session) || this.#directory.has(name)) {
        this.#directory.abandon(name);
        if (!this.#sessions.has(session)) return response(200);
        return response(409, `Cannot use the name ${name}: it is in use`);
      }
    }
    const old = session.name;
    if (old !== null) {
      this.#directory.release(old, session);
      for (const room of session.rooms) {
        const members = this.#rooms.get(room);
        members?.delete(old);
        members?.add(name);
        // The other nodes too: the new name joins before the old leaves, so
        // that a room with no other member is not dropped there meanwhile.
        this.#rooms.tell(room, name, true, session.account);
        this.#rooms.tell(room, old, false, false);
      }
    }
    session.name = name;
    session.status = status ?? "";
    session.since = Date.now();
    this.#directory.claim(name, session);
    this.#presence.usersChanged();
    if (old !== null) this.#presence.announce(old, session);
    this.#presence.announce(name, session);
    // Answered once the old name is free on every node, for whoever takes it next.
    if (old !== null) await this.#directory.settled();
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
      const holder = this.#directory.get(name);
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
    const mine = this.#directory.get(name) === session;
    if (!mine) {
      const acquired = this.#directory.acquire(name, { own: session.name, account: true });
      const held = acquired === true ? true : await acquired;
      if (held === name) return response(409, `Cannot authenticate: ${name} is already connected`);
      if (held !== true) {
        return response(409, `Cannot authenticate: ${name} looks like ${held}, which is in use`);
      }
    }
    // Another connection may have logged in while the store answered.
    if (connectedElsewhere() || !this.#sessions.has(session)) {
      if (!mine) this.#directory.abandon(name);
      if (!this.#sessions.has(session)) return response(200);
      return response(409, `Cannot authenticate: ${name} is already connected`);
    }
    onSuccess?.();
    const guestName = session.name;
    if (guestName !== null && guestName !== name) this.#directory.release(guestName, session);
    session.name = name;
    session.account = true;
    session.shownTo = shownTo;
    if (guestName !== name) session.since = Date.now();
    this.#directory.claim(name, session);
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
    this.#sessions.holdWhile(
      session,
      (again) => this.#mail.deliverStored(session, name, again ? session.written : 0),
    );
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
    if (this.#directory.release(name, session)) {
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
    const holder = this.#directory.get(name);
    if (holder && holder !== session) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: the name is in use`);
    }
    if (this.#directory.isReserved(name)) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: the name is taken`);
    }
    // From here until the account exists (or the registration is refused),
    // the name is reserved: in a cluster on every node, before the store is
    // asked, so that no guest anywhere takes it while it is checked and hashes.
    const reserving = this.#directory.reserve(name, session.name);
    const reserved = reserving === true ? true : await reserving;
    if (reserved !== true) {
      this.#guard.fail(name, address);
      if (await this.#store.getAccount(name)) {
        return response(409, `Cannot register ${name}: the name is taken`);
      }
      const why = reserved === name ? "the name is in use" : inUse(name, reserved);
      return response(409, `Cannot register ${name}: ${why}`);
    }
    try {
      return await this.#registerReserved(session, name, password, address);
    } finally {
      // Answered once the name is free for the account's login on any node.
      await this.#directory.unreserve(name);
    }
  }

  /** The rest of {@linkcode Identity.#register}, with the name reserved. */
  async #registerReserved(
    session: Session,
    name: string,
    password: string,
    address: string,
  ): Promise<Response> {
    if (await this.#store.getAccount(name)) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: the name is taken`);
    }
    const like = await this.#lookalike(session, name);
    if (like) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: ${like}`);
    }
    // A guest may have taken the name (or one like it) while the store answered.
    const taker = this.#directory.get(name);
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
    const heldElsewhere = await this.#directory.heldLike(name);
    if (heldElsewhere !== null && heldElsewhere !== session.name && heldElsewhere !== name) {
      this.#guard.fail(name, address);
      return response(409, `Cannot register ${name}: ${inUse(name, heldElsewhere)}`);
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
      if (!created) this.#created.refund(address);
    }
    this.#log(`registered ${name} from ${address}`);
    return response(201, `account ${name} created`);
  }

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

  /** The part of {@linkcode Identity.#lookalike} that needs no store. */
  #lookalikeOnline(session: Session, name: string): string | null {
    return this.#directory.lookalike(name, session.name);
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
    const here = this.#directory.get(name);
    // Held on another node, that node has the key a guest announced.
    const online = here
      ? { key: here.pubkey, account: here.account }
      : await this.#cluster?.pubkey(name) ?? null;
    const key = online?.key ??
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

/**
 * Several jim nodes as one server, through NATS (`--cluster nats://HOST:PORT`):
 *
 * - **Names** are claimed in the JetStream KV bucket `jim_names` with
 *   `create` (atomic across nodes: one winner), keyed by the name's
 *   look-alike skeleton (so that two nodes cannot let two names that look
 *   alike be held at once), holding the owning node's id and the name.
 *   A claim is never renewed: it lives as long as its node's liveness
 *   record, and once that is gone (the node died) the next claimer takes it
 *   over on its revision, so a dead node's names are free again within the
 *   TTL ({@linkcode ClusterOptions.claimTtlMs}) and an idle name costs
 *   nothing in NATS.
 * - **Direct messages** to a name held on another node are a request on
 *   `jim.user.<name>`, answered by the owning node once the message is queued
 *   to its session; no responders means nobody holds the name: offline.
 *   `who NAME` is a request on the same subject, answered with the session's
 *   status when the asker may see it.
 * - **Room messages** are published once on `jim.room.<room>`; every node
 *   fans them out to its local members.
 * - **Rooms** are created in the KV bucket `jim_rooms` by the first join
 *   anywhere (201 there only); joins, leaves and topics are published on
 *   `jim.members`, and every node applies the others' to its member lists
 *   (and every node's topics, its own included, in the order NATS gives).
 * - **Liveness**: each node keeps a record in the KV bucket `jim_nodes`
 *   (with the TTL, renewed every TTL/3). When a node's record is gone (it
 *   was killed and told nobody), its claims may be taken over, and the
 *   others drop its guests from rooms and free guests' rooms only they were in.
 * - **A node that starts** asks the others on `jim.state` for their rooms'
 *   members online there and the topics (a guests' room is in no store).
 * - **Presence**: changes (online, away, offline, whom an account shows
 *   itself to) and "the users online changed" are published on
 *   `jim.presence` by the node where they happen; every node tells its own
 *   watchers. `who` and `get_users` ask every node on `jim.online` for the
 *   names online there that the asker may see.
 *
 * - **`jim admin`** on any node acts on the cluster: `block`, `kick`,
 *   `logout-all` and `reset-password` ask the node holding the name (a
 *   request on `jim.user.<name>`) to disconnect it; `stats` asks every node
 *   on `jim.stats` for its counts.
 *
 * Names in subjects and keys are base64url (UTF-8), since names may hold
 * characters that subjects and keys may not.
 *
 * @module
 */

import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { Outgoing } from "../protocol/codec.ts";
import type { ContactPresence } from "../protocol/messages.ts";
import { skeleton } from "../protocol/names.ts";
import { type AcquireOptions, type Directory, LocalDirectory } from "./directory.ts";
import { redactUrl } from "./redact_url.ts";
import type { DirectOrder, FormFor, LocalDelivery, Router } from "./router.ts";
import {
  connect,
  createInbox,
  type Msg,
  type NatsConnection,
  RequestError,
  type Subscription,
} from "@nats-io/transport-node";

/** Options for {@linkcode Cluster.connect}. */
export interface ClusterOptions {
  /** `nats://HOST:PORT`. */
  url: string;
  /** This node's id (unique per process). */
  nodeId: string;
  /**
   * How long a node's liveness record lives unless renewed, in ms: a dead
   * node's claims may be taken over once it is gone. @default {6000}
   */
  claimTtlMs?: number;
  /** Time a direct request to another node may take, in ms. @default {2000} */
  requestTimeoutMs?: number;
  /**
   * Bytes (at most) of one part of the answer to a node that starts; NATS
   * takes 1 MiB per message by default. @default {131072}
   */
  statePartBytes?: number;
  log?: (line: string) => void;
}

/** What a node does with what other nodes send it. */
export interface ClusterHandlers {
  /**
   * A direct message for a name held here: queued to the holder at once
   * (see {@linkcode HandedDirect}); false when nobody here holds it (any
   * more); "again" when its session has not had the sender's earlier one.
   */
  direct(
    to: string,
    message: Record<string, unknown>,
    guest: boolean,
    order: DirectOrder | undefined,
  ): false | "again" | HandedDirect;
  /** Mail was stored for a name held here after its session may have read the mailbox. */
  mail(name: string): void;
  /** A room message from another node, for this node's members of the room. */
  room(
    room: string,
    from: string,
    message: Record<string, unknown>,
    historyId: number | undefined,
  ): void;
  /** A name this node held is held by another node now (its claim was lost): drop it here. */
  lost(name: string): void;
  /**
   * `who NAME` asked on another node by `viewer`: the status of the session
   * here holding `name`, or null when none does or it hides from `viewer`.
   */
  whois(name: string, viewer: string): { status: string } | null;
  /** Another node's member joined (`joined`) or left a room; `account`: an account, kept. */
  member(room: string, name: string, joined: boolean, account: boolean): void;
  /**
   * A room's topic was set (`""`: cleared) by `from`, on another node or on
   * this one (`own`: the echo of this node's change, which comes back in the
   * order every node sees, so that all end with the same topic).
   */
  topic(room: string, topic: string, from: string, own: boolean): void;
  /**
   * Guests that were members of rooms on a node that is gone (killed: its
   * liveness record expired), as seen at `since` (ms since the epoch): drop them.
   */
  gone(members: RoomMember[], since: number): void;
  /** What this node holds of rooms now, for a node that starts (see {@linkcode Cluster.sync}). */
  snapshot(): RoomSnapshot[];
  /** A presence change on another node, for this node's watchers of the name. */
  presence(change: PresenceChange): void;
  /** The users online changed on another node (a 205 for this node's watchers). */
  usersChanged(): void;
  /** The names online here that `viewer` may see, each with when it took its name. */
  online(viewer: string): OnlineName[];
  /**
   * Someone's contact list on another node named `name`, held here (the
   * seed's probe is for such clients).
   */
  watched(name: string): void;
  /** The public key the session here holding `name` announced; null when none does. */
  pubkey(name: string): { key: string | null; account: boolean } | null;
  /**
   * `jim admin` on another node acted on `name`: disconnect the session here
   * holding it (for `logout-all` and `reset-password`, only an account's);
   * true when one was.
   */
  admin(name: string, command: AdminDisconnect): boolean;
  /** This node's counts, for `jim admin stats` on another node. */
  stats(): NodeStats;
}

/** What `jim admin` did that disconnects a name wherever it is held. */
export type AdminDisconnect = "block" | "kick" | "logout-all" | "reset-password";

/** One node's counts for `jim admin stats`. */
export interface NodeStats {
  /** Sessions open (connections), named or not. */
  connections: number;
  /** Sessions with a name. */
  online: number;
  accounts: number;
  guests: number;
}

/** A direct message from another node handed to a session here. */
export interface HandedDirect {
  /**
   * True once it is written to the session's connection (or the connection
   * ended first, leaving it with its unsent messages).
   */
  written: Promise<boolean>;
  /**
   * Its session's connection has not yet written a message held before
   * (a stalled reader): this one is made durable at once, not after the hold.
   */
  stalled: boolean;
  /**
   * It was not written within the hold: makes it durable (an account's
   * goes to its mailbox, and goes out with that mail's `id`). True once it
   * is (or was written meanwhile, or has no mailbox to go to: a guest's),
   * false when it could not be (then the sender waits for `written`).
   */
  keep(): Promise<boolean>;
}

/** A change of a name's presence, as its node tells the others. */
export interface PresenceChange {
  name: string;
  /** What those it shows itself to see. */
  user: ContactPresence;
  /** Those it shows itself to (besides itself); null: everyone. */
  shownTo: string[] | null;
  /** Whom it shows itself to changed: the others are told it is offline. */
  everyone: boolean;
}

/** A name online on some node, and when it took it (ms since the epoch), for ordering. */
export interface OnlineName {
  name: string;
  since: number;
}

/** A member of a room. */
export interface RoomMember {
  room: string;
  name: string;
}

/** What one node holds of a room: its topic, and its members online there. */
export interface RoomSnapshot {
  room: string;
  /** "" for none. */
  topic: string;
  guests: string[];
  accounts: string[];
}

const BUCKET = "jim_names";
/** Rooms that exist somewhere in the cluster: key = base64url(room), created by the first join. */
const ROOMS_BUCKET = "jim_rooms";
/** Room membership changes, published by the node where they happen. */
const MEMBERS_SUBJECT = "jim.members";
/**
 * Live nodes: key = base64url(node id), with the TTL, renewed every TTL/3.
 * A node whose record is gone is dead: its claims may be taken over, and
 * the others drop its members.
 */
const NODES_BUCKET = "jim_nodes";
/** A node that starts asks here for the rooms' members and topics; each node answers. */
const STATE_SUBJECT = "jim.state";
/** Presence changes and "the users online changed", published by the node where they happen. */
const PRESENCE_SUBJECT = "jim.presence";
/** Asks every node for the names online there that a viewer may see; each node answers. */
const ONLINE_SUBJECT = "jim.online";
/** Asks every node for its counts (`jim admin stats`); each node answers. */
const STATS_SUBJECT = "jim.stats";
const ADMIN_COMMANDS: readonly string[] = ["block", "kick", "logout-all", "reset-password"];
/**
 * Published on {@linkcode PRESENCE_SUBJECT} by a node that starts serving
 * or stops: the others list the nodes again at their next `who`.
 */
const NODES_CHANGED = "nodesChanged";
/** Published on a name's subject: someone's contact list named it. */
const WATCHED_NOTICE = JSON.stringify({ watched: true });
/** Published on a name's subject: mail was stored for it. */
const MAIL_NOTICE = JSON.stringify({ mail: true });
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A name or room as one subject token or KV key: base64url of its UTF-8. */
export function token(name: string): string {
  const bytes = encoder.encode(name);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** A name's key in `jim_names`: its look-alike skeleton, so that names that look alike share one claim. */
export function claimKey(name: string): string {
  return token(skeleton(name));
}

/**
 * The key of an account's own claim beside a look-alike account's (two
 * accounts registered before names were compared): the skeleton's key, then
 * the exact name.
 */
function besideKey(name: string): string {
  return `${claimKey(name)}.${token(name)}`;
}

/** Whether a KV write was refused because the key is not at the revision given (another holds it). */
function isWrongRevision(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamWrongLastSequence;
}

/** The node a claim's value names, or null when it names none. */
function nodeOf(value: string): string | null {
  try {
    const node = JSON.parse(value)?.node;
    return typeof node === "string" ? node : null;
  } catch {
    return null;
  }
}

/**
 * Takes the TTL off a bucket that an earlier version created with one
 * (claims were renewed then; now they would expire under a live node).
 */
async function dropBucketTtl(
  nc: NatsConnection,
  bucket: string,
  log: ((line: string) => void) | undefined,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const { config } = await jsm.streams.info(`KV_${bucket}`);
  if (!config.max_age) return;
  await jsm.streams.update(config.name, { ...config, max_age: 0 });
  log?.(`took the TTL off the bucket ${bucket}: claims live as long as their node`);
}

/** Where `nats://[USER:PASS@|TOKEN@]HOST:PORT` points, and with what credentials. */
export interface NatsServer {
  /** `HOST:PORT`, as the client wants it. */
  server: string;
  user?: string;
  pass?: string;
  token?: string;
}

/**
 * Reads `nats://[USER:PASS@|TOKEN@]HOST:PORT` (the port defaults to 4222).
 *
 * @throws {TypeError} "Cannot use cluster URL …" for anything else (the URL redacted)
 */
export function parseNatsUrl(url: string): NatsServer {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`Cannot use cluster URL ${url}: not a URL`);
  }
  if (u.protocol !== "nats:" || u.hostname === "") {
    throw new TypeError(
      `Cannot use cluster URL ${
        redactUrl(url, { loneUserIsSecret: true })
      }: expected nats://HOST:PORT`,
    );
  }
  const parsed: NatsServer = { server: `${u.hostname}:${u.port === "" ? 4222 : u.port}` };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  if (pass !== "") Object.assign(parsed, { user, pass });
  else if (user !== "") parsed.token = user;
  return parsed;
}

let resetsIgnored = false;

/**
 * nats.js (transport-node) removes a socket's listeners before destroying
 * it, and Deno's `node:net` throws a reset that arrives then (NATS refusing
 * the credentials and closing) as an uncaught error, which would end the
 * process. Such a reset says no more than the close nats.js has seen.
 */
function ignoreLateSocketResets(): void {
  if (resetsIgnored) return;
  resetsIgnored = true;
  globalThis.addEventListener("error", (event) => {
    const code = (event.error as { code?: unknown } | null)?.code;
    if (code === "ECONNRESET" || code === "EPIPE") event.preventDefault();
  });
}

/** The rooms of a state answer that are well formed (another node's word is checked, not trusted). */
function readRooms(value: unknown): RoomSnapshot[] {
  if (!Array.isArray(value)) return [];
  const names = (list: unknown) =>
    Array.isArray(list) ? list.filter((name): name is string => typeof name === "string") : [];
  const rooms: RoomSnapshot[] = [];
  for (const entry of value) {
    if (typeof entry !== "object" || entry === null || typeof entry.room !== "string") continue;
    rooms.push({
      room: entry.room,
      topic: typeof entry.topic === "string" ? entry.topic : "",
      guests: names(entry.guests),
      accounts: names(entry.accounts),
    });
  }
  return rooms;
}

/**
 * A presence change published by another node, checked: "users" for "the
 * users online changed", null for this node's own (or one not well formed).
 */
function readPresence(value: unknown, self: string): PresenceChange | "users" | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.node === self) return null;
  if (v.users === true) return "users";
  const user = v.user as Record<string, unknown> | null;
  if (typeof v.name !== "string" || typeof user !== "object" || user === null) return null;
  if (user.account_name !== v.name || typeof user.state !== "string") return null;
  const shownTo = Array.isArray(v.shownTo)
    ? v.shownTo.filter((name): name is string => typeof name === "string")
    : null;
  return {
    name: v.name,
    user: user as unknown as ContactPresence,
    shownTo,
    everyone: v.everyone === true,
  };
}

/** A direct message's {@linkcode DirectOrder}, checked; undefined when absent or not well formed. */
function readOrder(value: unknown): DirectOrder | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { sender, seq, after } = value as Record<string, unknown>;
  if (typeof sender !== "string" || !Number.isSafeInteger(seq)) return undefined;
  const order: DirectOrder = { sender, seq: seq as number };
  if (Number.isSafeInteger(after)) order.after = after as number;
  return order;
}

/** The names of an answer to {@linkcode Cluster.online}, checked. */
function readOnline(value: unknown): OnlineName[] {
  if (!Array.isArray(value)) return [];
  return value.filter((entry): entry is OnlineName =>
    typeof entry?.name === "string" && typeof entry?.since === "number"
  );
}

/** A name this node claims. */
interface Claim {
  /** Its key in `jim_names`: {@linkcode claimKey}, or {@linkcode besideKey}. */
  key: string;
  revision: number;
  /** Whether an account holds it (two look-alike accounts may be online at once). */
  account: boolean;
  /** Direct messages to it. */
  sub: Subscription;
}

/** A node's link to the others. */
export class Cluster {
  readonly nodeId: string;
  readonly #nc: NatsConnection;
  readonly #kv: KV;
  readonly #roomsKv: KV;
  readonly #membersSub: Subscription;
  readonly #nodesKv: KV;
  /** This node's liveness record's revision. */
  #aliveRevision: number;
  readonly #stateSub: Subscription;
  readonly #presenceSub: Subscription;
  readonly #onlineSub: Subscription;
  readonly #statsSub: Subscription;
  /**
   * Guests of other nodes in rooms: node → room → names, so that a node's
   * members can be dropped when it dies.
   */
  readonly #remote = new Map<string, Map<string, Set<string>>>();
  /** While {@linkcode sync} runs: what changed meanwhile (newer than the answers). */
  #syncing: { members: Set<string>; topics: Set<string> } | null = null;
  /** Membership changes received from each other node (it was alive when it sent them). */
  readonly #heard = new Map<string, number>();
  /** Whether a check of the other nodes' liveness is under way. */
  #checking = false;
  readonly #log: (line: string) => void;
  readonly #requestTimeoutMs: number;
  /** How long a direct message from another node may wait to be written before it is answered. */
  readonly #writtenWaitMs: number;
  readonly #statePartBytes: number;
  /** Names claimed by this node → the claim's KV revision and the subscription for direct messages. */
  readonly #claims = new Map<string, Claim>();
  /**
   * Names being let go → settles once what the session left is stored (its
   * unsent messages, its acknowledgements); meanwhile their subscriptions
   * still answer, and the claims are held.
   */
  readonly #releasing = new Map<string, Promise<void>>();
  /** Names being let go → settles once the claim is deleted (see release). */
  readonly #freeing = new Map<string, Promise<void>>();
  /**
   * Names being registered here, reserved in `jim_names` so that no node
   * lets a guest take one meanwhile: the key and its revision.
   */
  readonly #reservations = new Map<string, { key: string; revision: number }>();
  /**
   * Keys this node may have left behind (a delete or a create that failed,
   * NATS away): deleted at each check while they name this node and nothing
   * here holds them, since a claim of a live node never expires.
   */
  readonly #undeleted = new Set<string>();
  /** Keys created here for a claim or reservation that is not in place yet. */
  readonly #pending = new Set<string>();
  /** Keys of claims and reservations being let go here (until their delete is done). */
  readonly #letting = new Set<string>();
  /** Rooms this node listens to, and when the server has each subscription. */
  readonly #rooms = new Map<string, { sub: Subscription; ready: Promise<void> }>();
  /** Releases under way (see release), awaited by close. */
  readonly #released = new Set<Promise<void>>();
  #handlers: ClusterHandlers | null = null;
  readonly #renewer: ReturnType<typeof setInterval>;
  #closed = false;
  /** The liveness record's renewal period (TTL/3), in ms. */
  readonly #renewMs: number;
  /** The other live nodes as last listed, and when (see {@linkcode Cluster.online}). */
  #nodesListed: { at: number; nodes: Promise<Set<string>> } | null = null;

  private constructor(
    nc: NatsConnection,
    buckets: { kv: KV; roomsKv: KV; nodesKv: KV; aliveRevision: number },
    options: ClusterOptions,
    renewMs: number,
  ) {
    this.nodeId = options.nodeId;
    this.#nc = nc;
    this.#kv = buckets.kv;
    this.#roomsKv = buckets.roomsKv;
    this.#nodesKv = buckets.nodesKv;
    this.#aliveRevision = buckets.aliveRevision;
    this.#log = options.log ?? (() => {});
    // One subject for every room: what one node publishes reaches the others in order.
    this.#membersSub = this.#listen(MEMBERS_SUBJECT, "membership change", (change, _, handlers) => {
      const { node, room } = change;
      if (typeof room !== "string") throw new TypeError("no room");
      if (typeof change.topic === "string") {
        this.#syncing?.topics.add(room);
        const from = typeof change.from === "string" ? change.from : "";
        handlers.topic(room, change.topic, from, node === this.nodeId);
      } else if (node !== this.nodeId) {
        if (typeof change.name !== "string") throw new TypeError("no name");
        const joined = change.joined === true;
        const account = change.account === true;
        this.#syncing?.members.add(`${room}\n${change.name}`);
        this.#untrack(room, change.name);
        if (joined && !account) this.#track(node, room, change.name);
        this.#heard.set(node, (this.#heard.get(node) ?? 0) + 1);
        handlers.member(room, change.name, joined, account);
      }
    });
    this.#stateSub = this.#listen(STATE_SUBJECT, "state request", ({ node }, msg) => {
      if (msg.reply && node !== this.nodeId) this.#answerState(msg.reply);
    });
    this.#presenceSub = this.#listen(PRESENCE_SUBJECT, "presence change", (body, _, handlers) => {
      if (body?.[NODES_CHANGED] === true) {
        if (body.node !== this.nodeId) this.#nodesListed = null;
        return;
      }
      const change = readPresence(body, this.nodeId);
      if (change === "users") handlers.usersChanged();
      else if (change !== null) handlers.presence(change);
    });
    this.#onlineSub = this.#listen(ONLINE_SUBJECT, "users request", (body, msg, handlers) => {
      const { node, viewer } = body;
      if (!msg.reply || node === this.nodeId || typeof viewer !== "string") return;
      const users = handlers.online(viewer);
      this.#nc.publish(msg.reply, JSON.stringify({ node: this.nodeId, users }));
    });
    this.#statsSub = this.#listen(STATS_SUBJECT, "stats request", ({ node }, msg, handlers) => {
      if (!msg.reply || node === this.nodeId) return;
      this.#nc.publish(msg.reply, JSON.stringify({ node: this.nodeId, ...handlers.stats() }));
    });
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 2000;
    this.#writtenWaitMs = Math.floor(this.#requestTimeoutMs / 4);
    this.#statePartBytes = options.statePartBytes ?? 128 * 1024;
    this.#renewMs = renewMs;
    this.#renewer = setInterval(() => {
      if (this.#checking) return;
      this.#checking = true;
      this.#checkNodes().finally(() => this.#checking = false);
    }, renewMs);
  }

  /**
   * Subscribes to a subject on which the other nodes publish JSON. Nothing is
   * handled before the hub serves; a body that does not parse, or that its
   * handler throws on, is logged as a bad `what` and dropped: another node's
   * word is checked, not trusted, and never ends this one.
   */
  #listen(
    subject: string,
    what: string,
    // deno-lint-ignore no-explicit-any
    handle: (body: any, msg: Msg, handlers: ClusterHandlers) => void,
  ): Subscription {
    return this.#nc.subscribe(subject, {
      callback: (err, msg) => {
        const handlers = this.#handlers;
        if (err || !handlers) return;
        try {
          handle(JSON.parse(decoder.decode(msg.data)), msg, handlers);
        } catch (e) {
          this.#log(`bad ${what} from the cluster: ${e}`);
        }
      },
    });
  }

  /** Sends what this node holds of rooms to a node that starts, in parts; the last says so. */
  #answerState(reply: string): void {
    const limit = this.#statePartBytes;
    let part: RoomSnapshot[] = [];
    let bytes = 0;
    const flush = (last: boolean) => {
      this.#nc.publish(reply, JSON.stringify({ node: this.nodeId, rooms: part, last }));
      part = [];
      bytes = 0;
    };
    // Sizes are counted at their most (3 bytes of UTF-8 per UTF-16 unit) plus JSON's quotes.
    for (const { room, topic, guests, accounts } of this.#handlers?.snapshot() ?? []) {
      const head = (room.length + topic.length) * 3 + 64;
      const open = (): RoomSnapshot => {
        if (bytes > 0 && bytes + head >= limit) flush(false);
        const entry: RoomSnapshot = { room, topic, guests: [], accounts: [] };
        part.push(entry);
        bytes += head;
        return entry;
      };
      // A room with many members goes in several entries, in several parts.
      let entry = open();
      for (const [names, account] of [[guests, false], [accounts, true]] as const) {
        for (const name of names) {
          const size = name.length * 3 + 3;
          if (bytes + size >= limit) {
            flush(false);
            entry = open();
          }
          (account ? entry.accounts : entry.guests).push(name);
          bytes += size;
        }
      }
    }
    flush(true);
  }

  /**
   * Learns, from the nodes that run, the members of rooms online there and
   * the rooms' topics (a guests' room's topic is in memory only), before
   * this node takes clients. Waits for every live node's answer, at most the
   * request timeout (a node just killed is still in {@linkcode NODES_BUCKET}).
   */
  async sync(): Promise<void> {
    const others: string[] = [];
    for await (const key of await this.#nodesKv.keys()) {
      if (key !== token(this.nodeId)) others.push(key);
    }
    if (others.length === 0) return;
    const syncing = { members: new Set<string>(), topics: new Set<string>() };
    this.#syncing = syncing;
    const answers: { node: string; rooms: RoomSnapshot[] }[] = [];
    const finished = new Set<string>();
    try {
      await this.#gather(STATE_SUBJECT, { node: this.nodeId }, "state answer", true, (answer) => {
        answers.push({ node: String(answer.node), rooms: readRooms(answer.rooms) });
        if (answer.last === true) finished.add(String(answer.node));
        return finished.size >= others.length;
      });
    } finally {
      this.#syncing = null;
    }
    const handlers = this.#handlers;
    if (!handlers) return;
    // Members first: a topic is kept only for a room known here.
    for (const { node, rooms } of answers) {
      for (const { room, guests, accounts } of rooms) {
        // A change seen meanwhile is newer than the answer.
        for (const name of guests) {
          if (syncing.members.has(`${room}\n${name}`)) continue;
          this.#track(node, room, name);
          handlers.member(room, name, true, false);
        }
        for (const name of accounts) {
          if (!syncing.members.has(`${room}\n${name}`)) handlers.member(room, name, true, true);
        }
      }
    }
    for (const { rooms } of answers) {
      for (const { room, topic } of rooms) {
        if (topic !== "" && !syncing.topics.has(room)) handlers.topic(room, topic, "", false);
      }
    }
  }

  /** Notes a guest of another node in a room. */
  #track(node: string, room: string, name: string): void {
    let rooms = this.#remote.get(node);
    if (!rooms) this.#remote.set(node, rooms = new Map());
    let names = rooms.get(room);
    if (!names) rooms.set(room, names = new Set());
    names.add(name);
  }

  /** Forgets a guest of any other node in a room (it left, or joined as someone else's). */
  #untrack(room: string, name: string): void {
    for (const rooms of this.#remote.values()) {
      const names = rooms.get(room);
      if (names?.delete(name) && names.size === 0) rooms.delete(room);
    }
  }

  /**
   * Renews this node's liveness record (which keeps its claims), deletes
   * what it could not delete before, and drops the members of nodes whose
   * record has expired (killed: they told nobody).
   */
  async #checkNodes(): Promise<void> {
    const value = JSON.stringify({ node: this.nodeId });
    const key = token(this.nodeId);
    try {
      try {
        this.#aliveRevision = await this.#nodesKv.update(key, value, this.#aliveRevision);
      } catch (e) {
        if (!isWrongRevision(e)) throw e;
        // Ours expired (NATS was away longer than the TTL): the others have
        // dropped this node's members, and may have taken its claims over.
        this.#aliveRevision = await this.#nodesKv.put(key, value);
        this.#log("this node's liveness record had expired: announcing its room members again");
        this.#announce();
        await this.#reassert();
      }
    } catch (e) {
      this.#log(`cannot renew this node's liveness record: ${e}`);
      return;
    }
    for (const stale of [...this.#undeleted]) {
      try {
        const entry = await this.#kv.get(stale);
        if (
          entry !== null && entry.operation === "PUT" && nodeOf(entry.string()) === this.nodeId &&
          !this.#ownsKey(stale)
        ) {
          // On its revision: a claim here may take it over meanwhile.
          await this.#kv.delete(stale, { previousSeq: entry.revision });
        }
      } catch (e) {
        if (!isWrongRevision(e)) continue; // NATS still away: next time
      }
      this.#undeleted.delete(stale);
    }
    for (const [node, rooms] of [...this.#remote]) {
      const heard = this.#heard.get(node);
      let entry;
      try {
        entry = await this.#nodesKv.get(token(node));
      } catch (e) {
        this.#log(`cannot check node ${node}: ${e}`);
        return;
      }
      if (entry !== null && entry.operation === "PUT") continue;
      this.#dropGone(node, rooms, heard);
    }
  }

  /**
   * Drops the room members of a node whose record is gone (killed), unless
   * it published meanwhile (its members again, its record just written).
   */
  #dropGone(node: string, rooms: Map<string, Set<string>>, heard: number | undefined): void {
    if (this.#remote.get(node) !== rooms || this.#heard.get(node) !== heard) return;
    this.#remote.delete(node);
    this.#heard.delete(node);
    const members: RoomMember[] = [];
    for (const [room, names] of rooms) for (const name of names) members.push({ room, name });
    if (members.length === 0) return;
    this.#log(`node ${node} is gone: dropping its ${members.length} room members`);
    this.#handlers?.gone(members, Date.now());
  }

  /**
   * Checks at once (not at the next renewal) the records of the nodes that
   * hold guests of `room`, and drops the members of those that are gone: a
   * join then finds a room emptied by dead nodes gone, as every node will.
   */
  async checkNodesIn(room: string): Promise<void> {
    for (const [node, rooms] of [...this.#remote]) {
      if (!rooms.has(room)) continue;
      const heard = this.#heard.get(node);
      const entry = await this.#nodesKv.get(token(node));
      if (entry === null || entry.operation !== "PUT") this.#dropGone(node, rooms, heard);
    }
  }

  /**
   * Writes every claim and reservation of this node again on its revision,
   * once its liveness record is written again after it had expired: another
   * node may have taken a claim over meanwhile (then the write fails, and
   * the session here is dropped: no name has two holders). A claimer reads
   * the claim before the record, so its takeover and this write cannot both
   * pass.
   */
  async #reassert(): Promise<void> {
    for (const [name, claim] of [...this.#claims]) {
      const revision = claim.revision;
      try {
        claim.revision = await this.#kv.update(
          claim.key,
          this.#value(name, claim.account),
          revision,
        );
        // Let go while the write ran: its delete missed the new revision.
        if (this.#claims.get(name) !== claim) this.#undeleted.add(claim.key);
        continue;
      } catch (e) {
        if (!isWrongRevision(e)) {
          this.#log(`cannot write the claim on ${name} again: ${e}`);
          continue;
        }
      }
      if (this.#claims.get(name) !== claim || claim.revision !== revision) continue; // moved or let go
      this.#claims.delete(name);
      claim.sub.unsubscribe();
      this.#log(`lost the claim on ${name} to another node`);
      this.#handlers?.lost(name);
    }
    for (const [name, reservation] of [...this.#reservations]) {
      try {
        reservation.revision = await this.#kv.update(
          reservation.key,
          this.#reservationValue(name),
          reservation.revision,
        );
      } catch (e) {
        this.#log(`cannot write the reservation of ${name} again: ${e}`);
      }
    }
  }

  /** Publishes every member online here and every topic known, as joins and topic changes. */
  #announce(): void {
    for (const { room, topic, guests, accounts } of this.#handlers?.snapshot() ?? []) {
      for (const name of guests) this.publishMember(room, name, true, false);
      for (const name of accounts) this.publishMember(room, name, true, true);
      if (topic !== "") this.publishTopic(room, topic, "");
    }
  }

  /**
   * Connects to NATS and opens the claims bucket (creating it with the TTL
   * if it does not exist).
   *
   * @throws {Error} "Cannot join cluster …" when NATS or JetStream is not there
   */
  static async connect(options: ClusterOptions): Promise<Cluster> {
    const { server, ...credentials } = parseNatsUrl(options.url);
    ignoreLateSocketResets();
    const ttl = options.claimTtlMs ?? 6000;
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({
        servers: server,
        ...credentials,
        name: `jim ${options.nodeId}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
      const kvm = new Kvm(nc);
      // No TTL: a claim lives as long as its node's liveness record.
      const kv = await kvm.create(BUCKET, { history: 1 });
      await dropBucketTtl(nc, BUCKET, options.log);
      const roomsKv = await kvm.create(ROOMS_BUCKET, { history: 1 });
      const nodesKv = await kvm.create(NODES_BUCKET, { ttl, history: 1 });
      const aliveRevision = await nodesKv.put(
        token(options.nodeId),
        JSON.stringify({ node: options.nodeId }),
      );
      // A third of the TTL: two renewals may be missed (a stall) before the record expires.
      const cluster = new Cluster(
        nc,
        { kv, roomsKv, nodesKv, aliveRevision },
        options,
        Math.max(100, Math.floor(ttl / 3)),
      );
      // The subscription to membership changes is in place before the port opens.
      await nc.flush();
      return cluster;
    } catch (e) {
      await nc?.close().catch(() => {});
      const where = redactUrl(options.url, { loneUserIsSecret: true });
      throw new Error(`Cannot join cluster ${where}: ${e instanceof Error ? e.message : e}`, {
        cause: e,
      });
    }
  }

  /** Sets what this node does with messages from other nodes. */
  serve(handlers: ClusterHandlers): void {
    this.#handlers = handlers;
    // Before any session here: a `who` elsewhere after one logs in here asks this node too.
    this.#publish(PRESENCE_SUBJECT, JSON.stringify({ node: this.nodeId, [NODES_CHANGED]: true }));
  }

  /**
   * Claims a name for this node across the cluster: true, or the name that
   * another node (or this one) holds, the same or one that looks like it.
   * `own`: the name the asking session holds now (a look-alike of it is no
   * conflict: the claim moves); `account`: an account logs in.
   */
  async claim(
    name: string,
    options: { own?: string | null; account?: boolean } = {},
  ): Promise<true | string> {
    const { own = null, account = false } = options;
    // A look-alike of the name it holds: the same key, which it keeps.
    const held = own === null ? undefined : this.#claims.get(own);
    if (own !== name && held?.key === claimKey(name)) return await this.#move(own!, name, account);
    let key = claimKey(name);
    const value = this.#value(name, account);
    const created: string[] = [];
    let claimed = false;
    try {
      let revision = await this.#create(key, value, created);
      // Held by a session that has just ended (its connection closed, and the
      // node is storing what it left): taken once that node lets it go.
      if (revision === null && await this.#letGo(name)) {
        revision = await this.#create(key, value, created);
      }
      if (revision === null) {
        const holder = await this.#holder(key, name);
        // Two accounts that look alike (registered before names were
        // compared) may both log in, as on one node: the second holds a key
        // of its own beside the first's.
        if (!account || holder === null || !holder.account || holder.name === name) {
          return holder?.name ?? name;
        }
        key = besideKey(name);
        revision = await this.#create(key, value, created);
        if (revision === null) return name;
      } else if (account) {
        // It may hold the key beside this one, taken while a look-alike held this.
        if (await this.#holder(besideKey(name), name) !== null) {
          await this.#kv.delete(key, { previousSeq: revision }).catch((e) => {
            if (!isWrongRevision(e)) this.#undeleted.add(key);
          });
          return name;
        }
      }
      this.#claims.set(name, { key, revision, account, sub: this.#subscribeUser(name) });
      claimed = true;
      // The server has the subscription before the login is answered: a
      // message sent from another node right after finds the user online.
      await this.#nc.flush();
      return true;
    } catch (e) {
      // A key created for a claim that failed would outlive it.
      if (!claimed) { for (const stale of created) this.#undeleted.add(stale); }
      throw e;
    } finally {
      for (const done of created) this.#pending.delete(done);
    }
  }

  /**
   * Asks the node holding `name` whether it is letting it go: true once it
   * has (or when nobody answers: the claim may be gone already), false when
   * a session holds it there, or no answer came within the request timeout.
   */
  async #letGo(name: string): Promise<boolean> {
    try {
      const reply = await this.#nc.request(
        `jim.user.${token(name)}`,
        JSON.stringify({ free: true }),
        { timeout: this.#requestTimeoutMs },
      );
      return decoder.decode(reply.data) === "1";
    } catch (e) {
      if (e instanceof RequestError && e.isNoResponders()) return true;
      this.#log(`cannot ask whether ${name} is being let go: ${e}`);
      return false;
    }
  }

  /** Moves this node's claim on `own` to `name`, which looks like it (one key for both). */
  async #move(own: string, name: string, account: boolean): Promise<true | string> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const claim = this.#claims.get(own);
      if (claim === undefined) break; // released meanwhile
      let revision;
      try {
        revision = await this.#kv.update(claim.key, this.#value(name, account), claim.revision);
      } catch (e) {
        if (!isWrongRevision(e)) throw e;
        continue; // written again (a new revision), or taken over: look again
      }
      const moved = { key: claim.key, revision, account, sub: this.#subscribeUser(name) };
      if (this.#claims.get(own) !== claim) {
        // Released while the update ran: the key is this name's now, or nobody's.
        this.#claims.set(name, moved);
        this.release(name);
        break;
      }
      claim.sub.unsubscribe();
      this.#claims.delete(own);
      this.#claims.set(name, moved);
      await this.#nc.flush();
      return true;
    }
    return await this.holderOf(name) ?? name;
  }

  /** What a claim holds: the node, the name (one of a skeleton's), and whether it is an account. */
  #value(name: string, account: boolean): string {
    return JSON.stringify({ node: this.nodeId, name, account });
  }

  /**
   * The name held in the cluster that `name` shares a claim with (itself, or
   * one that looks like it), or null when none is held.
   */
  async holderOf(name: string): Promise<string | null> {
    return (await this.#holder(claimKey(name), name))?.name ?? null;
  }

  /**
   * Who holds a key (`name` when it does not say), or null when nobody does
   * (none, or a dead node's claim). `live`: the nodes looked up so far.
   */
  async #holder(
    key: string,
    name: string,
    live = new Map<string, Promise<boolean>>(),
  ): Promise<{ name: string; account: boolean; reserved: boolean } | null> {
    const entry = await this.#kv.get(key);
    if (entry === null || entry.operation !== "PUT") return null;
    let value;
    try {
      value = JSON.parse(entry.string());
    } catch {
      return { name, account: false, reserved: false };
    }
    const node = typeof value?.node === "string" ? value.node : null;
    if (node !== null && node !== this.nodeId) {
      let alive = live.get(node);
      if (alive === undefined) live.set(node, alive = this.#alive(node));
      if (!await alive) return null; // free for the next claimer
    }
    return {
      name: typeof value?.name === "string" ? value.name : name,
      account: value?.account === true,
      reserved: value?.reserved === true,
    };
  }

  /** Whether a node's liveness record is there. */
  async #alive(node: string): Promise<boolean> {
    const entry = await this.#nodesKv.get(token(node));
    return entry !== null && entry.operation === "PUT";
  }

  /**
   * Whether this node holds a key, or is taking or letting it go: a key of
   * this node's that it does not own was left behind (a delete or a create
   * whose answer NATS lost).
   */
  #ownsKey(key: string): boolean {
    if (this.#pending.has(key) || this.#letting.has(key)) return true;
    for (const claim of this.#claims.values()) if (claim.key === key) return true;
    for (const reservation of this.#reservations.values()) {
      if (reservation.key === key) return true;
    }
    return false;
  }

  /**
   * Creates a key (a claim or a reservation) with `value`: its revision, or
   * null when a live node holds it. A dead node's key (its liveness record
   * gone) is taken over on its revision, as is one this node left behind:
   * claims are never renewed, and live as long as their node. A key created
   * is pending (see {@linkcode #ownsKey}) and listed in `created` until the
   * caller has put its claim or reservation in place.
   */
  async #create(key: string, value: string, created: string[]): Promise<number | null> {
    const made = (revision: number) => {
      this.#pending.add(key);
      created.push(key);
      return revision;
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return made(await this.#kv.create(key, value));
      } catch (e) {
        if (!isWrongRevision(e)) {
          this.#undeleted.add(key); // it may have been written
          throw e;
        }
      }
      // The claim is read before its node's record: a node that finds its
      // record expired writes it again, then each claim on its revision
      // (#reassert), so this takeover and that write cannot both pass.
      const entry = await this.#kv.get(key);
      if (entry === null || entry.operation !== "PUT") continue; // deleted meanwhile
      const node = nodeOf(entry.string());
      if (node === this.nodeId ? this.#ownsKey(key) : node === null || await this.#alive(node)) {
        return null;
      }
      try {
        return made(await this.#kv.update(key, value, entry.revision));
      } catch (e) {
        if (!isWrongRevision(e)) throw e;
      }
    }
    return null;
  }

  /**
   * Lets a name this node claimed go, once `settled` has (what its session
   * left is stored): until then the claim is held, so that no other node
   * reads the mailbox before that is in it, and a direct message that
   * reaches this node is answered "not here" only after it, so that the
   * sender stores it after it. Then the subscription is drained (every
   * request that reached this node is answered; later ones find no
   * responders, never a silent node) and the claim deleted.
   */
  release(name: string, settled: Promise<unknown> = Promise.resolve()): void {
    const claim = this.#claims.get(name);
    if (claim === undefined) return;
    this.#claims.delete(name);
    this.#letting.add(claim.key);
    const ready = settled.then(() => {}, () => {});
    this.#releasing.set(name, ready);
    const done = ready.then(async () => {
      await claim.sub.drain().catch((e) => this.#log(`cannot drain ${name}: ${e}`));
      // Only our own claim (its revision): it may have been taken over since.
      await this.#kv.delete(claim.key, { previousSeq: claim.revision }).catch((e) => {
        if (isWrongRevision(e)) return;
        // It would outlive the session: deleted again at the next check.
        this.#undeleted.add(claim.key);
        this.#log(`cannot release the claim on ${name}: ${e}`);
      });
    }).finally(() => {
      this.#letting.delete(claim.key);
      if (this.#releasing.get(name) === ready) this.#releasing.delete(name);
      if (this.#freeing.get(name) === done) this.#freeing.delete(name);
      this.#released.delete(done);
    });
    this.#released.add(done);
    this.#freeing.set(name, done);
  }

  /** Resolves once every name let go so far is free (its claim deleted), for any node to take. */
  async released(): Promise<void> {
    await Promise.all([...this.#released]);
  }

  #reservationValue(name: string): string {
    return JSON.stringify({ node: this.nodeId, name, account: false, reserved: true });
  }

  /**
   * Reserves a name being registered here across the cluster: true, or the
   * name another node (or this one) holds or reserves, the same or one that
   * looks like it. `own`: the name the registering session holds; when it
   * shares the key, its claim holds the name already.
   */
  async reserve(name: string, own: string | null = null): Promise<true | string> {
    const key = claimKey(name);
    if (own !== null && this.#claims.get(own)?.key === key) return true;
    const created: string[] = [];
    try {
      const revision = await this.#create(key, this.#reservationValue(name), created);
      if (revision !== null) {
        this.#reservations.set(name, { key, revision });
        return true;
      }
    } finally {
      for (const done of created) this.#pending.delete(done);
    }
    return await this.holderOf(name) ?? name;
  }

  /** Ends a reservation: resolves once the name is free for any node to take. */
  async unreserve(name: string): Promise<void> {
    const reservation = this.#reservations.get(name);
    if (reservation === undefined) return;
    this.#reservations.delete(name);
    this.#letting.add(reservation.key);
    await this.#kv.delete(reservation.key, { previousSeq: reservation.revision }).catch((e) => {
      if (isWrongRevision(e)) return;
      this.#undeleted.add(reservation.key);
      this.#log(`cannot end the reservation of ${name}: ${e}`);
    }).finally(() => this.#letting.delete(reservation.key));
  }

  /** Whether `name` is reserved (being registered) on some node. */
  async isReservation(name: string): Promise<boolean> {
    const holder = await this.#holder(claimKey(name), "");
    return holder !== null && holder.reserved && holder.name === name;
  }

  #subscribeUser(name: string): Subscription {
    return this.#nc.subscribe(`jim.user.${token(name)}`, {
      callback: (err, msg) => {
        if (err || !this.#handlers) return;
        let body;
        try {
          body = JSON.parse(decoder.decode(msg.data));
        } catch (e) {
          this.#log(`bad direct message from the cluster: ${e}`);
          msg.respond("0");
          return;
        }
        if (body?.mail === true) {
          this.#handlers.mail(name);
          return;
        }
        if (body?.free === true) {
          // Another node wants the name: answered "1" once this node's claim
          // is deleted, when it is letting it go; "0" when it holds it.
          const freeing = this.#freeing.get(name);
          if (freeing === undefined) msg.respond("0");
          else void freeing.then(() => msg.respond("1"));
          return;
        }
        if (typeof body?.who === "string") {
          msg.respond(JSON.stringify(this.#handlers.whois(name, body.who)));
          return;
        }
        if (body?.watched === true) {
          this.#handlers.watched(name);
          return;
        }
        if (body?.pubkey === true) {
          msg.respond(JSON.stringify(this.#handlers.pubkey(name)));
          return;
        }
        if (typeof body?.admin === "string") {
          const command = ADMIN_COMMANDS.includes(body.admin)
            ? body.admin as AdminDisconnect
            : null;
          msg.respond(command && this.#handlers.admin(name, command) ? "1" : "0");
          return;
        }
        void this.#answerDirect(name, body, (answer) => msg.respond(answer));
      },
    });
  }

  /** Hands a direct message to the hub and answers "1" (delivered) or "0" (not here). */
  async #answerDirect(
    name: string,
    body: { message?: unknown; guest?: unknown; order?: unknown },
    respond: (answer: string) => void,
  ): Promise<void> {
    let delivered = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (body?.message !== null && typeof body?.message === "object") {
        const handed = this.#handlers!.direct(
          name,
          body.message as Record<string, unknown>,
          body.guest === true,
          readOrder(body.order),
        );
        // Its session did not have the sender's earlier one: sent again later.
        if (handed === "again") return respond("2");
        if (handed !== false) {
          // Queued to a session here: answered once it is written; one not
          // written within a quarter of the request timeout (a slow reader),
          // or behind one that was not, is made durable first, so that its
          // sender gets no 500 and a 200 survives this node's death.
          const written = handed.stalled ? "late" : await Promise.race([
            handed.written,
            new Promise<"late">((resolve) =>
              timer = setTimeout(() => resolve("late"), this.#writtenWaitMs)
            ),
          ]);
          delivered = written !== "late" ? written : await handed.keep() || await handed.written;
        }
      }
    } catch (e) {
      this.#log(`cannot deliver a direct message from the cluster: ${e}`);
    } finally {
      clearTimeout(timer);
    }
    // Not here any more: the sender stores it, after what the session left.
    // Here, but left meanwhile: answered once what it left (this one among
    // its unsent messages) is stored.
    await this.#releasing.get(name);
    respond(delivered ? "1" : "0");
  }

  /**
   * Asks the node holding `name` whether `viewer` sees it online, and its
   * status: null when no node holds it or it hides from `viewer`.
   */
  async whois(name: string, viewer: string): Promise<{ status: string } | null> {
    try {
      const reply = await this.#nc.request(
        `jim.user.${token(name)}`,
        JSON.stringify({ who: viewer }),
        { timeout: this.#requestTimeoutMs },
      );
      const answer = JSON.parse(decoder.decode(reply.data));
      return answer === null
        ? null
        : { status: typeof answer.status === "string" ? answer.status : "" };
    } catch (e) {
      if (e instanceof RequestError && e.isNoResponders()) return null;
      throw e;
    }
  }

  /**
   * The public key the session holding `name` on another node announced,
   * and whether it is an account; null when no node holds it.
   */
  async pubkey(name: string): Promise<{ key: string | null; account: boolean } | null> {
    try {
      const reply = await this.#nc.request(
        `jim.user.${token(name)}`,
        JSON.stringify({ pubkey: true }),
        { timeout: this.#requestTimeoutMs },
      );
      const answer = JSON.parse(decoder.decode(reply.data));
      if (answer === null || typeof answer !== "object") return null;
      return {
        key: typeof answer.key === "string" ? answer.key : null,
        account: answer.account === true,
      };
    } catch (e) {
      if (e instanceof RequestError && e.isNoResponders()) return null;
      throw e;
    }
  }

  /**
   * Asks the node holding `name`, if any, to disconnect it for `jim admin`
   * (see {@linkcode ClusterHandlers.admin}): true when it did.
   */
  async adminDisconnect(name: string, command: AdminDisconnect): Promise<boolean> {
    try {
      const reply = await this.#nc.request(
        `jim.user.${token(name)}`,
        JSON.stringify({ admin: command }),
        { timeout: this.#requestTimeoutMs },
      );
      return decoder.decode(reply.data) === "1";
    } catch (e) {
      if (e instanceof RequestError && e.isNoResponders()) return false;
      throw e;
    }
  }

  /**
   * The other nodes' counts for `jim admin stats`: every live node's answer,
   * or those that came within the request timeout.
   */
  async stats(): Promise<NodeStats[]> {
    await this.#nc.flush();
    const others = await this.#otherNodes();
    if (others.size === 0) return [];
    const answers = new Map<string, NodeStats>();
    const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0 ? v as number : 0;
    await this.#gather(STATS_SUBJECT, { node: this.nodeId }, "stats answer", false, (answer) => {
      const node = token(String(answer.node));
      answers.set(node, {
        connections: count(answer.connections),
        online: count(answer.online),
        accounts: count(answer.accounts),
        guests: count(answer.guests),
      });
      return [...others].every((key) => answers.has(key));
    });
    return [...answers.values()];
  }

  /** Tells the node holding `name`, if any, that someone's contact list named it. */
  watched(name: string): void {
    this.#publish(`jim.user.${token(name)}`, WATCHED_NOTICE);
  }

  /** Tells the other nodes of a presence change here, for their watchers of the name. */
  publishPresence(change: PresenceChange): void {
    this.#publish(PRESENCE_SUBJECT, JSON.stringify({ node: this.nodeId, ...change }));
  }

  /** Tells the other nodes that the users online here changed. */
  publishUsersChanged(): void {
    this.#publish(PRESENCE_SUBJECT, JSON.stringify({ node: this.nodeId, users: true }));
  }

  /**
   * Publishes what may come after {@linkcode close} (a change told once the
   * store has written it, or at the end of a turn): then nobody is told.
   */
  #publish(subject: string, data: string): void {
    if (this.#closed) return;
    try {
      this.#nc.publish(subject, data);
    } catch (e) {
      this.#log(`cannot publish on ${subject}: ${e}`);
    }
  }

  /**
   * The names online on the other nodes that `viewer` may see: every live
   * node's answer, or those that came within the request timeout (a node
   * just killed is still listed as live).
   */
  async online(viewer: string): Promise<OnlineName[]> {
    // A node that started or stopped said so before anything else it did
    // (a login there): heard before the list is read.
    await this.#nc.flush();
    const others = await this.#otherNodes();
    if (others.size === 0) return [];
    const users: OnlineName[] = [];
    const answered = new Set<string>();
    await this.#gather(
      ONLINE_SUBJECT,
      { node: this.nodeId, viewer },
      "users answer",
      false,
      (answer) => {
        const node = token(String(answer.node));
        if (answered.has(node)) return false;
        answered.add(node);
        users.push(...readOnline(answer.users));
        return [...others].every((key) => answered.has(key));
      },
    );
    return users;
  }

  /**
   * Asks the other nodes on `subject` and hands each answer to `take` until it
   * says every node is in, or the request timeout passes (a node just killed
   * never answers). An answer that does not parse, or that `take` throws on,
   * is logged as a bad `what` and skipped.
   */
  async #gather(
    subject: string,
    body: unknown,
    what: string,
    flushFirst: boolean,
    // deno-lint-ignore no-explicit-any
    take: (answer: any) => boolean,
  ): Promise<void> {
    let allIn!: () => void;
    const complete = new Promise<void>((resolve) => allIn = resolve);
    const inbox = createInbox();
    const sub = this.#nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err) return;
        try {
          if (take(JSON.parse(decoder.decode(msg.data)))) allIn();
        } catch (e) {
          this.#log(`bad ${what} from the cluster: ${e}`);
        }
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (flushFirst) await this.#nc.flush();
      this.#nc.publish(subject, JSON.stringify(body), { reply: inbox });
      await Promise.race([
        complete,
        new Promise<void>((resolve) => timer = setTimeout(resolve, this.#requestTimeoutMs)),
      ]);
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  }

  /**
   * The other live nodes (their keys in {@linkcode NODES_BUCKET}), listed at
   * most once per renewal period, or again once a node says it started or
   * stopped: listing the bucket takes a consumer, and `who` may come in floods.
   */
  #otherNodes(): Promise<Set<string>> {
    const now = Date.now();
    if (this.#nodesListed && now - this.#nodesListed.at < this.#renewMs) {
      return this.#nodesListed.nodes;
    }
    const nodes = (async () => {
      const others = new Set<string>();
      for await (const key of await this.#nodesKv.keys()) {
        if (key !== token(this.nodeId)) others.add(key);
      }
      return others;
    })();
    this.#nodesListed = { at: now, nodes };
    // A failed listing is not kept.
    nodes.catch(() => {
      if (this.#nodesListed?.nodes === nodes) this.#nodesListed = null;
    });
    return nodes;
  }

  /**
   * Tells the node holding `name`, if any, that mail was stored for it: its
   * session may have read the mailbox before this was in it. (A node that
   * claims the name after this reads the mailbox after it.)
   */
  mailStored(name: string): void {
    this.#nc.publish(`jim.user.${token(name)}`, MAIL_NOTICE);
  }

  /**
   * Sends a direct message to the node holding `to`: true once that node has
   * written it to the session's connection; false when no node holds it (no
   * responders) or its session left meanwhile (then what the session left
   * is stored already, so the caller may store this after it); "again" when
   * its session did not have the sender's message `order.after`.
   *
   * @throws when no answer came within the request timeout (the node may
   * have died before or after writing it) or NATS is away
   */
  async direct(
    to: string,
    message: unknown,
    guest: boolean,
    order?: DirectOrder,
  ): Promise<boolean | "again"> {
    try {
      const reply = await this.#nc.request(
        `jim.user.${token(to)}`,
        JSON.stringify({ message, guest, order }),
        { timeout: this.#requestTimeoutMs },
      );
      const answer = decoder.decode(reply.data);
      return answer === "2" ? "again" : answer === "1";
    } catch (e) {
      if (e instanceof RequestError && e.isNoResponders()) return false;
      throw e;
    }
  }

  /**
   * Listens to a room's messages (this node has members in it); resolves
   * once the server has the subscription, so that a join answered after it
   * misses no message sent from another node.
   */
  joinRoom(room: string): Promise<void> {
    const known = this.#rooms.get(room);
    if (known) return known.ready;
    const sub = this.#nc.subscribe(`jim.room.${token(room)}`, {
      callback: (err, msg) => {
        if (err || !this.#handlers) return;
        try {
          const { node, from, message, id } = JSON.parse(decoder.decode(msg.data));
          const historyId = Number.isSafeInteger(id) && id > 0 ? id : undefined;
          if (node !== this.nodeId) this.#handlers.room(room, from, message, historyId);
        } catch (e) {
          this.#log(`bad room message from the cluster: ${e}`);
        }
      },
    });
    const ready = this.#nc.flush().catch((e) => this.#log(`cannot subscribe to ${room}: ${e}`));
    this.#rooms.set(room, { sub, ready });
    return ready;
  }

  /** Stops listening to a room (no members here any more). */
  leaveRoom(room: string): void {
    this.#rooms.get(room)?.sub.unsubscribe();
    this.#rooms.delete(room);
  }

  /**
   * Creates a room across the cluster: true for the first join anywhere,
   * false when it exists already (on this node or another).
   */
  async createRoom(room: string): Promise<boolean | "replaced"> {
    if (await this.#createRoomKey(room)) return true;
    // Created by a node that is gone, and this node (which knows every
    // room with members anywhere) does not know it: every node that had
    // members in it died. It is free, as after its last member's leave.
    const entry = await this.#roomsKv.get(token(room));
    if (entry === null || entry.operation !== "PUT") return await this.#createRoomKey(room);
    const creator = await this.#nodesKv.get(token(entry.string()));
    if (creator !== null && creator.operation === "PUT") return false;
    try {
      await this.#roomsKv.delete(token(room), { previousSeq: entry.revision });
    } catch (e) {
      if (isWrongRevision(e)) return false;
      throw e;
    }
    return await this.#createRoomKey(room) ? "replaced" : false;
  }

  async #createRoomKey(room: string): Promise<boolean> {
    try {
      await this.#roomsKv.create(token(room), this.nodeId);
      return true;
    } catch (e) {
      if (isWrongRevision(e)) return false;
      throw e;
    }
  }

  /**
   * Deletes the key of a guests' room whose members were all on nodes that
   * died, unless it was created again after `since`. True for the one node
   * whose delete takes (it drops the room's history).
   */
  async dropOrphanRoom(room: string, since: number): Promise<boolean> {
    const entry = await this.#roomsKv.get(token(room));
    if (entry === null || entry.operation !== "PUT" || entry.created.getTime() > since) {
      return false;
    }
    try {
      await this.#roomsKv.delete(token(room), { previousSeq: entry.revision });
      return true;
    } catch (e) {
      if (isWrongRevision(e)) return false;
      throw e;
    }
  }

  /** A guests' room is gone with its last member: the next first join creates it again. */
  dropRoom(room: string): Promise<void> {
    return this.#roomsKv.delete(token(room)).catch((e) =>
      this.#log(`cannot drop the room ${room}: ${e}`)
    );
  }

  /**
   * Resolves once what other nodes published before now has reached this
   * node (the server answers a ping after the messages it queued for it),
   * and what this node published has reached the server.
   */
  async caughtUp(): Promise<void> {
    await this.#nc.flush();
  }

  /** Tells the other nodes that `name` joined or left a room here. */
  publishMember(room: string, name: string, joined: boolean, account: boolean): void {
    // A guest of a node that died may be back here under its name.
    this.#untrack(room, name);
    this.#nc.publish(
      MEMBERS_SUBJECT,
      JSON.stringify({ node: this.nodeId, room, name, joined, account }),
    );
  }

  /**
   * Tells every node (this one too: see {@linkcode ClusterHandlers.topic})
   * that `from` set a room's topic. On the membership subject, so that it
   * follows the joins this node published before.
   */
  publishTopic(room: string, topic: string, from: string): void {
    this.#nc.publish(MEMBERS_SUBJECT, JSON.stringify({ node: this.nodeId, room, topic, from }));
  }

  /** Which of `names` some node holds now (their claims in the KV bucket). */
  async held(names: string[]): Promise<Set<string>> {
    const live = new Map<string, Promise<boolean>>();
    const holders = await Promise.all(
      names.map(async (name) => (await this.#holder(claimKey(name), name, live))?.name),
    );
    return new Set(names.filter((name, i) => holders[i] === name));
  }

  /** Publishes a room message (with its history id, if kept) for the other nodes' members. */
  publishRoom(room: string, from: string, message: unknown, historyId?: number): void {
    this.#nc.publish(
      `jim.room.${token(room)}`,
      JSON.stringify({ node: this.nodeId, from, message, id: historyId }),
    );
  }

  /** Releases every claim and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewer);
    this.#membersSub.unsubscribe();
    this.#stateSub.unsubscribe();
    this.#presenceSub.unsubscribe();
    this.#onlineSub.unsubscribe();
    this.#statsSub.unsubscribe();
    await this.#nodesKv.delete(token(this.nodeId), { previousSeq: this.#aliveRevision })
      .catch(() => {}); // expired or NATS away: the TTL removes it
    // The others list the nodes again, without it: their `who` waits for no answer from it.
    try {
      this.#nc.publish(
        PRESENCE_SUBJECT,
        JSON.stringify({ node: this.nodeId, [NODES_CHANGED]: true }),
      );
    } catch (e) {
      this.#log(`cannot tell the other nodes that this one stops: ${e}`);
    }
    await Promise.all([...this.#released]);
    const claims = [...this.#claims];
    this.#claims.clear();
    await Promise.all(claims.map(async ([, claim]) => {
      claim.sub.unsubscribe();
      try {
        await this.#kv.delete(claim.key, { previousSeq: claim.revision });
      } catch {
        // Taken since, or NATS is away: the TTL frees it.
      }
    }));
    await this.#nc.drain().catch(() => {});
  }
}

/**
 * A {@linkcode Directory} whose names are claimed across the cluster: the
 * holders are this node's sessions, the claims are in NATS.
 */
export class ClusterDirectory<H> extends LocalDirectory<H> {
  readonly #cluster: Cluster;

  constructor(cluster: Cluster) {
    super();
    this.#cluster = cluster;
  }

  override acquire(name: string, options: AcquireOptions = {}): Promise<true | string> {
    return this.#cluster.claim(name, options);
  }

  override async heldLike(name: string): Promise<string | null> {
    return (await super.heldLike(name)) ?? await this.#cluster.holderOf(name);
  }

  override abandon(name: string): void {
    this.#cluster.release(name);
  }

  override release(name: string, holder: H, settled?: Promise<unknown>): boolean {
    if (!super.release(name, holder)) return false;
    this.#cluster.release(name, settled);
    return true;
  }

  override settled(): Promise<void> {
    return this.#cluster.released();
  }

  override reserve(name: string, own: string | null = null): Promise<true | string> {
    super.reserve(name);
    return this.#cluster.reserve(name, own).then((reserved) => {
      if (reserved !== true) super.unreserve(name);
      return reserved;
    }, (e) => {
      super.unreserve(name);
      throw e;
    });
  }

  override unreserve(name: string): Promise<void> {
    super.unreserve(name);
    return this.#cluster.unreserve(name);
  }

  override async reservedAnywhere(name: string): Promise<boolean> {
    return super.isReserved(name) || await this.#cluster.isReservation(name);
  }
}

/** Options for {@linkcode ClusterRouter}. */
export interface ClusterRouterOptions<S> {
  cluster: Cluster;
  directory: Directory<S>;
  delivery: LocalDelivery<S>;
  /** Whether a direct message was sent by a guest (the other node stores it as such if need be). */
  isGuest: (out: Outgoing) => boolean;
}

/** A {@linkcode Router} that delivers here first, then through the cluster. */
export class ClusterRouter<S> implements Router<S> {
  readonly #cluster: Cluster;
  readonly #directory: Directory<S>;
  readonly #delivery: LocalDelivery<S>;
  readonly #isGuest: (out: Outgoing) => boolean;

  constructor(options: ClusterRouterOptions<S>) {
    this.#cluster = options.cluster;
    this.#directory = options.directory;
    this.#delivery = options.delivery;
    this.#isGuest = options.isGuest;
  }

  direct(
    to: string,
    out: Outgoing,
    formFor: FormFor<S>,
    order?: DirectOrder,
  ): boolean | Promise<boolean | "again"> {
    const target = this.#directory.get(to);
    if (target !== undefined) {
      this.#delivery.direct(target, formFor(target));
      return true;
    }
    return this.#cluster.direct(to, out.value, this.#isGuest(out), order);
  }

  room(
    room: string,
    members: Iterable<string>,
    from: string,
    out: Outgoing,
    formFor: FormFor<S>,
    historyId?: number,
  ): void {
    for (const member of members) {
      if (member === from) continue;
      const target = this.#directory.get(member);
      if (target !== undefined) this.#delivery.room(target, formFor(target));
    }
    this.#cluster.publishRoom(room, from, out.value, historyId);
  }

  watchRoom(room: string, watch: boolean): Promise<void> | void {
    if (watch) return this.#cluster.joinRoom(room);
    this.#cluster.leaveRoom(room);
  }
}

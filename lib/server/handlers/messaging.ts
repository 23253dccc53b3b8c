/**
 * Messaging: `msg` to a user or a room, and offline mail (kept for an
 * account that is offline, delivered at its next login, dropped from the
 * store once the client shows it has it). A direct message goes through the
 * router, which hands it to a session here (behind that session's offline
 * mail) or, in a cluster, to the node that holds the name.
 *
 * @module
 */

import { Outgoing } from "../../protocol/codec.ts";
import { type DeliveredMsg, type Response, response, unixTime } from "../../protocol/messages.ts";
import { directConversation } from "../../store/store.ts";
import type { SharedKeep } from "../history.ts";
import type { DirectOrder, FormFor } from "../router.ts";
import type { Session } from "../sessions.ts";
import type { HandlerContext, Handlers } from "./context.ts";

/** Offline messages handed to a connection per round of delivery. */
const OFFLINE_BATCH = 100;

/**
 * A direct message sent by a guest: stored as a guest's if it ends up in the
 * offline store, and another node is told so. A class of its own, not a
 * WeakSet of messages: adding each guest's message to one cost about a
 * microsecond (a fifth of a direct message's CPU; docs/performance.md).
 */
class GuestOutgoing<T> extends Outgoing<T> {}

/** A message to deliver, marked as a guest's when `guest`. */
function outgoing<T>(value: T, guest: boolean): Outgoing<T> {
  return guest ? new GuestOutgoing(value) : new Outgoing(value);
}

/**
 * Senders whose last direct message one session remembers (see
 * {@linkcode Messaging.inOrder}); past it the list starts again.
 */
const SENDERS_REMEMBERED = 256;

/** A sending session's direct messages: its key and number, and those not settled yet. */
interface Sender {
  /** Unique across the cluster (see {@linkcode DirectOrder}). */
  key: string;
  /** The number of its last direct message. */
  seq: number;
  /** By recipient: its last direct message not settled yet. */
  unsettled: Map<string, Unsettled>;
}

/** A direct message not settled yet (answered, and stored if it is to be). */
interface Unsettled {
  /** Settles once it is answered. */
  settled: Promise<void>;
  /** Settles once its outcome is taken (stored ones: handed to the store, in order). */
  decided: Promise<void>;
  /** Its number among its sender's. */
  seq: number;
}

/** What messaging is given. */
export type MessagingContext = Pick<
  HandlerContext,
  | "store"
  | "settings"
  | "directory"
  | "router"
  | "sessions"
  | "cluster"
  | "rooms"
  | "history"
  | "log"
>;

/** Direct and room messages, and offline mail. */
export class Messaging {
  readonly #store: MessagingContext["store"];
  readonly #settings: MessagingContext["settings"];
  readonly #directory: MessagingContext["directory"];
  readonly #router: MessagingContext["router"];
  readonly #sessions: MessagingContext["sessions"];
  readonly #cluster: MessagingContext["cluster"];
  readonly #rooms: MessagingContext["rooms"];
  readonly #history: MessagingContext["history"];
  readonly #log: MessagingContext["log"];
  /** Offline messages being delivered: already in the store, never to be stored again. */
  readonly #fromStore = new WeakSet<Outgoing>();
  /** Acknowledgements being written, by account: a next login reads the store after them. */
  readonly #acks = new Map<string, Promise<void>>();
  /**
   * Ids of mail stored for a session while a copy of it waits in its queue
   * (see holdReceived): a mailbox read for it does not send them again.
   */
  readonly #heldIds = new WeakMap<Session, Set<number>>();
  /**
   * Held messages being stored (see holdReceived): the copy queued is not
   * stored again with what its connection leaves unsent.
   */
  readonly #holding = new WeakSet<Outgoing>();
  /** Messages held for a session (being stored, or stored and queued) not yet written. */
  readonly #unwritten = new WeakMap<Session, number>();
  /** The stores of held messages under way, by account: the name is let go after them. */
  readonly #holds = new Map<string, Set<Promise<number>>>();
  /** Account lookups of offline mail under way, by recipient, in call order (see #inTurn). */
  readonly #turns = new Map<string, Promise<void>>();
  /** Each sending session's direct messages (see #direct). */
  readonly #senders = new WeakMap<Session, Sender>();
  /** Tells this node's senders apart from other nodes' (see DirectOrder). */
  readonly #instance = crypto.randomUUID();
  #sendersSeen = 0;
  /** Per session here: each other node's sender's last direct message it got (see inOrder). */
  readonly #lastFrom = new WeakMap<Session, Map<string, number>>();

  /** The handler of `msg`. */
  readonly handlers: Pick<Handlers, "msg"> = {
    msg: (session, request) =>
      this.#msg(session, request.to, request.from, request.encoding, request.message),
  };

  constructor(ctx: MessagingContext) {
    this.#store = ctx.store;
    this.#settings = ctx.settings;
    this.#directory = ctx.directory;
    this.#router = ctx.router;
    this.#sessions = ctx.sessions;
    this.#cluster = ctx.cluster;
    this.#rooms = ctx.rooms;
    this.#history = ctx.history;
    this.#log = ctx.log;
  }

  /** Whether a direct message was sent by a guest (another node is told so). */
  isGuest(out: Outgoing): boolean {
    return out instanceof GuestOutgoing;
  }

  /** A direct message from another node, to deliver here (`guest`: sent by a guest). */
  received<T>(message: T, guest: boolean): Outgoing<T> {
    return outgoing(message, guest);
  }

  /**
   * Records that a request (or a `quit`) was read from this session: the
   * stored mail written to it before then has arrived, so the store drops it.
   * Mail written but never followed by a request stays, for the next login.
   */
  acknowledge(session: Session): void {
    const name = session.name;
    if (!session.account || name === null || session.written <= session.acked) return;
    const upTo = session.acked = session.written;
    const done = (this.#acks.get(name) ?? Promise.resolve())
      .then(() => this.#store.ackOffline(name, upTo))
      .catch((e) => this.#log(`cannot acknowledge offline messages of ${name}: ${e}`))
      .finally(() => {
        if (this.#acks.get(name) === done) this.#acks.delete(name);
      });
    this.#acks.set(name, done);
  }

  /** Settles once the acknowledgements being written for an account are done. */
  acknowledged(name: string): Promise<void> {
    return this.#acks.get(name) ?? Promise.resolve();
  }

  /**
   * Keeps for an account that has left the direct messages to it that its
   * connection could not write (`unsent`): each was answered 200, so it goes
   * to the offline store, in order.
   */
  async keepUnsent(name: string, unsent: readonly Outgoing[]): Promise<void> {
    // Enqueued now, in order, before any later message to this name can
    // be (those go to the store too, now that the name is offline).
    const kept: Promise<void>[] = [];
    for (const out of unsent) {
      const m = out.value as DeliveredMsg;
      // Messages read from the store are still there until acknowledged;
      // a held one is being stored (see holdReceived).
      if (m.action !== "msg" || m.to !== name || this.#fromStore.has(out)) continue;
      if (this.#holding.has(out)) continue;
      // Each was answered 200: it is kept past the mailbox's limits, which
      // is bounded by what one connection may have queued.
      const message: DeliveredMsg = out instanceof GuestOutgoing ? { ...m, guest: true } : m;
      kept.push(
        this.#store.enqueueOffline(name, message, { total: Infinity }).then(
          () => {},
          (e) => this.#log(`cannot keep unsent message for ${name}: ${e}`),
        ),
      );
    }
    if (kept.length === 0) return;
    await Promise.all(kept);
    // Kept late (the connection failed after it had left): the name may be
    // held again, here or on another node.
    this.mailStored(name);
  }

  /**
   * Mail was stored for `name`: if it logged in meanwhile (here, or on
   * another node) its session may have read the mailbox before this was in
   * it, so it reads the mailbox again. A login after this reads it after.
   */
  mailStored(name: string): void {
    const here = this.#directory.get(name);
    if (here === undefined) this.#cluster?.mailStored(name);
    else if (here.account) {
      this.#sessions.recheck(here, () => this.deliverStored(here, name, here.written));
    }
  }

  /**
   * Writes an account's offline mail past id `after` to its session, in
   * batches, each once the last is written; the store drops it once
   * acknowledged.
   */
  async deliverStored(session: Session, name: string, after = 0): Promise<void> {
    try {
      // What an earlier connection acknowledged is gone before we look.
      await this.#acks.get(name);
      // A batch is sent in one go: it must fit well within the connection's
      // queue, or a reader that keeps up would be dropped at every login.
      const size = Math.max(
        1,
        Math.min(OFFLINE_BATCH, Math.floor(this.#settings.maxQueueObjects / 2)),
      );
      while (this.#directory.get(name) === session) {
        const batch = await this.#store.peekOffline(name, size, after);
        if (batch.length === 0) return;
        let last = -1;
        const held = this.#heldIds.get(session);
        for (const { id, message } of batch) {
          // Queued to it already, before this batch.
          if (held?.has(id)) {
            last = id;
            continue;
          }
          // The store's id is stable across deliveries: a client can spot a repeat.
          const out = new Outgoing<DeliveredMsg>({ ...message, id });
          this.#fromStore.add(out);
          if (!session.peer.send(out)) break;
          last = id;
        }
        // Deleted only once the client shows it has them (acknowledge): a
        // drop or a crash before then redelivers rather than loses.
        if (last < 0 || !(await session.peer.drain())) return;
        session.written = after = last;
        if (batch.length < size) return;
      }
    } catch (e) {
      this.#log(`cannot deliver offline messages to ${name}: ${e}`);
    }
  }

  /**
   * A direct message from another node handed to `session` (`out`) and not
   * written within the hold: made durable before its sender is answered
   * 200, so that it survives this node's death. An account's is stored in
   * its mailbox, and the copy queued (held back meanwhile) is swapped for
   * one with that mail's `id`: if this node dies before writing it, the
   * next login, on any node, gets it from the mailbox; if it was written
   * first, the client drops the repeat by its `id`. The stored copy goes
   * once written, and stays if the connection ends first (it is not stored
   * again with what the connection left unsent). True once durable (or
   * written, or gone with what the connection left); false when the store
   * failed. A guest has no mailbox (true): its message stays queued, as on
   * one server.
   */
  async holdReceived(session: Session, out: Outgoing<DeliveredMsg>): Promise<boolean> {
    const name = session.name;
    if (!session.account || name === null || !this.#settings.offlineStore) return true;
    // "pinned": held back from the writer; "writing": its write has begun
    // (a stalled reader's socket): stored as it is, without the `id`.
    const pin = this.#sessions.pin(session, out);
    if (pin === "gone") return true;
    this.#holding.add(out);
    this.#unwritten.set(session, (this.#unwritten.get(session) ?? 0) + 1);
    const written = () => this.#unwritten.set(session, this.#unwritten.get(session)! - 1);
    const guest = out instanceof GuestOutgoing;
    const storing = this.#store.holdOffline(
      name,
      guest ? { ...out.value, guest: true } : out.value,
    );
    // The name is let go (another node may read the mailbox) after it.
    const holds = this.#holds.get(name) ?? new Set();
    this.#holds.set(name, holds);
    holds.add(storing);
    let id: number;
    try {
      id = await storing;
    } catch (e) {
      this.#holding.delete(out);
      written();
      if (pin === "pinned") this.#sessions.restamp(session, out, out);
      this.#log(`cannot keep a held message for ${name}: ${e}`);
      // Left meanwhile: it was not kept with what the connection left.
      if (!this.#sessions.has(session)) await this.keepUnsent(name, [out]);
      return false;
    } finally {
      holds.delete(storing);
      if (holds.size === 0 && this.#holds.get(name) === holds) this.#holds.delete(name);
    }
    let held = this.#heldIds.get(session);
    if (!held) this.#heldIds.set(session, held = new Set());
    held.add(id);
    const stamped = pin === "pinned" ? outgoing({ ...out.value, id }, guest) : null;
    if (stamped !== null) {
      this.#fromStore.add(stamped);
      // False: closed meanwhile; the stored copy is the one that stays.
      if (!this.#sessions.restamp(session, out, stamped)) return true;
    }
    void (async () => {
      // Behind its offline mail, it is queued once that has gone.
      if (session.delivering) await session.delivering;
      const ok = await session.peer.drain(stamped ?? out);
      held.delete(id);
      written();
      if (!ok) return; // the connection ended first: it stays in the mailbox
      await this.#store.dropOffline(name, id).catch((e) =>
        this.#log(`cannot drop a held message of ${name} once written: ${e}`)
      );
    })();
    return true;
  }

  /** Whether a message held for a session (see holdReceived) is still unwritten: its reader is stalled. */
  stalled(session: Session): boolean {
    return (this.#unwritten.get(session) ?? 0) > 0;
  }

  /** Settles once the held messages being stored for an account are (see holdReceived). */
  holding(name: string): Promise<unknown> {
    const holds = this.#holds.get(name);
    return holds ? Promise.allSettled(holds) : Promise.resolve();
  }

  #msg(
    session: Session,
    to: string,
    from: string | undefined,
    encoding: DeliveredMsg["encoding"],
    message: string,
  ): Response | Promise<Response> {
    const me = session.name;
    if (me === null) return response(401, "Cannot send: send presence or authenticate first");
    if (from !== undefined && from !== me) {
      return response(403, `Cannot send as ${from}: you are ${me}`);
    }
    // Marked for another node, which learns from it that the sender is a
    // guest, and for the offline store if its reader drops it.
    const guest = !session.account;
    const out = outgoing<DeliveredMsg>({
      action: "msg",
      time: unixTime(),
      from: me,
      to,
      encoding,
      message,
    }, guest);
    if (to.startsWith("#")) {
      const members = this.#rooms.get(to);
      if (!members) return response(404, `Cannot send to ${to}: no such room`);
      if (!members.has(me)) return response(403, `Cannot send to ${to}: you are not a member`);
      const keep = this.#settings.roomHistory;
      if (keep === 0) {
        this.#router.room(to, members, me, out, () => out);
        return response(200);
      }
      // Members that asked for history get the same message with its id.
      if (!this.#history.shared) {
        this.#roomWithId(to, members, me, out, this.#history.keep(to, out.value, keep));
        return response(200);
      }
      // Nodes that share the store deliver it in the room's one order across
      // them, and answer once it is kept, so that every node's history has it.
      return this.#history.keepRoom(to, out.value, keep, (id) => {
        this.#roomWithId(to, members, me, out, id);
      }).then(() => response(200));
    }
    if (this.#history.shared && this.#settings.directHistory > 0) {
      return this.#directShared(session, to, out);
    }
    return this.#direct(session, to, out, out, (target) => {
      let sent: Outgoing = out;
      if (this.#settings.directHistory > 0 && (session.account || target.account)) {
        const id = this.#history.keep(
          directConversation(me, to),
          out.value,
          this.#settings.directHistory,
        );
        if (target.ids) sent = outgoing({ ...out.value, history_id: id }, guest);
      }
      return sent;
    });
  }

  /**
   * A direct message kept with an id the store assigns (nodes that share
   * it): to a recipient here it is kept first; one on another node is kept
   * there (see {@linkcode Messaging.keepReceived}), one offline with its mail.
   */
  async #directShared(
    session: Session,
    to: string,
    out: Outgoing<DeliveredMsg>,
  ): Promise<Response> {
    const me = session.name!;
    const target = this.#directory.get(to);
    let withId: Outgoing | null = null;
    let kept: Promise<void> | null = null;
    if (target && (session.account || target.account)) {
      const shared = await this.#history.keepShared(
        directConversation(me, to),
        out.value,
        this.#settings.directHistory,
      );
      // Shared, as `#directShared` is used only then.
      const { id } = shared as SharedKeep;
      kept = (shared as SharedKeep).kept;
      if (id !== null) withId = outgoing({ ...out.value, history_id: id }, !session.account);
    }
    // Kept here already: if the recipient has moved to another node while
    // the id was taken, that node gets it with its id and keeps no second
    // copy, nor does the offline store.
    const answer = await this.#direct(
      session,
      to,
      out,
      withId ?? out,
      (t) => withId !== null && t.ids ? withId : out,
      kept !== null,
    );
    await kept;
    return answer;
  }

  /**
   * Keeps a direct message from another node for its recipient here (whose
   * node keeps it, with an id the store assigns); resolves to what the
   * recipient gets, and `kept`, which settles once it is written.
   */
  async keepReceived<T extends DeliveredMsg>(
    out: Outgoing<T>,
    guest: boolean,
    target: Session,
  ): Promise<{ out: Outgoing; kept: Promise<void> }> {
    if (this.#settings.directHistory <= 0 || (guest && !target.account)) {
      return { out, kept: Promise.resolve() };
    }
    const message = out.value;
    const shared = await this.#history.keepShared(
      directConversation(message.from, message.to),
      message,
      this.#settings.directHistory,
    );
    const { id, kept } = shared as SharedKeep;
    return {
      out: id !== null && target.ids ? outgoing({ ...message, history_id: id }, guest) : out,
      kept,
    };
  }

  /**
   * Routes a direct message (`sent` is what another node gets, `formFor`
   * what a session here gets) and answers: 200 once delivered, else stored
   * for an account that is offline (`kept`: its history has it already).
   *
   * One sender's messages to one name keep their order even while the
   * recipient moves between nodes. Their outcomes are settled in the order
   * sent (a "not here" from the node it left may come after NATS's "no
   * responders" for a later one), and one sent while an earlier one is
   * unsettled (a pipelining sender) waits for it: here, before it is
   * handed to the session; to another node, it goes at once marked as
   * following that one, and that node takes it only if its session had
   * that one too (see {@linkcode Messaging.inOrder}); else it is sent again
   * once that one is settled: delivered, or stored with the mail notice
   * published before it, so that it queues behind that mailbox read.
   */
  #direct(
    session: Session,
    to: string,
    out: Outgoing<DeliveredMsg>,
    sent: Outgoing,
    formFor: FormFor<Session>,
    kept = false,
  ): Response | Promise<Response> {
    if (this.#cluster === null) {
      // One process: delivered here at once, or stored in call order.
      const delivered = this.#router.direct(to, sent, formFor);
      if (delivered === true) return response(200);
      if (delivered === false) return this.#msgOffline(session, to, out.value, kept);
      return this.#answer(session, to, out, delivered, kept);
    }
    const sender = this.#senderOf(session);
    const previous = sender.unsettled.get(to);
    const seq = ++sender.seq;
    const order: DirectOrder = { sender: sender.key, seq };
    if (previous === undefined) {
      const delivered = this.#router.direct(to, sent, formFor, order);
      if (delivered === true) return response(200);
      return this.#settleInOrder(sender, to, seq, (decide) => {
        if (delivered !== false) return this.#answer(session, to, out, delivered, kept, decide);
        const stored = this.#msgOffline(session, to, out.value, kept);
        decide();
        return stored;
      });
    }
    return this.#settleInOrder(sender, to, seq, async (decide) => {
      let delivered: boolean | Promise<boolean | "again">;
      if (this.#directory.get(to) !== undefined) {
        // Here: handed to the session once the earlier one is settled.
        await previous.settled;
        delivered = this.#router.direct(to, sent, formFor, order);
      } else {
        delivered = this.#router.direct(to, sent, formFor, { ...order, after: previous.seq });
      }
      return await this.#answer(session, to, out, delivered, kept, decide, previous, () => {
        return this.#router.direct(to, sent, formFor, order);
      });
    });
  }

  /**
   * Answers a direct message once its router has, and calls `decide` once
   * its outcome is taken (a store, in the mailbox's order): after that of
   * `previous` (the sender's last one to `to`) when given; sent again by
   * `again` once `previous` is settled if the recipient's node asks it to
   * wait for that one.
   */
  async #answer(
    session: Session,
    to: string,
    out: Outgoing<DeliveredMsg>,
    delivered: boolean | Promise<boolean | "again">,
    kept: boolean,
    decide?: () => void,
    previous?: Unsettled,
    again?: () => boolean | Promise<boolean | "again">,
  ): Promise<Response> {
    let held: boolean | "again";
    try {
      held = await delivered;
      if (held === "again" && previous !== undefined && again !== undefined) {
        await previous.settled;
        held = await again();
      } else if (previous !== undefined) {
        // Stored only after the earlier ones from this sender (the store
        // writes one mailbox's messages in call order).
        await previous.decided;
      }
    } catch (e) {
      decide?.();
      // Not stored: the node may have written it before it died, and a
      // copy in the mailbox would then arrive twice.
      this.#log(`cannot send a direct message to ${to} through the cluster: ${e}`);
      return response(
        500,
        `Cannot send to ${to}: the node they are on did not answer; the message may not have been delivered`,
      );
    }
    if (held === true) {
      decide?.();
      return response(200);
    }
    const stored = this.#msgOffline(session, to, out.value, kept);
    decide?.();
    return await stored;
  }

  /** What is tracked of a session's direct messages (see {@linkcode Messaging.#direct}). */
  #senderOf(session: Session): Sender {
    let sender = this.#senders.get(session);
    if (sender === undefined) {
      sender = { key: `${this.#instance}.${++this.#sendersSeen}`, seq: 0, unsettled: new Map() };
      this.#senders.set(session, sender);
    }
    return sender;
  }

  /**
   * Runs `answer` as the latest unsettled direct message of a sender to `to`
   * (number `seq`): the next one waits for its outcome to be taken
   * (`decide`, called by `answer`), or for it to settle.
   */
  #settleInOrder(
    sender: Sender,
    to: string,
    seq: number,
    answer: (decide: () => void) => Promise<Response>,
  ): Promise<Response> {
    let decide!: () => void;
    const decided = new Promise<void>((resolve) => decide = resolve);
    const answered = answer(decide);
    const settled = answered.then(() => {}, () => {});
    const entry: Unsettled = { settled, decided, seq };
    sender.unsettled.set(to, entry);
    void settled.then(() => {
      decide();
      if (sender.unsettled.get(to) === entry) sender.unsettled.delete(to);
    });
    return answered;
  }

  /**
   * Whether a direct message from another node may be handed to `session`
   * now (see {@linkcode DirectOrder}): not when it follows one of its
   * sender's that this session did not get (that one went to the node the
   * recipient left, or to the store): its sender sends it again once that
   * one is settled. Notes it as the sender's last one here.
   */
  inOrder(session: Session, order: DirectOrder): boolean {
    let last = this.#lastFrom.get(session);
    if (last === undefined) this.#lastFrom.set(session, last = new Map());
    if (order.after !== undefined && last.get(order.sender) !== order.after) return false;
    // A sender forgotten costs at most one message sent again.
    if (last.size >= SENDERS_REMEMBERED && !last.has(order.sender)) last.clear();
    last.set(order.sender, order.seq);
    return true;
  }

  /**
   * `lookup`, taken in the order the calls for `to` were made: the store
   * writes one mailbox's messages in the order they are handed to it, and
   * with several database connections a later lookup may answer first.
   */
  #inTurn<T>(to: string, lookup: Promise<T>): Promise<T> {
    const previous = this.#turns.get(to);
    const turn = previous ? previous.then(() => lookup) : lookup;
    const settled = turn.then(() => {}, () => {});
    this.#turns.set(to, settled);
    void settled.then(() => {
      if (this.#turns.get(to) === settled) this.#turns.delete(to);
    });
    return turn;
  }

  /** Delivers a kept room message: members that asked for history get it with its id (if any). */
  #roomWithId(
    to: string,
    members: Set<string>,
    me: string,
    out: Outgoing<DeliveredMsg>,
    id: number | null,
  ): void {
    if (id === null) return this.#router.room(to, members, me, out, () => out);
    let withId: Outgoing | null = null;
    this.#router.room(
      to,
      members,
      me,
      out,
      (member) => member.ids ? withId ??= new Outgoing({ ...out.value, history_id: id }) : out,
      id,
    );
  }

  /** Stores a direct message for an account that is offline (`kept`: its history has it already). */
  async #msgOffline(
    session: Session,
    to: string,
    message: DeliveredMsg,
    kept = false,
  ): Promise<Response> {
    const account = await this.#inTurn(to, this.#store.getAccount(to));
    if (!account) {
      // A guest may have come online while the store answered.
      const late = outgoing(message, !session.account);
      if ((await this.#router.direct(to, late, () => late)) === true) return response(200);
      return response(404, `Cannot send to ${to}: no such user`);
    }
    if (!this.#settings.offlineStore) {
      return response(410, `Cannot send to ${to}: they are offline`);
    }
    // A guest's name is not reserved: by the time the mail is read, someone
    // else may hold it, and the reply would go to them.
    if (!session.account) {
      return response(
        410,
        `Cannot send to ${to}: they are offline, and guests cannot leave offline messages; log in to an account to do so`,
      );
    }
    const { offlineLimit, offlineShare } = this.#settings;
    const perSender = offlineShare >= 100
      ? Infinity
      : Math.max(1, Math.floor(offlineLimit * offlineShare / 100));
    const result = await this.#store.enqueueOffline(to, message, {
      total: offlineLimit,
      perSender,
    });
    if (result === "full") {
      return response(410, `Cannot send to ${to}: their offline mailbox is full`);
    }
    if (result === "sender-full") {
      return response(
        410,
        `Cannot send to ${to}: you already have ${perSender} messages waiting in their offline mailbox, the most one sender may leave`,
      );
    }
    if (this.#settings.directHistory > 0 && !kept) {
      const shared = this.#history.keepShared(
        directConversation(message.from, to),
        message,
        this.#settings.directHistory,
      );
      // Nodes that share the store answer once it is written (see #msg).
      if (typeof shared !== "number") await (await shared).kept;
    }
    this.mailStored(to);
    return response(202, `${to} is offline; the message will be delivered when they log in`);
  }
}

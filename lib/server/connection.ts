/**
 * One client connection: its reader loop (transport → validation → hub),
 * its bounded write queue, its rate limit and its liveness state. The socket
 * itself, TCP or WebSocket, sits behind a {@linkcode Transport}.
 *
 * @module
 */

import { Outgoing } from "../protocol/codec.ts";
import { type Call, Dialect } from "../protocol/dialect.ts";
import {
  type DeliveredMsg,
  ProtocolError,
  type Request,
  type Response,
  response,
  unixTime,
} from "../protocol/messages.ts";
import { isClientAnswer, validateRequest } from "../protocol/validate.ts";
import type { Hub } from "./hub.ts";
import type { Peer, Pin, Session } from "./sessions.ts";
import type { ServerSettings } from "./options.ts";
import { TokenBucket } from "./token_bucket.ts";
import type { Transport } from "./transport.ts";

/** The settings a connection uses. */
export type ConnectionSettings = Pick<
  ServerSettings,
  | "maxObjectBytes"
  | "maxQueueBytes"
  | "maxQueueObjects"
  | "rateLimit"
  | "rateBurst"
  | "floodDisconnect"
  | "handshakeTimeoutMs"
  | "probeIntervalMs"
  | "probeTimeoutMs"
  | "bareWriteGapMs"
>;

/** Options for {@linkcode Connection}. */
export interface ConnectionOptions {
  hub: Hub;
  settings: ConnectionSettings;
  log: (line: string) => void;
  /** Called once, when the connection has closed and left the hub. */
  onClose?: (connection: Connection) => void;
}

/** Largest single write when coalescing queued objects. */
const MAX_WRITE = 65536;

const PROBE = { action: "probe" } as const;
/** Messages one connection may have awaiting their answers at once. */
const MAX_PIPELINE = 64;

/** What a reply answers: the request as read in the connection's dialect, and as validated. */
interface Context {
  call?: Call;
  request?: Request;
}

/** Pushed messages rewritten for a dialect, per rewritten shape. */
const variants = new WeakMap<Outgoing, Map<string, Outgoing>>();

/** Plain responses of the current second, serialised once for every connection. */
const replies = new Map<string, Outgoing>();
let repliesTime = -1;
/** `{"response":200,"time":repliesTime,"alert":"OK"}`, once built. */
let okReply: Outgoing | null = null;
/** Distinct texts cached per second; names in texts make the rest one-offs. */
const REPLIES_MAX = 64;

/**
 * The outgoing form of a response. Nearly every answer is one of a few
 * constant objects (`{"response":200,"time":T,"alert":"OK"}`), so their bytes
 * are shared for the second their `time` names.
 */
function replyOutgoing(r: Response): Outgoing {
  if (r.time !== repliesTime) {
    replies.clear();
    okReply = null;
    repliesTime = r.time;
  }
  // Extra fields (`who`'s users, a login's token) make a reply one of a kind:
  // never shared, or one connection's token would reach another.
  const plain = Object.keys(r).length === 3;
  // The commonest of all, looked up without building a key.
  if (plain && r.response === 200 && r.alert === "OK") return okReply ??= new Outgoing(r);
  if (!plain) return new Outgoing(r);
  const key = r.response + ("alert" in r ? "a" + r.alert : "e" + r.error);
  let out = replies.get(key);
  if (!out) {
    out = new Outgoing(r);
    if (replies.size < REPLIES_MAX) replies.set(key, out);
  }
  return out;
}

/**
 * A connection implements {@linkcode Peer} for the hub. Writes go through one
 * queue bounded in bytes and objects, drained by one writer that awaits the
 * socket, so a slow reader shows up as a full queue and is disconnected.
 */
export class Connection implements Peer {
  readonly address: string;
  readonly #transport: Transport;
  readonly #hub: Hub;
  readonly #settings: ConnectionSettings;
  readonly #log: (line: string) => void;
  readonly #onClose: ((c: Connection) => void) | undefined;
  readonly #bucket: TokenBucket;
  readonly #session: Session;
  readonly #dialect = new Dialect();
  /** performance.now() after the last write, for the gap bare peers get between objects. */
  #lastWriteAt = -Infinity;
  /** Ends the writer's wait for that gap early (on close). */
  #gapTimer: ReturnType<typeof setTimeout> | undefined;
  #endGap: (() => void) | null = null;
  /** It answered a probe once: it may be probed, and closed if it stops answering. */
  #answeredProbe = false;
  /** A probe went unanswered by a client that never answers them: it is not probed again. */
  #probeIgnored = false;

  #queue: Outgoing[] = [];
  #queuedBytes = 0;
  #writing = false;
  /** Objects at the head of the queue whose write has begun. */
  #inFlight = 0;
  /** Objects the writer must not pass yet (see pin). */
  readonly #pinned = new Set<Outgoing>();
  /** The last reply still waiting for its turn, or null. */
  #pending: Promise<void> | null = null;
  #pendingCount = 0;
  #flushScheduled = false;
  /** Objects queued since the start, and of them written: drain waits for a count. */
  #queuedCount = 0;
  #writtenCount = 0;
  /** Who waits for what is queued now to be written, by count (ascending). */
  #drainWaiters: Array<{ upTo: number; resolve: (ok: boolean) => void }> = [];
  /** The reader, paused until the queue is down to a quarter (see run). */
  #roomWaiter: ((ok: boolean) => void) | null = null;
  #closing = false;
  /** Closing and still leaving the hub (see close): the socket stays open until it has left. */
  #leaving = false;
  #closed = false;
  /** Set once this connection has left the hub (see #leave). */
  #left: Promise<void> | null = null;
  #strikes = 0;

  /** performance.now() of the last object received. */
  lastHeard: number;
  /** performance.now() when the connection opened. */
  readonly openedAt: number;
  /** Whether a valid request has arrived yet. */
  greeted = false;
  /** performance.now() when a probe went out unanswered, or 0. */
  probedAt = 0;
  /** performance.now() when closing began, or 0. */
  closingAt = 0;
  /** Resolves once the socket is closed. */
  readonly #socketClosed: Promise<void>;
  #resolveSocketClosed!: () => void;

  constructor(transport: Transport, options: ConnectionOptions) {
    this.#transport = transport;
    this.#hub = options.hub;
    this.#settings = options.settings;
    this.#log = options.log;
    this.#onClose = options.onClose;
    this.address = transport.address;
    this.#bucket = new TokenBucket({
      rate: options.settings.rateLimit,
      burst: Math.max(1, options.settings.rateBurst),
    });
    this.openedAt = this.lastHeard = performance.now();
    this.#socketClosed = new Promise((r) => this.#resolveSocketClosed = r);
    this.#session = this.#hub.connect(this);
  }

  /** The hub's view of this connection. */
  get session(): Session {
    return this.#session;
  }

  /** Whether close has begun. */
  get closing(): boolean {
    return this.#closing;
  }

  // -- Peer --

  send(message: Outgoing): boolean {
    if (this.#closing) return false;
    const s = this.#settings;
    if (this.#queue.length >= s.maxQueueObjects || this.#queuedBytes >= s.maxQueueBytes) {
      // Too slow: keep the message with the rest of the unsent queue, so an
      // account's direct messages reach the offline store, and drop the peer.
      this.#queue.push(message);
      this.#log(
        `${this.#label()}: disconnected: too slow to read (${this.#queuedBytes} bytes queued)`,
      );
      this.#abort();
      return false;
    }
    // Counted in characters of the line: bytes for ASCII, at most a third of
    // them otherwise; the bound stays a bound without encoding here.
    this.#queuedBytes += message.line().length;
    this.#queue.push(message);
    this.#queuedCount++;
    this.#scheduleFlush();
    return true;
  }

  drain(through?: Outgoing): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#writtenCount >= this.#queuedCount) return Promise.resolve(true);
    // Only what is queued now: a steady stream queued after it does not hold it up.
    let upTo = this.#queuedCount;
    if (through !== undefined) {
      const i = this.#queue.indexOf(through);
      if (i < 0) return Promise.resolve(true); // written already
      upTo = this.#writtenCount + i + 1;
      // Kept in ascending order: the writer settles them from the front.
      const waiters = this.#drainWaiters;
      let at = waiters.length;
      while (at > 0 && waiters[at - 1]!.upTo > upTo) at--;
      return new Promise((resolve) => waiters.splice(at, 0, { upTo, resolve }));
    }
    return new Promise((resolve) => this.#drainWaiters.push({ upTo, resolve }));
  }

  pin(out: Outgoing, queued: boolean): Pin {
    if (this.#closed) return "gone";
    if (queued) {
      const i = this.#queue.indexOf(out);
      if (i < 0) return "gone";
      // Wholly taken by the socket: as good as written.
      if (i < this.#inFlight) return i < this.#transport.takenObjects() ? "gone" : "writing";
    }
    this.#pinned.add(out);
    return "pinned";
  }

  unpin(out: Outgoing, next: Outgoing | null): boolean {
    if (!this.#pinned.delete(out)) return false;
    const i = this.#closed ? -1 : this.#queue.indexOf(out);
    if (i >= 0 && next !== null) {
      this.#queue[i] = next;
      this.#queuedBytes += next.line().length - out.line().length;
    }
    this.#scheduleFlush();
    return i >= 0;
  }

  close(reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.closingAt = performance.now();
    this.#log(`${this.#label()}: closing: ${reason}`);
    // Leave the hub now: later messages for this name are answered as for
    // anyone offline, not queued here and lost with the socket. The socket
    // closes once that is done (the name is free on every node: a client
    // that reconnects at once, to any node, may take it again) and the
    // writer has emptied the queue, whichever comes last.
    this.#leaving = true;
    void this.#leave([]).then(() => {
      this.#leaving = false;
      if (!this.#writing && this.#queue.length === 0) this.#finish();
    });
    this.#scheduleFlush();
  }

  /** Sends an unsolicited object (probe, notice) outside any request. */
  notify(value: unknown): boolean {
    return this.send(new Outgoing(value));
  }

  /** Sends a probe now. */
  probe(): void {
    this.probedAt = performance.now();
    this.notify({ ...PROBE, time: unixTime() });
  }

  /**
   * Whether it has shown that it answers probes: jim's own client (it frames
   * with newlines) does, and so does one that has answered a probe.
   */
  get answersProbes(): boolean {
    return this.#transport.newlineFramed || this.#answeredProbe;
  }

  /**
   * Whether a silent connection should be probed: its dialect knows `probe`,
   * and it answers probes or someone's contact list asked about it (the seed
   * probes "clients from the contact list"). A client that ignored one such
   * probe is not probed again.
   */
  get wantsProbe(): boolean {
    return this.#dialect.probes && !this.#probeIgnored &&
      (this.answersProbes || this.#session.watched);
  }

  /**
   * A probe went unanswered: one that answers probes is gone and is closed;
   * one that never did is left alone and not probed again (TCP keepalive and
   * write failures find it if it is gone).
   */
  probeUnanswered(): void {
    if (this.answersProbes) {
      this.abort("no answer to probe");
      return;
    }
    this.probedAt = 0;
    this.#probeIgnored = true;
  }

  /** Closes the socket at once, dropping whatever is queued. */
  abort(reason: string): void {
    if (this.#closed) return;
    this.#log(`${this.#label()}: closing: ${reason}`);
    this.#abort();
  }

  // -- reading --

  /** The reader loop; resolves once the connection is closed and forgotten. */
  async run(): Promise<void> {
    try {
      while (!this.#closing) {
        const events = await this.#transport.read();
        if (events === null) break; // reset by peer, closed by us, or refused
        if (events.length > 0) {
          this.lastHeard = performance.now();
          if (this.probedAt > 0) this.#answeredProbe = true;
          this.probedAt = 0;
        }
        // The rate limit counts requests as they arrive, not as they are
        // handled: a request that waits for an earlier answer (a `who`
        // gathered from other nodes, a login's claim) would otherwise find
        // tokens refilled meanwhile, and a burst pass on a slow server that
        // a fast one refuses.
        const readAt = performance.now();
        for (const event of events) {
          if (this.#closing) break;
          // Our own answers fill our queue too. Past half of it, stop and let
          // the peer read (TCP holds back the rest of its requests) rather
          // than drop a peer that reads, only more slowly than it asks. One
          // that never reads is then found by the probe timeout.
          if (this.#filled(1 / 2) && !(await this.#room())) break;
          if (!this.#admit(readAt)) continue;
          if (event.kind === "error") {
            this.#emit(response(400, event.message));
            continue;
          }
          if (isClientAnswer(event.value)) continue;
          // Messages may overlap (a sender's burst to offline accounts shares
          // one commit); anything else waits for every earlier answer, since
          // it may change who the connection is.
          const action = event.value.action;
          const overlaps = action === "msg" || action === "message";
          if (this.#pending && (!overlaps || this.#pendingCount >= MAX_PIPELINE)) {
            await this.#settled();
          }
          let reply: Response | Promise<Response> | null;
          const context: Context = {};
          try {
            reply = this.#dispatch(event.value, event.bytes, event.text, context);
          } catch (e) {
            reply = this.#failure(e);
          }
          if (reply) this.#emit(reply, context);
          if (!overlaps && this.#pending) await this.#settled();
        }
      }
    } finally {
      this.close(this.#transport.endedBy ?? "connection ended");
      await this.#leave([]);
      // Counted (and reachable by shutdown and the sweeper) until the socket
      // is closed: a queue may still be flushing to a peer that has quit.
      await this.#socketClosed;
      this.#onClose?.(this);
    }
  }

  /**
   * Sends a reply in request order: at once when nothing is pending, else
   * after every earlier reply.
   */
  #emit(reply: Response | Promise<Response>, context?: Context): void {
    if (this.#pending === null && !(reply instanceof Promise)) {
      this.#reply(reply, context);
      return;
    }
    this.#pendingCount++;
    const turn = (this.#pending ?? Promise.resolve())
      .then(() => reply)
      .then((r) => this.#reply(r, context), (e) => this.#reply(this.#failure(e), context));
    const settled: Promise<void> = turn.finally(() => {
      this.#pendingCount--;
      if (this.#pending === settled) this.#pending = null;
    });
    this.#pending = settled;
  }

  /** Resolves once every reply so far has been sent. */
  async #settled(): Promise<void> {
    while (this.#pending) await this.#pending;
  }

  /** Whether the queue holds more than `share` of its bound, in bytes or objects. */
  #filled(share: number): boolean {
    const s = this.#settings;
    return this.#queuedBytes > s.maxQueueBytes * share ||
      this.#queue.length > s.maxQueueObjects * share;
  }

  /** Resolves once the queue is down to a quarter of its bound; false if closed first. */
  #room(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => this.#roomWaiter = resolve);
  }

  #dispatch(
    value: Record<string, unknown>,
    bytes: number,
    text: string,
    context: Context,
  ): Response | Promise<Response> | null {
    // Read in the connection's dialect, then validated in jim's own shape.
    const call = context.call = this.#dialect.read(value, this.#transport.newlineFramed);
    const request = context.request = validateRequest(call.value, bytes, text);
    this.greeted = true;
    // Any request, quit included, shows the stored mail written before it arrived.
    this.#hub.acknowledge(this.#session);
    if (request.action === "quit") {
      // Answered (the seed answers every request), then nothing more is written.
      this.#reply(response(200), context);
      this.close(call.answering === "never" ? "exit" : "quit");
      return null;
    }
    return this.#hub.handle(this.#session, request);
  }

  #failure(e: unknown): Response {
    if (e instanceof ProtocolError) return response(e.code, e.message);
    this.#log(`${this.#label()}: internal error: ${e instanceof Error ? e.stack : e}`);
    return response(500, "Cannot handle request: internal server error");
  }

  /** Applies the rate limit to a request read at `readAt`; false when it was refused. */
  #admit(readAt: number): boolean {
    if (this.#bucket.take(readAt)) {
      this.#strikes = 0;
      return true;
    }
    if (++this.#strikes >= this.#settings.floodDisconnect) {
      this.#emit(response(429, "Cannot continue: too many requests; disconnecting"));
      this.close("flooding");
    } else {
      this.#emit(response(429, "Cannot handle request: too many requests"));
    }
    return false;
  }

  #reply(r: Response, context?: Context): void {
    if (this.#closing && r.response !== 429) return;
    const answer = this.#dialect.answer(
      r,
      context?.request,
      context?.call,
      this.#transport.newlineFramed,
    );
    if (answer.length === 1 && answer[0] === r) {
      this.send(replyOutgoing(r));
      return;
    }
    for (const value of answer) if (!this.send(new Outgoing(value))) return;
  }

  /** A queued object as this connection's dialect writes it (pushed messages may be rewritten). */
  #wire(out: Outgoing): Outgoing {
    if (!this.#dialect.rewritesPushes) return out;
    const value = out.value as { action?: unknown };
    if (value?.action !== "msg") return out;
    const shape = this.#dialect.pushShape;
    let byShape = variants.get(out);
    if (!byShape) variants.set(out, byShape = new Map());
    let variant = byShape.get(shape);
    if (!variant) {
      variant = new Outgoing(this.#dialect.push(out.value as DeliveredMsg));
      byShape.set(shape, variant);
    }
    return variant;
  }

  // -- writing --

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#writing) return;
    this.#flushScheduled = true;
    // Everything queued in this tick goes out together.
    queueMicrotask(() => {
      this.#flushScheduled = false;
      if (!this.#writing) this.#write();
    });
  }

  async #write(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const ascii = !this.#transport.newlineFramed;
        let taken = 1;
        if (ascii) {
          // The course's clients read each object with one recv(1024) and one
          // json.loads: two objects written back to back may arrive in one
          // read and break it. Each write to a bare peer waits out a gap.
          const wait = this.#lastWriteAt + this.#settings.bareWriteGapMs - performance.now();
          if (wait > 0) {
            await new Promise<void>((r) => {
              this.#endGap = r;
              this.#gapTimer = setTimeout(r, wait);
            });
            this.#endGap = null;
            if (this.#closed) break;
          }
        }
        // Taken after the gap: unpin may have swapped it meanwhile.
        const head = this.#queue[0]!;
        // Held back while its durable copy is made (see pin); unpin resumes.
        if (this.#pinned.size > 0 && this.#pinned.has(head)) break;
        let size = head.line().length;
        const batch = [this.#wire(head)];
        // Unframed peers read one object per recv: one object per write.
        if (!ascii) {
          let wired = batch[0]!.line().length;
          while (taken < this.#queue.length) {
            const item = this.#queue[taken]!;
            if (this.#pinned.size > 0 && this.#pinned.has(item)) break;
            const next = this.#wire(item);
            if (wired + next.line().length > MAX_WRITE) break;
            batch.push(next);
            wired += next.line().length;
            size += item.line().length;
            taken++;
          }
        }
        this.#inFlight = taken;
        await this.#transport.write(batch, ascii);
        this.#inFlight = 0;
        if (this.#closed) break; // aborted meanwhile: the queue went to the hub
        if (ascii) this.#lastWriteAt = performance.now();
        if (taken === this.#queue.length) this.#queue = [];
        else this.#queue.splice(0, taken);
        this.#queuedBytes = Math.max(0, this.#queuedBytes - size);
        this.#writtenCount += taken;
        const waiters = this.#drainWaiters;
        while (waiters.length > 0 && waiters[0]!.upTo <= this.#writtenCount) {
          waiters.shift()!.resolve(true);
        }
        if (this.#roomWaiter && !this.#filled(1 / 4)) {
          this.#roomWaiter(true);
          this.#roomWaiter = null;
        }
      }
    } catch {
      // The peer went away mid-write: nothing more can be sent.
      this.#abort();
    } finally {
      this.#writing = false;
      this.#inFlight = 0;
    }
    if (this.#queue.length === 0) {
      for (const w of this.#drainWaiters.splice(0)) w.resolve(true);
      if (this.#closing && !this.#leaving) this.#finish();
    }
  }

  #abort(): void {
    if (!this.#closing) this.closingAt = performance.now();
    this.#closing = true;
    this.#finish();
    // Leave the hub now rather than when the reader notices the closed
    // socket: until then the hub would route messages here that could only
    // be dropped. What is still queued was not delivered: an account's
    // direct messages among it go to the offline store.
    const unsent = this.#queue.splice(0);
    this.#queuedBytes = 0;
    this.#leave(unsent);
  }

  /** Leaves the hub once; `unsent` is what the hub should keep for an offline account. */
  #leave(unsent: Outgoing[]): Promise<void> {
    if (this.#left && unsent.length > 0) {
      // Left already (at close); what the writer could not send is kept now.
      const late = this.#hub.disconnect(this.#session, unsent).catch((e) =>
        this.#log(`${this.#label()}: cannot keep unsent messages: ${e}`)
      );
      return this.#left = this.#left.then(() => late);
    }
    return this.#left ??= this.#hub.disconnect(this.#session, unsent).catch((e) =>
      this.#log(`${this.#label()}: cannot leave the hub: ${e}`)
    );
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#drainWaiters.splice(0)) w.resolve(false);
    clearTimeout(this.#gapTimer);
    this.#endGap?.();
    this.#roomWaiter?.(false);
    this.#roomWaiter = null;
    this.#transport.close();
    this.#resolveSocketClosed();
  }

  #label(): string {
    return `${this.address} ${this.#session.name ?? "(anonymous)"}`;
  }
}

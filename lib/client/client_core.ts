/**
 * The client without a screen: one connection to a JIM server, the state
 * around it (identity, rooms, conversations, an offline queue) and the
 * commands, reporting everything as typed {@linkcode CoreEvent}s. A terminal
 * view, a line-mode script runner, or any other front end drives it.
 *
 * Requests are answered in order, so answers are matched to a FIFO of
 * pending requests; 100/101 notices, messages and probes may arrive between
 * them. On connection loss the core reconnects with backoff and jitter,
 * identifies itself again, re-joins its rooms and sends what was queued.
 *
 * @module
 */

import { unixTime } from "../protocol/messages.ts";
import {
  type AuthMode,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_RATE,
  DEFAULT_RETRY_ABSENT_MS,
} from "./args.ts";
import { backoffDelay, wait } from "./backoff.ts";
import { Pacer } from "./pacer.ts";
import { splitMessage } from "./split.ts";
import { type ClientCommand, helpText } from "./commands.ts";
import { ConnectError, TcpTransport, type Transport } from "./connection.ts";
import { type ChatLine, type Conversation, Conversations, SERVER_WINDOW } from "./conversations.ts";
import {
  type Answer,
  type ContactState,
  contactText,
  describeAnswer,
  describeNotice,
  type RequestContext,
  toAnswer,
  toContact,
  whoUsers,
} from "./describe.ts";

/** Where the connection stands. */
export type ConnectionState =
  /** Opening the socket and identifying, the first time. */
  | "connecting"
  /** Identified; requests go straight out. */
  | "online"
  /** Lost; waiting to retry or retrying. Messages are queued. */
  | "reconnecting"
  /** Closed for good (quit, or retries exhausted). */
  | "offline";

/** The reconnect in progress, for a countdown. */
export interface ReconnectInfo {
  /** 1-based attempt number. */
  attempt: number;
  /** When the attempt starts, in epoch milliseconds. */
  at: number;
  /** Attempts allowed; `undefined`: unlimited. */
  maxAttempts: number | undefined;
}

/** What the core reports. */
export type CoreEvent =
  | { type: "line"; conversation: string; line: ChatLine }
  | { type: "state"; state: ConnectionState }
  /** The current window, the window list or a window's contents changed. */
  | { type: "windows" }
  /** A line already shown changed (one's own message was accepted or refused). */
  | { type: "update"; conversation: string; line: ChatLine };

/** What came of a command or message. */
export interface Outcome {
  /** Whether it did what was asked (for messages: 200 or 202). */
  ok: boolean;
  /** The server's response code, if it answered. */
  code?: number;
  /** The sentence shown, if any. */
  text: string;
  /** Set when it failed for want of a connection, not because the server refused. */
  offline?: boolean;
}

/** Reconnect policy. */
export interface ReconnectOptions {
  /**
   * First delay, in milliseconds.
   * @default {1000}
   */
  minDelayMs?: number;
  /**
   * Longest delay, in milliseconds.
   * @default {30000}
   */
  maxDelayMs?: number;
  /**
   * Attempts after a loss; `undefined`: unlimited; 0: do not reconnect.
   * @default {undefined}
   */
  retries?: number | undefined;
}

/** Options for {@linkcode ClientCore}. */
export interface ClientCoreOptions {
  host: string;
  port: number;
  /** The name to use. */
  user: string;
  /**
   * Guest, log in, or register then log in.
   * @default {"guest"}
   */
  auth?: AuthMode;
  /** Needed for `login` and `register`. */
  password?: string;
  reconnect?: ReconnectOptions;
  /**
   * Messages kept while offline; more are refused (and reported).
   * @default {500}
   */
  maxQueued?: number;
  /**
   * Milliseconds to wait for the server's first answer after connecting.
   * @default {5000}
   */
  handshakeTimeoutMs?: number;
  /**
   * Requests a second at most (0: no pacing); see {@linkcode Pacer}.
   * @default {90}
   */
  rate?: number;
  /**
   * After a reconnect, how long a queued message to a name nobody holds yet
   * (a guest not back yet) is retried before it is reported, in ms.
   * @default {60000}
   */
  retryAbsentMs?: number;
  /**
   * Pause between those retries, in ms.
   * @default {1000}
   */
  retryAbsentEveryMs?: number;
  /** Opens a connection; tests may substitute their own. */
  connect?: (host: string, port: number) => Promise<Transport>;
  /** Randomness for jitter. */
  random?: () => number;
}

/** Identification refused by the server (or the connection lost during it). */
export class IdentifyError extends Error {
  /** The server's code, if it answered. */
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.name = "IdentifyError";
    this.code = code;
  }
}

interface QueuedMessage {
  to: string;
  text: string;
  /** The window it was typed in: refusals and notices show there too. */
  origin: string;
  /**
   * Set when it waited for a reconnect: until then (epoch ms), "no such
   * user" means the addressee (a guest) is not back yet, so it is retried.
   */
  retryUntil?: number;
  /** Whether the user was told that it waits for its addressee. */
  toldAbsent?: boolean;
  resolve: (outcome: Outcome) => void;
}

interface Pending {
  context: RequestContext | { action: "probe" };
  resolve: (answer: Answer | null) => void;
  /** A message to queue again if the connection drops before the answer. */
  message?: QueuedMessage;
}

function lineTime(value: unknown): Date {
  // Unix seconds; anything else (missing, milliseconds, nonsense) is "now".
  if (typeof value === "number" && Number.isFinite(value) && value > 0 && value < 1e11) {
    return new Date(value * 1000);
  }
  return new Date();
}

const ME_PREFIX = "/me ";

/** Messages of a room's history shown on join, and per page loaded with PgUp. */
const HISTORY_PAGE = 50;
/** Messages a reconnect asks for to catch up on a room (the server's most). */
const CATCH_UP = 200;
/** History ids remembered to skip a message shown already; the oldest are forgotten. */
const SEEN_IDS_MAX = 20_000;

/** What is known of one conversation's history on the server. */
interface HistoryCursor {
  /** The oldest history id shown: the next page ends before it. */
  oldest: number | null;
  /** The newest history id shown: a reconnect catches up after it. */
  newest: number | null;
  /** Whether older messages remain on the server. */
  more: boolean;
  /** A page is being loaded. */
  loading: boolean;
}

/** The client core; see the module doc. */
export class ClientCore {
  readonly host: string;
  readonly port: number;
  /** The buffers. */
  readonly conversations: Conversations = new Conversations();
  #user: string;
  #auth: "guest" | "login";
  #initialAuth: AuthMode;
  #password: string | undefined;
  /**
   * The session token of the last login, kept in memory only: reconnects
   * use it instead of the password (no slow hash on the server).
   */
  #token: string | null = null;
  #status: string | undefined;
  #state: ConnectionState = "connecting";
  #reconnectInfo: ReconnectInfo | null = null;
  #transport: Transport | null = null;
  #reader: Promise<void> = Promise.resolve();
  #pending: Pending[] = [];
  #queue: QueuedMessage[] = [];
  readonly #rooms = new Set<string>();
  readonly #leaveOnReconnect = new Set<string>();
  readonly #names = new Set<string>();
  readonly #roomsSeen = new Set<string>();
  /** Ids of stored (offline) mail shown, to skip a redelivery. */
  readonly #storedSeen = new Set<number>();
  /** History ids of messages shown, to skip one seen live and then in a page. */
  readonly #historySeen = new Set<number>();
  /** Per conversation, what is known of its history on the server. */
  readonly #cursors = new Map<string, HistoryCursor>();
  /** Direct conversations whose history has been loaded once. */
  readonly #directLoaded = new Set<string>();
  /** Room topics, as last heard. */
  readonly #topics = new Map<string, string>();
  /** The account's contacts and their presence, as last heard. */
  readonly #contacts = new Map<string, ContactState>();
  readonly #listeners: ((event: CoreEvent) => void)[] = [];
  readonly #abort = new AbortController();
  readonly #minDelay: number;
  readonly #maxDelay: number;
  readonly #retries: number | undefined;
  readonly #maxQueued: number;
  readonly #connect: (host: string, port: number) => Promise<Transport>;
  readonly #random: () => number;
  readonly #handshakeTimeoutMs: number;
  readonly #pacer: Pacer;
  /** Set while identifying: fails the handshake (the peer does not speak JIM). */
  #handshakeFailed: ((error: Error) => void) | null = null;
  /** Set while identifying: the first answer has come. */
  #answered: (() => void) | null = null;
  /** Whether the queue is being sent (one message at a time, paced). */
  #pumping = false;
  readonly #retryAbsentMs: number;
  readonly #retryAbsentEveryMs: number;
  /** Messages waiting for their addressee to come back, by name, in order. */
  readonly #parked = new Map<string, QueuedMessage[]>();
  readonly #parkTimers = new Set<ReturnType<typeof setTimeout>>();
  #closing = false;
  #loop: Promise<void> = Promise.resolve();
  #settled: (() => void)[] = [];

  constructor(options: ClientCoreOptions) {
    this.host = options.host;
    this.port = options.port;
    this.#user = options.user;
    this.#initialAuth = options.auth ?? "guest";
    this.#auth = this.#initialAuth === "guest" ? "guest" : "login";
    this.#password = options.password;
    this.#minDelay = options.reconnect?.minDelayMs ?? 1000;
    this.#maxDelay = options.reconnect?.maxDelayMs ?? 30000;
    this.#retries = options.reconnect?.retries;
    this.#maxQueued = options.maxQueued ?? 500;
    this.#connect = options.connect ?? ((h, p) => TcpTransport.connect(h, p));
    this.#random = options.random ?? Math.random;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.#pacer = new Pacer({ rate: options.rate ?? DEFAULT_RATE });
    this.#retryAbsentMs = options.retryAbsentMs ?? DEFAULT_RETRY_ABSENT_MS;
    this.#retryAbsentEveryMs = options.retryAbsentEveryMs ?? 1000;
    if (this.#initialAuth !== "guest" && this.#password === undefined) {
      throw new TypeError(`Cannot create client: a password is needed to ${this.#initialAuth}`);
    }
  }

  // -- state --

  /** The name in use. */
  get user(): string {
    return this.#user;
  }

  /** Whether the identity is a registered account (else a guest). */
  get authenticated(): boolean {
    return this.#auth === "login";
  }

  /** Connection state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The reconnect in progress, if any. */
  get reconnectInfo(): ReconnectInfo | null {
    return this.#reconnectInfo;
  }

  /** Rooms joined (or to re-join), in join order. */
  get rooms(): readonly string[] {
    return [...this.#rooms];
  }

  /** A room's topic, as last heard ("" for none). */
  topicOf(room: string): string {
    return this.#topics.get(room) ?? "";
  }

  /** The account's contacts with their presence, as last heard (in list order). */
  get contacts(): readonly ContactState[] {
    return [...this.#contacts.values()];
  }

  /** Messages waiting for the connection (or for their addressee to come back). */
  get queued(): number {
    let parked = 0;
    for (const list of this.#parked.values()) parked += list.length;
    return this.#queue.length + parked;
  }

  /** Names seen (senders, `who` answers, conversations), for completion. */
  get knownNames(): string[] {
    const names = new Set(this.#names);
    for (const c of this.conversations.list) {
      if (c.name !== SERVER_WINDOW && !c.name.startsWith("#")) names.add(c.name);
    }
    return [...names];
  }

  /** Rooms joined or seen, for completion. */
  get knownRooms(): string[] {
    return [...new Set([...this.#rooms, ...this.#roomsSeen])];
  }

  /** Registers a listener for every {@linkcode CoreEvent}. */
  on(listener: (event: CoreEvent) => void): void {
    this.#listeners.push(listener);
  }

  #emit(event: CoreEvent): void {
    for (const l of this.#listeners) l(event);
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#emit({ type: "state", state });
    this.#wakeSettled();
  }

  /** Adds a line to a buffer and reports it. */
  #line(conversation: string, line: Omit<ChatLine, "time"> & { time?: Date }): ChatLine {
    const full: ChatLine = { time: new Date(), ...line };
    this.conversations.add(conversation, full);
    this.#emit({ type: "line", conversation, line: full });
    return full;
  }

  /**
   * A notice about a message the user sent: in its window, and in the window
   * it was typed in if that is another one (where the user is looking).
   */
  #notice(m: QueuedMessage, kind: "info" | "error", text: string): void {
    this.#line(m.to, { kind, text, notice: true });
    if (m.origin !== m.to) this.#line(m.origin, { kind, text, notice: true, copy: true });
  }

  /** Shows client text in a buffer (default: the current one). */
  info(text: string, conversation?: string): void {
    this.#line(conversation ?? this.conversations.current.name, { kind: "info", text });
  }

  /** Shows an error in a buffer (default: the current one). */
  error(text: string, conversation?: string): void {
    this.#line(conversation ?? this.conversations.current.name, { kind: "error", text });
  }

  // -- connection --

  /**
   * Connects and identifies.
   *
   * @throws {ConnectError} the server cannot be reached
   * @throws {IdentifyError} the server refused the name or password
   */
  async start(): Promise<string> {
    this.#setState("connecting");
    const transport = await this.#connect(this.host, this.port);
    this.#attach(transport);
    try {
      const greeting = await this.#handshake(true);
      this.#setState("online");
      this.info(greeting, SERVER_WINDOW);
      this.#loadOpenConversations();
      this.#watchContacts();
      return greeting;
    } catch (error) {
      transport.close();
      await this.#reader;
      this.#setState("offline");
      throw error;
    }
  }

  #attach(transport: Transport): void {
    this.#transport = transport;
    this.#reader = (async () => {
      let foreign = false;
      for await (const item of transport.read()) {
        if (foreign) continue;
        if (item.kind === "error" && this.#handshakeFailed) {
          // Not JSON before any answer: this is not a JIM server. One
          // sentence for it, instead of one per unreadable line.
          foreign = true;
          this.#handshakeFailed(
            new ConnectError(
              `Cannot talk to ${this.host}:${this.port}: it does not speak JIM (what it sent is not JSON)`,
            ),
          );
        } else if (item.kind === "error") {
          this.error(`Cannot read the server's data: ${item.message}`, SERVER_WINDOW);
        } else {
          this.#handle(item.value);
        }
      }
      const info = await transport.closed;
      this.#lost(transport, info.reason);
    })();
  }

  #request(
    context: RequestContext | { action: "probe" },
    body: Record<string, unknown>,
    message?: QueuedMessage,
  ): Promise<Answer | null> {
    const t = this.#transport;
    if (!t) return Promise.resolve(null);
    this.#pacer.take();
    return new Promise((resolve) => {
      const pending: Pending = { context, resolve };
      if (message) pending.message = message;
      this.#pending.push(pending);
      t.send({ ...body, time: unixTime() });
    });
  }

  #presenceBody(status?: string): Record<string, unknown> {
    const user: Record<string, unknown> = { account_name: this.#user };
    if (status !== undefined) user.status = status;
    return { action: "presence", type: "status", user };
  }

  /**
   * Identifies, giving up with a {@linkcode ConnectError} when no answer
   * comes within the handshake timeout or what comes is not JIM.
   */
  async #handshake(first: boolean): Promise<string> {
    const where = `${this.host}:${this.port}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const failed = new Promise<never>((_, reject) => {
      this.#handshakeFailed = reject;
      const seconds = this.#handshakeTimeoutMs / 1000;
      timer = setTimeout(
        () =>
          reject(
            new ConnectError(
              `Cannot talk to ${where}: no answer within ${seconds} s; is it a JIM server?`,
            ),
          ),
        this.#handshakeTimeoutMs,
      );
      this.#answered = () => clearTimeout(timer);
    });
    try {
      return await Promise.race([this.#identify(first), failed]);
    } finally {
      clearTimeout(timer);
      this.#handshakeFailed = null;
      this.#answered = null;
    }
  }

  async #identify(first: boolean): Promise<string> {
    const name = this.#user;
    const fail = (answer: Answer | null, context: RequestContext): never => {
      if (answer === null) {
        throw new ConnectError(
          `Cannot talk to ${this.host}:${this.port}: the connection closed before the server answered`,
        );
      }
      throw new IdentifyError(describeAnswer(context, answer).text, answer.code);
    };
    let greeting: string;
    if (this.#auth === "guest") {
      const context: RequestContext = { action: "presence", name, guest: true };
      const answer = await this.#request(context, this.#presenceBody(this.#status));
      if (answer?.code !== 200) fail(answer, context);
      greeting = describeAnswer(context, answer!).text;
    } else {
      const password = this.#password!;
      if (first && this.#initialAuth === "register") {
        const context: RequestContext = { action: "register", name };
        const answer = await this.#request(context, {
          action: "register",
          user: { account_name: name, password },
        });
        if (answer?.code !== 201 && answer?.code !== 200) fail(answer, context);
        this.info(describeAnswer(context, answer!).text, SERVER_WINDOW);
      }
      const context: RequestContext = { action: "authenticate", name };
      let answer: Answer | null = null;
      if (this.#token !== null) {
        answer = await this.#request(context, {
          action: "authenticate",
          user: { account_name: name, token: this.#token },
        });
        if (answer === null) fail(answer, context);
        // Expired or revoked: the password still works.
        if (answer?.code === 402) {
          this.#token = null;
          answer = null;
        } else if (answer?.code !== 200) fail(answer, context);
      }
      if (answer === null) {
        answer = await this.#request(context, {
          action: "authenticate",
          user: { account_name: name, password },
          remember: true,
        });
        if (answer?.code !== 200) fail(answer, context);
        this.#keepToken(answer!);
      }
      greeting = describeAnswer(context, answer!).text;
      // Always sent: the server answers it only after the offline mail, so
      // once it is answered every waiting message has arrived (and the next
      // request tells the server so).
      const ctx: RequestContext = this.#status === undefined
        ? { action: "presence", name, guest: false }
        : { action: "presence", name, guest: false, status: this.#status };
      await this.#request(ctx, this.#presenceBody(this.#status));
    }
    return `${greeting} on ${this.host}:${this.port}`;
  }

  #lost(transport: Transport, reason: string): void {
    if (transport !== this.#transport) return;
    this.#transport = null;
    const pending = this.#pending.splice(0);
    const resend = pending.flatMap((p) => (p.message ? [p.message] : []));
    // A message among them is queued again (or reported) below, not by its sender.
    for (const p of pending) p.resolve(null);
    if (this.#closing || this.#state === "offline") {
      for (const m of resend) this.#notSent(m, "the connection closed before the server answered");
      this.#wakeSettled();
      return;
    }
    if (this.#state !== "online") {
      // Lost while connecting or re-identifying: the caller handles it.
      this.#queue.unshift(...resend);
      return;
    }
    this.error(`Connection to ${this.host}:${this.port} lost: ${reason}`, SERVER_WINDOW);
    if (resend.length > 0) {
      this.#queue.unshift(...resend);
      this.info(
        `${resend.length} message(s) not confirmed by the server will be sent again on reconnect`,
        SERVER_WINDOW,
      );
    }
    this.#loop = this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    const retries = this.#retries;
    const signal = this.#abort.signal;
    let lastFailure = "";
    for (let attempt = 1; retries === undefined || attempt <= retries; attempt++) {
      const ms = backoffDelay(attempt, {
        minDelayMs: this.#minDelay,
        maxDelayMs: this.#maxDelay,
        random: this.#random,
      });
      this.#reconnectInfo = { attempt, at: Date.now() + ms, maxAttempts: retries };
      this.#state = "connecting"; // force a state event below
      this.#setState("reconnecting");
      try {
        await wait(ms, signal);
      } catch {
        return; // closing
      }
      let transport: Transport | null = null;
      try {
        transport = await this.#connect(this.host, this.port);
        if (this.#closing) {
          transport.close();
          return;
        }
        this.#attach(transport);
        const greeting = await this.#handshake(false);
        this.#reconnectInfo = null;
        this.#setState("online");
        this.info(`Reconnected: ${greeting}`, SERVER_WINDOW);
        this.#afterReconnect();
        return;
      } catch (error) {
        if (transport) {
          transport.close();
          await this.#reader;
        }
        if (this.#closing) return;
        const text = error instanceof Error ? error.message : String(error);
        // Report the first failure and any change of reason; the status line counts the rest.
        if (text !== lastFailure) {
          this.error(`Reconnect attempt ${attempt} failed: ${text}`, SERVER_WINDOW);
          lastFailure = text;
        }
        // A wrong password, a name now registered or a blocked account
        // (403) will not heal by waiting.
        if (
          error instanceof IdentifyError &&
          (error.code === 401 || error.code === 402 || error.code === 403)
        ) break;
      }
    }
    this.#reconnectInfo = null;
    this.#giveUp("Gave up reconnecting");
  }

  #afterReconnect(): void {
    for (const room of this.#leaveOnReconnect) {
      void this.#request({ action: "leave", room }, { action: "leave", room });
    }
    this.#leaveOnReconnect.clear();
    this.#loadOpenConversations();
    this.#watchContacts();
    for (const room of this.#rooms) {
      const context: RequestContext = { action: "join", room };
      // Catches up from the last message seen, if any was.
      const newest = this.#cursors.get(room)?.newest ?? null;
      const body: Record<string, unknown> = newest === null
        ? { action: "join", room, history: HISTORY_PAGE }
        : { action: "join", room, history: CATCH_UP, after: newest };
      void this.#request(context, body).then((answer) => {
        if (answer && answer.code >= 400) this.error(describeAnswer(context, answer).text, room);
        else if (answer) this.#takeJoin(room, answer, newest === null ? "before" : "after");
      });
    }
    if (this.#queue.length > 0) {
      this.info(`Sending ${this.#queue.length} queued message(s)`, SERVER_WINDOW);
    }
    // A guest it was written to may reconnect later than we did (after a
    // server restart, everyone comes back at once): give it a while.
    const until = Date.now() + this.#retryAbsentMs;
    for (const m of this.#queue) if (!m.to.startsWith("#")) m.retryUntil = until;
    void this.#pump();
  }

  /** Holds a message (and later ones to the same name) until a retry. */
  #park(m: QueuedMessage): void {
    const list = this.#parked.get(m.to);
    if (list) {
      list.push(m);
      return;
    }
    this.#parked.set(m.to, [m]);
    const timer = setTimeout(() => {
      this.#parkTimers.delete(timer);
      const held = this.#parked.get(m.to) ?? [];
      this.#parked.delete(m.to);
      this.#queue.unshift(...held);
      void this.#pump();
    }, this.#retryAbsentEveryMs);
    this.#parkTimers.add(timer);
  }

  /** Every parked message, in order, taken out. */
  #unparkAll(): QueuedMessage[] {
    for (const timer of this.#parkTimers) clearTimeout(timer);
    this.#parkTimers.clear();
    const all = [...this.#parked.values()].flat();
    this.#parked.clear();
    return all;
  }

  #giveUp(why: string): void {
    this.#setState("offline");
    const queued = [...this.#unparkAll(), ...this.#queue.splice(0)];
    for (const m of queued) this.#notSent(m, "no connection");
    this.error(
      `${why}: not connected to ${this.host}:${this.port}` +
        (queued.length > 0 ? `; ${queued.length} queued message(s) were not sent` : ""),
      SERVER_WINDOW,
    );
  }

  #notSent(m: QueuedMessage, why: string): void {
    const text = `Not sent (${why}): ${m.text}`;
    this.#notice(m, "error", text);
    m.resolve({ ok: false, text, offline: true });
  }

  /** Sends `quit`, closes the connection and stops reconnecting. */
  async quit(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#abort.abort();
    const t = this.#transport;
    if (t) {
      t.send({ action: "quit" });
      await t.flush();
      t.close();
    }
    await this.#reader;
    await this.#loop;
    const queued = [...this.#unparkAll(), ...this.#queue.splice(0)];
    for (const m of queued) this.#notSent(m, "client quit");
    this.#reconnectInfo = null;
    this.#setState("offline");
  }

  /** Resolves once nothing is pending or queued (or the client is offline). */
  async settle(): Promise<void> {
    while (this.#state !== "offline" && (this.#pending.length > 0 || this.queued > 0)) {
      await new Promise<void>((resolve) => this.#settled.push(resolve));
    }
  }

  #wakeSettled(): void {
    const waiting = this.#settled.splice(0);
    for (const w of waiting) w();
  }

  // -- incoming --

  #handle(value: Record<string, unknown>): void {
    const action = value.action;
    if (action === "msg") return this.#incomingMessage(value);
    if (action === "contact") return this.#contactChanged(value);
    if (action === "topic") return this.#topicChanged(value);
    if (action === "probe") {
      void this.#request({ action: "probe" }, this.#presenceBody(this.#status));
      return;
    }
    if (action !== undefined) return; // unknown unsolicited object: tolerated
    const answer = toAnswer(value);
    if (!answer) return;
    if (answer.code === 100 || answer.code === 101) {
      const d = describeNotice(answer);
      this.#line(SERVER_WINDOW, { kind: d.ok ? "info" : "error", text: d.text });
      return;
    }
    this.#answered?.();
    const pending = this.#pending.shift();
    if (!pending) {
      this.error(describeNotice(answer).text, SERVER_WINDOW);
      return;
    }
    pending.resolve(answer);
    this.#wakeSettled();
  }

  #incomingMessage(value: Record<string, unknown>): void {
    // Stored mail carries a stable id: one shown before (redelivered after
    // a drop) is not shown again.
    if (typeof value.id === "number") {
      if (this.#storedSeen.has(value.id)) return;
      this.#storedSeen.add(value.id);
    }
    const from = typeof value.from === "string" ? value.from : "?";
    const to = typeof value.to === "string" ? value.to : this.#user;
    const text = typeof value.message === "string" ? value.message : "";
    const room = to.startsWith("#");
    const conversation = room ? to : from === this.#user ? to : from;
    if (typeof value.history_id === "number") {
      if (!this.#seeHistoryId(value.history_id)) return;
      this.#cursor(conversation, value.history_id);
    }
    // A conversation's first message opens its window: what was said before is loaded.
    if (!room && !this.conversations.find(conversation)) {
      queueMicrotask(() => void this.#loadDirect(conversation));
    }
    if (from !== this.#user) this.#names.add(from);
    if (room) this.#roomsSeen.add(to);
    const own = from === this.#user;
    const time = lineTime(value.time);
    if (text.startsWith(ME_PREFIX)) {
      this.#line(conversation, {
        kind: "action",
        from,
        text: text.slice(ME_PREFIX.length),
        own,
        time,
      });
    } else {
      this.#line(conversation, { kind: "msg", from, text, own, time });
    }
  }

  // -- outgoing --

  /** The compact JSON length of a `msg` request to `to` with an empty message. */
  #overhead(to: string): number {
    const body = {
      action: "msg",
      to,
      from: this.#user,
      encoding: "utf-8",
      message: "",
      time: unixTime(),
    };
    return [...JSON.stringify(body)].length;
  }

  /**
   * The messages `text` becomes when sent to `to`: long text is split so
   * that each fits the server's limits (see {@linkcode splitMessage}).
   */
  split(to: string, text: string, options: { action?: boolean } = {}): string[] {
    const prefix = options.action ? ME_PREFIX : "";
    // The prefix counts as part of every message's text.
    return splitMessage(text, this.#overhead(to) + [...prefix].length);
  }

  /**
   * Sends `text` to a name or room, split into several messages if it is
   * too long for one. Each shows in that buffer at once as pending, then
   * as sent or refused when the server answers; refusals also show in the
   * window it was typed in (`origin`, default: the current one). While not
   * connected the messages are queued and sent after reconnecting.
   */
  async sendMessage(
    to: string,
    text: string,
    options: { action?: boolean; origin?: string } = {},
  ): Promise<Outcome> {
    const origin = options.origin ?? this.conversations.current.name;
    // A conversation's first message opens its window: what was said before is loaded.
    if (!to.startsWith("#") && !this.conversations.find(to)) {
      queueMicrotask(() => void this.#loadDirect(to));
    }
    const parts = this.split(to, text, options);
    const sent = parts.map((part) => this.#sendOne(to, part, origin, options.action ?? false));
    const outcomes = await Promise.all(sent);
    return outcomes.find((o) => !o.ok) ?? outcomes.at(-1)!;
  }

  #sendOne(to: string, text: string, origin: string, action: boolean): Promise<Outcome> {
    const wire = action ? ME_PREFIX + text : text;
    const shown = [
      this.#line(to, {
        kind: action ? "action" : "msg",
        from: this.#user,
        text,
        own: true,
        delivery: "pending",
      }),
    ];
    if (origin !== to) {
      shown.push(
        this.#line(origin, {
          kind: "info",
          text: `-> ${to}: ${text}`,
          delivery: "pending",
          copy: true,
        }),
      );
    }
    const conversations = origin !== to ? [to, origin] : [to];
    return new Promise<Outcome>((done) => {
      const resolve = (outcome: Outcome) => {
        shown.forEach((line, i) => {
          line.delivery = outcome.ok ? "sent" : "refused";
          this.#emit({ type: "update", conversation: conversations[i]!, line });
        });
        done(outcome);
      };
      const m: QueuedMessage = { to, text: wire, origin, resolve };
      if (this.#state === "online" && this.#transport) {
        this.#queue.push(m);
        void this.#pump();
      } else if (this.#state === "offline") {
        this.#notSent(m, "not connected");
      } else if (this.#queue.length >= this.#maxQueued) {
        this.#notSent(m, `offline queue full at ${this.#maxQueued}`);
      } else {
        this.#queue.push(m);
        this.#notice(
          m,
          "info",
          "Not connected: queued, it will be sent when the connection is back",
        );
      }
    });
  }

  /**
   * Sends the queue one message at a time, in order, no faster than the
   * pacer allows. A 429 puts the message back at the head and waits longer
   * each time (the server's limit is lower than ours): it is never lost,
   * and never sent so fast that the server disconnects us for flooding.
   */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    let refusals = 0;
    try {
      while (this.#state === "online" && this.#transport !== null && this.#queue.length > 0) {
        const ms = this.#pacer.delay();
        if (ms > 0) {
          if (!(await this.#sleep(ms))) return;
          continue;
        }
        const m = this.#queue.shift()!;
        if (this.#parked.has(m.to)) {
          this.#park(m); // behind an earlier one to the same name, in order
          continue;
        }
        const result = await this.#deliver(m);
        if (result === "absent") {
          if (!m.toldAbsent) {
            m.toldAbsent = true;
            const seconds = Math.ceil((m.retryUntil! - Date.now()) / 1000);
            this.#notice(
              m,
              "info",
              `${m.to} is not online yet: trying again for up to ${seconds} s`,
            );
          }
          this.#park(m);
        } else if (result === "refused") {
          this.#queue.unshift(m);
          this.#pacer.slowDown();
          refusals++;
          if (!(await this.#sleep(Math.min(8000, 500 * 2 ** (refusals - 1))))) return;
        } else if (result === "answered") {
          refusals = 0;
        }
      }
    } finally {
      this.#pumping = false;
      this.#wakeSettled();
    }
  }

  /** Waits `ms`; false if the client quits meanwhile. */
  async #sleep(ms: number): Promise<boolean> {
    try {
      await wait(ms, this.#abort.signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Sends one message and reports its answer; "refused" for a 429 (to send again). */
  async #deliver(m: QueuedMessage): Promise<"answered" | "refused" | "absent" | "lost"> {
    const context: RequestContext = { action: "msg", to: m.to };
    const body = { action: "msg", to: m.to, from: this.#user, encoding: "utf-8", message: m.text };
    const answer = await this.#request(context, body, m);
    if (answer === null) return "lost"; // queued again or reported by #lost
    if (answer.code === 429) return "refused";
    if (answer.code === 404 && m.retryUntil !== undefined && Date.now() < m.retryUntil) {
      return "absent";
    }
    const d = describeAnswer(context, answer);
    if (d.text) this.#notice(m, d.ok ? "info" : "error", d.text);
    m.resolve({
      ok: answer.code === 200 || answer.code === 202,
      code: answer.code,
      text: d.text,
    });
    return "answered";
  }

  /**
   * Sends one request while online and waits for its answer; when offline or
   * the connection is lost meanwhile, says so in `window` and returns the
   * failed outcome instead.
   */
  async #ask(
    context: RequestContext,
    body: Record<string, unknown>,
    window: string,
  ): Promise<Answer | Outcome> {
    const text = this.#state !== "online"
      ? "Not connected: try again when the connection is back"
      : await this.#request(context, body) ?? "No answer: the connection was lost";
    if (typeof text !== "string") return text;
    this.error(text, window);
    return { ok: false, text, offline: true };
  }

  async #simple(
    context: RequestContext,
    body: Record<string, unknown>,
    window: string,
    onAnswer?: (answer: Answer) => void,
  ): Promise<Outcome> {
    const answer = await this.#ask(context, body, window);
    if (!("raw" in answer)) return answer;
    onAnswer?.(answer);
    const d = describeAnswer(context, answer);
    if (d.text) this.#line(window, { kind: d.ok ? "info" : "error", text: d.text });
    return { ok: d.ok, code: answer.code, text: d.text };
  }

  /** Runs one parsed command (all but `/register`, `/login` and `/quit`, which need the view). */
  async execute(command: ClientCommand): Promise<Outcome> {
    const current = this.conversations.current;
    switch (command.kind) {
      case "empty":
        return { ok: true, text: "" };
      case "invalid":
        this.error(command.message);
        return { ok: false, text: command.message };
      case "say":
      case "me": {
        if (current.name === SERVER_WINDOW) {
          const text = "This is the server window: use /msg NAME text, /join #room or /switch";
          this.error(text);
          return { ok: false, text };
        }
        return await this.sendMessage(current.name, command.text, {
          action: command.kind === "me",
        });
      }
      case "msg": {
        // Shown pending in both windows, with any refusal where it was typed.
        const outcome = this.sendMessage(command.to, command.text);
        this.#emit({ type: "windows" });
        return await outcome;
      }
      case "query":
        this.switchTo(command.to);
        return { ok: true, text: "" };
      case "join":
        return await this.join(command.room);
      case "leave": {
        const room = command.room ?? (current.name.startsWith("#") ? current.name : undefined);
        if (!room) {
          const text = "Usage: /leave #ROOM (this window is not a room)";
          this.error(text);
          return { ok: false, text };
        }
        return await this.leave(room);
      }
      case "status":
        return await this.setStatus(command.text);
      case "topic": {
        if (!current.name.startsWith("#")) {
          const text = "Usage: /topic [TEXT] in a room's window";
          this.error(text);
          return { ok: false, text };
        }
        return await this.topic(current.name, command.text);
      }
      case "contacts":
        return await this.showContacts();
      case "add":
        return await this.changeContacts({ add: command.name });
      case "remove":
        return await this.changeContacts({ remove: command.name });
      case "who":
        return await this.who(
          command.target ?? (current.name.startsWith("#") ? current.name : undefined),
        );
      case "clear":
        this.conversations.clear(current.name);
        this.#emit({ type: "windows" });
        return { ok: true, text: "" };
      case "close":
        if (!this.conversations.close(current.name)) {
          const text = "The server window cannot be closed";
          this.error(text);
          return { ok: false, text };
        }
        this.#emit({ type: "windows" });
        return { ok: true, text: "" };
      case "help":
        for (const line of helpText(command.topic)) this.info(line);
        return { ok: true, text: "" };
      case "switch": {
        const target = this.conversations.resolve(command.target);
        if (!target) {
          const text = `No window ${command.target}: /msg NAME or /join #ROOM opens one`;
          this.error(text);
          return { ok: false, text };
        }
        this.switchTo(target.name);
        return { ok: true, text: "" };
      }
      case "register":
      case "login":
      case "passwd":
      case "delete-account":
      case "quit": {
        const text = `/${command.kind} needs the terminal`;
        this.error(text);
        return { ok: false, text };
      }
    }
  }

  /** Makes a buffer current (opening it if new: a conversation's history is loaded). */
  switchTo(name: string): Conversation {
    const fresh = !this.conversations.find(name);
    const c = this.conversations.switchTo(name);
    this.#emit({ type: "windows" });
    if (fresh && name !== SERVER_WINDOW && !name.startsWith("#")) void this.#loadDirect(name);
    return c;
  }

  /** Joins a room and switches to its buffer. */
  async join(room: string): Promise<Outcome> {
    this.#roomsSeen.add(room);
    if (this.#state !== "online") {
      this.#rooms.add(room);
      this.#leaveOnReconnect.delete(room);
      this.switchTo(room);
      const text = `Not connected: will join ${room} when the connection is back`;
      this.info(text, room);
      return { ok: true, text };
    }
    const context: RequestContext = { action: "join", room };
    const answer = await this.#request(context, { action: "join", room, history: HISTORY_PAGE });
    if (answer === null) {
      const text = `No answer to joining ${room}: the connection was lost`;
      this.error(text);
      return { ok: false, text, offline: true };
    }
    const d = describeAnswer(context, answer);
    if (d.ok) {
      this.#rooms.add(room);
      this.switchTo(room);
      this.#takeJoin(room, answer, "before");
      const topic = this.topicOf(room);
      this.info(topic ? `${d.text}; topic: ${topic}` : d.text, room);
    } else {
      this.error(d.text);
    }
    return { ok: d.ok, code: answer.code, text: d.text };
  }

  /** Leaves a room (its buffer stays open). */
  async leave(room: string): Promise<Outcome> {
    if (this.#state !== "online") {
      this.#rooms.delete(room);
      this.#leaveOnReconnect.add(room);
      const text = `Not connected: will leave ${room} when the connection is back`;
      this.info(text);
      return { ok: true, text };
    }
    const outcome = await this.#simple({ action: "leave", room }, { action: "leave", room }, room);
    if (outcome.code === 200 || outcome.code === 404) this.#rooms.delete(room);
    return outcome;
  }

  /** Sets the presence status (kept for reconnects). */
  setStatus(text: string): Promise<Outcome> {
    this.#status = text;
    const context: RequestContext = {
      action: "presence",
      name: this.#user,
      guest: this.#auth === "guest",
      status: text,
    };
    if (this.#state !== "online") {
      const note = "Not connected: the status will be set when the connection is back";
      this.info(note);
      return Promise.resolve({ ok: true, text: note });
    }
    return this.#simple(context, this.#presenceBody(text), this.conversations.current.name);
  }

  /**
   * Asks the server quietly who is online, so that Tab can complete their
   * names. Prints nothing; a server without `who` is simply not asked again.
   */
  async learnOnlineNames(): Promise<void> {
    if (this.#state !== "online") return;
    const answer = await this.#request({ action: "who" }, { action: "who" });
    for (const u of (answer && whoUsers(answer)) ?? []) {
      if (u !== this.#user) this.#names.add(u);
    }
  }

  /** Asks who is online (in a room, or whether a name is). */
  async who(target?: string): Promise<Outcome> {
    const context: RequestContext = target === undefined
      ? { action: "who" }
      : { action: "who", target };
    const body: Record<string, unknown> = { action: "who" };
    if (target !== undefined) body.target = target;
    if (this.#state !== "online") {
      return this.#simple(context, body, this.conversations.current.name);
    }
    const answer = await this.#request(context, body);
    if (answer) {
      for (const u of whoUsers(answer) ?? []) {
        if (u !== this.#user) this.#names.add(u);
      }
    }
    if (answer === null) {
      const text = "No answer: the connection was lost";
      this.error(text);
      return { ok: false, text, offline: true };
    }
    const d = describeAnswer(context, answer);
    this.#line(this.conversations.current.name, { kind: d.ok ? "info" : "error", text: d.text });
    return { ok: d.ok, code: answer.code, text: d.text };
  }

  /** `/login`: authenticates as `name` on this connection; later reconnects use it. */
  async login(name: string, password: string): Promise<Outcome> {
    const context: RequestContext = { action: "authenticate", name };
    let answer: Answer | undefined;
    const outcome = await this.#simple(
      context,
      {
        action: "authenticate",
        user: { account_name: name, password },
        remember: true,
      },
      SERVER_WINDOW,
      (a) => answer = a,
    );
    if (outcome.code === 200) {
      this.#user = name;
      this.#auth = "login";
      this.#password = password;
      this.#token = null;
      if (answer) this.#keepToken(answer);
      this.#emit({ type: "windows" });
      this.#watchContacts();
    }
    return outcome;
  }

  /** `/passwd`: changes the account's password; the server revokes every token, so take the new one. */
  async passwd(password: string, newPassword: string): Promise<Outcome> {
    const name = this.#user;
    if (this.#auth !== "login") {
      const text = "Cannot change password: log in first (/login)";
      this.error(text, SERVER_WINDOW);
      return { ok: false, text };
    }
    let answer: Answer | undefined;
    const outcome = await this.#simple(
      { action: "passwd", name },
      {
        action: "passwd",
        user: { account_name: name, password, new_password: newPassword },
        remember: true,
      },
      SERVER_WINDOW,
      (a) => answer = a,
    );
    if (outcome.code === 200) {
      this.#password = newPassword;
      this.#token = null;
      if (answer) this.#keepToken(answer);
    }
    return outcome;
  }

  /**
   * `/delete-account`: deletes the account with its mail and rooms. The
   * connection stays, with no name: the client claims the same name as a
   * guest, as a fresh start would.
   */
  async deleteAccount(password: string): Promise<Outcome> {
    const name = this.#user;
    if (this.#auth !== "login") {
      const text = "Cannot delete account: log in first (/login)";
      this.error(text, SERVER_WINDOW);
      return { ok: false, text };
    }
    const outcome = await this.#simple({ action: "unregister", name }, {
      action: "unregister",
      user: { account_name: name, password },
    }, SERVER_WINDOW);
    if (outcome.code === 200) {
      this.#auth = "guest";
      this.#password = undefined;
      this.#token = null;
      this.#rooms.clear();
      this.#leaveOnReconnect.clear();
      this.#emit({ type: "windows" });
      const context: RequestContext = { action: "presence", name, guest: true };
      const answer = await this.#request(context, this.#presenceBody(this.#status));
      if (answer) {
        const d = describeAnswer(context, answer);
        if (d.text) this.#line(SERVER_WINDOW, { kind: d.ok ? "info" : "error", text: d.text });
      }
    }
    return outcome;
  }

  /** Keeps the session token a login's 200 carries, if any. */
  #keepToken(answer: Answer): void {
    const token = answer.raw.token;
    if (typeof token === "string") this.#token = token;
  }

  /** `/register`: creates an account with the current name, then logs in to it. */
  async register(password: string): Promise<Outcome> {
    const name = this.#user;
    const outcome = await this.#simple({ action: "register", name }, {
      action: "register",
      user: { account_name: name, password },
    }, SERVER_WINDOW);
    if (outcome.code !== 201 && outcome.code !== 200) return outcome;
    return await this.login(name, password);
  }

  // -- history, topics and contacts (jim's extensions) --

  /** Remembers a history id; false if it was shown already. */
  #seeHistoryId(id: number): boolean {
    if (this.#historySeen.has(id)) return false;
    this.#historySeen.add(id);
    if (this.#historySeen.size > SEEN_IDS_MAX) {
      const oldest = this.#historySeen.values().next().value;
      if (oldest !== undefined) this.#historySeen.delete(oldest);
    }
    return true;
  }

  /** Widens what is known of a conversation's history by one id. */
  #cursor(conversation: string, id: number): HistoryCursor {
    let c = this.#cursors.get(conversation);
    if (!c) {
      c = { oldest: null, newest: null, more: true, loading: false };
      this.#cursors.set(conversation, c);
    }
    if (c.oldest === null || id < c.oldest) c.oldest = id;
    if (c.newest === null || id > c.newest) c.newest = id;
    return c;
  }

  /**
   * Takes a page of history (`messages`, `more`) into a buffer: before its
   * lines (older ones), or after them (caught up after a reconnect). Lines
   * already shown are skipped. Returns how many were added.
   */
  #takePage(conversation: string, answer: Answer, where: "before" | "after"): number {
    const raw = answer.raw.messages;
    if (!Array.isArray(raw)) return 0;
    const buffer = this.conversations.find(conversation)?.lines ?? [];
    const lines: ChatLine[] = [];
    let oldest: number | null = null;
    for (const m of raw) {
      if (typeof m !== "object" || m === null) continue;
      const v = m as Record<string, unknown>;
      const id = v.history_id;
      if (typeof id !== "number") continue;
      oldest = oldest === null ? id : Math.min(oldest, id);
      if (!this.#seeHistoryId(id)) continue;
      this.#cursor(conversation, id);
      const from = typeof v.from === "string" ? v.from : "?";
      const text = typeof v.message === "string" ? v.message : "";
      const time = lineTime(v.time);
      // One's own message, or one that came before ids did, shown already.
      if (buffer.some((l) => l.from === from && sameText(l, text) && near(l.time, time))) continue;
      const own = from === this.#user;
      if (from !== this.#user) this.#names.add(from);
      lines.push(
        text.startsWith(ME_PREFIX)
          ? { kind: "action", from, text: text.slice(ME_PREFIX.length), own, time, history: true }
          : { kind: "msg", from, text, own, time, history: true },
      );
    }
    const cursor = this.#cursors.get(conversation) ??
      { oldest: null, newest: null, more: true, loading: false };
    this.#cursors.set(conversation, cursor);
    if (where === "before") cursor.more = answer.raw.more === true;
    if (oldest !== null && (cursor.oldest === null || oldest < cursor.oldest)) {
      cursor.oldest = oldest;
    }
    if (lines.length === 0) return 0;
    if (where === "before") {
      this.conversations.prepend(conversation, lines);
      this.#emit({ type: "windows" });
    } else {
      for (const line of lines) this.#line(conversation, line);
    }
    return lines.length;
  }

  /** A join's answer: the topic and the history it carries. */
  #takeJoin(room: string, answer: Answer, where: "before" | "after"): void {
    if (typeof answer.raw.topic === "string") this.#topics.set(room, answer.raw.topic);
    this.#takePage(room, answer, where);
  }

  /**
   * Asks an account's server for its contacts' presence, to be told when it
   * changes (after each login). Not awaited: a server without `contacts`
   * answers 400 and nothing changes.
   */
  #watchContacts(): void {
    if (this.#auth !== "login" || this.#state !== "online") return;
    void this.#request({ action: "contacts" }, { action: "contacts" }).then((answer) => {
      if (answer?.code === 200) this.#takeContacts(answer, false);
    });
  }

  /** Loads the history of direct conversations opened while not yet online (offline mail). */
  #loadOpenConversations(): void {
    for (const c of this.conversations.list) {
      if (c.name !== SERVER_WINDOW && !c.name.startsWith("#")) void this.#loadDirect(c.name);
    }
  }

  /** Loads the start of a direct conversation's history when its window opens (accounts only). */
  async #loadDirect(name: string): Promise<void> {
    if (this.#auth !== "login" || this.#state !== "online" || this.#directLoaded.has(name)) return;
    this.#directLoaded.add(name);
    let cursor = this.#cursors.get(name);
    if (!cursor) {
      cursor = { oldest: null, newest: null, more: true, loading: false };
      this.#cursors.set(name, cursor);
    }
    cursor.loading = true;
    const answer = await this.#request({ action: "history", target: name }, {
      action: "history",
      target: name,
      limit: HISTORY_PAGE,
    });
    cursor.loading = false;
    if (answer?.code === 200) this.#takePage(name, answer, "before");
    else cursor.more = false;
  }

  /**
   * Loads the page before the oldest message shown of a room or a direct
   * conversation (PgUp at the top). Resolves to how many lines were added:
   * 0 when there are no more, or nothing could be asked.
   */
  async loadOlder(conversation: string): Promise<number> {
    if (conversation === SERVER_WINDOW || this.#state !== "online") return 0;
    const room = conversation.startsWith("#");
    if (room ? !this.#rooms.has(conversation) : this.#auth !== "login") return 0;
    let cursor = this.#cursors.get(conversation);
    if (!cursor) {
      cursor = { oldest: null, newest: null, more: true, loading: false };
      this.#cursors.set(conversation, cursor);
    }
    if (!cursor.more || cursor.loading) return 0;
    cursor.loading = true;
    const body: Record<string, unknown> = {
      action: "history",
      target: conversation,
      limit: HISTORY_PAGE,
    };
    if (cursor.oldest !== null) body.before = cursor.oldest;
    const answer = await this.#request({ action: "history", target: conversation }, body);
    cursor.loading = false;
    if (answer === null) return 0;
    if (answer.code !== 200) {
      cursor.more = false;
      this.error(describeAnswer({ action: "history", target: conversation }, answer).text);
      return 0;
    }
    const added = this.#takePage(conversation, answer, "before");
    if (!cursor.more) this.info("No older messages on the server", conversation);
    return added;
  }

  /** A room's topic changed (pushed to members that asked for history). */
  #topicChanged(value: Record<string, unknown>): void {
    const { room, topic, from } = value;
    if (typeof room !== "string" || typeof topic !== "string") return;
    this.#topics.set(room, topic);
    const who = typeof from === "string" ? from : "someone";
    this.info(topic ? `${who} set the topic: ${topic}` : `${who} cleared the topic`, room);
    this.#emit({ type: "windows" });
  }

  /** A contact's presence changed: shown in the server window and kept for the view. */
  #contactChanged(value: Record<string, unknown>): void {
    const contact = toContact(value.user);
    if (!contact) return;
    this.#contacts.set(contact.name, contact);
    this.info(contactText(contact), SERVER_WINDOW);
    this.#emit({ type: "windows" });
  }

  /** Replaces the contact list with a `contacts` answer's; prints it if `show`. */
  #takeContacts(answer: Answer, show: boolean): void {
    const list = Array.isArray(answer.raw.contacts) ? answer.raw.contacts : [];
    this.#contacts.clear();
    for (const entry of list) {
      const contact = toContact(entry);
      if (contact) this.#contacts.set(contact.name, contact);
    }
    if (!show) return;
    const window = this.conversations.current.name;
    if (this.#contacts.size === 0) {
      this.info("No contacts: /add NAME to see them come and go", window);
    }
    for (const contact of this.#contacts.values()) this.info(contactText(contact), window);
    this.#emit({ type: "windows" });
  }

  /** `/contacts`: one line per contact, where the user is looking. */
  showContacts(): Promise<Outcome> {
    const context: RequestContext = { action: "contacts" };
    const window = this.conversations.current.name;
    return this.#contactsRequest(context, { action: "contacts" }, window, true);
  }

  /** `/add NAME`, `/remove NAME`. */
  changeContacts(change: { add: string } | { remove: string }): Promise<Outcome> {
    const context: RequestContext = { action: "contacts", ...change };
    const window = this.conversations.current.name;
    return this.#contactsRequest(context, { action: "contacts", ...change }, window, false);
  }

  async #contactsRequest(
    context: RequestContext,
    body: Record<string, unknown>,
    window: string,
    list: boolean,
  ): Promise<Outcome> {
    const answer = await this.#ask(context, body, window);
    if (!("raw" in answer)) return answer;
    const d = describeAnswer(context, answer);
    if (answer.code === 200) {
      if (!list) this.info(d.text, window);
      this.#takeContacts(answer, list);
    } else {
      this.error(d.text, window);
    }
    return { ok: d.ok, code: answer.code, text: d.text };
  }

  /** `/topic [TEXT]`: sets a room's topic, or shows it. */
  async topic(room: string, text?: string): Promise<Outcome> {
    const context: RequestContext = text === undefined
      ? { action: "topic", room }
      : { action: "topic", room, text };
    const body: Record<string, unknown> = { action: "topic", room };
    if (text !== undefined) body.topic = text;
    return await this.#simple(context, body, room, (answer) => {
      if (answer.code === 200 && typeof answer.raw.topic === "string") {
        this.#topics.set(room, answer.raw.topic);
        this.#emit({ type: "windows" });
      }
    });
  }
}

function sameText(line: ChatLine, text: string): boolean {
  return line.kind === "action" ? ME_PREFIX + line.text === text : line.text === text;
}

/** Within a minute: a message shown live and read back from history is the same one. */
function near(a: Date, b: Date): boolean {
  return Math.abs(a.getTime() - b.getTime()) <= 60_000;
}

/**
 * The dialects of JIM that real course clients speak, and how one connection's
 * requests and answers are translated between its dialect and jim's own.
 *
 * The course this protocol comes from went on for several lessons, and
 * students' clients speak each lesson's version: the seed's (`msg`, `quit`),
 * lesson 8's (`message` with `mess_text`, `exit`, no answer to either) and
 * the contacts lessons' (`get_contacts`, `add`/`remove`, `get_users`, and a
 * 2018 shape that lists contacts as N separate objects). Their action and
 * field names are distinct, so a connection's dialect is recognised from what
 * it sends; requests are rewritten into jim's own shape before validation, so
 * the hub sees one vocabulary, and answers and pushes are rewritten back.
 * Pure: no I/O, no timers.
 *
 * @module
 */

import {
  type DeliveredMsg,
  ProtocolError,
  type Request,
  type Response,
  unixTime,
} from "./messages.ts";

/** The response codes the seed defines; a classic client is sent no others. */
export const CLASSIC_CODES: ReadonlySet<number> = new Set([
  100,
  101,
  200,
  201,
  202,
  400,
  401,
  402,
  403,
  404,
  409,
  410,
  500,
]);

/** How a request is answered in the connection's dialect. */
export type Answering =
  /** One answer, as in the seed. */
  | "always"
  /** Only a failure is answered (lesson 8's `message` expects no reply). */
  | "failures"
  /** Nothing at all (lesson 8's `exit`). */
  | "never";

/** One request read in a connection's dialect. */
export interface Call {
  /** The request in jim's own shape, ready for `validateRequest`. */
  value: Record<string, unknown>;
  answering: Answering;
}

/** Field names of a lesson-8 `message`, as one connection spells them. */
interface MessageKeys {
  from: string;
  to: string;
  text: string;
}

const FROM_KEYS = ["from", "sender"] as const;
const TO_KEYS = ["to", "destination"] as const;
const TEXT_KEYS = ["mess_text", "message_text", "msg_text"] as const;

/** The longest `time` string taken as a clock time. */
const TIME_TEXT_MAX = 64;
/** A number as text: `"1795680538.44"`. */
const NUMERIC = /^\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/;
/** Clock and date text: `"08:08:30"`, `"2018-05-01-12.00.00"`, `"Thu Nov 26 09:48:00 2026"`. */
const CLOCK = /^[0-9A-Za-z :.,+\-/]*\d[0-9A-Za-z :.,+\-/]*$/;

/** What the course's clients read an object with: `recv(1024)`. */
const RECV_SIZE = 1024;

/** Length of JSON text once every non-ASCII UTF-16 unit is escaped as `\uXXXX`. */
function asciiLength(json: string): number {
  let n = json.length;
  for (let i = 0; i < json.length; i++) if (json.charCodeAt(i) > 0x7f) n += 5;
  return n;
}

function bad(message: string): ProtocolError {
  return new ProtocolError(400, `Cannot parse request: ${message}`);
}

/**
 * A client's `time` as a number. The server never trusts it (it always sends
 * its own unix seconds), so any number goes (seconds, milliseconds or
 * nanoseconds), and so does a string holding a number or a clock time.
 * Returns the value unchanged when it is neither, for validation to refuse.
 */
export function clientTime(time: unknown): unknown {
  if (typeof time !== "string") return time;
  if (NUMERIC.test(time)) return Number(time);
  if (time.length <= TIME_TEXT_MAX && CLOCK.test(time)) return unixTime();
  throw bad("time must be a number, or a string holding a number or a clock time");
}

function stringField(value: Record<string, unknown>, keys: readonly string[]): string | undefined {
  for (const key of keys) if (typeof value[key] === "string") return key;
  return undefined;
}

/**
 * One connection's dialect, learnt from what it sends. A connection starts
 * as a seed client; each request may teach more (see docs/protocol.md,
 * "Dialects").
 */
export class Dialect {
  /** It speaks lesson 8's family (`message`, `exit`, contacts with `user`). */
  #lesson = false;
  /** Its `message` field names, once it has sent one. */
  #keys: MessageKeys | null = null;
  /** It waits for an answer to each `message` (the contacts lessons' clients do). */
  #answersMessages = false;
  /** It lists contacts as `quantity` then N `contact_list` objects (2018). */
  #quantity = false;
  /** It used one of jim's extensions, so it takes every response code. */
  #extended = false;

  /** Whether the dialect knows the seed's `probe` (lesson 8 and later do not). */
  get probes(): boolean {
    return !this.#lesson;
  }

  /** Whether pushed messages are rewritten for this connection. */
  get rewritesPushes(): boolean {
    return this.#lesson;
  }

  /**
   * Whether only the seed's codes may be sent: a bare peer (no newline after
   * its objects) that has used none of jim's extensions.
   */
  classic(newlineFramed: boolean): boolean {
    return !newlineFramed && !this.#extended;
  }

  /**
   * Reads one decoded object: learns from it, and rewrites it into jim's
   * own shape. `newlineFramed` tells whether the connection frames its
   * objects with newlines (jim's own client does, the course's do not).
   *
   * @throws {ProtocolError} 400 for a `time` that is neither a number nor a
   * time, or a lesson-8 `message` without its addressee or text
   */
  read(value: Record<string, unknown>, newlineFramed: boolean): Call {
    const action = value.action;
    if (value.time !== undefined && typeof value.time !== "number") {
      value = { ...value, time: clientTime(value.time) };
    }
    switch (action) {
      case "presence": {
        // Lesson 8 sends presence without `type` and `status` (as a bare
        // peer); the seed with both. jim's own client frames with newlines.
        const user = value.user as Record<string, unknown> | null | undefined;
        const plain = value.type === undefined && user?.status === undefined;
        if (this.#keys === null && !this.#answersMessages) this.#lesson = plain && !newlineFramed;
        return { value, answering: "always" };
      }
      case "msg":
        this.#lesson = false;
        return { value, answering: "always" };
      case "message":
        return this.#message(value);
      case "exit":
        this.#lesson = true;
        return { value: { action: "quit" }, answering: "never" };
      // `authenticate` is the seed's own: it says nothing about the codes a client takes.
      case "register":
      case "passwd":
      case "unregister":
      case "who":
      case "contacts":
      case "history":
      case "topic":
        this.#extended = true;
        return { value, answering: "always" };
      case "get_contacts":
        // The 2018 clients (bare peers) send nothing but the action and time;
        // later ones name themselves (`user` in the lessons, `user_login`
        // elsewhere), and jim's own client frames with newlines.
        this.#quantity = !newlineFramed && value.user === undefined &&
          value.user_login === undefined && value.account_name === undefined;
        if (typeof value.user === "string") this.#lessonContacts();
        return { value: { action, time: value.time }, answering: "always" };
      case "add":
      case "remove":
      case "add_contact":
      case "del_contact": {
        if (action === "add" || action === "remove") this.#lessonContacts();
        const key = stringField(value, ["user_id", "account_name", "contact"]) ??
          (value.user_id !== undefined ? "user_id" : "account_name");
        return {
          value: {
            action: action === "add" || action === "add_contact" ? "add_contact" : "del_contact",
            time: value.time,
            contact: value[key],
          },
          answering: "always",
        };
      }
      case "get_users":
        this.#lessonContacts();
        return { value: { action, time: value.time }, answering: "always" };
      case "pubkey_need":
        this.#lessonContacts();
        return { value, answering: "always" };
      default:
        return { value, answering: "always" };
    }
  }

  #lessonContacts(): void {
    this.#lesson = true;
    this.#answersMessages = true;
  }

  #message(value: Record<string, unknown>): Call {
    this.#lesson = true;
    const from = stringField(value, FROM_KEYS);
    const to = stringField(value, TO_KEYS);
    const text = stringField(value, TEXT_KEYS);
    // Named in the client's own terms: it never sent `to` or `message`.
    if (to === undefined) throw bad("message needs destination (or to) as a string");
    if (text === undefined) throw bad("message needs mess_text (or message_text) as a string");
    this.#keys = { from: from ?? "sender", to, text };
    const request: Record<string, unknown> = {
      action: "msg",
      time: value.time,
      to: value[to],
      encoding: "utf-8",
      message: value[text],
    };
    if (from !== undefined) request.from = value[from];
    return { value: request, answering: this.#answersMessages ? "always" : "failures" };
  }

  /**
   * The objects to write for one answer: none, one, or (a 2018 contact list)
   * one followed by N `contact_list` objects.
   *
   * @param r the hub's answer
   * @param request the request it answers, when it was one
   * @param call how the request was read, when it was one
   * @param newlineFramed whether the connection frames with newlines
   */
  answer(
    r: Response,
    request: Request | undefined,
    call: Call | undefined,
    newlineFramed: boolean,
  ): unknown[] {
    if (call?.answering === "never") return [];
    if (call?.answering === "failures" && r.response < 400) return [];
    if (r.response === 202 && "users" in r && Array.isArray(r.users)) {
      const names = r.users as string[];
      if (request?.action === "get_contacts" && this.#quantity) {
        return [
          { response: 202, time: r.time, alert: r.alert, quantity: names.length },
          ...names.map((name) => ({ action: "contact_list", time: r.time, user_id: name })),
        ];
      }
      return [{ response: 202, time: r.time, alert: names, data_list: names }];
    }
    if (request?.action === "pubkey_need" && r.response === 200 && this.#lesson) {
      return [{ response: 511, time: r.time, bin: r.pubkey }];
    }
    if (this.classic(newlineFramed) && !CLASSIC_CODES.has(r.response)) {
      return [classicResponse(r)];
    }
    return [r];
  }

  /** A pushed message in this connection's dialect (call only when {@linkcode rewritesPushes}). */
  push(m: DeliveredMsg): Record<string, unknown> {
    const keys = this.#keys;
    if (keys === null) {
      // Not yet known which names it uses: both spellings, as long as the
      // object still fits the one recv(1024) those clients read it with;
      // past that, the lessons' own spelling of the text only.
      const both: Record<string, unknown> = {
        action: "message",
        time: m.time,
        from: m.from,
        to: m.to,
        sender: m.from,
        destination: m.to,
        mess_text: m.message,
        message_text: m.message,
      };
      if (asciiLength(JSON.stringify(both)) < RECV_SIZE) return both;
      delete both.message_text;
      return both;
    }
    return {
      action: "message",
      time: m.time,
      [keys.from]: m.from,
      [keys.to]: m.to,
      [keys.text]: m.message,
    };
  }

  /** A key naming the shape {@linkcode push} gives, for caching rewritten pushes. */
  get pushShape(): string {
    const k = this.#keys;
    return k === null ? "" : `${k.from} ${k.to} ${k.text}`;
  }
}

/**
 * The closest classic code for a response: the `x00` of its class, as
 * HTTP clients treat codes they do not know, with the detail kept in `error`
 * (or `alert`).
 */
export function classicResponse(r: Response): Response {
  const code = Math.floor(r.response / 100) * 100;
  if (code < 400) {
    return { ...r, response: code as 100 | 200 } as Response;
  }
  const text = "error" in r ? String(r.error) : String(r.alert);
  return { response: code as 400 | 500, time: r.time, error: text };
}

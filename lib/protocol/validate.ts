/**
 * Turns a decoded JSON object into a typed {@linkcode Request}, or a
 * {@linkcode ProtocolError} naming the rule it breaks. Every protocol limit
 * lives here, checked in the order docs/protocol.md gives: size, then
 * `action`/`time`, then the action itself, then field limits.
 *
 * @module
 */

import { type Encoding, ProtocolError, type Request } from "./messages.ts";
import { invisibleIn } from "./names.ts";

/** A session token on the wire: 43 base64url characters (see lib/auth/token.ts). */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Every limit, in characters (Unicode code points). */
export const LIMITS = {
  /** `action` */
  action: 15,
  /** an account or guest name */
  name: 25,
  /** a room name, `#` included */
  room: 25,
  /** `message` of a `msg` */
  message: 500,
  /** a presence `status` */
  status: 100,
  /** presence `type` */
  type: 15,
  /** the shortest password `register` accepts */
  passwordMin: 8,
  /** the longest password */
  passwordMax: 128,
  /** a room's topic */
  topic: 200,
  /** messages one `history` page or `join` replay may ask for */
  history: 200,
  /** a whole object, counted as compact `JSON.stringify` output */
  object: 640,
} as const;

const NAME = /^[\p{L}\p{N}_.-]+$/u;
const ROOM = /^#[\p{L}\p{N}_.-]+$/u;

/** Code points in `s`, counting only as far as needed to compare with `limit`. */
function exceeds(s: string, limit: number): boolean {
  if (s.length <= limit) return false; // UTF-16 length is never below the code point count
  let n = 0;
  for (const _ of s) if (++n > limit) return true;
  return false;
}

function bad(message: string): ProtocolError {
  return new ProtocolError(400, `Cannot parse request: ${message}`);
}

function field(obj: Record<string, unknown>, key: string, what: string): string {
  const v = obj[key];
  if (typeof v !== "string") throw bad(`${what} must be a string`);
  return v;
}

function optionalField(
  obj: Record<string, unknown>,
  key: string,
  what: string,
): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw bad(`${what} must be a string`);
  return v;
}

function limited(value: string, limit: number, what: string): string {
  if (exceeds(value, limit)) throw bad(`${what} exceeds ${limit} characters`);
  return value;
}

function userObject(value: Record<string, unknown>): Record<string, unknown> {
  const user = value.user;
  if (typeof user !== "object" || user === null || Array.isArray(user)) {
    throw bad("user must be an object");
  }
  return user as Record<string, unknown>;
}

/** Checks the syntax of an account or guest name; returns an error text or null. */
export function nameProblem(name: string): string | null {
  if (name.length === 0) return "account_name must not be empty";
  if (exceeds(name, LIMITS.name)) return `account_name exceeds ${LIMITS.name} characters`;
  const invisible = invisibleIn(name);
  if (invisible) {
    return `account_name must not contain invisible or filler characters (${invisible})`;
  }
  if (!NAME.test(name)) {
    return "account_name may hold only letters, digits, '_', '.' and '-'";
  }
  return null;
}

function accountName(user: Record<string, unknown>): string {
  const name = field(user, "account_name", "user.account_name");
  const problem = nameProblem(name);
  if (problem) throw bad(problem);
  return name;
}

/** The name of an existing account, as a login gives it (not checked for syntax). */
function loginName(user: Record<string, unknown>): string {
  return limited(
    field(user, "account_name", "user.account_name"),
    LIMITS.name,
    "user.account_name",
  );
}

/** A password to check against the stored hash. */
function password(user: Record<string, unknown>): string {
  return limited(field(user, "password", "user.password"), LIMITS.passwordMax, "user.password");
}

/** A password to store: it must also be long enough. */
function newPassword(user: Record<string, unknown>, key: string): string {
  const value = limited(field(user, key, `user.${key}`), LIMITS.passwordMax, `user.${key}`);
  if ([...value].length < LIMITS.passwordMin) {
    throw bad(`user.${key} must have at least ${LIMITS.passwordMin} characters`);
  }
  return value;
}

function flag(obj: Record<string, unknown>, key: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw bad(`${key} must be true or false`);
  return v;
}

function roomName(value: Record<string, unknown>): string {
  const room = limited(field(value, "room", "room"), LIMITS.room, "room");
  const invisible = invisibleIn(room);
  if (invisible) throw bad(`room must not contain invisible or filler characters (${invisible})`);
  if (!ROOM.test(room)) {
    throw bad("room must be '#' followed by letters, digits, '_', '.' or '-'");
  }
  return room;
}

/** An optional whole number from `min` to `max`. */
function optionalInt(
  obj: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`${key} must be a whole number from ${min} to ${max}`);
  }
  return v;
}

/** The largest history id a request may name. */
const MAX_ID = Number.MAX_SAFE_INTEGER;

function contactName(value: Record<string, unknown>, key: string): string {
  const contact = field(value, key, key);
  const problem = nameProblem(contact);
  if (problem) throw bad(problem.replace("account_name", key));
  return contact;
}

function encoding(value: Record<string, unknown>): Encoding {
  const e = value.encoding;
  if (e === undefined) return "ascii";
  if (typeof e !== "string") throw bad("encoding must be a string");
  const lower = e.toLowerCase();
  if (lower === "ascii") return "ascii";
  if (lower === "utf-8" || lower === "utf8") return "utf-8";
  throw bad(`encoding must be "ascii" or "utf-8"`);
}

const EXPONENT = /[0-9][eE]/;

/**
 * Whether an object's compact form could exceed the object limit, judged from
 * its source without re-serialising it. Strings, keys and literals never grow
 * when re-serialised (escapes only shrink), and neither does a number written
 * without an exponent; a number with one grows at most 21/4 (`1e20` becomes 21
 * digits).
 */
function mayExceedObject(rawBytes: number, rawText: string | undefined): boolean {
  if (rawText !== undefined && rawText.length <= LIMITS.object && !EXPONENT.test(rawText)) {
    return false;
  }
  return rawBytes * 21 / 4 > LIMITS.object;
}

/** Whether a decoded object is a client's answer (has `response`, no `action`), to be ignored. */
export function isClientAnswer(value: Record<string, unknown>): boolean {
  return value.action === undefined && value.response !== undefined;
}

/**
 * Validates one decoded object.
 *
 * @param value the decoded object
 * @param rawBytes its size as it arrived, to skip re-serialising small objects
 * @param rawText its source text, to skip re-serialising most objects
 * @throws {ProtocolError} 400 with the rule broken
 */
export function validateRequest(
  value: Record<string, unknown>,
  rawBytes = Infinity,
  rawText?: string,
): Request {
  if (mayExceedObject(rawBytes, rawText) && exceeds(JSON.stringify(value), LIMITS.object)) {
    throw bad(`object exceeds ${LIMITS.object} characters`);
  }
  const action = value.action;
  if (typeof action !== "string") throw bad("action must be a string");
  if (exceeds(action, LIMITS.action)) throw bad(`action exceeds ${LIMITS.action} characters`);
  const time = value.time;
  if (action === "quit") {
    return time === undefined || typeof time !== "number" ? { action } : { action, time };
  }
  if (typeof time !== "number" || !Number.isFinite(time)) throw bad("time must be a number");

  switch (action) {
    case "presence": {
      const user = userObject(value);
      const account_name = accountName(user);
      const status = optionalField(user, "status", "user.status");
      const type = optionalField(value, "type", "type");
      if (status !== undefined) limited(status, LIMITS.status, "user.status");
      if (type !== undefined) limited(type, LIMITS.type, "type");
      // The lessons' clients announce their public key here (bounded by the object limit).
      const pubkey = optionalField(user, "pubkey", "user.pubkey");
      const request: Request = { action, time, user: { account_name } };
      if (status !== undefined) request.user.status = status;
      if (pubkey !== undefined) request.user.pubkey = pubkey;
      if (type !== undefined) request.type = type;
      return request;
    }
    case "authenticate": {
      const user = userObject(value);
      const account_name = loginName(user);
      const remember = flag(value, "remember");
      const token = optionalField(user, "token", "user.token");
      if (token !== undefined) {
        if (user.password !== undefined) {
          throw bad("user must hold a password or a token, not both");
        }
        if (!TOKEN.test(token)) throw bad("user.token must be 43 base64url characters");
        const request: Request = { action, time, user: { account_name, token } };
        if (remember !== undefined) request.remember = remember;
        return request;
      }
      const request: Request = { action, time, user: { account_name, password: password(user) } };
      if (remember !== undefined) request.remember = remember;
      return request;
    }
    case "register": {
      const user = userObject(value);
      return {
        action,
        time,
        user: { account_name: accountName(user), password: newPassword(user, "password") },
      };
    }
    case "passwd": {
      const user = userObject(value);
      const request: Request = {
        action,
        time,
        user: {
          account_name: loginName(user),
          password: password(user),
          new_password: newPassword(user, "new_password"),
        },
      };
      const remember = flag(value, "remember");
      if (remember !== undefined) request.remember = remember;
      return request;
    }
    case "unregister": {
      const user = userObject(value);
      return { action, time, user: { account_name: loginName(user), password: password(user) } };
    }
    case "msg": {
      const to = field(value, "to", "to");
      if (to.length === 0) throw bad("to must not be empty");
      limited(to, LIMITS.name, "to");
      const from = optionalField(value, "from", "from");
      if (from !== undefined) limited(from, LIMITS.name, "from");
      const message = limited(field(value, "message", "message"), LIMITS.message, "message");
      const request: Request = { action, time, to, encoding: encoding(value), message };
      if (from !== undefined) request.from = from;
      return request;
    }
    case "join": {
      const request: Request = { action, time, room: roomName(value) };
      const history = optionalInt(value, "history", 0, LIMITS.history);
      const after = optionalInt(value, "after", 0, MAX_ID);
      if (after !== undefined && history === undefined) throw bad("after needs history");
      if (history !== undefined) request.history = history;
      if (after !== undefined) request.after = after;
      return request;
    }
    case "leave":
      return { action, time, room: roomName(value) };
    case "history": {
      const target = field(value, "target", "target");
      if (target.startsWith("#")) roomName({ room: target });
      else {
        const problem = nameProblem(target);
        if (problem) throw bad(problem.replace("account_name", "target"));
      }
      const request: Request = { action, time, target };
      const before = optionalInt(value, "before", 1, MAX_ID);
      const after = optionalInt(value, "after", 0, MAX_ID);
      const limit = optionalInt(value, "limit", 1, LIMITS.history);
      if (before !== undefined) request.before = before;
      if (after !== undefined) request.after = after;
      if (limit !== undefined) request.limit = limit;
      return request;
    }
    case "topic": {
      const request: Request = { action, time, room: roomName(value) };
      const topic = optionalField(value, "topic", "topic");
      if (topic !== undefined) request.topic = limited(topic, LIMITS.topic, "topic");
      return request;
    }
    case "contacts": {
      const request: Request = { action, time };
      if (value.add !== undefined) request.add = contactName(value, "add");
      if (value.remove !== undefined) request.remove = contactName(value, "remove");
      if (request.add !== undefined && request.remove !== undefined) {
        throw bad("add and remove cannot come together");
      }
      const showTo = value.show_to;
      if (showTo !== undefined) {
        if (showTo !== "everyone" && showTo !== "contacts") {
          throw bad(`show_to must be "everyone" or "contacts"`);
        }
        request.show_to = showTo;
      }
      return request;
    }
    case "who": {
      const target = optionalField(value, "target", "target");
      if (target === undefined) return { action, time };
      return { action, time, target: limited(target, LIMITS.room, "target") };
    }
    case "get_contacts":
    case "get_users":
      return { action, time };
    case "add_contact":
    case "del_contact": {
      const contact = field(value, "contact", "contact");
      const problem = nameProblem(contact);
      if (problem) throw bad(problem.replace("account_name", "contact"));
      return { action, time, contact };
    }
    case "pubkey_need":
      return {
        action,
        time,
        account_name: limited(
          field(value, "account_name", "account_name"),
          LIMITS.name,
          "account_name",
        ),
      };
    case "probe":
      throw bad("probe is sent by the server only");
    default:
      throw bad(`unknown action "${action}"`);
  }
}

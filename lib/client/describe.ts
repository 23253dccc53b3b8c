/**
 * Human sentences for the server's answers: every response code, read in
 * the light of the request it answers. Pure.
 *
 * @module
 */

import { RESPONSE_CODES } from "../protocol/messages.ts";

/** What a request was, as far as its answer's wording needs. */
export type RequestContext =
  | { action: "msg"; to: string }
  | { action: "presence"; name: string; guest: boolean; status?: string }
  | { action: "authenticate"; name: string }
  | { action: "register"; name: string }
  | { action: "passwd"; name: string }
  | { action: "unregister"; name: string }
  | { action: "join"; room: string }
  | { action: "leave"; room: string }
  | { action: "who"; target?: string }
  | { action: "contacts"; add?: string; remove?: string }
  | { action: "history"; target: string }
  | { action: "topic"; room: string; text?: string };

/** A contact's presence, as the server reports it (`contacts`, `contact`). */
export interface ContactState {
  name: string;
  state: "online" | "away" | "offline";
  status?: string;
  /** When last seen, if offline and known. */
  lastSeen?: Date;
}

/** Reads one contact entry of a `contacts` answer or `contact` push; null if malformed. */
export function toContact(value: unknown): ContactState | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  const name = v.account_name;
  const state = v.state;
  if (typeof name !== "string") return null;
  if (state !== "online" && state !== "away" && state !== "offline") return null;
  const contact: ContactState = { name, state };
  if (typeof v.status === "string") contact.status = v.status;
  if (typeof v.last_seen === "number" && Number.isFinite(v.last_seen)) {
    contact.lastSeen = new Date(v.last_seen * 1000);
  }
  return contact;
}

/**
 * One line for a contact: `bob: online`, `carol: away (at lunch)`,
 * `dave: offline (last seen 2026-11-26 10:02)`.
 */
export function contactText(c: ContactState): string {
  switch (c.state) {
    case "online":
      return `${c.name}: online`;
    case "away":
      return c.status ? `${c.name}: away (${c.status})` : `${c.name}: away`;
    case "offline": {
      if (!c.lastSeen) return `${c.name}: offline`;
      const t = c.lastSeen;
      const stamp = `${t.getFullYear()}-${pad2(t.getMonth() + 1)}-${pad2(t.getDate())} ` +
        `${pad2(t.getHours())}:${pad2(t.getMinutes())}`;
      return `${c.name}: offline (last seen ${stamp})`;
    }
  }
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** A server answer, as read off the wire. */
export interface Answer {
  code: number;
  /** The `alert` or `error` text. */
  text: string;
  /** The whole object, for extension fields such as `users`. */
  raw: Record<string, unknown>;
}

/** The sentence for an answer, and whether it is good news. */
export interface Description {
  ok: boolean;
  /** Empty when nothing needs saying (a message delivered). */
  text: string;
}

/** Reads a response object; `null` if it is not one. */
export function toAnswer(value: Record<string, unknown>): Answer | null {
  const code = value.response;
  if (typeof code !== "number") return null;
  const text = typeof value.alert === "string"
    ? value.alert
    : typeof value.error === "string"
    ? value.error
    : "";
  return { code, text, raw: value };
}

/** Whether a `who` failed because the server does not know the action. */
export function isUnsupported(answer: Answer): boolean {
  return answer.code === 400 && /unknown action|not supported|unsupported/i.test(answer.text);
}

function codeName(code: number): string {
  return (RESPONSE_CODES as Record<number, string>)[code] ?? `code ${code}`;
}

function generic(answer: Answer, what: string): Description {
  const detail = answer.text && answer.text !== codeName(answer.code)
    ? `${codeName(answer.code)}: ${answer.text}`
    : codeName(answer.code);
  return { ok: answer.code < 400, text: `${what}: ${detail} (${answer.code})` };
}

/** The users list a `who` answer carries, if any. */
export function whoUsers(answer: Answer): string[] | null {
  const users = answer.raw.users;
  if (!Array.isArray(users)) return null;
  return users.filter((u): u is string => typeof u === "string");
}

/** The sentence for `answer` to the request described by `context`. */
export function describeAnswer(context: RequestContext, answer: Answer): Description {
  const { code } = answer;
  if (code === 429) {
    return { ok: false, text: "The server says you are sending too fast: wait a moment and retry" };
  }
  if (code === 500) {
    return { ok: false, text: `The server failed to handle the request: ${answer.text}` };
  }
  switch (context.action) {
    case "msg": {
      const to = context.to;
      const room = to.startsWith("#");
      switch (code) {
        case 200:
          return { ok: true, text: "" };
        case 202:
          return {
            ok: true,
            text: `${to} is offline; the message will be delivered when they log in`,
          };
        case 401:
          return {
            ok: false,
            text: "Not sent: you have no name on the server yet (/login or /register)",
          };
        case 403:
          return room
            ? { ok: false, text: `Not sent: you are not in ${to}; /join ${to} first` }
            : { ok: false, text: `Not sent: the server refused it (${answer.text})` };
        case 404:
          return room
            ? { ok: false, text: `Not sent: there is no room ${to}; /join ${to} creates it` }
            : { ok: false, text: `Not sent: nobody called ${to} is online or registered` };
        case 410: {
          // The server says why (mailbox full, guests cannot leave mail, …):
          // its reason, after its own "Cannot send to NAME: ".
          const prefix = `Cannot send to ${to}: `;
          const why = answer.text.startsWith(prefix) ? answer.text.slice(prefix.length) : "";
          return {
            ok: false,
            text: why
              ? `Not sent to ${to}: ${why}`
              : `Not sent: ${to} is offline and the server cannot keep messages for them`,
          };
        }
        case 400:
          return { ok: false, text: `Not sent: the server rejected the message (${answer.text})` };
      }
      return generic(answer, `Message to ${to}`);
    }
    case "presence": {
      const { name } = context;
      if (code === 200) {
        if (context.status !== undefined) {
          return {
            ok: true,
            text: context.status ? `Status set to "${context.status}"` : "Status cleared",
          };
        }
        return {
          ok: true,
          text: context.guest ? `Signed in as guest ${name}` : `Present as ${name}`,
        };
      }
      if (code === 401) {
        return {
          ok: false,
          text: `${name} is a registered account: log in with --login (or pick another --user)`,
        };
      }
      if (code === 409) {
        return {
          ok: false,
          text: `The name ${name} is in use by someone online: pick another --user`,
        };
      }
      if (code === 403) return { ok: false, text: `Cannot change presence: ${answer.text}` };
      return generic(answer, "Presence");
    }
    case "authenticate":
      if (code === 200) return { ok: true, text: `Logged in as ${context.name}` };
      if (code === 402) return { ok: false, text: "Cannot log in: wrong account name or password" };
      if (code === 409) {
        return { ok: false, text: `Cannot log in: ${context.name} is already connected elsewhere` };
      }
      if (code === 403) return { ok: false, text: `Cannot log in: ${answer.text}` };
      return generic(answer, "Login");
    case "passwd":
      if (code === 200) return { ok: true, text: "Password changed" };
      if (code === 402) return { ok: false, text: "Cannot change password: wrong password" };
      if (code === 400 || code === 401 || code === 403) {
        return { ok: false, text: `Cannot change password: ${answer.text}` };
      }
      return generic(answer, "Password change");
    case "unregister":
      if (code === 200) {
        return { ok: true, text: `Account ${context.name} deleted, with its mail and rooms` };
      }
      if (code === 402) return { ok: false, text: "Cannot delete account: wrong password" };
      if (code === 401 || code === 403) {
        return { ok: false, text: `Cannot delete account: ${answer.text}` };
      }
      return generic(answer, "Account deletion");
    case "register":
      if (code === 201 || code === 200) {
        return { ok: true, text: `Account ${context.name} created` };
      }
      if (code === 409) {
        return { ok: false, text: `Cannot register: the name ${context.name} is taken` };
      }
      if (code === 400) return { ok: false, text: `Cannot register: ${answer.text}` };
      return generic(answer, "Registration");
    case "join":
      if (code === 201) return { ok: true, text: `You created and joined ${context.room}` };
      if (code === 200) return { ok: true, text: `You joined ${context.room}` };
      if (code === 401) {
        return {
          ok: false,
          text: `Cannot join ${context.room}: you have no name on the server yet`,
        };
      }
      if (code === 400) return { ok: false, text: `Cannot join ${context.room}: ${answer.text}` };
      return generic(answer, `Join ${context.room}`);
    case "leave":
      if (code === 200) return { ok: true, text: `You left ${context.room}` };
      if (code === 404) return { ok: false, text: `You are not in ${context.room}` };
      return generic(answer, `Leave ${context.room}`);
    case "who": {
      if (isUnsupported(answer)) {
        return { ok: false, text: "/who is not supported by this server" };
      }
      const target = context.target;
      if (code === 200) {
        const users = whoUsers(answer);
        if (users === null) return { ok: true, text: answer.text };
        const list = users.length > 0 ? users.join(", ") : "nobody";
        if (target === undefined) return { ok: true, text: `Online (${users.length}): ${list}` };
        if (target.startsWith("#")) {
          return { ok: true, text: `In ${target} (${users.length}): ${list}` };
        }
        return { ok: true, text: answer.text || `${target}: ${list}` };
      }
      if (code === 404) {
        return {
          ok: false,
          text: target?.startsWith("#")
            ? `There is no room ${target}`
            : `Nobody called ${target ?? "that"} is online or registered`,
        };
      }
      return generic(answer, "Who");
    }
    case "contacts": {
      if (isUnsupported(answer)) {
        return { ok: false, text: "Contacts with presence are not supported by this server" };
      }
      if (code === 200) return { ok: true, text: answer.text };
      if (code === 401) {
        return { ok: false, text: "Contacts are for accounts: /register or /login first" };
      }
      if (code === 404 && context.add !== undefined) {
        return { ok: false, text: `Cannot add ${context.add}: there is no such account` };
      }
      if (code === 404 && context.remove !== undefined) {
        return { ok: false, text: `${context.remove} is not in your contacts` };
      }
      if (code === 400 || code === 403) return { ok: false, text: answer.text };
      return generic(answer, "Contacts");
    }
    case "history":
      if (isUnsupported(answer)) {
        return { ok: false, text: "History is not supported by this server" };
      }
      if (code === 200) return { ok: true, text: "" };
      if (code === 403 || code === 404 || code === 401) {
        return { ok: false, text: `No history of ${context.target}: ${answer.text}` };
      }
      return generic(answer, `History of ${context.target}`);
    case "topic": {
      if (isUnsupported(answer)) {
        return { ok: false, text: "Topics are not supported by this server" };
      }
      const topic = typeof answer.raw.topic === "string" ? answer.raw.topic : "";
      if (code === 200) {
        if (context.text !== undefined) {
          return { ok: true, text: `You set the topic of ${context.room}: ${topic}` };
        }
        return {
          ok: true,
          text: topic ? `Topic of ${context.room}: ${topic}` : `${context.room} has no topic`,
        };
      }
      if (code === 403) {
        return { ok: false, text: `Cannot set the topic: you are not in ${context.room}` };
      }
      if (code === 404) return { ok: false, text: `There is no room ${context.room}` };
      if (code === 400) return { ok: false, text: `Cannot set the topic: ${answer.text}` };
      return generic(answer, `Topic of ${context.room}`);
    }
  }
}

/** The sentence for an unsolicited notice (100/101) or an answer nobody waited for. */
export function describeNotice(answer: Answer): Description {
  if (answer.code === 101) return { ok: false, text: "The server is shutting down" };
  if (answer.code === 100) return { ok: true, text: `Server notice: ${answer.text}` };
  return generic(answer, "Unexpected answer from the server");
}

/**
 * The JIM message vocabulary: one discriminated union of client requests keyed
 * by `action`, the objects the server sends, and the one table of response
 * codes. Pure types and builders; no I/O.
 *
 * @module
 */

/** Every response code jim sends, with the text used when no better one exists. */
export const RESPONSE_CODES = {
  100: "notice",
  101: "server shutting down",
  200: "OK",
  201: "created",
  202: "accepted for offline delivery",
  205: "the list of users online changed",
  400: "bad request",
  401: "not authorized",
  402: "wrong account name or password",
  403: "forbidden",
  404: "not found",
  409: "conflict",
  410: "gone: the addressee is offline and cannot take messages",
  429: "too many requests",
  500: "internal server error",
  503: "service unavailable",
} as const;

/** A response code from {@linkcode RESPONSE_CODES}. */
export type ResponseCode = keyof typeof RESPONSE_CODES;

/** Codes that carry `alert`; the rest carry `error`. */
export type AlertCode = 100 | 101 | 200 | 201 | 202 | 205;
/** Codes that carry `error`. */
export type ErrorCode = Exclude<ResponseCode, AlertCode>;

/** The text encodings a `msg` may declare. */
export type Encoding = "ascii" | "utf-8";

/** `presence`: announce oneself (claims a guest name before authentication). */
export interface PresenceRequest {
  action: "presence";
  time: number;
  type?: string;
  user: { account_name: string; status?: string; pubkey?: string };
}

/**
 * `authenticate`: log in to a registered account, with its password or with a
 * session token an earlier login returned (jim's extension).
 */
export interface AuthenticateRequest {
  action: "authenticate";
  time: number;
  user:
    | { account_name: string; password: string; token?: never }
    | { account_name: string; token: string; password?: never };
  /** Asks for a session token in the 200 (jim's extension). */
  remember?: boolean;
}

/** `passwd` (jim's extension): change one's own password. */
export interface PasswdRequest {
  action: "passwd";
  time: number;
  user: { account_name: string; password: string; new_password: string };
  /** Asks for a new session token in the 200 (the old ones are revoked). */
  remember?: boolean;
}

/** `unregister` (jim's extension): delete one's own account, its mail and memberships. */
export interface UnregisterRequest {
  action: "unregister";
  time: number;
  user: { account_name: string; password: string };
}

/** `register` (jim's extension): create an account. */
export interface RegisterRequest {
  action: "register";
  time: number;
  user: { account_name: string; password: string };
}

/** `msg`: a message to an account, a guest or a `#room`. */
export interface MsgRequest {
  action: "msg";
  time: number;
  to: string;
  from?: string;
  encoding: Encoding;
  message: string;
}

/** `join`: enter (and create, if new) a `#room`. */
export interface JoinRequest {
  action: "join";
  time: number;
  room: string;
  /**
   * Asks for up to this many of the room's kept messages in the answer, and
   * for ids on the messages pushed from then on (jim's extension).
   */
  history?: number;
  /** With `history`: only messages after this id (the last one seen before a reconnect). */
  after?: number;
}

/** `history` (jim's extension): a page of a room's or a direct conversation's kept messages. */
export interface HistoryRequest {
  action: "history";
  time: number;
  /** A `#room` the sender is a member of, or the other party of a direct conversation. */
  target: string;
  /** Only messages with a smaller id (paging back). */
  before?: number;
  /** Only messages with a larger id (catching up). */
  after?: number;
  /** At most this many, the newest that match. */
  limit?: number;
}

/** `topic` (jim's extension): read or (with `topic`) set a room's topic. */
export interface TopicRequest {
  action: "topic";
  time: number;
  room: string;
  topic?: string;
}

/**
 * `contacts` (jim's extension): an account's contact list with each
 * contact's presence, optionally after adding or removing one or changing
 * who sees one's own presence; the connection is then told when a contact's
 * presence changes.
 */
export interface ContactsRequest {
  action: "contacts";
  time: number;
  add?: string;
  remove?: string;
  /** Who sees this account's presence: everyone, or only the accounts on its contact list. */
  show_to?: "everyone" | "contacts";
}

/** `leave`: leave a `#room`. */
export interface LeaveRequest {
  action: "leave";
  time: number;
  room: string;
}

/** `who` (jim's extension): online members of a room, or presence of a name. */
export interface WhoRequest {
  action: "who";
  time: number;
  target?: string;
}

/** `get_contacts`: the sender's contact list. */
export interface GetContactsRequest {
  action: "get_contacts";
  time: number;
}

/** `add_contact` / `del_contact`: change the sender's contact list. */
export interface ContactRequest {
  action: "add_contact" | "del_contact";
  time: number;
  contact: string;
}

/** `get_users`: the names online. */
export interface GetUsersRequest {
  action: "get_users";
  time: number;
}

/** `pubkey_need`: the public key another user announced in its presence. */
export interface PubkeyRequest {
  action: "pubkey_need";
  time: number;
  account_name: string;
}

/** `quit`: answered 200, then the server flushes and closes the connection. */
export interface QuitRequest {
  action: "quit";
  time?: number;
}

/** Every request a client may send, after validation. */
export type Request =
  | PresenceRequest
  | AuthenticateRequest
  | RegisterRequest
  | PasswdRequest
  | UnregisterRequest
  | MsgRequest
  | JoinRequest
  | LeaveRequest
  | WhoRequest
  | GetContactsRequest
  | ContactRequest
  | ContactsRequest
  | HistoryRequest
  | TopicRequest
  | GetUsersRequest
  | PubkeyRequest
  | QuitRequest;

/** The action names of {@linkcode Request}. */
export type Action = Request["action"];

/** A response to a request, or an unsolicited 100/101 notice. */
export type Response =
  | { response: AlertCode; time: number; alert: string; [extra: string]: unknown }
  | { response: ErrorCode; time: number; error: string };

/** A message the server forwards to its addressees. */
export interface DeliveredMsg {
  action: "msg";
  time: number;
  from: string;
  to: string;
  encoding: Encoding;
  message: string;
  /**
   * Set on offline mail from a guest: a guest's name is not reserved, so a
   * reply to it may reach someone else. Guests cannot leave offline mail;
   * this marks only messages accepted (200) for an online account that was
   * then dropped before reading them.
   */
  guest?: true;
  /** Only on mail from the offline store: its id there, the same on every redelivery. */
  id?: number;
  /**
   * Its history id: sent only to connections that asked for history (see
   * `join`), so that they can page back and catch up after a reconnect.
   */
  history_id?: number;
}

/** A contact's presence, in a `contacts` answer and in `contact` pushes. */
export interface ContactPresence {
  account_name: string;
  state: "online" | "away" | "offline";
  /** The status text, when away. */
  status?: string;
  /** When offline: when last seen, in unix seconds (absent when never). */
  last_seen?: number;
}

/** Pushed to a connection that asked (`contacts`) when a contact's presence changes. */
export interface ContactNotice {
  action: "contact";
  time: number;
  user: ContactPresence;
}

/** Pushed to members that asked for history when a room's topic changes. */
export interface TopicNotice {
  action: "topic";
  time: number;
  room: string;
  topic: string;
  from: string;
}

/** The liveness check the server sends to a silent connection. */
export interface ProbeMessage {
  action: "probe";
  time: number;
}

/** Anything the server writes. */
export type ServerMessage = Response | DeliveredMsg | ProbeMessage | ContactNotice | TopicNotice;

/** Unix time in whole seconds, as every response's `time` field carries it. */
export function unixTime(now: number = Date.now()): number {
  return Math.floor(now / 1000);
}

/** Whether a response code carries `alert` (1xx and 2xx). */
export function isAlertCode(code: ResponseCode): code is AlertCode {
  return code < 400;
}

/**
 * Builds a response with all three fields: `response`, `time` and `alert`
 * (1xx/2xx) or `error` (4xx/5xx).
 */
export function response(
  code: ResponseCode,
  text?: string,
  extra?: Record<string, unknown>,
): Response {
  const time = unixTime();
  const body = text ?? RESPONSE_CODES[code];
  if (isAlertCode(code)) return { response: code, time, alert: body, ...extra };
  return { response: code, time, error: body };
}

/** An error that maps to one protocol response code. */
export class ProtocolError extends Error {
  /** The response code to answer with. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

/**
 * How chat lines look as text: time stamps, `<sender>`, `* action`, client
 * notes, per-sender colours (ANSI SGR, off for `NO_COLOR`), and removal of
 * control characters a peer could use to drive the terminal. Pure.
 *
 * @module
 */

import type { ChatLine } from "./conversations.ts";

/** SGR codes used by the client. */
export const SGR = {
  reset: "\x1b[0m",
  bold: "\x1b[1m",
  dim: "\x1b[2m",
  reverse: "\x1b[7m",
  red: "\x1b[31m",
  cyan: "\x1b[36m",
} as const;

/** Colours senders are given, picked by a hash of the name. */
const SENDER_COLOURS = [
  "\x1b[32m",
  "\x1b[33m",
  "\x1b[34m",
  "\x1b[35m",
  "\x1b[36m",
  "\x1b[91m",
  "\x1b[92m",
  "\x1b[93m",
  "\x1b[94m",
  "\x1b[95m",
  "\x1b[96m",
];

/** The colour for `name`: the same name always gets the same one. */
export function senderColour(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return SENDER_COLOURS[(h >>> 0) % SENDER_COLOURS.length]!;
}

/**
 * Replaces control characters (ESC, BEL, CR, …) and bidi overrides with
 * U+FFFD-free visible stand-ins, so received text cannot move the cursor,
 * recolour or clear the screen.
 */
export function sanitize(text: string): string {
  return text
    .replace(/\t/g, " ")
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
      const code = c.charCodeAt(0);
      return code < 0x20 ? "^" + String.fromCharCode(code + 0x40) : "?";
    })
    .replace(/[\u202a-\u202e\u2066-\u2069]/g, "");
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** `HH:MM`, or `MM-DD HH:MM` for a time not on `now`'s day. */
export function formatTime(time: Date, now: Date = new Date()): string {
  const hm = `${pad2(time.getHours())}:${pad2(time.getMinutes())}`;
  const sameDay = time.getFullYear() === now.getFullYear() &&
    time.getMonth() === now.getMonth() && time.getDate() === now.getDate();
  return sameDay ? hm : `${pad2(time.getMonth() + 1)}-${pad2(time.getDate())} ${hm}`;
}

/** `YYYY-MM-DD HH:MM:SS`, for history files. */
export function formatStamp(time: Date): string {
  return `${time.getFullYear()}-${pad2(time.getMonth() + 1)}-${pad2(time.getDate())} ` +
    `${pad2(time.getHours())}:${pad2(time.getMinutes())}:${pad2(time.getSeconds())}`;
}

/** A formatted line, split so a view can wrap the body under the prefix. */
export interface FormattedLine {
  /** Time stamp and sender, ending in a space: `12:03 <bob> `. */
  prefix: string;
  /** The same prefix with colours (equal to `prefix` without colour). */
  styledPrefix: string;
  /** The text. */
  body: string;
  /** SGR to wrap the body in ("" for none). */
  bodyStyle: string;
}

/** What one's own message shows until the server has accepted it. */
function deliveryNote(line: ChatLine): string {
  if (line.delivery === "pending") return " (sending)";
  if (line.delivery === "refused") return " (not sent)";
  return "";
}

/** Formats a chat line for display. */
export function formatLine(
  line: ChatLine,
  options: { color: boolean; now?: Date; tag?: string },
): FormattedLine {
  const tag = options.tag === undefined ? "" : ` [${sanitize(options.tag)}]`;
  const stamp = formatTime(line.time, options.now) + tag;
  const body = sanitize(line.text);
  const c = options.color;
  const dimStamp = c ? `${SGR.dim}${stamp}${SGR.reset}` : stamp;
  switch (line.kind) {
    case "msg": {
      const from = sanitize(line.from ?? "?");
      const nick = `<${from}>`;
      const colour = line.own ? SGR.bold : senderColour(from);
      return {
        prefix: `${stamp} ${nick} `,
        styledPrefix: c ? `${dimStamp} ${colour}${nick}${SGR.reset} ` : `${stamp} ${nick} `,
        body: body + deliveryNote(line),
        // Pending, or read back from the server's history: dimmed, to tell it from what is new.
        bodyStyle: c && (line.delivery === "pending" || line.history) ? SGR.dim : "",
      };
    }
    case "action": {
      const from = sanitize(line.from ?? "?");
      const colour = line.own ? SGR.bold : senderColour(from);
      return {
        prefix: `${stamp} * ${from} `,
        styledPrefix: c ? `${dimStamp} * ${colour}${from}${SGR.reset} ` : `${stamp} * ${from} `,
        body: body + deliveryNote(line),
        bodyStyle: line.delivery === "pending" && c ? SGR.dim : "",
      };
    }
    case "info":
      return {
        prefix: `${stamp} -- `,
        styledPrefix: c ? `${dimStamp} ${SGR.cyan}--${SGR.reset} ` : `${stamp} -- `,
        body: body + deliveryNote(line),
        bodyStyle: c ? SGR.cyan : "",
      };
    case "error":
      return {
        prefix: `${stamp} !! `,
        styledPrefix: c ? `${dimStamp} ${SGR.red}!!${SGR.reset} ` : `${stamp} !! `,
        body,
        bodyStyle: c ? SGR.red : "",
      };
  }
}

/** One line of a history file: `2024-05-01 12:03:04 <bob> text`. */
export function historyLine(line: ChatLine): string {
  const stamp = formatStamp(line.time);
  const text = sanitize(line.text);
  switch (line.kind) {
    case "msg":
      return `${stamp} <${sanitize(line.from ?? "?")}> ${text}`;
    case "action":
      return `${stamp} * ${sanitize(line.from ?? "?")} ${text}`;
    case "info":
      return `${stamp} -- ${text}`;
    case "error":
      return `${stamp} !! ${text}`;
  }
}

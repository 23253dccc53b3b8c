/**
 * Long text cut into messages the server takes: each at most 500 characters
 * (code points) and, with the rest of the request, at most 640 characters
 * of compact JSON, where every `"` or `\` counts twice and a control
 * character six times. Cut at a space where one is in reach, never inside
 * a grapheme cluster (unless one cluster alone is too big). Pure.
 *
 * @module
 */

import { LIMITS } from "../protocol/validate.ts";
import { graphemes } from "./width.ts";

/** Code points in `s`. */
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Code points `s` adds to a JSON string literal. */
function escapedLength(s: string): number {
  return codePoints(JSON.stringify(s)) - 2;
}

interface Unit {
  text: string;
  chars: number;
  escaped: number;
  space: boolean;
}

function unit(text: string): Unit {
  return {
    text,
    chars: codePoints(text),
    escaped: escapedLength(text),
    space: /^\s+$/u.test(text),
  };
}

/**
 * Splits `text` into messages that each fit. `overhead` is the length, in
 * code points, of the compact JSON request with an empty `message` (quotes
 * included). Always at least one message; `[text]` when it fits as it is.
 */
export function splitMessage(text: string, overhead: number): string[] {
  const maxChars = LIMITS.message;
  const maxEscaped = LIMITS.object - overhead;
  if (maxEscaped < 1) return [text];
  if (codePoints(text) <= maxChars && escapedLength(text) <= maxEscaped) return [text];
  const units: Unit[] = [];
  for (const g of graphemes(text)) {
    const u = unit(g);
    if (u.chars <= maxChars && u.escaped <= maxEscaped) units.push(u);
    else for (const cp of g) units.push(unit(cp)); // one cluster too big on its own
  }
  const out: string[] = [];
  let start = 0;
  while (start < units.length) {
    let chars = 0;
    let escaped = 0;
    let end = start;
    let lastSpace = -1;
    while (end < units.length) {
      const u = units[end]!;
      if (chars + u.chars > maxChars || escaped + u.escaped > maxEscaped) break;
      chars += u.chars;
      escaped += u.escaped;
      if (u.space && end > start) lastSpace = end;
      end++;
    }
    let next = end;
    // Cut at the last space if the text goes on and a space is in reach.
    if (end < units.length && !units[end]!.space && lastSpace > start) {
      end = lastSpace;
      next = lastSpace;
    }
    const chunk = units.slice(start, end).map((u) => u.text).join("").trimEnd();
    if (chunk !== "") out.push(chunk);
    // The spaces at a cut separate two messages: not sent.
    while (next < units.length && units[next]!.space) next++;
    start = next;
  }
  return out.length > 0 ? out : [text];
}

/**
 * The chat screen as rows of text, pure: messages of the current window
 * wrapped and bottom-aligned above, a status line, and the input line with
 * the cursor's position. `terminal_ui.ts` writes these rows to the TTY.
 *
 * @module
 */

import type { ConnectionState, ReconnectInfo } from "./client_core.ts";
import type { Conversation } from "./conversations.ts";
import { formatLine, sanitize, SGR } from "./format.ts";
import { fitToWidth, graphemes, stringWidth, truncateToWidth, wrapToWidth } from "./width.ts";

/** Everything the screen shows. */
export interface ScreenModel {
  windows: readonly Conversation[];
  /** 1-based number of the current window. */
  current: number;
  user: string;
  guest: boolean;
  server: string;
  state: ConnectionState;
  reconnect: ReconnectInfo | null;
  queued: number;
  now: Date;
  /** Text before the input, e.g. `[#general] `. */
  prompt: string;
  input: string;
  /** Cursor as a UTF-16 offset into `input`. */
  cursor: number;
  /** Show the input as `*` (passwords). */
  masked: boolean;
  /** Rows scrolled back from the newest. */
  scroll: number;
  /** The current room's topic ("" for none). */
  topic?: string;
  /** A passing note for the status line (completions, key help). */
  hint: string;
  color: boolean;
}

/** The composed screen. */
export interface Screen {
  /** Exactly `rows` rows, each exactly `columns` wide (SGR codes aside). */
  rows: string[];
  /** 0-based cursor position. */
  cursorRow: number;
  cursorColumn: number;
  /** The scroll actually applied (clamped to what there is). */
  scroll: number;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** The connection part of the status line. */
export function connectionText(
  model: Pick<ScreenModel, "state" | "reconnect" | "now" | "queued">,
): string {
  let text: string;
  switch (model.state) {
    case "connecting":
      text = "connecting";
      break;
    case "online":
      text = "online";
      break;
    case "offline":
      text = "offline";
      break;
    case "reconnecting": {
      const r = model.reconnect;
      if (!r) {
        text = "reconnecting";
        break;
      }
      const of = r.maxAttempts === undefined ? "" : `/${r.maxAttempts}`;
      const seconds = Math.ceil((r.at - model.now.getTime()) / 1000);
      text = seconds > 0
        ? `offline, reconnecting in ${seconds}s (attempt ${r.attempt}${of})`
        : `offline, reconnecting now (attempt ${r.attempt}${of})`;
    }
  }
  if (model.queued > 0) text += `, ${model.queued} queued`;
  return text;
}

/** The status line as plain text. */
export function statusText(model: ScreenModel): string {
  const clock = `${pad2(model.now.getHours())}:${pad2(model.now.getMinutes())}`;
  const current = model.windows[model.current - 1];
  const parts = [
    `[${clock}]`,
    `[${model.user}${model.guest ? " (guest)" : ""}]`,
    `[${model.server} ${connectionText(model)}]`,
    `[${model.current}:${current?.name ?? "?"}]`,
  ];
  const active = model.windows
    .map((w, i) => (w.unread > 0 ? `${i + 1}:${w.name}(${w.unread})` : ""))
    .filter((s) => s !== "");
  if (model.topic) parts.push(`[topic: ${sanitize(model.topic)}]`);
  if (active.length > 0) parts.push(`[act: ${active.join(" ")}]`);
  if (model.scroll > 0) parts.push("[scrolled back: PgDn]");
  if (model.hint) parts.push(`[${model.hint}]`);
  return " " + parts.join(" ");
}

/** Display rows for one window's lines, newest last; stops once `need` rows exist. */
function messageRows(
  window: Conversation,
  model: ScreenModel,
  columns: number,
  need: number,
): string[] {
  const out: string[][] = [];
  let count = 0;
  for (let i = window.lines.length - 1; i >= 0 && count < need; i--) {
    const f = formatLine(window.lines[i]!, { color: model.color, now: model.now });
    const indent = stringWidth(f.prefix);
    let rows: string[];
    if (columns - indent >= 20) {
      const body = wrapToWidth(f.body, columns - indent);
      const style = (s: string) => (f.bodyStyle && s ? f.bodyStyle + s + SGR.reset : s);
      rows = body.map((r, j) =>
        (j === 0 ? f.styledPrefix : " ".repeat(indent)) + style(fitToWidth(r, columns - indent))
      );
    } else {
      rows = wrapToWidth(f.prefix + f.body, columns).map((r) => fitToWidth(r, columns));
    }
    out.push(rows);
    count += rows.length;
  }
  return out.reverse().flat();
}

/** Composes the whole screen for a terminal of `columns` × `rows`. */
export function composeScreen(model: ScreenModel, columns: number, rows: number): Screen {
  columns = Math.max(1, columns);
  rows = Math.max(1, rows);
  const out: string[] = [];
  const area = Math.max(0, rows - 2);
  let scroll = Math.max(0, model.scroll);
  if (area > 0) {
    const window = model.windows[model.current - 1];
    const all = window ? messageRows(window, model, columns, area + scroll) : [];
    scroll = Math.min(scroll, Math.max(0, all.length - area));
    const end = all.length - scroll;
    const visible = all.slice(Math.max(0, end - area), end);
    for (let i = visible.length; i < area; i++) out.push(" ".repeat(columns));
    out.push(...visible);
  }
  if (rows >= 2) {
    const status = fitToWidth(statusText({ ...model, scroll }), columns);
    out.push(model.color ? SGR.reverse + status + SGR.reset : status);
  }
  // The input line: prompt, then as much of the text as fits around the cursor.
  const prompt = truncateToWidth(model.prompt, Math.max(0, columns - 10));
  const room = Math.max(1, columns - stringWidth(prompt) - 1);
  const shown = model.masked ? "*".repeat(graphemes(model.input).length) : model.input;
  const cursorAt = model.masked
    ? graphemes(model.input.slice(0, model.cursor)).length
    : model.cursor;
  let start = 0;
  const before = shown.slice(0, cursorAt);
  if (stringWidth(before) > room) {
    // Scroll the line so that the cursor sits near the right edge.
    const clusters = graphemes(before);
    let width = 0;
    let i = clusters.length;
    while (i > 0 && width + stringWidth(clusters[i - 1]!) <= room) {
      width += stringWidth(clusters[--i]!);
    }
    start = clusters.slice(0, i).join("").length;
  }
  const visibleInput = truncateToWidth(shown.slice(start), room);
  // Never the last column of the last row: writing there makes some
  // terminals scroll the screen (or wrap, if they measure a character wider).
  out.push(fitToWidth(prompt + visibleInput, columns - 1));
  return {
    rows: out,
    cursorRow: rows - 1,
    cursorColumn: Math.min(
      columns - 1,
      stringWidth(prompt) + stringWidth(shown.slice(start, cursorAt)),
    ),
    scroll,
  };
}

/**
 * The input line, pure: text, a cursor on a grapheme boundary, editing
 * operations, input history and Tab completion. No terminal code; the view
 * draws {@linkcode LineEditor.text} and puts the cursor at
 * {@linkcode LineEditor.cursor}.
 *
 * @module
 */

import { graphemes } from "./width.ts";

/** Options for {@linkcode LineEditor}. */
export interface LineEditorOptions {
  /**
   * Input history entries kept.
   * @default {500}
   */
  historySize?: number;
}

/** Where Tab looks for words. */
export interface CompletionSources {
  /** Command names with `/`. */
  commands: readonly string[];
  /** Names of people. */
  names: readonly string[];
  /** Room names with `#`. */
  rooms: readonly string[];
}

/** What a Tab press did. */
export interface CompletionResult {
  /** All words that matched (empty: nothing matched). */
  candidates: string[];
  /** Whether the line changed. */
  changed: boolean;
}

function isSpace(g: string): boolean {
  return /^\s+$/u.test(g);
}

/** Longest common prefix of `words` (case-sensitive). */
export function commonPrefix(words: readonly string[]): string {
  if (words.length === 0) return "";
  let prefix = words[0]!;
  for (const w of words) {
    let i = 0;
    while (i < prefix.length && i < w.length && prefix[i] === w[i]) i++;
    prefix = prefix.slice(0, i);
  }
  return prefix;
}

/** An editable line with history. */
export class LineEditor {
  #text = "";
  /** Cursor as a UTF-16 offset, always on a grapheme boundary. */
  #cursor = 0;
  readonly #history: string[] = [];
  readonly #historySize: number;
  /** Index into history while browsing; `history.length` = the draft. */
  #historyIndex = 0;
  #draft = "";

  constructor(options: LineEditorOptions = {}) {
    this.#historySize = options.historySize ?? 500;
  }

  /** The line as typed. */
  get text(): string {
    return this.#text;
  }

  /** The cursor, as a UTF-16 offset into {@linkcode text}. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Entries in the input history, oldest first. */
  get history(): readonly string[] {
    return this.#history;
  }

  /** Replaces the line; the cursor goes to `cursor` or the end. */
  set(text: string, cursor: number = text.length): void {
    this.#text = text;
    this.#cursor = Math.max(0, Math.min(cursor, text.length));
  }

  /** Inserts typed or pasted text at the cursor (line breaks become spaces). */
  insert(s: string): void {
    const clean = s.replace(/\r\n|[\r\n\t]/g, " ").replace(/\p{Cc}/gu, "");
    if (!clean) return;
    this.#text = this.#text.slice(0, this.#cursor) + clean + this.#text.slice(this.#cursor);
    this.#cursor += clean.length;
  }

  #boundaries(): number[] {
    const out = [0];
    let at = 0;
    for (const g of graphemes(this.#text)) {
      at += g.length;
      out.push(at);
    }
    return out;
  }

  #prevBoundary(): number {
    const b = this.#boundaries();
    for (let i = b.length - 1; i >= 0; i--) if (b[i]! < this.#cursor) return b[i]!;
    return 0;
  }

  #nextBoundary(): number {
    for (const at of this.#boundaries()) if (at > this.#cursor) return at;
    return this.#text.length;
  }

  /** Deletes the cluster before the cursor. */
  backspace(): void {
    const start = this.#prevBoundary();
    this.#text = this.#text.slice(0, start) + this.#text.slice(this.#cursor);
    this.#cursor = start;
  }

  /** Deletes the cluster under the cursor. */
  delete(): void {
    const end = this.#nextBoundary();
    this.#text = this.#text.slice(0, this.#cursor) + this.#text.slice(end);
  }

  /** Moves one cluster left. */
  left(): void {
    this.#cursor = this.#prevBoundary();
  }

  /** Moves one cluster right. */
  right(): void {
    this.#cursor = this.#nextBoundary();
  }

  /** Moves to the start of the line. */
  home(): void {
    this.#cursor = 0;
  }

  /** Moves to the end of the line. */
  end(): void {
    this.#cursor = this.#text.length;
  }

  #wordStart(): number {
    let i = this.#cursor;
    while (i > 0 && isSpace(this.#text[i - 1]!)) i--;
    while (i > 0 && !isSpace(this.#text[i - 1]!)) i--;
    return i;
  }

  /** Moves to the start of the word before the cursor. */
  wordLeft(): void {
    this.#cursor = this.#wordStart();
  }

  /** Moves past the end of the word after the cursor. */
  wordRight(): void {
    let i = this.#cursor;
    const t = this.#text;
    while (i < t.length && isSpace(t[i]!)) i++;
    while (i < t.length && !isSpace(t[i]!)) i++;
    this.#cursor = i;
  }

  /** Ctrl-U: deletes from the start of the line to the cursor. */
  killLine(): void {
    this.#text = this.#text.slice(this.#cursor);
    this.#cursor = 0;
  }

  /** Ctrl-W: deletes the word before the cursor (and the spaces after it). */
  killWord(): void {
    const start = this.#wordStart();
    this.#text = this.#text.slice(0, start) + this.#text.slice(this.#cursor);
    this.#cursor = start;
  }

  /** Ctrl-K: deletes from the cursor to the end. */
  killToEnd(): void {
    this.#text = this.#text.slice(0, this.#cursor);
  }

  /** Up: the previous history entry (the line being typed is kept as a draft). */
  historyUp(): void {
    if (this.#historyIndex === 0) return;
    if (this.#historyIndex === this.#history.length) this.#draft = this.#text;
    this.#historyIndex--;
    this.set(this.#history[this.#historyIndex]!);
  }

  /** Down: the next history entry, and past the newest, the draft. */
  historyDown(): void {
    if (this.#historyIndex >= this.#history.length) return;
    this.#historyIndex++;
    this.set(
      this.#historyIndex === this.#history.length
        ? this.#draft
        : this.#history[this.#historyIndex]!,
    );
  }

  /**
   * Enter: returns the line, clears it and adds it to the history (unless
   * `remember` is false, as for a password, or it repeats the last entry).
   */
  submit(remember = true): string {
    const line = this.#text;
    if (remember && line.trim() !== "" && this.#history.at(-1) !== line) {
      this.#history.push(line);
      if (this.#history.length > this.#historySize) this.#history.shift();
    }
    this.#historyIndex = this.#history.length;
    this.#draft = "";
    this.set("");
    return line;
  }

  /**
   * Tab: completes the word before the cursor. The first word of a line
   * that starts with `/` completes to a command; a word starting with `#`
   * to a room; anything else to a name (`name: ` at the start of a line).
   * One match is completed with a following space; several to their common
   * prefix, and all are returned for the view to list.
   */
  complete(sources: CompletionSources): CompletionResult {
    const before = this.#text.slice(0, this.#cursor);
    const start = before.search(/\S*$/u);
    const word = before.slice(start);
    if (!word && start === 0) return { candidates: [], changed: false };
    let pool: readonly string[];
    if (start === 0 && word.startsWith("/")) pool = sources.commands;
    else if (word.startsWith("#")) pool = sources.rooms;
    else pool = sources.names;
    const lower = word.toLowerCase();
    const candidates = [...new Set(pool)].filter((w) => w.toLowerCase().startsWith(lower)).sort();
    if (candidates.length === 0) return { candidates, changed: false };
    let replacement: string;
    if (candidates.length === 1) {
      const only = candidates[0]!;
      const firstWordOfChat = start === 0 && !only.startsWith("/") && !only.startsWith("#");
      replacement = only + (firstWordOfChat ? ": " : " ");
    } else {
      const prefix = commonPrefix(candidates);
      replacement = prefix.length >= word.length ? prefix : word;
    }
    if (replacement === word) return { candidates, changed: false };
    const after = this.#text.slice(this.#cursor);
    const joined = replacement.endsWith(" ") && after.startsWith(" ")
      ? replacement.slice(0, -1)
      : replacement;
    this.#text = this.#text.slice(0, start) + joined + after;
    this.#cursor = start + joined.length + (joined === replacement ? 0 : 1);
    return { candidates, changed: true };
  }
}

/**
 * Conversation buffers, pure: one per peer or room plus the server window,
 * each with its lines and unread count, and which one is current.
 *
 * @module
 */

/** The name of the server window, which holds notices and command answers. */
export const SERVER_WINDOW = "(server)";

/** One line in a buffer. */
export interface ChatLine {
  /** When it was sent or happened. */
  time: Date;
  /** `msg`: someone said text; `action`: /me; `info`/`error`: the client speaking. */
  kind: "msg" | "action" | "info" | "error";
  /** Sender, for `msg` and `action`. */
  from?: string;
  text: string;
  /** Whether the local user sent it. */
  own?: boolean;
  /**
   * For one's own messages: waiting for the server's answer, accepted
   * (200/202), or refused. Nothing is shown as sent before it is accepted.
   */
  delivery?: "pending" | "sent" | "refused";
  /** A notice about something the user did (a refusal, a 202): marks its window as active. */
  notice?: boolean;
  /** Shown in a second window (where the user typed): a log of every line skips it. */
  copy?: boolean;
  /** Said before it was shown here: read back from the server's history. */
  history?: boolean;
}

/** One buffer. */
export interface Conversation {
  /** `(server)`, a name, or a `#room`. */
  readonly name: string;
  readonly lines: ChatLine[];
  /** Messages that arrived while another buffer was current. */
  unread: number;
}

/** Options for {@linkcode Conversations}. */
export interface ConversationsOptions {
  /**
   * Lines kept per buffer; older ones are dropped.
   * @default {2000}
   */
  maxLines?: number;
}

/** Every buffer, in the order they were opened (the server window first). */
export class Conversations {
  readonly #list: Conversation[] = [];
  readonly #maxLines: number;
  #current = 0;

  constructor(options: ConversationsOptions = {}) {
    this.#maxLines = options.maxLines ?? 2000;
    this.#list.push({ name: SERVER_WINDOW, lines: [], unread: 0 });
  }

  /** All buffers; window number = index + 1. */
  get list(): readonly Conversation[] {
    return this.#list;
  }

  /** The buffer being shown. */
  get current(): Conversation {
    return this.#list[this.#current]!;
  }

  /** Window number (1-based) of the current buffer. */
  get currentNumber(): number {
    return this.#current + 1;
  }

  /** Finds a buffer by name (names compare case-sensitively, as the server does). */
  find(name: string): Conversation | undefined {
    return this.#list.find((c) => c.name === name);
  }

  /** The buffer for `name`, opened if new. */
  open(name: string): Conversation {
    let c = this.find(name);
    if (!c) {
      c = { name, lines: [], unread: 0 };
      this.#list.push(c);
    }
    return c;
  }

  /**
   * Appends a line; counts it as unread (activity) unless its buffer is
   * current or it is one's own, for messages and notices.
   */
  add(name: string, line: ChatLine): Conversation {
    const c = this.open(name);
    c.lines.push(line);
    if (c.lines.length > this.#maxLines) c.lines.splice(0, c.lines.length - this.#maxLines);
    const said = (line.kind === "msg" || line.kind === "action") && !line.own;
    if (c !== this.current && (said || line.notice)) {
      c.unread++;
    }
    return c;
  }

  /**
   * Puts older lines (history read back from the server) before a buffer's
   * lines, none counted unread; beyond the line limit the oldest are dropped.
   */
  prepend(name: string, lines: readonly ChatLine[]): Conversation {
    const c = this.open(name);
    c.lines.unshift(...lines.slice(Math.max(0, lines.length - this.#maxLines)));
    if (c.lines.length > this.#maxLines) c.lines.splice(0, c.lines.length - this.#maxLines);
    return c;
  }

  /** Makes `name` (opened if new) current, clearing its unread count. */
  switchTo(name: string): Conversation {
    const c = this.open(name);
    this.#current = this.#list.indexOf(c);
    c.unread = 0;
    return c;
  }

  /** Makes window `n` (1-based) current; false if there is none. */
  switchToNumber(n: number): boolean {
    const c = this.#list[n - 1];
    if (!c) return false;
    this.switchTo(c.name);
    return true;
  }

  /** Moves `by` windows along, wrapping around. */
  cycle(by: number): Conversation {
    const n = this.#list.length;
    this.#current = (((this.#current + by) % n) + n) % n;
    const c = this.current;
    c.unread = 0;
    return c;
  }

  /**
   * Resolves what `/switch` was given: a window number, an exact name, or
   * the one name starting with it. Undefined if none or ambiguous.
   */
  resolve(target: string): Conversation | undefined {
    if (/^\d+$/.test(target)) return this.#list[Number(target) - 1];
    const exact = this.find(target);
    if (exact) return exact;
    const lower = target.toLowerCase();
    const matches = this.#list.filter((c) => c.name.toLowerCase().startsWith(lower));
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** Closes a buffer (never the server window); the previous one becomes current. */
  close(name: string): boolean {
    const i = this.#list.findIndex((c) => c.name === name);
    if (i <= 0) return false;
    this.#list.splice(i, 1);
    if (this.#current >= i) this.#current = Math.max(0, this.#current - 1);
    return true;
  }

  /** Empties a buffer's lines. */
  clear(name: string): void {
    const c = this.find(name);
    if (c) c.lines.length = 0;
  }
}

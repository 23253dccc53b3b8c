/**
 * The JIM wire codec: bytes in, whole JSON objects out, and objects back to
 * bytes. Pure: no sockets, no timers.
 *
 * The decoder is a small byte state machine in the manner of std's
 * `ConcatenatedJsonParseStream` (depth, in-string and escape state carried
 * across chunks), with what that stream lacks for a server: a bound on the
 * bytes one object may take, and recovery after a syntax error.
 *
 * @module
 */

/** Default bound on the raw bytes of one object, before decoding. */
export const DEFAULT_MAX_OBJECT_BYTES = 8192;

/** A whole JSON object read off the wire. */
export interface DecodedObject {
  kind: "object";
  value: Record<string, unknown>;
  /** Length in bytes of the object as it arrived. */
  bytes: number;
  /** The object's source text. */
  text: string;
}

/** Input that cannot become an object; the decoder has already resynchronised. */
export interface DecodeError {
  kind: "error";
  message: string;
}

/** What {@linkcode JsonObjectDecoder.push} yields. */
export type DecodeEvent = DecodedObject | DecodeError;

/** Options for {@linkcode JsonObjectDecoder}. */
export interface DecoderOptions {
  /**
   * Raw bytes one object may take; a longer one is reported and skipped.
   * @default {8192}
   */
  maxObjectBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const enum State {
  /** Between objects: whitespace is skipped, `{` starts an object. */
  Between,
  /** Inside an object, keeping its bytes. */
  Object,
  /** Inside an object that outgrew the bound: tracking its end, keeping nothing. */
  Discard,
  /** After garbage: skipping to the next line (or `{`, for unframed peers). */
  Skip,
}

// ignoreBOM keeps a byte-order mark in the text (JSON does not allow one), so
// the line fast path rejects it as the state machine does.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A line of JSON's blanks only (`trim()` would also take `\v`, no-break spaces and more). */
const JSON_BLANK = /^[ \t\r]*$/;

/** One line parsed as a JSON object, or undefined if it is anything else. */
function parseObject(line: string): Record<string, unknown> | undefined {
  if (line.charCodeAt(0) !== OPEN_BRACE) return undefined; // also blank lines and garbage
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // not one well-formed object: left to the state machine
  }
  return undefined;
}

/**
 * Splits a byte stream into JSON objects, however the stream was cut: bare
 * objects back to back, newline-separated ones, one byte at a time, a UTF-8
 * character split across reads. Never holds more than `maxObjectBytes`.
 *
 * @example
 * ```ts
 * const decoder = new JsonObjectDecoder();
 * decoder.push(new TextEncoder().encode('{"action":"qu'));
 * const [event] = decoder.push(new TextEncoder().encode('it"}\n'));
 * // event: { kind: "object", value: { action: "quit" }, bytes: 17 }
 * ```
 */
export class JsonObjectDecoder {
  readonly #max: number;
  #state = State.Between;
  #depth = 0;
  /** The closing bracket each open one needs, innermost last (Object state only). */
  #closers: number[] = [];
  #inString = false;
  #escape = false;
  #pending: Uint8Array | null = null;
  #pendingLength = 0;
  #afterObject = false;
  #newlineFramed = false;

  constructor(options: DecoderOptions = {}) {
    const max = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
    if (!Number.isInteger(max) || max < 2) {
      throw new RangeError(
        `Cannot create decoder: maxObjectBytes must be an integer >= 2, got ${max}`,
      );
    }
    this.#max = max;
  }

  /**
   * Whether the peer ends its objects with a newline. Until it has done so
   * once, it is treated as a bare-object peer (one object per read).
   */
  get newlineFramed(): boolean {
    return this.#newlineFramed;
  }

  /** Bytes held for an object not yet complete. */
  get pendingBytes(): number {
    return this.#pendingLength;
  }

  /** Feeds one chunk; returns the objects and errors it completed, in order. */
  push(chunk: Uint8Array): DecodeEvent[] {
    const events: DecodeEvent[] = [];
    const last = chunk.lastIndexOf(LF);
    let fast = true;
    let i = 0;
    while (i < chunk.length) {
      if (fast && this.#newlineFramed && this.#state === State.Between && i <= last) {
        i = this.#lines(chunk, i, last, events);
        // Stopped short of the last line end: bad input. The rest of this
        // chunk goes through the state machine alone, which keeps the work
        // linear however many bad lines it holds.
        if (i <= last) fast = false;
        if (i >= chunk.length) break;
      }
      i = this.#scan(chunk, i, events);
    }
    return events;
  }

  /**
   * The fast path for newline-framed peers between objects: decodes every
   * complete line from `from` up to the newline at `last` with one UTF-8
   * decode in all and one `JSON.parse` each.
   * Stops at the first line that is not one well-formed object within the
   * bound (the state machine then gives its exact error) and at the partial
   * last line. Returns where it stopped.
   */
  #lines(chunk: Uint8Array, from: number, last: number, events: DecodeEvent[]): number {
    let text: string;
    try {
      text = utf8.decode(chunk.subarray(from, last));
    } catch {
      return from; // invalid UTF-8 somewhere: the state machine says where
    }
    let byteStart = from;
    let charStart = 0;
    while (byteStart <= last) {
      const byteEnd = chunk.indexOf(LF, byteStart);
      const charEnd = text.indexOf("\n", charStart);
      const line = charEnd < 0 ? text.slice(charStart) : text.slice(charStart, charEnd);
      if (byteEnd - byteStart > this.#max) return byteStart;
      const value = parseObject(line);
      if (value !== undefined) {
        events.push({ kind: "object", value, bytes: byteEnd - byteStart, text: line });
        this.#afterObject = true;
      } else if (!JSON_BLANK.test(line)) {
        return byteStart;
      }
      byteStart = byteEnd + 1;
      charStart = charEnd + 1;
    }
    return byteStart;
  }

  /**
   * The byte state machine, from `from` to the end of the chunk, or to the end
   * of the first line it completes for a newline-framed peer (so that
   * {@linkcode JsonObjectDecoder.push} can return to the line fast path).
   * Returns where it stopped.
   */
  #scan(chunk: Uint8Array, from: number, events: DecodeEvent[]): number {
    let start = -1; // where the current object starts in this chunk, if it does
    if (this.#state === State.Object) start = from;
    const n = chunk.length;
    for (let i = from; i < n; i++) {
      const b = chunk[i]!;
      switch (this.#state) {
        case State.Between:
          if (b === OPEN_BRACE) {
            this.#begin();
            start = i;
          } else if (b === LF) {
            if (this.#afterObject) this.#newlineFramed = true;
            if (this.#newlineFramed) return i + 1;
          } else if (b !== SPACE && b !== TAB && b !== CR) {
            this.#afterObject = false;
            this.#state = State.Skip;
            events.push({ kind: "error", message: "Cannot parse request: expected a JSON object" });
          }
          break;
        case State.Skip:
          if (b === LF) {
            this.#state = State.Between;
            if (this.#newlineFramed) return i + 1;
          } else if (b === OPEN_BRACE && !this.#newlineFramed) {
            // Unframed peers never send a newline to resync at: a new object will do.
            this.#begin();
            start = i;
          }
          break;
        case State.Object:
        case State.Discard: {
          if (this.#inString) {
            if (this.#escape) this.#escape = false;
            else if (b === BACKSLASH) this.#escape = true;
            else if (b === QUOTE) this.#inString = false;
            else if (b < SPACE) {
              // A raw control character cannot be inside a JSON string: the
              // object is broken. A newline doubles as the resync point.
              const discarding = this.#state === State.Discard;
              this.#dropPending();
              this.#state = b === LF ? State.Between : State.Skip;
              if (!discarding) {
                events.push({ kind: "error", message: "Cannot parse request: invalid JSON" });
              }
              break;
            }
          } else if (b === QUOTE) {
            this.#inString = true;
          } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
            this.#depth++;
            if (this.#state === State.Object) {
              this.#closers.push(b === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET);
            }
          } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
            if (this.#state === State.Object && this.#closers.pop() !== b) {
              // `{"a":1]` or `[}`: broken here, whatever follows on the line.
              this.#dropPending();
              this.#state = State.Skip;
              start = -1;
              events.push({ kind: "error", message: "Cannot parse request: invalid JSON" });
              break;
            }
            if (--this.#depth === 0) {
              let next = State.Between;
              if (this.#state === State.Object) {
                // The closing byte counts too: it may be the one over the bound.
                if (this.#pendingLength + (i + 1 - start) > this.#max) {
                  this.#dropPending();
                  events.push(this.#tooBig());
                } else {
                  const event = this.#complete(chunk, start, i + 1);
                  events.push(event);
                  // A broken object: the rest of its line goes too.
                  if (event.kind === "error") next = State.Skip;
                }
              }
              this.#state = next;
              this.#afterObject = true;
              start = -1;
              break;
            }
          } else if (b === LF && this.#state === State.Discard) {
            this.#state = State.Between;
            break;
          }
          if (this.#state === State.Object) {
            const size = this.#pendingLength + (i + 1 - start);
            if (size > this.#max) {
              this.#dropPending();
              this.#state = State.Discard;
              events.push(this.#tooBig());
            }
          }
          break;
        }
      }
    }
    if (this.#state === State.Object && start >= 0) this.#keep(chunk.subarray(start));
    return n;
  }

  #tooBig(): DecodeError {
    return { kind: "error", message: `Cannot parse request: object exceeds ${this.#max} bytes` };
  }

  #begin(): void {
    this.#state = State.Object;
    this.#depth = 1;
    this.#closers.length = 0;
    this.#closers.push(CLOSE_BRACE);
    this.#inString = false;
    this.#escape = false;
    this.#afterObject = false;
  }

  #keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#pending ??= new Uint8Array(this.#max);
    this.#pending.set(bytes, this.#pendingLength);
    this.#pendingLength += bytes.length;
  }

  #dropPending(): void {
    this.#pendingLength = 0;
    if (this.#pending && this.#pending.length > 4096) this.#pending = null;
  }

  #complete(chunk: Uint8Array, start: number, end: number): DecodeEvent {
    let bytes: Uint8Array;
    if (this.#pendingLength === 0) {
      bytes = chunk.subarray(start, end);
    } else {
      this.#keep(chunk.subarray(start, end));
      bytes = this.#pending!.subarray(0, this.#pendingLength);
    }
    const length = bytes.length;
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      this.#pendingLength = 0;
      return { kind: "error", message: "Cannot parse request: invalid UTF-8" };
    }
    this.#pendingLength = 0;
    return judgeObject(text, length);
  }
}

const textEncoder = new TextEncoder();

/** Escapes every non-ASCII UTF-16 unit as `\uXXXX`, as Python's `json.dumps` does. */
export function escapeNonAscii(json: string): string {
  return json.replace(
    /[\u0080-\uffff]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

/**
 * Encodes one object as a line: compact JSON and `\n`. With `ascii`, every
 * non-ASCII character is escaped, for peers that decode what they read as ASCII.
 */
export function encode(value: unknown, options: { ascii?: boolean } = {}): Uint8Array {
  const json = JSON.stringify(value);
  return textEncoder.encode((options.ascii ? escapeNonAscii(json) : json) + "\n");
}

/**
 * One outgoing object, serialised at most once per wire form however many
 * peers it goes to (a room's fan-out writes the same bytes to every member).
 */
export class Outgoing<T = unknown> {
  readonly value: T;
  #line: string | null = null;
  #utf8: Uint8Array | null = null;
  #ascii: Uint8Array | null = null;

  constructor(value: T) {
    this.value = value;
  }

  /**
   * The object as a line of text (compact JSON and `\n`), for writers that
   * encode several objects at once.
   */
  line(): string {
    return this.#line ??= JSON.stringify(this.value) + "\n";
  }

  /** The bytes to write: UTF-8 for framed peers, ASCII-escaped otherwise. */
  bytes(ascii: boolean): Uint8Array {
    if (!ascii) return this.#utf8 ??= textEncoder.encode(this.line());
    if (this.#ascii) return this.#ascii;
    const line = this.line();
    const escaped = escapeNonAscii(line);
    this.#ascii = escaped === line ? this.bytes(false) : textEncoder.encode(escaped);
    return this.#ascii;
  }
}

/**
 * Judges one message that holds exactly one object on its own (a WebSocket
 * text frame): the same bound and the same errors as the stream decoder,
 * but nothing carries over to the next message.
 */
export function decodeMessage(text: string, maxObjectBytes: number): DecodeEvent {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only long texts need counting.
  const bytes = text.length * 3 <= maxObjectBytes ? -1 : textEncoder.encode(text).length;
  if (bytes > maxObjectBytes) {
    return {
      kind: "error",
      message: `Cannot parse request: object exceeds ${maxObjectBytes} bytes`,
    };
  }
  return judgeObject(text, bytes >= 0 ? bytes : textEncoder.encode(text).length);
}

/**
 * One whole object's text → the object, or the 400 for invalid JSON or a
 * value that is not an object; `length` is its size in bytes.
 */
function judgeObject(text: string, length: number): DecodeEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: "error", message: "Cannot parse request: invalid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "error", message: "Cannot parse request: expected a JSON object" };
  }
  return { kind: "object", value: value as Record<string, unknown>, bytes: length, text };
}

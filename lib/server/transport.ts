/**
 * What a {@linkcode Connection} reads from and writes to: a byte stream
 * (TCP, or anything else that is a `Deno.Conn`) framed by the codec, or a
 * WebSocket with one object per text frame. The connection keeps the queue,
 * the rate limit and the order of answers; a transport only moves objects.
 *
 * @module
 */

import {
  type DecodeEvent,
  escapeNonAscii,
  JsonObjectDecoder,
  type Outgoing,
} from "../protocol/codec.ts";
import { sniffHttp } from "../protocol/http_sniff.ts";

/** The seam between a connection and its socket. */
export interface Transport {
  /** The peer's address, for per-address limits and logs. */
  readonly address: string;
  /**
   * Whether the peer frames its objects (a newline after each, or one per
   * WebSocket frame). Until a stream peer has, it is a bare-object peer: one
   * object per write, ASCII only (see docs/protocol.md).
   */
  readonly newlineFramed: boolean;
  /** The next objects (or decode errors) read; null once the peer has gone. Never throws. */
  read(): Promise<DecodeEvent[] | null>;
  /**
   * Writes `objects` in order (several only when the peer is framed), ASCII
   * escaped when `ascii`. Rejects when the peer cannot be written to.
   */
  write(objects: readonly Outgoing[], ascii: boolean): Promise<void>;
  /**
   * How many of the objects of the write under way the socket has wholly
   * taken so far (a stalled reader's write may have taken some).
   */
  takenObjects(): number;
  /** Closes the socket; pending reads resolve to null. */
  close(): void;
  /** Why reading ended, when the transport itself ended it (for the log). */
  readonly endedBy?: string | undefined;
}

const MIN_READ = 2048;
const MAX_READ = 65536;
const textEncoder = new TextEncoder();
/** The answer to an HTTP client on the JIM port, before it is closed. */
const HTTP_REFUSAL = textEncoder.encode(
  "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 32\r\n" +
    "Connection: close\r\n\r\nThis port speaks JIM, not HTTP.\n",
);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Options for {@linkcode StreamTransport}. */
export interface StreamTransportOptions {
  /** Raw bytes one object may take (see {@linkcode JsonObjectDecoder}). */
  maxObjectBytes: number;
}

/**
 * A byte stream (TCP, or any `Deno.Conn`): objects framed by the codec's
 * decoder, several objects written as one encode and one write.
 */
export class StreamTransport implements Transport {
  readonly address: string;
  readonly #conn: Deno.Conn;
  readonly #decoder: JsonObjectDecoder;
  #buf = new Uint8Array(MIN_READ);
  /**
   * The first bytes, held until they show whether this is an HTTP client
   * (see http_sniff.ts); null once they have.
   */
  #first: Uint8Array | null = new Uint8Array(0);
  endedBy: string | undefined;
  /** The write under way, and the bytes of it the socket has taken. */
  #writing: { objects: readonly Outgoing[]; ascii: boolean; taken: number } | null = null;

  constructor(conn: Deno.Conn, options: StreamTransportOptions) {
    this.#conn = conn;
    this.address = (conn.remoteAddr as Deno.NetAddr).hostname;
    this.#decoder = new JsonObjectDecoder({ maxObjectBytes: options.maxObjectBytes });
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch { /* not fatal: only latency */ }
    try {
      // Finds peers that vanished without a word, without a byte the client
      // would see (most course clients never answer a probe).
      (conn as Deno.TcpConn).setKeepAlive?.(true);
    } catch { /* not fatal: write failures still find them */ }
  }

  get newlineFramed(): boolean {
    return this.#decoder.newlineFramed;
  }

  async read(): Promise<DecodeEvent[] | null> {
    let n: number | null;
    try {
      n = await this.#conn.read(this.#buf);
    } catch {
      return null; // reset by peer, or closed by us
    }
    if (n === null) return null;
    let chunk: Uint8Array = this.#buf.subarray(0, n);
    if (this.#first !== null) {
      const seen: Uint8Array = this.#first.length === 0 ? chunk : concat(this.#first, chunk);
      const verdict = sniffHttp(seen);
      if (verdict === undefined) {
        this.#first = seen.slice(); // `buf` is reused by the next read
        return [];
      }
      this.#first = null;
      if (verdict === "http") {
        await this.#refuseHttp();
        return null;
      }
      chunk = seen;
    }
    const events = this.#decoder.push(chunk);
    // A busy connection reads in larger pieces; an idle one stays small.
    if (n === this.#buf.length && this.#buf.length < MAX_READ) {
      this.#buf = new Uint8Array(this.#buf.length * 2);
    }
    return events;
  }

  /** Answers an HTTP client plainly and drops it, having read nothing as JIM. */
  async #refuseHttp(): Promise<void> {
    this.endedBy = "HTTP request on the JIM port";
    try {
      // Nothing else has been written yet: this is the first write.
      await this.#conn.write(HTTP_REFUSAL);
    } catch { /* gone already */ }
    this.close();
  }

  async write(objects: readonly Outgoing[], ascii: boolean): Promise<void> {
    let chunk: Uint8Array;
    if (objects.length === 1) {
      chunk = objects[0]!.bytes(ascii);
    } else {
      // One encode for the whole write rather than one per object.
      let text = "";
      for (const o of objects) text += o.line();
      chunk = textEncoder.encode(ascii ? escapeNonAscii(text) : text);
    }
    const writing = this.#writing = { objects, ascii, taken: 0 };
    try {
      while (writing.taken < chunk.length) {
        writing.taken += await this.#conn.write(chunk.subarray(writing.taken));
      }
    } finally {
      this.#writing = null;
    }
  }

  takenObjects(): number {
    const writing = this.#writing;
    if (writing === null) return 0;
    // Counted only when asked (rarely: see Connection.pin), not per write.
    let end = 0;
    let whole = 0;
    for (const o of writing.objects) {
      end += writing.ascii ? escapeNonAscii(o.line()).length : o.bytes(false).length;
      if (end > writing.taken) break;
      whole++;
    }
    return whole;
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

/**
 * A line-oriented TCP connection for the load generator: writes are
 * coalesced (everything queued in one tick goes out in one write, one write
 * in flight), reads are split into lines and handed to one callback.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Options for {@linkcode LineConn}. */
export interface LineConnOptions {
  /** Called with each complete line, without its terminator (`\n` or `\r\n`). */
  onLine: (line: string) => void;
  /** Called once when the connection ends in a way nobody asked for. */
  onFailure: (error: Error) => void;
}

/** One client socket, framed by newlines. */
export class LineConn {
  readonly #conn: Deno.TcpConn;
  readonly #onLine: (line: string) => void;
  readonly #onFailure: (error: Error) => void;
  readonly #decoder = new TextDecoder();
  #rest = "";
  #pending = "";
  #writing = false;
  #closing = false;
  #failed = false;
  /** Resolves when the read loop ends. */
  readonly done: Promise<void>;

  constructor(conn: Deno.TcpConn, options: LineConnOptions) {
    this.#conn = conn;
    this.#onLine = options.onLine;
    this.#onFailure = options.onFailure;
    conn.setNoDelay(true);
    this.done = this.#readLoop();
  }

  /** Opens a connection to `hostname:port`. */
  static async open(hostname: string, port: number, options: LineConnOptions): Promise<LineConn> {
    const conn = await Deno.connect({ hostname, port });
    return new LineConn(conn, options);
  }

  /** Queues text; it goes out with everything else queued in this tick. */
  write(text: string): void {
    if (this.#closing) return;
    this.#pending += text;
    if (!this.#writing) {
      this.#writing = true;
      queueMicrotask(() => this.#flush());
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0 && !this.#closing) {
        const bytes = encoder.encode(this.#pending);
        this.#pending = "";
        let off = 0;
        while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        const text = this.#rest + this.#decoder.decode(buf.subarray(0, n), { stream: true });
        let start = 0;
        let nl = text.indexOf("\n");
        while (nl !== -1) {
          const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
          this.#onLine(text.slice(start, end));
          start = nl + 1;
          nl = text.indexOf("\n", start);
        }
        this.#rest = start === 0 ? text : text.slice(start);
      }
      if (!this.#closing) this.#fail(new Error("Cannot read: the server closed the connection"));
    } catch (e) {
      if (!this.#closing) this.#fail(e);
    }
  }

  #fail(e: unknown): void {
    if (this.#failed || this.#closing) return;
    this.#failed = true;
    this.#onFailure(e instanceof Error ? e : new Error(String(e)));
  }

  /** Closes the socket on purpose (no failure is reported). */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

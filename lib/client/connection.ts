/**
 * The client's one socket: connect, newline-framed JSON in and out through
 * the protocol codec, serialized writes, and a plain-language reason when
 * it ends. The only client module that touches `Deno.Conn`.
 *
 * @module
 */

import { encode, JsonObjectDecoder } from "../protocol/codec.ts";

/** Why a connection ended, in words for a person. */
export interface CloseInfo {
  /** e.g. "the server closed the connection". */
  reason: string;
  /** Whether the client itself asked for it. */
  local: boolean;
}

/** What the core needs of a connection; tests may pass their own. */
export interface Transport {
  /** Queues one object for writing. Never throws; a failed write ends the connection. */
  send(value: unknown): void;
  /** Objects read, until the connection ends. Decode errors arrive as `{ kind: "error" }`. */
  read(): AsyncIterable<Incoming>;
  /** Resolves after queued writes have gone out (or failed). */
  flush(): Promise<void>;
  /** Closes the socket. */
  close(): void;
  /** Resolves once, when the connection has ended. */
  readonly closed: Promise<CloseInfo>;
}

/** How to connect over TLS. */
export interface TlsOptions {
  /** PEM CA certificates to trust besides the system's roots. */
  caCerts?: readonly string[];
}

/** One item read off the wire. */
export type Incoming =
  | { kind: "object"; value: Record<string, unknown> }
  | { kind: "error"; message: string };

/** A failed connect, with the sentence to show. */
export class ConnectError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectError";
  }
}

/** Plain words for a socket error: "connection refused", "connection reset". */
export function describeNetworkError(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset by the server";
  if (error instanceof Deno.errors.ConnectionAborted) return "connection aborted";
  if (error instanceof Deno.errors.BrokenPipe) return "connection broken";
  if (error instanceof Deno.errors.TimedOut) return "timed out";
  if (error instanceof Deno.errors.NotConnected) return "not connected";
  if (error instanceof Deno.errors.AddrNotAvailable) return "address not available";
  if (error instanceof Deno.errors.NotFound) return "unknown host";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  const message = error instanceof Error ? error.message : String(error);
  if (/failed to lookup|name or service not known|no address/i.test(message)) {
    return "unknown host";
  }
  if (/network is unreachable/i.test(message)) return "network unreachable";
  if (/host is unreachable|no route/i.test(message)) return "host unreachable";
  return message.replace(/\s*\(os error \d+\)$/, "").replace(/\.$/, "");
}

/** A TCP connection speaking newline-framed JSON. */
export class TcpTransport implements Transport {
  readonly #conn: Deno.Conn;
  readonly #decoder = new JsonObjectDecoder({ maxObjectBytes: 64 * 1024 });
  #writing: Promise<void> = Promise.resolve();
  #ended = false;
  #local = false;
  #resolveClosed!: (info: CloseInfo) => void;
  /** Resolves once, when the connection has ended. */
  readonly closed: Promise<CloseInfo>;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /**
   * Connects to `host:port`, over TLS when `tls` is given: the certificate
   * must chain to the system's roots or `tls.caCerts`, and name `host`.
   *
   * @throws {ConnectError} "Cannot connect to HOST:PORT: connection refused"
   */
  static async connect(
    host: string,
    port: number,
    timeoutMs = 10_000,
    tls?: TlsOptions,
  ): Promise<TcpTransport> {
    if (tls) return await TcpTransport.#connectTls(host, port, timeoutMs, tls);
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const conn = await Deno.connect({ hostname: host, port, signal } as Deno.ConnectOptions);
      try {
        conn.setNoDelay(true);
      } catch { /* not fatal */ }
      return new TcpTransport(conn);
    } catch (error) {
      const words = signal.aborted ? "timed out" : describeNetworkError(error);
      throw new ConnectError(`Cannot connect to ${host}:${port}: ${words}`, { cause: error });
    }
  }

  static async #connectTls(
    host: string,
    port: number,
    timeoutMs: number,
    tls: TlsOptions,
  ): Promise<TcpTransport> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const connecting = Deno.connectTls({
      hostname: host,
      port,
      ...(tls.caCerts ? { caCerts: [...tls.caCerts] } : {}),
    });
    try {
      const conn = await Promise.race([
        // The handshake verifies the certificate now, not at the first read.
        connecting.then(async (c) => {
          await c.handshake();
          return c;
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timedOut = true;
            reject(new Error("timed out"));
          }, timeoutMs);
        }),
      ]);
      return new TcpTransport(conn);
    } catch (error) {
      // Give up on a connection that completes after all.
      connecting.then((c) => c.close(), () => {});
      const words = timedOut ? "timed out" : describeNetworkError(error);
      throw new ConnectError(`Cannot connect to ${host}:${port} over TLS: ${words}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  send(value: unknown): void {
    if (this.#ended) return;
    const bytes = encode(value);
    this.#writing = this.#writing.then(async () => {
      if (this.#ended) return;
      try {
        let written = 0;
        while (written < bytes.length) {
          written += await this.#conn.write(bytes.subarray(written));
        }
      } catch (error) {
        this.#end(describeNetworkError(error));
      }
    });
  }

  flush(): Promise<void> {
    return this.#writing;
  }

  async *read(): AsyncIterable<Incoming> {
    const buffer = new Uint8Array(16 * 1024);
    while (!this.#ended) {
      let n: number | null;
      try {
        n = await this.#conn.read(buffer);
      } catch (error) {
        this.#end(this.#local ? "closed" : describeNetworkError(error));
        return;
      }
      if (n === null) {
        this.#end(this.#local ? "closed" : "the server closed the connection");
        return;
      }
      for (const event of this.#decoder.push(buffer.subarray(0, n))) {
        if (event.kind === "object") yield { kind: "object", value: event.value };
        else yield { kind: "error", message: event.message };
      }
    }
  }

  close(): void {
    this.#local = true;
    this.#end("closed");
  }

  #end(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#resolveClosed({ reason, local: this.#local });
  }
}

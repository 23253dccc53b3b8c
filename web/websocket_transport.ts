/// <reference lib="dom" />
/**
 * The browser's side of the client core's transport seam: JIM over a
 * WebSocket, one JSON object per text frame each way.
 *
 * @module
 */

import {
  type CloseInfo,
  ConnectError,
  type Incoming,
  type Transport,
} from "../lib/client/connection.ts";

/** Plain words for a WebSocket close code. */
function closeReason(event: CloseEvent): string {
  if (event.code === 1001) return "the server is going away";
  if (event.code === 1008) return `the server refused the connection: ${event.reason || "policy"}`;
  if (event.reason) return event.reason;
  return event.wasClean ? "the server closed the connection" : "the connection was lost";
}

/** A WebSocket speaking JIM, as a client core {@linkcode Transport}. */
export class BrowserWebSocketTransport implements Transport {
  readonly #socket: WebSocket;
  readonly #inbox: Incoming[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  #local = false;
  #resolveClosed!: (info: CloseInfo) => void;
  readonly closed: Promise<CloseInfo>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    socket.addEventListener("message", (e) => {
      let item: Incoming;
      try {
        const value: unknown = JSON.parse(String(e.data));
        item = typeof value === "object" && value !== null && !Array.isArray(value)
          ? { kind: "object", value: value as Record<string, unknown> }
          : { kind: "error", message: "expected a JSON object" };
      } catch {
        item = { kind: "error", message: "invalid JSON" };
      }
      this.#inbox.push(item);
      this.#notify();
    });
    socket.addEventListener("close", (e) => {
      this.#end(this.#local ? "closed" : closeReason(e));
    });
  }

  /**
   * Opens `url` (ws: or wss:) and resolves once it is open.
   *
   * @throws {ConnectError} "Cannot connect to HOST: ..."
   */
  static connect(url: string, timeoutMs = 10_000): Promise<BrowserWebSocketTransport> {
    const where = new URL(url).host;
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(url);
      } catch (e) {
        reject(new ConnectError(`Cannot connect to ${where}: ${e}`));
        return;
      }
      const timer = setTimeout(() => {
        socket.close();
        reject(new ConnectError(`Cannot connect to ${where}: timed out`));
      }, timeoutMs);
      const transport = new BrowserWebSocketTransport(socket);
      socket.addEventListener("open", () => {
        clearTimeout(timer);
        resolve(transport);
      }, { once: true });
      socket.addEventListener("close", () => {
        clearTimeout(timer);
        // Browsers hide why a handshake failed (refused, 403 origin): say what we know.
        reject(
          new ConnectError(`Cannot connect to ${where}: the server did not accept the connection`),
        );
      }, { once: true });
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  send(value: unknown): void {
    if (this.#ended || this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(JSON.stringify(value));
  }

  async *read(): AsyncIterable<Incoming> {
    while (true) {
      const item = this.#inbox.shift();
      if (item) {
        yield item;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  async flush(): Promise<void> {
    // The browser gives no drain event: wait (briefly) until its buffer is empty.
    for (let i = 0; i < 100 && this.#socket.bufferedAmount > 0 && !this.#ended; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.#local = true;
    try {
      this.#socket.close(1000);
    } catch { /* already closed */ }
    this.#end("closed");
  }

  #end(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#resolveClosed({ reason, local: this.#local });
    this.#notify();
  }
}

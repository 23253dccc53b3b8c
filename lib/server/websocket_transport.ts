/**
 * JIM over WebSocket: one JSON object per text frame each way, each frame
 * judged on its own. Behind the {@linkcode Transport} seam a browser is a
 * connection like any TCP client: same queue, limits, rate limit and hub.
 *
 * @module
 */

import { type DecodeEvent, decodeMessage, type Outgoing } from "../protocol/codec.ts";
import type { Transport } from "./transport.ts";

/** Options for {@linkcode WebSocketTransport}. */
export interface WebSocketTransportOptions {
  /** The peer's address. */
  address: string;
  /** Raw bytes one frame may take; a longer one gets 400. */
  maxObjectBytes: number;
  /**
   * Bytes read but not yet handled (the connection has paused reading) or
   * written but not yet sent, beyond which the peer is too slow: reads close
   * the socket, writes wait until the peer catches up.
   */
  maxBufferedBytes: number;
}

const BINARY: DecodeEvent = {
  kind: "error",
  message: "Cannot parse request: binary frames are not read; send JSON in text frames",
};
/** How often a write stalled on a full send buffer looks again. */
const DRAIN_POLL_MS = 10;

/** A server-side WebSocket as a {@linkcode Transport}. */
export class WebSocketTransport implements Transport {
  readonly address: string;
  readonly #socket: WebSocket;
  readonly #maxObjectBytes: number;
  readonly #maxBuffered: number;
  #inbox: DecodeEvent[] = [];
  #inboxBytes = 0;
  #reader: ((events: DecodeEvent[] | null) => void) | null = null;
  #ended = false;
  /** Objects of the write under way already in the socket's buffer. */
  #writing = 0;
  readonly #opened: Promise<boolean>;

  constructor(socket: WebSocket, options: WebSocketTransportOptions) {
    this.#socket = socket;
    this.address = options.address;
    this.#maxObjectBytes = options.maxObjectBytes;
    this.#maxBuffered = options.maxBufferedBytes;
    this.#opened = socket.readyState === WebSocket.OPEN
      ? Promise.resolve(true)
      : new Promise((resolve) => {
        socket.addEventListener("open", () => resolve(true), { once: true });
        socket.addEventListener("close", () => resolve(false), { once: true });
      });
    socket.addEventListener("message", (e) => this.#receive(e.data));
    socket.addEventListener("close", () => this.#end());
    socket.addEventListener("error", () => this.#end());
  }

  #receive(data: unknown): void {
    if (this.#ended) return;
    const event = typeof data === "string" ? decodeMessage(data, this.#maxObjectBytes) : BINARY;
    this.#inboxBytes += typeof data === "string" ? data.length : 0;
    if (this.#inboxBytes > this.#maxBuffered) {
      // The connection stopped reading (its peer does not read its answers)
      // and the peer keeps sending: there is no TCP window to hold it back.
      this.close(1008, "too much unread input");
      return;
    }
    this.#inbox.push(event);
    if (this.#reader) {
      const reader = this.#reader;
      this.#reader = null;
      reader(this.#take());
    }
  }

  #take(): DecodeEvent[] {
    const events = this.#inbox;
    this.#inbox = [];
    this.#inboxBytes = 0;
    return events;
  }

  read(): Promise<DecodeEvent[] | null> {
    if (this.#inbox.length > 0) return Promise.resolve(this.#take());
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve) => this.#reader = resolve);
  }

  /** Always: a WebSocket frames every object, and speaks UTF-8. */
  readonly newlineFramed = true;

  async write(objects: readonly Outgoing[]): Promise<void> {
    this.#writing = 0;
    if (!(await this.#opened) || this.#ended) throw new Error("Cannot write: the WebSocket closed");
    for (const o of objects) {
      this.#socket.send(o.line().slice(0, -1)); // one object per frame; no newline needed
    }
    this.#writing = objects.length;
    // The socket buffers without bound: wait while the peer is behind, so
    // that the connection's own bounded queue fills and judges it.
    while (this.#socket.bufferedAmount > this.#maxBuffered) {
      if (this.#ended) throw new Error("Cannot write: the WebSocket closed");
      await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    }
  }

  /** All of them: each is in the socket's buffer once `write` is called. */
  takenObjects(): number {
    return this.#writing;
  }

  close(code = 1000, reason = ""): void {
    try {
      this.#socket.close(code, reason);
    } catch { /* already closed */ }
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#reader) {
      const reader = this.#reader;
      this.#reader = null;
      reader(this.#inbox.length > 0 ? this.#take() : null);
    }
  }
}

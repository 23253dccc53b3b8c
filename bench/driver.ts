/**
 * What the load generator needs from a protocol: open a client under a name,
 * join a room, send a payload to a name or a room, and report deliveries,
 * acknowledgements and failures. Implemented for JIM (and the relay, which
 * carries JIM lines untouched) in `jim_driver.ts`, for IRC in `irc_driver.ts` and
 * for NATS in `nats_driver.ts`.
 *
 * @module
 */

/** Callbacks a client reports through. */
export interface ClientHooks {
  /** A message payload arrived at `client`. */
  onDeliver(client: BenchClient, payload: string): void;
  /** The server answered a `send` (protocols with acknowledgements only). */
  onAck(client: BenchClient, code: number, token: number): void;
  /** The connection failed or the server said something the run cannot accept. */
  onFailure(client: BenchClient, error: Error): void;
}

/** A relay group: connections with the same key are wired together once `size` have arrived. */
export interface RelayGroup {
  key: string;
  size: number;
}

/** One generator-side client connection. */
export interface BenchClient {
  /** The name it is known by (nick, account or guest name). */
  readonly name: string;
  /** Per-sender state the generator hangs on the client. */
  sender: unknown;
  /** Next expected sequence number per sender index, for loss and order checks. */
  readonly expect: Map<number, number>;
  /** Queues a message; an acknowledging protocol reports `token` back through `onAck`. */
  send(to: string, payload: string, token: number): void;
  /** Joins a room; resolves when the server confirms. */
  join(room: string): Promise<void>;
  /** Closes on purpose. */
  close(): void;
}

/** How to reach and speak to one kind of server. */
export interface Driver {
  /** Whether the server answers each message (JIM) or only the receiver sees it (relay, IRC). */
  readonly acks: boolean;
  /** Opens a client and completes the protocol's handshake. */
  connect(name: string, hooks: ClientHooks, group?: RelayGroup): Promise<BenchClient>;
}

/** A client that opens its own connection (the IRC and NATS clients). */
export interface OpeningClient extends BenchClient {
  open(hostname: string, port: number): Promise<void>;
}

/**
 * A driver for a protocol without acknowledgements (IRC, NATS): it makes a
 * client with `make` and opens it; the receivers' deliveries complete messages.
 */
export function unackedDriver(
  hostname: string,
  port: number,
  make: (name: string, hooks: ClientHooks) => OpeningClient,
): Driver {
  return {
    acks: false,
    async connect(name: string, hooks: ClientHooks): Promise<BenchClient> {
      const client = make(name, hooks);
      await client.open(hostname, port);
      return client;
    },
  };
}

/** A FIFO with O(1) push and shift, for in-order responses. */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** Items queued. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Appends one item. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** Removes and returns the oldest item, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

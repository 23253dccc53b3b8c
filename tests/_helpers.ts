/**
 * Test fixtures: a server on 127.0.0.1 port 0 and a raw JIM client over real
 * TCP that records everything it reads.
 *
 * @module
 */

import { JsonObjectDecoder } from "../lib/protocol/codec.ts";
import { type JimServer, serve, type ServeOptions } from "../lib/server/serve.ts";
import { clusterSize, ignoreExcludedTests, startClusteredServer } from "./_cluster.ts";

// Clustered, the tests tests/cluster_suite.ts excludes are registered as ignored.
if (clusterSize() > 0) ignoreExcludedTests();

/**
 * Starts a server for a test: loopback, port 0, in-memory store, cheap hashing.
 * With `JIM_TEST_CLUSTER=N` (tests/cluster_suite.ts), N nodes on NATS and
 * PostgreSQL behind one port instead, unless the test builds its own cluster.
 */
export function startServer(options: ServeOptions = {}): Promise<JimServer> {
  const full: ServeOptions = {
    port: 0,
    hostname: "127.0.0.1",
    dbPath: ":memory:",
    hashIterations: 1000,
    rateLimit: 0,
    ...options,
  };
  const size = clusterSize();
  if (size > 0 && options.cluster === undefined) return startClusteredServer(size, full);
  return serve(full);
}

/** A temporary directory removed on dispose. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "jim_test_" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

// deno-lint-ignore no-explicit-any
export type Obj = Record<string, any>;

const encoder = new TextEncoder();

/** Seconds since the epoch, as clients put in `time`. */
export function now(): number {
  return Date.now() / 1000;
}

/**
 * A raw JIM client: writes what it is given, reads objects into an inbox,
 * and lets a test wait for the next response or message.
 */
export class RawClient implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  readonly #decoder = new JsonObjectDecoder({ maxObjectBytes: 1 << 20 });
  readonly #inbox: Obj[] = [];
  #waiters: Array<() => void> = [];
  #closed = false;
  readonly reading: Promise<void>;
  /** Raw chunks as read, for tests of framing. */
  readonly chunks: Uint8Array[] = [];
  /** Decoder errors: the server wrote something that is not a JSON object. */
  readonly garbage: string[] = [];

  private constructor(conn: Deno.TcpConn, keepChunks: boolean) {
    this.conn = conn;
    this.reading = this.#read(keepChunks);
  }

  static async connect(port: number, options: { keepChunks?: boolean } = {}): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return new RawClient(conn, options.keepChunks ?? false);
  }

  async #read(keepChunks: boolean): Promise<void> {
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        if (keepChunks) this.chunks.push(buf.slice(0, n));
        for (const e of this.#decoder.push(buf.subarray(0, n))) {
          if (e.kind === "object") this.#inbox.push(e.value);
          else this.garbage.push(e.message);
        }
        this.#wake();
      }
    } catch {
      // closed under us
    } finally {
      this.#closed = true;
      this.#wake();
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Whether the server has closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Objects read and not yet taken. */
  get inbox(): readonly Obj[] {
    return this.#inbox;
  }

  /** Writes raw text or bytes. */
  async writeRaw(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /** Writes one object as a line. */
  send(value: unknown): Promise<void> {
    return this.writeRaw(JSON.stringify(value) + "\n");
  }

  /** Takes the first object matching `match`, waiting up to `timeoutMs`. */
  async take(match: (o: Obj) => boolean, timeoutMs = 3000): Promise<Obj> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const i = this.#inbox.findIndex(match);
      if (i >= 0) return this.#inbox.splice(i, 1)[0]!;
      if (this.#closed) throw new Error(`connection closed; inbox: ${JSON.stringify(this.#inbox)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; inbox: ${JSON.stringify(this.#inbox)}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  /** The next response (an object with `response`). */
  response(timeoutMs?: number): Promise<Obj> {
    return this.take((o) => typeof o.response === "number", timeoutMs);
  }

  /** The next delivered message. */
  message(timeoutMs?: number): Promise<Obj> {
    return this.take((o) => o.action === "msg", timeoutMs);
  }

  /** Sends a request and returns its response. */
  async request(value: Obj): Promise<Obj> {
    await this.send(value);
    return this.response();
  }

  /** Waits until the server closes the connection. */
  async waitClosed(timeoutMs = 3000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.reading,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("server did not close the connection")),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.reading;
  }
}

/** An `authenticate` request. */
export function auth(name: string, password: string): Obj {
  return { action: "authenticate", time: now(), user: { account_name: name, password } };
}

/** Connects and claims a guest name; fails the test on anything but 200. */
export async function guest(port: number, name: string): Promise<RawClient> {
  const c = await RawClient.connect(port);
  const r = await c.request({ action: "presence", time: now(), user: { account_name: name } });
  if (r.response !== 200) throw new Error(`presence as ${name} failed: ${JSON.stringify(r)}`);
  return c;
}

/** Registers an account on a fresh connection (then closes it). */
export async function register(
  port: number,
  name: string,
  password = "correct horse",
): Promise<void> {
  await using c = await RawClient.connect(port);
  const r = await c.request({
    action: "register",
    time: now(),
    user: { account_name: name, password },
  });
  if (r.response !== 201) throw new Error(`register ${name} failed: ${JSON.stringify(r)}`);
}

/** Connects and authenticates; fails the test on anything but 200. */
export async function login(
  port: number,
  name: string,
  password = "correct horse",
): Promise<RawClient> {
  const c = await RawClient.connect(port);
  const r = await c.request(auth(name, password));
  if (r.response !== 200) throw new Error(`authenticate ${name} failed: ${JSON.stringify(r)}`);
  return c;
}

/**
 * Registers an account and logs it in: a sender that may leave offline mail
 * (a guest may not).
 */
export async function member(
  port: number,
  name: string,
  password = "correct horse",
): Promise<RawClient> {
  await register(port, name, password);
  return login(port, name, password);
}

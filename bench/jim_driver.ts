/**
 * JIM over TCP for the load generator, and the same JIM lines through the
 * relay (which answers nothing, so there a message counts as acknowledged
 * when its receiver gets it).
 *
 * @module
 */

import type { BenchClient, ClientHooks, Driver, RelayGroup } from "./driver.ts";
import { Fifo } from "./driver.ts";
import { LineConn } from "./line_conn.ts";

/** A JIM response or unsolicited object, as parsed. */
export type JimObject = Record<string, unknown>;

/** What a queued request is waiting for: a message token, or a promise's resolver. */
type Waiter = number | ((obj: JimObject) => void);

const RESPONSE_PREFIX = '{"response":';
const MSG_PREFIX = '{"action":"msg",';
const MESSAGE_KEY = '"message":"';

/** The sentinel token for answers nobody waits on (a probe's presence). */
const IGNORE = -1;

function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** One JIM client connection (or a relay connection carrying JIM lines). */
export class JimClient implements BenchClient {
  readonly name: string;
  sender: unknown = null;
  readonly expect: Map<number, number> = new Map();
  readonly #relay: boolean;
  readonly #hooks: ClientHooks;
  readonly #waiting = new Fifo<Waiter>();
  #conn: LineConn | null = null;
  #onRelayReady: (() => void) | null = null;
  /** Resolves when the relay has wired up this client's whole group (at once for JIM). */
  relayReady: Promise<void> = Promise.resolve();

  constructor(name: string, hooks: ClientHooks, relay: boolean) {
    this.name = name;
    this.#hooks = hooks;
    this.#relay = relay;
  }

  /** Connects without any handshake. */
  async open(hostname: string, port: number): Promise<void> {
    this.#conn = await LineConn.open(hostname, port, {
      onLine: (line) => this.#onLine(line),
      onFailure: (e) => this.#hooks.onFailure(this, e),
    });
  }

  /** Sends one request and resolves with its response. */
  request(obj: JimObject): Promise<JimObject> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#conn!.write(JSON.stringify(obj) + "\n");
    });
  }

  /** Claims a guest name with `presence`; fails unless answered 200. */
  async presence(): Promise<void> {
    const res = await this.request({
      action: "presence",
      time: unixSeconds(),
      user: { account_name: this.name },
    });
    if (res.response !== 200) {
      throw new Error(`Cannot claim name ${this.name}: presence answered ${JSON.stringify(res)}`);
    }
  }

  /**
   * Relay handshake: {@linkcode relayReady} resolves once the relay says `ok`
   * (every member of the group is in). Call before {@linkcode open}: a read
   * can complete before the code after `open` runs.
   */
  expectRelayOk(): void {
    this.relayReady = new Promise((resolve) => this.#onRelayReady = resolve);
  }

  /** Sends the relay hello for `group`. */
  relayHello(group: RelayGroup): void {
    this.#conn!.write(`group ${group.key} ${group.size}\n`);
  }

  send(to: string, payload: string, token: number): void {
    if (!this.#relay) this.#waiting.push(token);
    this.#conn!.write(
      `{"action":"msg","time":${unixSeconds()},"to":"${to}","from":"${this.name}",` +
        `"encoding":"utf-8","message":"${payload}"}\n`,
    );
  }

  async join(room: string): Promise<void> {
    if (this.#relay) return;
    const res = await this.request({ action: "join", time: unixSeconds(), room });
    if (res.response !== 200 && res.response !== 201) {
      throw new Error(`Cannot join ${room} as ${this.name}: ${JSON.stringify(res)}`);
    }
  }

  close(): void {
    this.#conn?.close();
  }

  #onLine(line: string): void {
    if (line.length === 0) return;
    if (this.#onRelayReady) {
      if (line !== "ok") {
        this.#hooks.onFailure(this, new Error(`Cannot join relay group: got ${line}`));
        return;
      }
      const ready = this.#onRelayReady;
      this.#onRelayReady = null;
      ready();
      return;
    }
    // Fast paths for the two shapes that make up nearly all traffic; anything
    // unusual falls through to JSON.parse. A mangled payload still fails the
    // generator's sequence check.
    if (line.startsWith(RESPONSE_PREFIX) && line.charCodeAt(RESPONSE_PREFIX.length + 3) === 44) {
      const code = Number(line.slice(RESPONSE_PREFIX.length, RESPONSE_PREFIX.length + 3));
      if (code >= 200) {
        this.#answer(code, line);
        return;
      }
    } else if (line.startsWith(MSG_PREFIX) && line.endsWith('"}')) {
      const at = line.lastIndexOf(MESSAGE_KEY);
      const payload = at < 0 ? "" : line.slice(at + MESSAGE_KEY.length, -2);
      if (at > 0 && !payload.includes('"') && !payload.includes("\\")) {
        this.#hooks.onDeliver(this, payload);
        return;
      }
    }
    let obj: JimObject;
    try {
      obj = JSON.parse(line);
    } catch {
      this.#hooks.onFailure(this, new Error(`Cannot parse a line from the server: ${line}`));
      return;
    }
    if (obj.action === "msg") {
      this.#hooks.onDeliver(this, obj.message as string);
      return;
    }
    if (obj.action === "probe") {
      this.#waiting.push(IGNORE);
      this.#conn!.write(
        `{"action":"presence","time":${unixSeconds()},"user":{"account_name":"${this.name}"}}\n`,
      );
      return;
    }
    const code = obj.response;
    if (typeof code !== "number") return; // another unsolicited object
    if (code === 101) {
      this.#hooks.onFailure(this, new Error("Cannot go on: the server is shutting down (101)"));
      return;
    }
    if (code < 200) return; // an unsolicited notice
    this.#answer(code, line);
  }

  #answer(code: number, line: string): void {
    const waiter = this.#waiting.shift();
    if (waiter === undefined) {
      this.#hooks.onFailure(this, new Error(`Cannot match a response to a request: ${line}`));
    } else if (typeof waiter === "function") {
      waiter(JSON.parse(line));
    } else if (waiter !== IGNORE) {
      this.#hooks.onAck(this, code, waiter);
    }
  }
}

/** Options for {@linkcode JimDriver}. */
export interface JimDriverOptions {
  hostname: string;
  port: number;
  /** Speak to the relay: no presence, a group hello instead, no responses. */
  relay?: boolean;
  /** Send `presence` after connecting (not for login-only clients). @default {true} */
  presence?: boolean;
}

/** Opens JIM clients (guests that have sent `presence`) or relay clients. */
export class JimDriver implements Driver {
  readonly acks: boolean;
  readonly #options: JimDriverOptions;

  constructor(options: JimDriverOptions) {
    this.#options = options;
    this.acks = !options.relay;
  }

  async connect(name: string, hooks: ClientHooks, group?: RelayGroup): Promise<JimClient> {
    const relay = this.#options.relay ?? false;
    const client = new JimClient(name, hooks, relay);
    if (relay) client.expectRelayOk();
    await client.open(this.#options.hostname, this.#options.port);
    if (relay) {
      if (!group) throw new Error("Cannot connect to the relay: no group given");
      client.relayHello(group);
    } else if (this.#options.presence ?? true) {
      await client.presence();
    }
    return client;
  }
}

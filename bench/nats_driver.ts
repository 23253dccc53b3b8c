/**
 * NATS for the load generator, as nats-server speaks it: `INFO` on connect,
 * `CONNECT {"verbose":false,"pedantic":false,"echo":false}` then `PING`
 * (ready at the `PONG`), `SUB subject sid`, `PUB subject n` + payload. Each
 * client subscribes to its own subject `user.NAME` on connect, so direct
 * messages go to `user.NAME` and a room `#R` is the subject `room.R`. With
 * `echo` off a sender does not get its own room messages, as in a JIM room.
 * NATS has no per-message acknowledgement, so a message counts as
 * acknowledged when its receivers get it.
 *
 * Payloads are ASCII without CR or LF (the generator makes them so): their
 * length in characters is their length in bytes, and a `MSG` payload is the
 * next line.
 *
 * @module
 */

import type { BenchClient, ClientHooks } from "./driver.ts";
import { Fifo } from "./driver.ts";
import { LineConn } from "./line_conn.ts";

/** Options sent in `CONNECT`: no `+OK` per command, no strict checks, no echo. */
const CONNECT_OPTIONS = JSON.stringify({
  verbose: false,
  pedantic: false,
  echo: false,
  protocol: 1,
  lang: "deno",
  version: "jim-bench",
});

/** The subject a generator target name maps to. */
export function natsSubject(to: string): string {
  return to.startsWith("#") ? `room.${to.slice(1)}` : `user.${to}`;
}

/** One NATS client connection. */
export class NatsClient implements BenchClient {
  readonly name: string;
  sender: unknown = null;
  readonly expect: Map<number, number> = new Map();
  readonly #hooks: ClientHooks;
  readonly #pongs = new Fifo<() => void>();
  #conn: LineConn | null = null;
  #sids = 0;
  /** Bytes of the payload line that follows a `MSG` header, or -1 when none does. */
  #payloadBytes = -1;

  constructor(name: string, hooks: ClientHooks) {
    this.name = name;
    this.#hooks = hooks;
  }

  /** Connects, sends `CONNECT` and subscribes to `user.NAME`; resolves at the `PONG`. */
  async open(hostname: string, port: number): Promise<void> {
    this.#conn = await LineConn.open(hostname, port, {
      onLine: (line) => this.#onLine(line),
      onFailure: (e) => this.#hooks.onFailure(this, e),
    });
    this.#conn.write(`CONNECT ${CONNECT_OPTIONS}\r\n`);
    await this.#subscribe(natsSubject(this.name));
  }

  send(to: string, payload: string, _token: number): void {
    this.#conn!.write(`PUB ${natsSubject(to)} ${payload.length}\r\n${payload}\r\n`);
  }

  join(room: string): Promise<void> {
    return this.#subscribe(natsSubject(room));
  }

  close(): void {
    this.#conn?.close();
  }

  /** `SUB` then `PING`: the server handles a connection's commands in order. */
  #subscribe(subject: string): Promise<void> {
    return new Promise((resolve) => {
      this.#pongs.push(resolve);
      this.#conn!.write(`SUB ${subject} ${++this.#sids}\r\nPING\r\n`);
    });
  }

  #onLine(line: string): void {
    if (this.#payloadBytes >= 0) {
      const bytes = this.#payloadBytes;
      this.#payloadBytes = -1;
      if (line.length !== bytes) {
        this.#hooks.onFailure(
          this,
          new Error(`Cannot read a NATS payload: ${line.length} bytes, header said ${bytes}`),
        );
        return;
      }
      this.#hooks.onDeliver(this, line);
      return;
    }
    if (line.startsWith("MSG ")) {
      // "MSG subject sid [reply-to] bytes"
      this.#payloadBytes = Number(line.slice(line.lastIndexOf(" ") + 1));
      return;
    }
    if (line === "PING") {
      this.#conn!.write("PONG\r\n");
    } else if (line === "PONG") {
      this.#pongs.shift()?.();
    } else if (line.startsWith("-ERR")) {
      this.#hooks.onFailure(this, new Error(`Cannot go on: the NATS server said ${line}`));
    }
    // INFO (on connect and on cluster changes) and +OK need nothing.
  }
}

/**
 * IRC for the load generator, as ngircd speaks it: `NICK`/`USER` (ready at
 * the end of the MOTD), `JOIN #room` (ready at the end of the names list),
 * `PRIVMSG nick|#room :payload`. IRC has no per-message acknowledgement, so a
 * message counts as acknowledged when its receiver gets it.
 *
 * @module
 */

import type { BenchClient, ClientHooks } from "./driver.ts";
import { LineConn } from "./line_conn.ts";

/** Replies that end registration: end of MOTD, or no MOTD. */
const REGISTERED = new Set(["376", "422"]);
/** End of the names list: a JOIN is complete. */
const END_OF_NAMES = "366";

/** One IRC client connection. */
export class IrcClient implements BenchClient {
  readonly name: string;
  sender: unknown = null;
  readonly expect: Map<number, number> = new Map();
  readonly #hooks: ClientHooks;
  #conn: LineConn | null = null;
  #registered: (() => void) | null = null;
  readonly #joins = new Map<string, () => void>();

  constructor(name: string, hooks: ClientHooks) {
    this.name = name;
    this.#hooks = hooks;
  }

  /** Connects and registers; resolves at the end of the MOTD. */
  async open(hostname: string, port: number): Promise<void> {
    this.#conn = await LineConn.open(hostname, port, {
      onLine: (line) => this.#onLine(line),
      onFailure: (e) => this.#hooks.onFailure(this, e),
    });
    await new Promise<void>((resolve) => {
      this.#registered = resolve;
      this.#conn!.write(`NICK ${this.name}\r\nUSER ${this.name} 0 * :${this.name}\r\n`);
    });
  }

  send(to: string, payload: string, _token: number): void {
    this.#conn!.write(`PRIVMSG ${to} :${payload}\r\n`);
  }

  join(room: string): Promise<void> {
    return new Promise((resolve) => {
      this.#joins.set(room.toLowerCase(), resolve);
      this.#conn!.write(`JOIN ${room}\r\n`);
    });
  }

  close(): void {
    this.#conn?.close();
  }

  #onLine(line: string): void {
    if (line.startsWith("PING ")) {
      this.#conn!.write(`PONG ${line.slice(5)}\r\n`);
      return;
    }
    if (line.startsWith("ERROR ")) {
      this.#hooks.onFailure(this, new Error(`Cannot go on: the IRC server said ${line}`));
      return;
    }
    if (line.charCodeAt(0) !== 58 /* ":" */) return;
    const sp1 = line.indexOf(" ");
    const sp2 = line.indexOf(" ", sp1 + 1);
    const command = line.slice(sp1 + 1, sp2);
    if (command === "PRIVMSG") {
      const colon = line.indexOf(" :", sp2);
      this.#hooks.onDeliver(this, line.slice(colon + 2));
      return;
    }
    if (command.length !== 3) return; // JOIN, MODE, NOTICE…
    if (REGISTERED.has(command)) {
      const done = this.#registered;
      this.#registered = null;
      done?.();
    } else if (command === END_OF_NAMES) {
      // ":server 366 nick #room :End of NAMES list"
      const parts = line.split(" ");
      const room = (parts[3] ?? "").toLowerCase();
      const done = this.#joins.get(room);
      this.#joins.delete(room);
      done?.();
    } else if (command[0] === "4" || command[0] === "5") {
      this.#hooks.onFailure(this, new Error(`Cannot go on: the IRC server answered ${line}`));
    }
  }
}

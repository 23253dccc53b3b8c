/**
 * The terminal view driven through an in-memory terminal and transport:
 * keys in, escape sequences out, no TTY and no socket.
 */

import { assert, assertEquals } from "@std/assert";
import { ClientCore } from "../lib/client/client_core.ts";
import type { CloseInfo, Incoming, Transport } from "../lib/client/connection.ts";
import { type Terminal, TerminalUI } from "../lib/client/terminal_ui.ts";

type Obj = Record<string, unknown>;

/** A queue that an async iterator drains. */
class Queue<T> {
  readonly #items: T[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  push(item: T): void {
    this.#items.push(item);
    this.#wake?.();
  }
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((r) => this.#wake = r);
      this.#wake = null;
    }
  }
}

/** A server that answers every request 200 and records what it got. */
class FakeTransport implements Transport {
  readonly sent: Obj[] = [];
  readonly #incoming = new Queue<Incoming>();
  #resolve!: (info: CloseInfo) => void;
  readonly closed: Promise<CloseInfo> = new Promise((r) => this.#resolve = r);
  send(value: unknown): void {
    const o = value as Obj;
    this.sent.push(o);
    if (o.action === "quit") return;
    const extra = o.action === "who" ? { users: ["alice", "bob"] } : {};
    this.#incoming.push({
      kind: "object",
      value: { response: 200, time: 1, alert: "OK", ...extra },
    });
  }
  deliver(value: Obj): void {
    this.#incoming.push({ kind: "object", value });
  }
  read(): AsyncIterable<Incoming> {
    return this.#incoming;
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    this.#incoming.end();
    this.#resolve({ reason: "closed", local: true });
  }
}

class FakeTerminal implements Terminal {
  readonly keys = new Queue<Uint8Array>();
  output = "";
  raw: boolean[] = [];
  #waiters: (() => void)[] = [];
  read(): AsyncIterable<Uint8Array> {
    return this.keys;
  }
  write(text: string): void {
    this.output += text;
    for (const w of this.#waiters.splice(0)) w();
  }
  size() {
    return { columns: 80, rows: 12 };
  }
  setRaw(on: boolean): void {
    this.raw.push(on);
  }
  onResize(): () => void {
    return () => {};
  }
  type(text: string): void {
    this.keys.push(new TextEncoder().encode(text));
  }
  /** Waits until the output contains `text`. */
  async waitFor(text: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!this.output.includes(text)) {
      if (Date.now() > deadline) throw new Error(`no "${text}" in output`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        timer = setTimeout(r, 100);
      });
      clearTimeout(timer);
    }
  }
}

async function setup() {
  const transport = new FakeTransport();
  const core = new ClientCore({
    host: "example",
    port: 7777,
    user: "alice",
    connect: () => Promise.resolve(transport),
  });
  await core.start();
  const terminal = new FakeTerminal();
  const ui = new TerminalUI(core, { color: false, terminal });
  const running = ui.run();
  await terminal.waitFor("[server]");
  return { transport, core, terminal, running };
}

Deno.test("TerminalUI turns typed lines into commands and messages", async () => {
  const { transport, core, terminal, running } = await setup();
  terminal.type("/jo\t#general\r"); // Tab completes the command
  await terminal.waitFor("You joined #general");
  assertEquals(transport.sent.at(-1), {
    action: "join",
    time: transport.sent.at(-1)!.time,
    room: "#general",
    // Asks for the room's last messages (jim's extension).
    history: 50,
  });
  terminal.type("hello all\r");
  await terminal.waitFor("<alice> hello all");
  assertEquals(transport.sent.at(-1)!.message, "hello all");
  terminal.type("\x04"); // Ctrl-D on an empty line quits
  await running;
  assertEquals(transport.sent.at(-1)!.action, "quit");
  assertEquals(terminal.raw, [true, false]);
  assert(terminal.output.endsWith("\x1b[?1049l"), "left the alternate screen");
  assertEquals(core.state, "offline");
});

Deno.test("TerminalUI edits the line and recalls history", async () => {
  const { transport, terminal, running } = await setup();
  terminal.type("/msg bob\r");
  await terminal.waitFor("[bob] ");
  terminal.type("helo\x1b[Dl\r"); // Left, insert l
  await terminal.waitFor("<alice> hello");
  terminal.type("\x1b[A\x1b[A"); // Up twice: "hello", then "/msg bob"
  await terminal.waitFor("[bob] /msg bob");
  terminal.type("\x15wrong words\x17\x17right\r"); // Ctrl-U, Ctrl-W twice
  await terminal.waitFor("<alice> right");
  assertEquals(transport.sent.filter((o) => o.action === "msg").map((o) => o.message), [
    "hello",
    "right",
  ]);
  terminal.type("\x03\x03"); // Ctrl-C on an empty line quits too
  await running;
});

Deno.test("TerminalUI shows a message arriving while typing, with unread counts", async () => {
  const { transport, terminal, running } = await setup();
  terminal.type("/join #a\r");
  await terminal.waitFor("You joined #a");
  terminal.type("half");
  await terminal.waitFor("[#a] half");
  transport.deliver({ action: "msg", time: 1, from: "bob", to: "alice", message: "psst" });
  await terminal.waitFor("[act: 3:bob(1)]");
  terminal.output = "";
  terminal.type("\x1b3"); // Alt-3
  await terminal.waitFor("<bob> psst");
  await terminal.waitFor("[bob] half");
  terminal.type("\x15/quit\r");
  await running;
});

Deno.test("TerminalUI asks /login passwords masked and keeps them out of history", async () => {
  const { transport, terminal, running } = await setup();
  terminal.type("/login alice\r");
  await terminal.waitFor("Password for alice: ");
  terminal.type("sekrit");
  await terminal.waitFor("Password for alice: ******");
  terminal.type("\r");
  await terminal.waitFor("Logged in as alice");
  assert(!terminal.output.includes("sekrit"), "the password was never drawn");
  const auth = transport.sent.find((o) => o.action === "authenticate")!;
  assertEquals(auth.user, { account_name: "alice", password: "sekrit" });
  terminal.output = "";
  terminal.type("\x1b[A"); // Up: the last command, not the password
  await terminal.waitFor("[server] /login alice");
  terminal.type("\x15/who\r");
  await terminal.waitFor("Online (2): alice, bob");
  terminal.type("\x15/quit\r");
  await running;
});

Deno.test("TerminalUI /delete-account asks the password masked, then the name in the clear", async () => {
  const { transport, terminal, running } = await setup();
  terminal.type("/login alice\r");
  await terminal.waitFor("Password for alice: ");
  terminal.type("sekrit\r");
  await terminal.waitFor("Logged in as alice");
  // A confirmation that does not match cancels: nothing is sent.
  terminal.type("/delete-account\r");
  await terminal.waitFor("Password for alice: ");
  terminal.type("sekrit\r");
  await terminal.waitFor("Type alice to confirm: ");
  terminal.type("yes\r");
  await terminal.waitFor("Account deletion cancelled");
  assertEquals(transport.sent.filter((o) => o.action === "unregister"), []);
  terminal.output = "";
  terminal.type("/delete-account\r");
  await terminal.waitFor("Password for alice: ");
  terminal.type("sekrit\r");
  await terminal.waitFor("Type alice to confirm: ");
  terminal.type("alice");
  await terminal.waitFor("Type alice to confirm: alice");
  terminal.type("\r");
  await terminal.waitFor("Account alice deleted, with its mail and rooms");
  assert(!terminal.output.includes("sekrit"), "the password was never drawn");
  const sent = transport.sent.find((o) => o.action === "unregister")!;
  assertEquals(sent.user, { account_name: "alice", password: "sekrit" });
  terminal.type("/quit\r");
  await running;
});

Deno.test("TerminalUI /passwd asks three masked passwords and refuses a mismatch", async () => {
  const { transport, terminal, running } = await setup();
  terminal.type("/login alice\r");
  await terminal.waitFor("Password for alice: ");
  terminal.type("sekrit\r");
  await terminal.waitFor("Logged in as alice");
  for (
    const [again, expected] of [["typo typo", "the passwords differ"], [
      "new one!",
      "Password changed",
    ]]
  ) {
    terminal.type("/passwd\r");
    await terminal.waitFor("Current password for alice: ");
    terminal.type("sekrit\r");
    await terminal.waitFor("New password: ");
    terminal.type("new one!\r");
    await terminal.waitFor("Repeat the new password: ");
    terminal.type(`${again}\r`);
    await terminal.waitFor(expected!);
  }
  const sent = transport.sent.filter((o) => o.action === "passwd");
  assertEquals(sent.length, 1);
  assertEquals(sent[0]!.user, {
    account_name: "alice",
    password: "sekrit",
    new_password: "new one!",
  });
  assert(!terminal.output.includes("new one!"), "passwords are never drawn");
  terminal.type("/quit\r");
  await running;
});

Deno.test("TerminalUI gives the terminal its modes back if the process ends under it", async () => {
  const { terminal, running } = await setup();
  assert(terminal.output.includes("\x1b[?7l"), "autowrap off while the screen runs");
  // What Deno dispatches when the process exits (Deno.exit, an uncaught error).
  globalThis.dispatchEvent(new Event("unload"));
  assertEquals(terminal.raw, [true, false]);
  assert(terminal.output.endsWith("\x1b[?7h\x1b[?25h\x1b[?1049l"), "restored at once");
  terminal.type("\x04");
  await running;
  assertEquals(terminal.raw, [true, false], "restored once");
});

/**
 * The chat screen on a terminal in raw mode: messages of the current
 * window above, a status line, and an input line that incoming messages
 * never garble (the whole screen is recomposed and the cursor put back
 * after every change). Keys go through the line editor; lines become
 * commands for the {@linkcode ClientCore}. No protocol code here.
 *
 * @module
 */

import type { ClientCore } from "./client_core.ts";
import { COMMAND_NAMES, parseCommand } from "./commands.ts";
import { SERVER_WINDOW } from "./conversations.ts";
import { type Key, KeyDecoder } from "./keys.ts";
import { LineEditor } from "./line_editor.ts";
import { composeScreen } from "./screen.ts";

/** The terminal as the view needs it; tests may pass their own. */
export interface Terminal {
  /** Raw input bytes until the terminal closes. */
  read(): AsyncIterable<Uint8Array>;
  /** Writes text (escape sequences included). */
  write(text: string): void;
  /** Current size. */
  size(): { columns: number; rows: number };
  /** Raw mode on or off. */
  setRaw(on: boolean): void;
  /** Calls `listener` on resize; returns a function that stops it. */
  onResize(listener: () => void): () => void;
}

/** The process's own TTY. */
export function denoTerminal(): Terminal {
  const encoder = new TextEncoder();
  return {
    async *read() {
      const buffer = new Uint8Array(4096);
      while (true) {
        const n = await Deno.stdin.read(buffer);
        if (n === null) return;
        yield buffer.slice(0, n);
      }
    },
    write(text: string) {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
    },
    size() {
      try {
        return Deno.consoleSize();
      } catch {
        return { columns: 80, rows: 24 };
      }
    },
    setRaw(on: boolean) {
      Deno.stdin.setRaw(on);
    },
    onResize(listener: () => void) {
      try {
        Deno.addSignalListener("SIGWINCH", listener);
        return () => Deno.removeSignalListener("SIGWINCH", listener);
      } catch {
        return () => {};
      }
    },
  };
}

/** Options for {@linkcode TerminalUI}. */
export interface TerminalUIOptions {
  /** Colours on (off for `NO_COLOR` / `--no-color`). */
  color: boolean;
  /**
   * The terminal to draw on.
   * @default {denoTerminal()}
   */
  terminal?: Terminal;
}

/**
 * The alternate screen, cleared, with autowrap off (DECAWM): a row that the
 * terminal measures wider than we do (emoji widths differ between
 * terminals) is cut at the edge instead of wrapping and scrolling the whole
 * screen up.
 */
const ENTER_SCREEN = "\x1b[?1049h\x1b[?7l\x1b[H\x1b[2J";
const LEAVE_SCREEN = "\x1b[?7h\x1b[?25h\x1b[?1049l";

interface SecretPrompt {
  label: string;
  resolve: (value: string | null) => void;
  /** Whether the typed text is hidden (a password) or shown (a confirmation). */
  masked: boolean;
}

/** The interactive view; see the module doc. */
export class TerminalUI {
  readonly #core: ClientCore;
  readonly #term: Terminal;
  readonly #color: boolean;
  readonly #editor = new LineEditor();
  readonly #decoder = new KeyDecoder();
  #secret: SecretPrompt | null = null;
  #savedDraft = "";
  #scroll = 0;
  #hint = "";
  #renderQueued = false;
  #quit!: () => void;
  readonly #quitting: Promise<void>;
  #done = false;

  constructor(core: ClientCore, options: TerminalUIOptions) {
    this.#core = core;
    this.#term = options.terminal ?? denoTerminal();
    this.#color = options.color;
    this.#quitting = new Promise((resolve) => this.#quit = resolve);
  }

  /** Runs until the user quits or the terminal closes; then restores the terminal. */
  async run(): Promise<void> {
    this.#term.setRaw(true);
    this.#term.write(ENTER_SCREEN);
    // Whatever ends the process (an uncaught error, Deno.exit elsewhere),
    // the terminal gets its modes back: echo, autowrap, the normal screen.
    let restored = false;
    const restore = () => {
      if (restored) return;
      restored = true;
      this.#term.write(LEAVE_SCREEN);
      try {
        this.#term.setRaw(false);
      } catch { /* the terminal is gone */ }
    };
    const lastChance = ["unload", "error", "unhandledrejection"] as const;
    for (const type of lastChance) globalThis.addEventListener(type, restore);
    const stopResize = this.#term.onResize(() => this.#render());
    const tick = setInterval(() => this.#render(), 1000);
    const signals: Deno.Signal[] = ["SIGTERM", "SIGHUP", "SIGINT"];
    const onSignal = () => this.#quit();
    for (const s of signals) {
      try {
        Deno.addSignalListener(s, onSignal);
      } catch { /* not supported here */ }
    }
    this.#core.on((event) => {
      if (event.type === "line" && event.conversation !== this.#core.conversations.current.name) {
        this.#hint = "";
      }
      this.#schedule();
    });
    this.#core.info(
      "Type /help for commands; /join #room or /msg NAME to start; Alt-N or Ctrl-N/P switch windows",
      SERVER_WINDOW,
    );
    this.#render();
    const reading = this.#readKeys();
    try {
      await Promise.race([reading, this.#quitting]);
    } finally {
      this.#done = true;
      clearInterval(tick);
      stopResize();
      for (const s of signals) {
        try {
          Deno.removeSignalListener(s, onSignal);
        } catch { /* not supported here */ }
      }
      this.#secret?.resolve(null);
      try {
        await this.#core.quit();
      } finally {
        for (const type of lastChance) globalThis.removeEventListener(type, restore);
        restore();
      }
    }
  }

  async #readKeys(): Promise<void> {
    try {
      for await (const chunk of this.#term.read()) {
        for (const key of this.#decoder.push(chunk)) {
          this.#key(key);
          if (this.#done) return;
        }
        this.#schedule();
      }
    } catch {
      // The terminal went away: treat it as quitting.
    }
    this.#quit();
  }

  #schedule(): void {
    if (this.#renderQueued || this.#done) return;
    this.#renderQueued = true;
    queueMicrotask(() => {
      this.#renderQueued = false;
      this.#render();
    });
  }

  #render(): void {
    if (this.#done) return;
    const { columns, rows } = this.#term.size();
    const core = this.#core;
    const conv = core.conversations;
    const parts = this.#secret ? 1 : this.#parts();
    const prompt = this.#secret
      ? `${this.#secret.label}: `
      : `[${conv.current.name === SERVER_WINDOW ? "server" : conv.current.name}]` +
        (parts > 1 ? ` (${parts} messages) ` : " ");
    const screen = composeScreen(
      {
        windows: conv.list,
        current: conv.currentNumber,
        user: core.user,
        guest: !core.authenticated,
        server: `${core.host}:${core.port}`,
        state: core.state,
        reconnect: core.reconnectInfo,
        queued: core.queued,
        now: new Date(),
        prompt,
        input: this.#editor.text,
        cursor: this.#editor.cursor,
        masked: this.#secret?.masked ?? false,
        scroll: this.#scroll,
        topic: conv.current.name.startsWith("#") ? core.topicOf(conv.current.name) : "",
        hint: this.#hint,
        color: this.#color,
      },
      columns,
      rows,
    );
    this.#scroll = screen.scroll;
    let out = "\x1b[?25l";
    screen.rows.forEach((row, i) => {
      out += `\x1b[${i + 1};1H${row}\x1b[0m\x1b[K`;
    });
    out += `\x1b[${screen.cursorRow + 1};${screen.cursorColumn + 1}H\x1b[?25h`;
    this.#term.write(out);
  }

  /** How many messages Enter would send: long text is split (see ClientCore.split). */
  #parts(): number {
    const text = this.#editor.text;
    // Below this, even text that is all quotes or control characters fits one.
    if (text.length < 80) return 1;
    const command = parseCommand(text);
    const current = this.#core.conversations.current.name;
    switch (command.kind) {
      case "say":
      case "me":
        if (current === SERVER_WINDOW) return 1;
        return this.#core.split(current, command.text, { action: command.kind === "me" }).length;
      case "msg":
        return this.#core.split(command.to, command.text).length;
      default:
        return 1;
    }
  }

  #key(key: Key): void {
    const e = this.#editor;
    if (key.name !== "tab") this.#hint = "";
    switch (key.name) {
      case "text":
        e.insert(key.text);
        break;
      case "enter":
        this.#enter();
        break;
      case "tab":
        this.#complete();
        break;
      case "backspace":
        e.backspace();
        break;
      case "delete":
        e.delete();
        break;
      case "left":
        e.left();
        break;
      case "right":
        e.right();
        break;
      case "home":
        e.home();
        break;
      case "end":
        e.end();
        break;
      case "word-left":
        e.wordLeft();
        break;
      case "word-right":
        e.wordRight();
        break;
      case "kill-line":
        e.killLine();
        break;
      case "kill-word":
        e.killWord();
        break;
      case "kill-to-end":
        e.killToEnd();
        break;
      case "up":
        if (!this.#secret) e.historyUp();
        break;
      case "down":
        if (!this.#secret) e.historyDown();
        break;
      case "page-up": {
        const wanted = this.#scroll + Math.max(1, this.#term.size().rows - 4);
        this.#scroll = wanted;
        this.#render();
        // At the top of what is here: ask the server for the page before it.
        if (this.#scroll < wanted) {
          const name = this.#core.conversations.current.name;
          void this.#core.loadOlder(name).then((added) => {
            if (added > 0) this.#hint = `${added} older messages: PgUp`;
            this.#schedule();
          });
        }
        break;
      }
      case "page-down":
        this.#scroll = Math.max(0, this.#scroll - Math.max(1, this.#term.size().rows - 4));
        break;
      case "alt-digit":
        if (!this.#core.conversations.switchToNumber(key.digit === 0 ? 10 : key.digit)) {
          this.#hint = `no window ${key.digit}`;
        }
        this.#scroll = 0;
        break;
      case "next-window":
      case "prev-window":
        this.#core.conversations.cycle(key.name === "next-window" ? 1 : -1);
        this.#scroll = 0;
        break;
      case "redraw":
        // From scratch: modes again, a cleared screen, then every row.
        this.#term.write("\x1b[0m\x1b[?7l\x1b[H\x1b[2J");
        break;
      case "escape":
        if (this.#secret) this.#endSecret(null);
        break;
      case "interrupt":
        if (this.#secret) this.#endSecret(null);
        else if (e.text !== "") e.set("");
        else this.#quit();
        break;
      case "eof":
        if (this.#secret) this.#endSecret(null);
        else if (e.text === "") this.#quit();
        else e.delete();
        break;
    }
    this.#schedule();
  }

  #complete(): void {
    const core = this.#core;
    const result = this.#editor.complete({
      commands: COMMAND_NAMES,
      names: core.knownNames,
      rooms: core.knownRooms,
    });
    this.#hint = result.candidates.length > 1 ? result.candidates.join(" ") : "";
  }

  #enter(): void {
    if (this.#secret) {
      this.#endSecret(this.#editor.submit(false));
      return;
    }
    const line = this.#editor.submit();
    this.#scroll = 0;
    const command = parseCommand(line);
    const core = this.#core;
    switch (command.kind) {
      case "quit":
        this.#quit();
        return;
      case "login": {
        const name = command.name ?? core.user;
        void this.#askSecret(`Password for ${name}`).then((password) => {
          if (password === null) return core.info("Login cancelled");
          return core.login(name, password).then(() => {});
        });
        return;
      }
      case "register": {
        const name = core.user;
        void (async () => {
          const password = await this.#askSecret(`New password for ${name}`);
          if (password === null) return core.info("Registration cancelled");
          const again = await this.#askSecret("Repeat the password");
          if (again === null) return core.info("Registration cancelled");
          if (again !== password) return core.error("Cannot register: the passwords differ");
          await core.register(password);
        })();
        return;
      }
      case "passwd": {
        void (async () => {
          const password = await this.#askSecret(`Current password for ${core.user}`);
          if (password === null) return core.info("Password change cancelled");
          const next = await this.#askSecret("New password");
          if (next === null) return core.info("Password change cancelled");
          const again = await this.#askSecret("Repeat the new password");
          if (again === null) return core.info("Password change cancelled");
          if (again !== next) return core.error("Cannot change password: the passwords differ");
          await core.passwd(password, next);
        })();
        return;
      }
      case "delete-account": {
        const name = core.user;
        void (async () => {
          const password = await this.#askSecret(`Password for ${name}`);
          if (password === null) return core.info("Account deletion cancelled");
          // Asked in the clear: it is a confirmation, not a secret.
          const confirm = await this.#askSecret(
            `Delete ${name} with its mail and rooms for good? Type ${name} to confirm`,
            false,
          );
          if (confirm !== name) return core.info("Account deletion cancelled");
          await core.deleteAccount(password);
        })();
        return;
      }
      default:
        void core.execute(command);
    }
  }

  #askSecret(label: string, masked = true): Promise<string | null> {
    this.#secret?.resolve(null);
    this.#savedDraft = this.#editor.text;
    this.#editor.set("");
    return new Promise((resolve) => {
      this.#secret = { label, resolve, masked };
      this.#schedule();
    });
  }

  #endSecret(value: string | null): void {
    const secret = this.#secret;
    if (!secret) return;
    this.#secret = null;
    this.#editor.set(this.#savedDraft);
    this.#savedDraft = "";
    secret.resolve(value);
  }
}

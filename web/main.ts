/// <reference lib="dom" />
/**
 * The web client: lib/client's core (connection state, reconnect with
 * backoff, offline queue, the sentence for each answer) behind a WebSocket
 * transport, shown in the page of lib/web/index.html. Every text from the
 * wire goes into the page as text (`textContent`), never as markup.
 *
 * Bundled by `deno task web` into lib/web/app.min.js.
 *
 * @module
 */

import type { AuthMode } from "../lib/client/args.ts";
import { ClientCore, type CoreEvent, IdentifyError } from "../lib/client/client_core.ts";
import { parseCommand } from "../lib/client/commands.ts";
import type { ChatLine, Conversation } from "../lib/client/conversations.ts";
import { SERVER_WINDOW } from "../lib/client/conversations.ts";
import { BrowserWebSocketTransport } from "./websocket_transport.ts";

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`Cannot start: the page has no #${id}`);
  return el as T;
}

/** Colour classes c0..c11 in app.css; the same name always gets the same one. */
const COLOURS = 12;

function colourClass(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return `c${(h >>> 0) % COLOURS}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** One message or notice as a list item; text only. */
/** The list item drawn for each line, so a delivery update can redraw it in place. */
const drawn = new WeakMap<ChatLine, HTMLLIElement>();

/** Words for an own message's delivery state; none once it is sent. */
const DELIVERY: Record<string, string> = { pending: "sending…", refused: "not sent" };

function renderLine(line: ChatLine): HTMLLIElement {
  const li = el("li", line.kind);
  drawn.set(line, li);
  if (line.own) li.classList.add("own");
  if (line.delivery) li.classList.add(line.delivery);
  const time = el(
    "time",
    undefined,
    `${pad2(line.time.getHours())}:${pad2(line.time.getMinutes())}`,
  );
  time.dateTime = line.time.toISOString();
  li.append(time);
  if (line.kind === "msg" && line.from !== undefined) {
    li.append(
      el("span", `from ${colourClass(line.from)}`, line.from),
      el("span", "text", line.text),
    );
  } else if (line.kind === "action" && line.from !== undefined) {
    li.append(
      el("span", `from ${colourClass(line.from)}`, `* ${line.from}`),
      el("span", "text", line.text),
    );
  } else {
    li.append(el("span", "text", line.text));
  }
  const state = line.delivery && DELIVERY[line.delivery];
  if (state) li.append(el("span", "delivery", state));
  return li;
}

class WebClient {
  readonly #signin = $<HTMLFormElement>("signin");
  readonly #name = $<HTMLInputElement>("name");
  readonly #password = $<HTMLInputElement>("password");
  readonly #signinError = $("signin-error");
  readonly #chat = $("chat");
  readonly #state = $("state");
  readonly #me = $("me");
  readonly #list = $("conversations");
  readonly #messages = $("messages");
  readonly #title = $("title");
  readonly #input = $<HTMLInputElement>("input");
  readonly #room = $<HTMLInputElement>("room");
  #core: ClientCore | null = null;
  /** What #messages shows: which conversation, and its last line drawn. */
  #shown: { name: string; last: ChatLine | undefined } | null = null;
  #renderQueued = false;
  #ticker: ReturnType<typeof setInterval> | undefined;
  readonly #history: string[] = [];
  #historyAt = 0;

  constructor() {
    this.#signin.addEventListener("submit", (e) => {
      e.preventDefault();
      const button = e.submitter as HTMLButtonElement | null;
      void this.#start((button?.value ?? "guest") as AuthMode);
    });
    // Enter in the password box logs in: the form's first button is "Join as guest".
    this.#password.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      void this.#start("login");
    });
    $("compose").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = this.#input.value;
      this.#input.value = "";
      if (text.trim()) {
        this.#history.push(text);
        this.#historyAt = this.#history.length;
      }
      void this.#submit(text);
    });
    $("join-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const room = this.#room.value.trim();
      this.#room.value = "";
      if (room) void this.#submit(`/join ${room}`);
      this.#input.focus();
    });
    $("who").addEventListener("click", () => void this.#submit("/who"));
    $("set-status").addEventListener("click", () => {
      this.#input.value = "/status ";
      this.#input.focus();
    });
    $("leave").addEventListener("click", () => void this.#submit("/leave"));
    $("quit").addEventListener("click", () => void this.#quit());
    this.#input.addEventListener("keydown", (e) => this.#inputKey(e));
    document.addEventListener("keydown", (e) => this.#globalKey(e));
    const remembered = sessionStorage.getItem("jim-name");
    if (remembered) this.#name.value = remembered;
  }

  async #start(mode: AuthMode): Promise<void> {
    const user = this.#name.value.trim();
    const password = this.#password.value;
    this.#signinError.textContent = "";
    if (!user) {
      this.#signinError.textContent = "Type a name first";
      this.#name.focus();
      return;
    }
    if (mode !== "guest" && !password) {
      this.#signinError.textContent = `Type a password to ${
        mode === "login" ? "log in" : "register"
      }`;
      this.#password.focus();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/jim`;
    const core = new ClientCore({
      host: location.hostname,
      port: Number(location.port) || (location.protocol === "https:" ? 443 : 80),
      user,
      auth: mode,
      ...(mode === "guest" ? {} : { password }),
      reconnect: { minDelayMs: 1000, maxDelayMs: 15_000 },
      connect: () => BrowserWebSocketTransport.connect(url),
    });
    core.on((event) => this.#onEvent(event));
    this.#setState("connecting");
    const buttons = this.#signin.querySelectorAll("button");
    for (const b of buttons) b.disabled = true;
    try {
      await core.start();
    } catch (e) {
      for (const b of buttons) b.disabled = false;
      this.#signinError.textContent = e instanceof IdentifyError
        ? `Refused: ${e.message}`
        : e instanceof Error
        ? e.message
        : String(e);
      this.#setState("offline");
      return;
    }
    for (const b of buttons) b.disabled = false;
    this.#password.value = "";
    sessionStorage.setItem("jim-name", user);
    this.#core = core;
    this.#shown = null;
    this.#signin.hidden = true;
    this.#chat.hidden = false;
    this.#me.textContent = core.authenticated ? user : `${user} (guest)`;
    this.#showState();
    this.#ticker = setInterval(() => this.#showState(), 500);
    void core.learnOnlineNames();
    this.#render();
    this.#input.focus();
  }

  async #submit(text: string): Promise<void> {
    const core = this.#core;
    if (!core) return;
    const command = parseCommand(text);
    switch (command.kind) {
      case "quit":
        return this.#quit();
      case "register":
      case "login":
        core.error("Use the sign-in form: /quit, then Log in or Register");
        return;
    }
    await core.execute(command);
  }

  async #quit(): Promise<void> {
    const core = this.#core;
    if (!core) return;
    this.#core = null;
    clearInterval(this.#ticker);
    // Messages still queued are reported by the core as it quits; the chat
    // is about to be hidden, so they are shown on the sign-in form.
    const notSent: string[] = [];
    core.on((e) => {
      // A refusal shows in two windows (target and where typed): list it once.
      if (
        e.type === "line" && e.line.kind === "error" && !e.line.copy &&
        e.line.text.startsWith("Not sent")
      ) {
        notSent.push(e.line.text);
      }
    });
    await core.quit();
    this.#chat.hidden = true;
    this.#signin.hidden = false;
    this.#me.textContent = "";
    this.#signinError.textContent = notSent.join("\n");
    this.#setState("offline", "signed out");
    this.#name.focus();
  }

  #onEvent(event: CoreEvent): void {
    if (event.type === "state") this.#showState();
    if (event.type === "update") {
      // An own message was accepted or refused: redraw it where it is.
      drawn.get(event.line)?.replaceWith(renderLine(event.line));
    }
    this.#scheduleRender();
  }

  #setState(state: string, text: string = state): void {
    this.#state.dataset.state = state;
    this.#state.textContent = text;
  }

  #showState(): void {
    const core = this.#core;
    if (!core) return;
    const queued = core.queued > 0 ? `, ${core.queued} queued` : "";
    const info = core.reconnectInfo;
    if (core.state === "reconnecting" && info) {
      const s = Math.max(0, Math.ceil((info.at - Date.now()) / 1000));
      this.#setState(
        "reconnecting",
        s > 0
          ? `offline, reconnecting in ${s}s (attempt ${info.attempt})${queued}`
          : `reconnecting (attempt ${info.attempt})${queued}`,
      );
    } else if (core.state === "offline") {
      this.#setState("offline", `offline${queued}`);
    } else {
      this.#setState(core.state, `${core.state}${queued}`);
    }
  }

  #scheduleRender(): void {
    if (this.#renderQueued) return;
    this.#renderQueued = true;
    queueMicrotask(() => {
      this.#renderQueued = false;
      this.#render();
    });
  }

  #render(): void {
    const core = this.#core;
    if (!core) return;
    const conversations = core.conversations;
    const current = conversations.current;
    this.#renderList(conversations.list, current);
    this.#title.textContent = current.name === SERVER_WINDOW ? "Server" : current.name;
    $("leave").hidden = !current.name.startsWith("#");
    this.#renderMessages(current);
    const unread = conversations.list.reduce((n, c) => n + c.unread, 0);
    document.title = unread > 0 ? `(${unread}) jim` : "jim";
  }

  #renderList(list: readonly Conversation[], current: Conversation): void {
    const items = list.map((c, i) => {
      const li = el("li");
      const button = el("button");
      button.type = "button";
      button.dataset.name = c.name;
      button.title = i < 9 ? `Alt-${i + 1}` : "";
      if (c === current) button.setAttribute("aria-current", "true");
      button.append(el("span", "name", c.name === SERVER_WINDOW ? "Server" : c.name));
      if (c.unread > 0) {
        const badge = el("span", "unread", String(c.unread));
        badge.setAttribute("aria-label", `${c.unread} unread`);
        button.append(badge);
      }
      button.addEventListener("click", () => {
        this.#core?.switchTo(c.name);
        this.#input.focus();
      });
      li.append(button);
      return li;
    });
    // Rebuilt on every change: keep the keyboard focus on the same conversation.
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.name;
    this.#list.replaceChildren(...items);
    if (focused !== undefined && this.#list.contains(document.activeElement) === false) {
      this.#list.querySelector<HTMLElement>(`button[data-name="${CSS.escape(focused)}"]`)?.focus();
    }
  }

  #renderMessages(c: Conversation): void {
    const box = this.#messages;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const shown = this.#shown;
    const same = shown !== null && shown.name === c.name;
    const from = same && shown.last !== undefined ? c.lines.lastIndexOf(shown.last) : -1;
    if (same && (shown.last === undefined || from >= 0)) {
      // The same conversation as before: append only what is new.
      for (const line of c.lines.slice(from + 1)) box.append(renderLine(line));
    } else {
      box.replaceChildren(...c.lines.map(renderLine));
    }
    this.#shown = { name: c.name, last: c.lines.at(-1) };
    if (atBottom || shown?.name !== c.name) box.scrollTop = box.scrollHeight;
  }

  #inputKey(e: KeyboardEvent): void {
    if (e.key === "ArrowUp" && !e.altKey && this.#historyAt > 0) {
      e.preventDefault();
      this.#input.value = this.#history[--this.#historyAt] ?? "";
    } else if (e.key === "ArrowDown" && !e.altKey && this.#historyAt < this.#history.length) {
      e.preventDefault();
      this.#input.value = this.#history[++this.#historyAt] ?? "";
    }
  }

  #globalKey(e: KeyboardEvent): void {
    const core = this.#core;
    if (!core || !e.altKey) return;
    const list = core.conversations.list;
    const i = list.indexOf(core.conversations.current);
    let target: Conversation | undefined;
    if (/^[1-9]$/.test(e.key)) target = list[Number(e.key) - 1];
    else if (e.key === "ArrowUp") target = list[(i - 1 + list.length) % list.length];
    else if (e.key === "ArrowDown") target = list[(i + 1) % list.length];
    if (!target) return;
    e.preventDefault();
    core.switchTo(target.name);
    this.#input.focus();
  }
}

new WebClient();

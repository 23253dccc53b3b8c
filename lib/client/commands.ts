/**
 * The client's command language, pure: one typed line in, one
 * {@linkcode ClientCommand} out. `/msg bob hi` → `{ kind: "msg", to: "bob",
 * text: "hi" }`; a line without a leading `/` is text for the current
 * conversation; `//x` sends the text `/x`.
 *
 * @module
 */

/** What one input line asks for. */
export type ClientCommand =
  | { kind: "say"; text: string }
  | { kind: "msg"; to: string; text: string }
  | { kind: "query"; to: string }
  | { kind: "join"; room: string }
  | { kind: "leave"; room?: string }
  | { kind: "status"; text: string }
  | { kind: "who"; target?: string }
  | { kind: "topic"; text?: string }
  | { kind: "contacts" }
  | { kind: "add"; name: string }
  | { kind: "remove"; name: string }
  | { kind: "register" }
  | { kind: "login"; name?: string }
  | { kind: "passwd" }
  | { kind: "delete-account" }
  | { kind: "me"; text: string }
  | { kind: "clear" }
  | { kind: "close" }
  | { kind: "help"; topic?: string }
  | { kind: "switch"; target: string }
  | { kind: "quit" }
  | { kind: "invalid"; message: string }
  | { kind: "empty" };

/** One command's help entry. */
export interface CommandHelp {
  /** The name without `/`. */
  name: string;
  /** Arguments, as shown in usage. */
  args: string;
  /** One line on what it does. */
  summary: string;
}

/** Every command, in the order `/help` lists them. */
export const COMMANDS: readonly CommandHelp[] = [
  { name: "msg", args: "NAME|#ROOM [TEXT]", summary: "send TEXT, or open a conversation" },
  { name: "join", args: "#ROOM", summary: "join a room (created if new)" },
  { name: "leave", args: "[#ROOM]", summary: "leave a room (default: the current one)" },
  { name: "status", args: "TEXT", summary: "set your presence status" },
  { name: "who", args: "[#ROOM|NAME]", summary: "who is online, in a room, or whether NAME is" },
  {
    name: "topic",
    args: "[TEXT]",
    summary: "set the current room's topic, or show it",
  },
  { name: "contacts", args: "", summary: "your contacts: online, away or offline (last seen)" },
  { name: "add", args: "NAME", summary: "add NAME to your contacts: you see them come and go" },
  { name: "remove", args: "NAME", summary: "remove NAME from your contacts" },
  { name: "me", args: "TEXT", summary: "send an action: * you TEXT" },
  { name: "switch", args: "N|NAME|#ROOM", summary: "go to a conversation (also Alt-N, Ctrl-N/P)" },
  { name: "close", args: "", summary: "close the current conversation's window" },
  { name: "clear", args: "", summary: "clear the current window" },
  { name: "register", args: "", summary: "create an account with your name (asks a password)" },
  { name: "login", args: "[NAME]", summary: "log in to an account (asks a password)" },
  { name: "passwd", args: "", summary: "change your account's password (asks both)" },
  {
    name: "delete-account",
    args: "",
    summary: "delete your account, its mail and rooms (asks the password, then to confirm)",
  },
  { name: "help", args: "[COMMAND]", summary: "list commands, or explain one" },
  { name: "quit", args: "", summary: "leave the server and exit (also Ctrl-D on an empty line)" },
];

/** Command names with `/`, for completion. */
export const COMMAND_NAMES: readonly string[] = COMMANDS.map((c) => "/" + c.name);

/** Returns the help entry for `name` (with or without `/`), if it is a command. */
export function findCommand(name: string): CommandHelp | undefined {
  const bare = name.startsWith("/") ? name.slice(1) : name;
  return COMMANDS.find((c) => c.name === bare.toLowerCase());
}

/** `"/msg NAME|#ROOM [TEXT]"`: a command's usage line. */
export function usageOf(help: CommandHelp): string {
  return help.args ? `/${help.name} ${help.args}` : `/${help.name}`;
}

function splitFirst(rest: string): [string, string] {
  const m = /^(\S+)\s?(.*)$/s.exec(rest);
  return m ? [m[1]!, m[2]!] : ["", ""];
}

function usage(name: string): ClientCommand {
  const help = findCommand(name)!;
  return { kind: "invalid", message: `Usage: ${usageOf(help)}` };
}

/** Adds the `#` a room name needs, if it was left out. */
export function roomName(word: string): string {
  return word.startsWith("#") ? word : "#" + word;
}

/**
 * Parses one input line.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseCommand("/join general"), { kind: "join", room: "#general" });
 * assertEquals(parseCommand("hello"), { kind: "say", text: "hello" });
 * ```
 */
export function parseCommand(line: string): ClientCommand {
  if (line.trim() === "") return { kind: "empty" };
  if (!line.startsWith("/")) return { kind: "say", text: line };
  if (line.startsWith("//")) return { kind: "say", text: line.slice(1) };
  const [word, rest] = splitFirst(line.slice(1));
  const name = word.toLowerCase();
  const arg = rest.trim();
  switch (name) {
    case "msg":
    case "query": {
      const [to, text] = splitFirst(rest.trimStart());
      if (!to) return usage("msg");
      if (text.trim() === "") return { kind: "query", to };
      return { kind: "msg", to, text };
    }
    case "join":
    case "j":
      if (!arg || /\s/.test(arg)) return usage("join");
      return { kind: "join", room: roomName(arg) };
    case "leave":
    case "part":
      if (/\s/.test(arg)) return usage("leave");
      return arg ? { kind: "leave", room: roomName(arg) } : { kind: "leave" };
    case "status":
      return { kind: "status", text: arg };
    case "who":
      if (/\s/.test(arg)) return usage("who");
      return arg ? { kind: "who", target: arg } : { kind: "who" };
    case "register":
      if (arg) return usage("register");
      return { kind: "register" };
    case "passwd":
    case "delete-account":
      if (arg) return usage(name);
      return { kind: name };
    case "login":
      if (/\s/.test(arg)) return usage("login");
      return arg ? { kind: "login", name: arg } : { kind: "login" };
    case "topic":
      return arg ? { kind: "topic", text: arg } : { kind: "topic" };
    case "contacts":
      if (arg) return usage("contacts");
      return { kind: "contacts" };
    case "add":
    case "remove":
      if (!arg || /\s/.test(arg)) return usage(name);
      return { kind: name, name: arg };
    case "me":
      if (!arg) return usage("me");
      return { kind: "me", text: arg };
    case "clear":
      return { kind: "clear" };
    case "close":
      return { kind: "close" };
    case "help":
      return arg ? { kind: "help", topic: arg.replace(/^\//, "") } : { kind: "help" };
    case "switch":
    case "window":
    case "w":
      if (!arg || /\s/.test(arg)) return usage("switch");
      return { kind: "switch", target: arg };
    case "quit":
    case "exit":
      return { kind: "quit" };
    default: {
      const hint = COMMANDS.filter((c) => name && c.name.startsWith(name)).map((c) => "/" + c.name);
      const guess = hint.length > 0 && hint.length <= 3
        ? ` (did you mean ${hint.join(", ")}?)`
        : "";
      return {
        kind: "invalid",
        message: `Unknown command /${word}${guess}: type /help for the list, //text to send text`,
      };
    }
  }
}

/** The text `/help` or `/help CMD` shows, one entry per line. */
export function helpText(topic?: string): string[] {
  if (topic) {
    const help = findCommand(topic);
    if (!help) return [`No command /${topic}: type /help for the list`];
    return [`${usageOf(help)}: ${help.summary}`];
  }
  const width = Math.max(...COMMANDS.map((c) => usageOf(c).length));
  return [
    "Commands:",
    ...COMMANDS.map((c) => `  ${usageOf(c).padEnd(width)}  ${c.summary}`),
    "A line without / goes to the current conversation; //text sends text starting with /.",
    "Keys: Tab completes, Up/Down history, Alt-1..9 or Ctrl-N/P switch, PgUp/PgDn scroll",
    "(PgUp at the top of a room or conversation loads older messages from the server).",
  ];
}

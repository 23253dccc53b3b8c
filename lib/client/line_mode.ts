/**
 * The client without a screen, for pipes and scripts: input lines become
 * messages (to `--to`, or the current conversation) or `/commands`; what
 * happens is printed as plain lines (`12:03 [#general] <bob> hi`), errors on
 * stderr. Also the one-shot `--to … --message …` mode.
 *
 * @module
 */

import type { ClientCore, Outcome } from "./client_core.ts";
import { parseCommand } from "./commands.ts";
import { type ChatLine, SERVER_WINDOW } from "./conversations.ts";
import { formatLine } from "./format.ts";

/** Exit codes, as `--help` and the README give them. */
export const EXIT = {
  ok: 0,
  /** The server refused a request (or a line was not a valid command). */
  refused: 1,
  /** Bad command line. */
  usage: 2,
  /** Cannot connect, or the connection was lost with messages not sent. */
  connection: 3,
  /** Ctrl-C at a prompt before connecting (128 + SIGINT, as a shell reports it). */
  interrupted: 130,
  /** A signal at a prompt before connecting: 128 + its number, as a shell reports it. */
  signalled: { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 },
} as const;

/** Where line mode writes. */
export interface LineOutput {
  /** One line of normal output. */
  out(line: string): void;
  /** One line of error output. */
  err(line: string): void;
}

/** Formats a core line as one plain output line; own messages give null (the script knows them). */
export function plainLine(conversation: string, line: ChatLine, color: boolean): string | null {
  if (line.own && (line.kind === "msg" || line.kind === "action")) return null;
  // A second copy, in the window where it was typed: printed once is enough.
  if (line.copy) return null;
  const tag = conversation === SERVER_WINDOW ? undefined : conversation;
  const f = formatLine(line, tag === undefined ? { color } : { color, tag });
  return color
    ? f.styledPrefix + (f.bodyStyle ? f.bodyStyle + f.body + "\x1b[0m" : f.body)
    : f.prefix + f.body;
}

/** Prints every line the core reports. */
export function printLines(core: ClientCore, output: LineOutput, color: boolean): void {
  core.on((event) => {
    if (event.type !== "line") return;
    const text = plainLine(event.conversation, event.line, color);
    if (text === null) return;
    if (event.line.kind === "error") output.err(text);
    else output.out(text);
  });
}

/** Splits a byte stream into lines (without their `\n` or `\r\n`). */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, nl).replace(/\r$/, "");
      pending = pending.slice(nl + 1);
    }
  }
  pending += decoder.decode();
  if (pending !== "") yield pending.replace(/\r$/, "");
}

function exitFor(outcome: Outcome): number {
  if (outcome.ok) return EXIT.ok;
  return outcome.offline ? EXIT.connection : EXIT.refused;
}

/** Options for {@linkcode runLines}. */
export interface LineModeOptions {
  /** Where plain lines go; unset: the current conversation. */
  to?: string | undefined;
  /** Where a line of progress goes while sending takes long (stderr); unset: nowhere. */
  progress?: (line: string) => void;
  /**
   * Milliseconds between progress lines; the first comes after this long too.
   * @default {5000}
   */
  progressEveryMs?: number;
}

/**
 * Runs input lines through the core until EOF or `/quit`, waits for the
 * answers, quits, and returns the exit code: 0 if every request succeeded,
 * 3 if something was not sent for want of a connection, else 1.
 */
export async function runLines(
  core: ClientCore,
  lines: AsyncIterable<string>,
  options: LineModeOptions = {},
): Promise<number> {
  let code: number = EXIT.ok;
  const note = (outcome: Outcome) => {
    const c = exitFor(outcome);
    if (c === EXIT.connection || code === EXIT.ok) code = Math.max(code, c);
  };
  if (options.to !== undefined) core.switchTo(options.to);
  // Sending at the rate the server allows can take minutes for a big file:
  // say how far it has got, so that a slow pipe does not look like a hang.
  // Only when sending is what takes the time, not waiting for input.
  let sent = 0;
  let busyMs = 0;
  const started = performance.now();
  const progress = options.progress;
  const every = options.progressEveryMs ?? 5000;
  const ticker = progress &&
    setInterval(() => {
      const busy = busyMs;
      busyMs = 0;
      if (busy < every / 2) return;
      const seconds = (performance.now() - started) / 1000;
      progress(
        `Sent ${sent} message(s) in ${Math.round(seconds)} s (about ${
          Math.round(sent / seconds)
        } a second, the rate the server allows)`,
      );
    }, every);
  try {
    for await (const line of lines) {
      if (core.state === "offline") {
        code = EXIT.connection;
        break;
      }
      const command = parseCommand(line);
      if (command.kind === "quit") break;
      if (command.kind === "empty") continue;
      if (command.kind === "login" || command.kind === "register") {
        core.error(`/${command.kind} needs a terminal: use --${command.kind} with JIM_PASSWORD`);
        code = Math.max(code, EXIT.refused);
        continue;
      }
      if (command.kind === "passwd" || command.kind === "delete-account") {
        core.error(`/${command.kind} needs a terminal: it asks for passwords`);
        code = Math.max(code, EXIT.refused);
        continue;
      }
      const before = performance.now();
      const outcome = await core.execute(command);
      busyMs += performance.now() - before;
      if (
        outcome.ok && (command.kind === "say" || command.kind === "me" || command.kind === "msg")
      ) {
        sent++;
      }
      note(outcome);
    }
    await core.settle();
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
  }
  if (core.state === "offline" && code === EXIT.ok && core.queued > 0) code = EXIT.connection;
  await core.quit();
  return code;
}

/**
 * `--to T --message M`: sends one message and returns the exit code (0 on
 * 200/202). A sentence for good news (202) goes to `output`; errors are
 * printed by whoever listens for error lines.
 */
export async function sendOne(
  core: ClientCore,
  to: string,
  message: string,
  output: LineOutput,
): Promise<number> {
  const outcome = await core.sendMessage(to, message);
  if (outcome.ok && outcome.text) output.out(outcome.text);
  await core.quit();
  return exitFor(outcome);
}

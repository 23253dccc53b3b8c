// deno-lint-ignore-file no-console
/**
 * `jim client …`: parses the command line, asks for a password if needed,
 * connects, and hands over to the terminal view, line mode or one-shot
 * mode. Returns the exit code; never throws for a person's mistake.
 *
 * @module
 */

import { UsageError } from "../cli/parse.ts";
import { nameProblem } from "../protocol/validate.ts";
import { CLIENT_HELP, CLIENT_USAGE, type ClientArgs, parseClientArgs } from "./args.ts";
import { ClientCore, IdentifyError } from "./client_core.ts";
import { ConnectError, TcpTransport, type TlsOptions } from "./connection.ts";
import { HistoryLog } from "./history_log.ts";
import { PromptSignalled, readSecret } from "./secret_prompt.ts";
import {
  EXIT,
  type LineOutput,
  plainLine,
  printLines,
  readLines,
  runLines,
  sendOne,
} from "./line_mode.ts";
import { TerminalUI } from "./terminal_ui.ts";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no permission to read it: as if unset
  }
}

function isTerminal(stream: { isTerminal(): boolean }): boolean {
  try {
    return stream.isTerminal();
  } catch {
    return false;
  }
}

/** Ctrl-C at a password prompt: exit 130, as a shell would after SIGINT. */
class Cancelled extends Error {}

/** Reads a password without echo; Ctrl-C cancels (the terminal is restored either way). */
async function askPassword(message: string): Promise<string> {
  const answer = await readSecret(message);
  if (answer === null) throw new Cancelled("cancelled");
  return answer;
}

async function password(args: ClientArgs, user: string, interactive: boolean): Promise<string> {
  const fromEnv = env("JIM_PASSWORD");
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!interactive) {
    throw new UsageError(
      "Cannot read the password: stdin is not a terminal and JIM_PASSWORD is not set",
    );
  }
  const first = await askPassword(
    args.auth === "register" ? `New password for ${user}:` : `Password for ${user}:`,
  );
  if (first === "") throw new UsageError("Cannot read the password: none given");
  if (args.auth === "register") {
    const again = await askPassword("Repeat the password:");
    if (again !== first) throw new UsageError("Cannot register: the passwords differ");
  }
  return first;
}

const stdout: LineOutput = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** The CA certificate of `--ca FILE`. */
function readCa(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new UsageError(`Cannot read --ca ${path}: ${reason}`);
  }
}

/**
 * Runs the client with command-line `args` (without `client`) and returns
 * the exit code: 0 ok, 1 refused by the server, 2 usage, 3 connection.
 */
export async function runClient(args: string[]): Promise<number> {
  let parsed: ClientArgs;
  let user: string;
  let pass: string | undefined;
  let tls: TlsOptions | undefined;
  const stdinTty = isTerminal(Deno.stdin);
  const stdoutTty = isTerminal(Deno.stdout);
  try {
    parsed = parseClientArgs(args);
    if (parsed.help) {
      console.log(CLIENT_HELP);
      return EXIT.ok;
    }
    const name = parsed.user ?? env("USER") ?? env("LOGNAME");
    if (!name) throw new UsageError("Cannot pick a name: $USER is not set; give --user NAME");
    const problem = nameProblem(name);
    if (problem) {
      throw new UsageError(
        `Cannot use the name "${name}": ${problem.replace("account_name ", "it ")}`,
      );
    }
    user = name;
    if (parsed.tls) tls = parsed.caFile === undefined ? {} : { caCerts: [readCa(parsed.caFile)] };
    if (parsed.auth !== "guest") pass = await password(parsed, user, stdinTty);
  } catch (error) {
    if (error instanceof Cancelled) {
      console.error("jim client: cancelled");
      return EXIT.interrupted;
    }
    if (error instanceof PromptSignalled) {
      console.error(`jim client: cancelled by ${error.signal}`);
      return EXIT.signalled[error.signal];
    }
    if (!(error instanceof UsageError)) throw error;
    console.error(`jim client: ${error.message}`);
    console.error(CLIENT_USAGE);
    console.error("Try 'jim client --help' for more");
    return EXIT.usage;
  }

  const oneShot = parsed.message !== undefined;
  const screen = !oneShot && stdinTty && stdoutTty;
  const noColor = parsed.noColor || (env("NO_COLOR") ?? "") !== "";
  const core = new ClientCore({
    host: parsed.host,
    port: parsed.port,
    ...(tls
      ? { connect: (h: string, p: number) => TcpTransport.connect(h, p, undefined, tls) }
      : {}),
    user,
    auth: parsed.auth,
    ...(pass === undefined ? {} : { password: pass }),
    reconnect: {
      minDelayMs: parsed.reconnectDelayMs,
      maxDelayMs: parsed.reconnectMaxDelayMs,
      retries: parsed.retries ?? (screen ? undefined : 3),
    },
    handshakeTimeoutMs: parsed.handshakeTimeoutMs,
    rate: parsed.rate,
    retryAbsentMs: parsed.retryAbsentMs,
  });
  let log: HistoryLog | null = null;
  if (parsed.logDir !== undefined) {
    const history = new HistoryLog(parsed.logDir, (message) => core.error(message));
    // One's own messages go in once the server has accepted them.
    core.on((event) => {
      const line = event.type === "line" || event.type === "update" ? event.line : null;
      if (!line || line.copy) return;
      const accepted = line.delivery === undefined
        ? event.type === "line"
        : line.delivery === "sent";
      if (accepted) history.append((event as { conversation: string }).conversation, line);
    });
    log = history;
  }
  if (!screen) {
    if (oneShot) {
      // Errors, and whatever others send meanwhile (offline mail included).
      core.on((event) => {
        if (event.type !== "line" || event.line.copy) return;
        if (event.line.kind === "error") console.error(event.line.text);
        else if (event.line.kind === "msg" || event.line.kind === "action") {
          const text = plainLine(event.conversation, event.line, !noColor && stdoutTty);
          if (text !== null) console.log(text);
        }
      });
    } else {
      printLines(core, stdout, !noColor && stdoutTty);
    }
  }

  try {
    try {
      await core.start();
    } catch (error) {
      if (error instanceof ConnectError || error instanceof IdentifyError) {
        console.error(error.message);
        return error instanceof ConnectError ? EXIT.connection : EXIT.refused;
      }
      throw error;
    }
    if (oneShot) return await sendOne(core, parsed.to!, parsed.message!, stdout);
    if (!screen) {
      return await runLines(core, readLines(Deno.stdin.readable), {
        to: parsed.to,
        progress: (line) => console.error(line),
      });
    }
    if (parsed.to !== undefined) core.switchTo(parsed.to);
    void core.learnOnlineNames(); // for Tab completion of names
    await new TerminalUI(core, { color: !noColor }).run();
    return EXIT.ok;
  } finally {
    await log?.close();
  }
}

// deno-lint-ignore-file no-console
/**
 * `jim`: one entry for every part, so one compiled binary serves them all.
 *
 *     jim server [options]          run a server
 *     jim client [options] ADDR     chat
 *     jim admin users|block|kick|…  manage accounts
 *
 * @module
 */

import { runAdmin } from "./lib/admin/admin.ts";
import { runClient } from "./lib/client/run.ts";
import { EXIT } from "./lib/client/line_mode.ts";
import { PromptSignalled, readSecret } from "./lib/client/secret_prompt.ts";
import { runServerCommand } from "./lib/cli/server_main.ts";

/** `jim --help`. */
export const MAIN_HELP = `Usage: jim <command> [options]

Commands:
  server   run a JIM messenger server          (jim server --help)
  client   connect to a server and chat        (jim client --help)
  admin    manage accounts, live or on file    (jim admin --help)
`;

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "server":
      return await runServerCommand(rest);
    case "client":
      return await runClient(rest);
    case "admin":
      return await runAdmin(rest, {
        stdout: (line) => console.log(line),
        stderr: (line) => console.error(line),
        env: Deno.env,
        promptPassword: async (prompt) => {
          if (!Deno.stdin.isTerminal()) return null;
          // As the client's: the terminal is restored on Ctrl-C and on a signal.
          let answer: string | null;
          try {
            answer = await readSecret(prompt.trimEnd());
          } catch (error) {
            if (!(error instanceof PromptSignalled)) throw error;
            console.error(`jim admin: cancelled by ${error.signal}`);
            Deno.exit(EXIT.signalled[error.signal]);
          }
          if (answer === null) {
            console.error("jim admin: cancelled");
            Deno.exit(EXIT.interrupted);
          }
          return answer;
        },
      });
    case "-h":
    case "--help":
    case "help":
      console.log(MAIN_HELP);
      return 0;
    case undefined:
      console.error(MAIN_HELP);
      return 2;
    default:
      console.error(`jim: Cannot parse arguments: unknown command "${command}"`);
      console.error("Usage: jim server|client|admin [options]; see jim --help");
      return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

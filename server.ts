/**
 * `deno task server`: the JIM server. See `--help`.
 *
 * @module
 */

import { runServerCommand } from "./lib/cli/server_main.ts";

Deno.exit(await runServerCommand(Deno.args));

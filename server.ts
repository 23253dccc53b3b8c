/**
 * `deno task server`: the JIM server. See `--help`.
 *
 * @module
 */

import { runServer } from "./lib/cli/server_main.ts";

Deno.exit(await runServer(Deno.args));

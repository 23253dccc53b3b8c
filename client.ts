/**
 * `deno task client ADDR [PORT]`: the JIM terminal client. See `--help`.
 *
 * @module
 */

import { runClient } from "./lib/client/run.ts";

Deno.exit(await runClient(Deno.args));

/**
 * The committed bundle (lib/web/app.min.js, served as /app.js) is what the
 * `web` task builds from web/ and lib/client/ as they stand, so a change to
 * the client core cannot leave the browser running yesterday's code.
 */
import { assert, assertEquals } from "@std/assert";
import { tempDir } from "./_helpers.ts";

const root = new URL("../", import.meta.url);

Deno.test("web: lib/web/app.min.js is fresh (else run `deno task web` and commit it)", async () => {
  await using dir = await tempDir();
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  // The task's own command line, writing elsewhere.
  const args: string[] = String(config.tasks.web).split(/\s+/).slice(1);
  const o = args.indexOf("-o");
  assert(o > 0, "the web task names its output with -o");
  const target = args[o + 1];
  args[o + 1] = `${dir.path}/app.min.js`;
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const fresh = await Deno.readTextFile(`${dir.path}/app.min.js`);
  const committed = await Deno.readTextFile(new URL(target!, root));
  assert(
    fresh === committed,
    `${target} is stale: run \`deno task web\` and commit it`,
  );
});

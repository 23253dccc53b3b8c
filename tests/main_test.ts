/**
 * `jim` as a process (`deno run main.ts …`): the dispatch to server, client
 * and admin, their help, and bad command lines.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { tempDir } from "./_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `jim args…` with no stdin and waits for it to exit. */
async function jim(...args: string[]): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("jim --help lists the server, client and admin commands and exits 0", async () => {
  const r = await jim("--help");
  assertEquals(r.code, 0, r.stderr);
  for (const command of ["server", "client", "admin"]) {
    assertMatch(r.stdout, new RegExp(`^  ${command} `, "m"), command);
  }
  assertEquals(r.stderr, "");
});

Deno.test("jim with no command shows the commands on stderr and exits 2", async () => {
  const r = await jim();
  assertEquals(r.code, 2);
  assertEquals(r.stdout, "");
  assertStringIncludes(r.stderr, "Usage: jim ");
});

Deno.test("jim with an unknown command says so in one line, then the usage, and exits 2", async () => {
  const r = await jim("bogus");
  assertEquals(r.code, 2);
  assertEquals(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assertEquals(lines.length, 2, r.stderr);
  assertMatch(lines[0]!, /^jim: .*unknown command "bogus"$/);
  assertMatch(lines[1]!, /^Usage: jim /);
});

Deno.test("jim server|client|admin --help print their own help and exit 0", async () => {
  for (
    const [command, usage] of [
      ["server", "Usage: jim server"],
      ["client", "Usage: jim client"],
      ["admin", "jim admin users"],
    ]
  ) {
    const r = await jim(command!, "--help");
    assertEquals(r.code, 0, `${command}: ${r.stderr}`);
    assertStringIncludes(r.stdout, usage!, command);
    assertEquals(r.stderr, "", command);
  }
});

Deno.test("jim server|client|admin answer a bad flag with their name, one line, usage and 2", async () => {
  for (const command of ["server", "client", "admin"]) {
    const r = await jim(command, "--bogus");
    assertEquals(r.code, 2, command);
    const lines = r.stderr.trimEnd().split("\n");
    assertEquals(lines[0], `jim ${command}: Cannot parse arguments: unknown option --bogus`);
    assertMatch(lines[1]!, new RegExp(`^Usage: jim ${command}`));
    assert(!r.stderr.includes("    at "), r.stderr);
  }
});

Deno.test("jim admin users on a fresh database prints No accounts and exits 0", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/jim.db`;
  await SqliteStore.open(db).close();
  const r = await jim("admin", "users", "--db", db);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, "No accounts\n");
  assertEquals(r.stderr, "");
});

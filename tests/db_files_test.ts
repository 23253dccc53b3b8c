import { assertEquals, assertMatch } from "@std/assert";
import { permissionWarnings } from "../lib/store/db_files.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { register, startServer, tempDir } from "./_helpers.ts";

const root = new URL("../", import.meta.url).pathname;

function mode(path: string): string {
  return (Deno.statSync(path).mode! & 0o777).toString(8).padStart(4, "0");
}

Deno.test("server creates the database 0600 (with -wal, -shm) in new directories 0700", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/data/jim/jim.db`;
  const lines: string[] = [];
  {
    await using server = await startServer({ dbPath, log: (l) => lines.push(l) });
    await register(server.port, "ann");
    assertEquals(mode(`${dir.path}/data`), "0700");
    assertEquals(mode(`${dir.path}/data/jim`), "0700");
    for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) assertEquals(mode(file), "0600");
  }
  assertEquals(lines.filter((l) => l.includes("warning")), []);
});

Deno.test("server warns at start about an existing database others may read", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  Deno.writeFileSync(dbPath, new Uint8Array());
  Deno.chmodSync(dbPath, 0o644);
  const lines: string[] = [];
  {
    await using _server = await startServer({ dbPath, log: (l) => lines.push(l) });
  }
  const warnings = lines.filter((l) => l.startsWith("warning:"));
  assertEquals(warnings.length >= 1, true, lines.join("\n"));
  assertEquals(
    warnings[0],
    `warning: ${dbPath} has mode 0644: other users can read or change accounts and offline mail; run chmod 600 ${dbPath}`,
  );
  // The mode is the operator's to change; the server leaves it.
  assertEquals(mode(dbPath), "0644");
});

Deno.test("permissionWarnings() is quiet for private files, :memory: and missing files", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  assertEquals(permissionWarnings(dbPath), []);
  assertEquals(permissionWarnings(":memory:"), []);
  await SqliteStore.open(dbPath).close();
  assertEquals(permissionWarnings(dbPath), []);
  Deno.chmodSync(dbPath, 0o660);
  assertEquals(permissionWarnings(dbPath).length, 1);
});

/**
 * A command that cannot write a 0444 file even as root: root's
 * CAP_DAC_OVERRIDE is dropped from the bounding set, so the mode bits apply.
 */
function withoutOverride(args: string[]): [string, string[]] {
  if (Deno.uid() !== 0) return [args[0]!, args.slice(1)];
  return ["setpriv", ["--bounding-set", "-dac_override,-dac_read_search", "--", ...args]];
}

Deno.test("server.ts exits 1 naming a database it cannot write, before listening", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  await SqliteStore.open(dbPath).close();
  Deno.chmodSync(dbPath, 0o444);
  const [cmd, args] = withoutOverride([
    Deno.execPath(),
    "run",
    "-A",
    `${root}server.ts`,
    "-p",
    "0",
    "-a",
    "127.0.0.1",
    "--db",
    dbPath,
    // Below any open-file limit, so that no warning comes before the error.
    "--max-connections",
    "100",
  ]);
  const child = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).spawn();
  // A server that starts anyway would run forever: it gets 20 s.
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const out = await child.output();
  clearTimeout(timer);
  const err = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 1, err);
  assertEquals(err.includes("listening"), false, err);
  assertMatch(
    err.trim(),
    new RegExp(`^jim server: Cannot open database ${dbPath}: it is read-only for this user`),
  );
});

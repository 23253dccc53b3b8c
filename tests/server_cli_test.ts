import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { UsageError } from "../lib/cli/parse.ts";
import { parseServerArgs, SERVER_HELP } from "../lib/cli/server_args.ts";
import { login, register, tempDir } from "./_helpers.ts";
import { spawnServer } from "./_proc.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("parseServerArgs() reads ports, addresses, paths and limits", () => {
  const a = parseServerArgs([
    "-p",
    "8000",
    "-a",
    "127.0.0.1",
    "--db",
    "/tmp/x.db",
    "--rate-limit",
    "0",
  ]);
  assertEquals([a.port, a.hostname, a.dbPath, a.settings.rateLimit], [
    8000,
    "127.0.0.1",
    "/tmp/x.db",
    0,
  ]);
  const b = parseServerArgs(["--probe-interval", "5", "--no-offline-store", "--require-auth"]);
  assertEquals(b.settings, { probeIntervalMs: 5000, offlineStore: false, requireAuth: true });
  const d = parseServerArgs([]);
  assertEquals([d.port, d.hostname, d.dbPath, d.settings], [7777, "0.0.0.0", undefined, {}]);
});

Deno.test("parseServerArgs() refuses bad ports, unknown flags, missing values and stray words", () => {
  const cases: [string[], string][] = [
    [["-p", "70000"], 'Cannot parse --port: expected a whole number from 0 to 65535, got "70000"'],
    [["-p", "abc"], 'Cannot parse --port: expected a whole number from 0 to 65535, got "abc"'],
    [["--bogus"], "Cannot parse arguments: unknown option --bogus"],
    [["--bogus=1"], "Cannot parse arguments: unknown option --bogus"],
    [["--no-quiet"], "Cannot parse arguments: unknown option --no-quiet"],
    [["--addr"], "Cannot parse --addr: a value is required"],
    [["--db="], "Cannot parse --db: a value is required"],
    [["--db", "a.db", "--db", "b.db"], "Cannot parse --db: given more than once"],
    [["-p", "1", "--port", "2"], "Cannot parse --port: given more than once"],
    [
      ["--rate-limit", "-1"],
      'Cannot parse --rate-limit: expected a whole number from 0 to 1000000000, got "-1"',
    ],
    [["-p", "-1"], 'Cannot parse --port: expected a whole number from 0 to 65535, got "-1"'],
    [
      ["--rate-limit", "x"],
      'Cannot parse --rate-limit: expected a whole number from 0 to 1000000000, got "x"',
    ],
    [
      ["--offline-limit", "1.5"],
      'Cannot parse --offline-limit: expected a whole number from 1 to 10000000, got "1.5"',
    ],
    [["extra"], 'Cannot parse arguments: unexpected argument "extra"'],
  ];
  for (const [args, message] of cases) {
    const e = assertThrows(() => parseServerArgs(args), UsageError);
    assertEquals(e.message, message, args.join(" "));
  }
});

Deno.test("SERVER_HELP names every flag with its default", () => {
  for (
    const flag of [
      "--port",
      "--addr",
      "--db",
      "--require-auth",
      "--probe-interval",
      "--max-per-address",
    ]
  ) {
    assert(SERVER_HELP.includes(flag), flag);
  }
  assertMatch(SERVER_HELP, /--probe-interval N\s+silence before a probe \(default 30s\)/);
});

Deno.test("server.ts exits 2 with one line and usage on a bad command line", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}server.ts`, "--port", "nope"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 2);
  const err = new TextDecoder().decode(out.stderr).trim().split("\n");
  assertEquals(
    err[0],
    'jim server: Cannot parse --port: expected a whole number from 0 to 65535, got "nope"',
  );
  assertMatch(err[1]!, /^Usage: jim server/);
});

Deno.test("server.ts on SIGTERM sends 101 to clients, exits 0, and keeps its data", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  const first = await spawnServer({ dbPath });
  await register(first.port, "zoe", "long enough");
  {
    await using c = await login(first.port, "zoe", "long enough");
    first.kill("SIGTERM");
    const notice = await c.take((o) => o.response === 101);
    assertEquals(notice.alert, "server shutting down");
    await c.waitClosed();
  }
  assertEquals((await first.exited).code, 0);
  // The account is still there for the next server on the same file.
  const second = await spawnServer({ dbPath });
  {
    await using _c = await login(second.port, "zoe", "long enough");
  }
  second.kill("SIGINT");
  assertEquals((await second.exited).code, 0);
});

Deno.test("server.ts reports a port in use plainly and exits 1", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}server.ts`,
      "-p",
      String(port),
      "-a",
      "127.0.0.1",
      "--db",
      ":memory:",
      // Below any open-file limit, so that no warning comes before the error.
      "--max-connections",
      "100",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 1);
  assertEquals(
    new TextDecoder().decode(out.stderr).trim(),
    `jim server: Cannot listen on 127.0.0.1:${port}: address already in use`,
  );
});

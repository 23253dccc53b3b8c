import { assertEquals, assertThrows } from "@std/assert";
import { UsageError } from "../lib/cli/parse.ts";
import { CLIENT_HELP, CLIENT_USAGE, parseClientArgs } from "../lib/client/args.ts";

Deno.test("parseClientArgs() takes ADDR and an optional PORT (default 7777)", () => {
  const a = parseClientArgs(["127.0.0.1"]);
  assertEquals([a.host, a.port, a.auth, a.user, a.retries], [
    "127.0.0.1",
    7777,
    "guest",
    undefined,
    undefined,
  ]);
  assertEquals(parseClientArgs(["example.org", "9000"]).port, 9000);
});

Deno.test("parseClientArgs() reads every flag", () => {
  const a = parseClientArgs([
    "-u",
    "alice",
    "--login",
    "--to",
    "#general",
    "-m",
    "hi",
    "--log-dir",
    "/tmp/x",
    "--no-color",
    "--retries",
    "0",
    "--reconnect-delay",
    "50",
    "--reconnect-max-delay",
    "100",
    "--handshake-timeout",
    "250",
    "--rate",
    "0",
    "--retry-absent",
    "0",
    "--tls",
    "--ca",
    "ca.pem",
    "host",
  ]);
  assertEquals(a, {
    host: "host",
    port: 7443,
    tls: true,
    caFile: "ca.pem",
    user: "alice",
    auth: "login",
    to: "#general",
    message: "hi",
    logDir: "/tmp/x",
    noColor: true,
    reconnectDelayMs: 50,
    reconnectMaxDelayMs: 100,
    retries: 0,
    handshakeTimeoutMs: 250,
    rate: 0,
    retryAbsentMs: 0,
    help: false,
  });
  assertEquals(parseClientArgs(["h", "--register"]).auth, "register");
  assertEquals(parseClientArgs(["--help"]).help, true);
});

Deno.test("parseClientArgs() rejects bad usage with one-line UsageErrors", () => {
  const cases: [string[], string][] = [
    [[], "Cannot parse arguments: ADDR is required"],
    [["--", "-h"], 'Cannot parse ADDR: expected a host name or address, got "-h"'],
    [["h", "0"], 'Cannot parse PORT: expected a whole number from 1 to 65535, got "0"'],
    [["h", "65536"], 'Cannot parse PORT: expected a whole number from 1 to 65535, got "65536"'],
    [["h", "port"], 'Cannot parse PORT: expected a whole number from 1 to 65535, got "port"'],
    [["h", "--frob"], "Cannot parse arguments: unknown option --frob"],
    [["h", "-x"], "Cannot parse arguments: unknown option -x"],
    [["h", "1", "2"], 'Cannot parse arguments: unexpected argument "2"'],
    [["h", "--user"], "Cannot parse --user: a value is required"],
    [["h", "--user="], "Cannot parse --user: a value is required"],
    [["h", "--to", "a", "--to", "b"], "Cannot parse --to: given more than once"],
    [["h", "-m", "hi"], "Cannot send --message: --to TARGET is required"],
    [
      ["h", "--login", "--register"],
      "Cannot parse arguments: --login and --register exclude each other",
    ],
    [
      ["h", "--retries", "-1"],
      'Cannot parse --retries: expected a whole number from 0 to 1000000, got "-1"',
    ],
    [
      ["h", "--reconnect-delay", "0"],
      'Cannot parse --reconnect-delay: expected a whole number from 1 to 3600000, got "0"',
    ],
    [
      ["h", "--reconnect-delay", "500", "--reconnect-max-delay", "100"],
      "Cannot parse --reconnect-max-delay: it must not be below --reconnect-delay",
    ],
  ];
  for (const [args, message] of cases) {
    const error = assertThrows(() => parseClientArgs(args), UsageError);
    assertEquals(error.message, message, args.join(" "));
  }
});

Deno.test("CLIENT_HELP starts with the usage line and documents exit codes", () => {
  assertEquals(CLIENT_HELP.split("\n")[0], CLIENT_USAGE);
  for (
    const flag of [
      "--user",
      "--login",
      "--register",
      "--to",
      "--message",
      "--log-dir",
      "--no-color",
      "--retries",
    ]
  ) {
    assertEquals(CLIENT_HELP.includes(flag), true, flag);
  }
  assertEquals(CLIENT_HELP.includes("Exit codes: 0 ok, 1"), true);
});

/**
 * The server test suite run clustered (`deno task test:cluster`): the files
 * below, each with `JIM_TEST_CLUSTER=3`, so that every `startServer` in them is
 * three jim nodes on a throwaway nats-server and PostgreSQL database behind
 * one port that sends each connection to a random node (tests/_cluster.ts).
 * `JIM_TEST_SEED` reproduces a run's spread; it is printed. Extra arguments go
 * to `deno test` (say, `--filter`).
 *
 * Every test file that starts a server is in exactly one of the lists
 * (tests/cluster_suite_test.ts checks it).
 *
 * @module
 */

/** Server behaviour, run clustered. */
export const CLUSTER_FILES: readonly string[] = [
  "tests/server_test.ts",
  "tests/caps_test.ts",
  "tests/mailbox_test.ts",
  "tests/presence_test.ts",
  "tests/history_test.ts",
  "tests/dialects_test.ts",
  "tests/course_client_test.ts",
  "tests/offline_ack_test.ts",
  "tests/session_token_test.ts",
  "tests/room_caps_test.ts",
  "tests/names_test.ts",
  "tests/flood_test.ts",
  "tests/slow_consumer_test.ts",
  "tests/login_fault_test.ts",
  "tests/hashing_test.ts",
  "tests/fuzz_test.ts",
];

/** Files that start a server but cannot be clustered by nature, each with why. */
export const LEFT_OUT: Readonly<Record<string, string>> = {
  "tests/admin_socket_test.ts": "the admin socket acts on one process (and opens the SQLite file)",
  "tests/admin_test.ts": "`jim admin` opens the SQLite file",
  "tests/bench_quick_test.ts": "the bench starts its own servers (bench --cluster is its own)",
  "tests/churn_test.ts": "measures one child process's descriptors and memory",
  "tests/client_history_test.ts": "client behaviour; what it asks of the server is in history_test",
  "tests/client_process_test.ts": "the terminal client in a child process",
  "tests/client_pty_test.ts": "the terminal client's UI",
  "tests/client_requeue_test.ts": "client behaviour; what it asks of the server is in server_test",
  "tests/client_session_test.ts": "client behaviour; what it asks of the server is in session_token_test",
  "tests/client_tty_test.ts": "the terminal client's UI",
  "tests/cluster_test.ts": "starts its own nodes",
  "tests/crash_test.ts": "kills a child server process and opens its SQLite file",
  "tests/db_files_test.ts": "SQLite files and their permissions",
  "tests/http_rebinding_test.ts": "the HTTP listener (the forwarder is plain TCP)",
  "tests/http_sniff_test.ts": "the HTTP listener (the forwarder is plain TCP)",
  "tests/http_test.ts": "the HTTP listener and WebSocket (the forwarder is plain TCP)",
  "tests/store_lock_test.ts": "SQLite write locks",
  "tests/tls_test.ts": "the TLS listener (the forwarder is plain TCP)",
  "tests/web_test.ts": "the browser client over the HTTP listener",
};

/**
 * Tests of the clustered files left out by name, each with why: a limit or a
 * measure that is one process's by nature, or a cluster bug listed in
 * docs/cluster.md "Not done yet".
 */
export const EXCLUDED_TESTS: Readonly<Record<string, string>> = {};

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** `deno test`'s `--filter` that runs every test but the excluded ones. */
export function exclusionFilter(names: readonly string[]): string | null {
  if (names.length === 0) return null;
  return `/^(?!(?:${names.map(escapeRegExp).join("|")})$)/`;
}

if (import.meta.main) {
  const filter = exclusionFilter(Object.keys(EXCLUDED_TESTS));
  const args = [
    "test",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-env",
    "--allow-sys",
    ...(filter !== null ? ["--filter", filter] : []),
    ...Deno.args,
    ...CLUSTER_FILES,
  ];
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    env: { JIM_TEST_CLUSTER: Deno.env.get("JIM_TEST_CLUSTER") || "3" },
    stdin: "null",
  }).spawn().status;
  Deno.exit(status.code);
}

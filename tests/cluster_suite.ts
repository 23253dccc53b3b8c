/**
 * The server test suite run clustered (`deno task test:cluster`): the files
 * below, each with `JIM_TEST_CLUSTER=3`, so that every `startServer` in them is
 * three jim nodes on a throwaway nats-server and PostgreSQL database behind
 * one port that sends each connection to a random node (tests/_cluster.ts).
 * `JIM_TEST_SEED` reproduces a run's spread; it is printed. `JIM_TEST_ALL=1`
 * runs the excluded tests too. Extra arguments go to `deno test` (say,
 * `--filter`).
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
  "tests/client_session_test.ts":
    "client behaviour; what it asks of the server is in session_token_test",
  "tests/client_tty_test.ts": "the terminal client's UI",
  "tests/cluster_admin_test.ts": "starts its own nodes (child processes, for their admin sockets)",
  "tests/cluster_failover_test.ts": "starts its own nodes",
  "tests/cluster_rooms_test.ts": "starts its own nodes",
  "tests/cluster_state_test.ts": "starts its own nodes",
  "tests/cluster_test.ts": "starts its own nodes",
  "tests/crash_test.ts": "kills a child server process and opens its SQLite file",
  "tests/db_files_test.ts": "SQLite files and their permissions",
  "tests/fd_limit_test.ts": "descriptor limits of a child server process",
  "tests/http_rebinding_test.ts": "the HTTP listener (the forwarder is plain TCP)",
  "tests/http_sniff_test.ts": "the HTTP listener (the forwarder is plain TCP)",
  "tests/http_test.ts": "the HTTP listener and WebSocket (the forwarder is plain TCP)",
  "tests/pg_store_test.ts": "the PostgreSQL store's own tests, with a child server on it",
  "tests/server_cli_test.ts": "the server's command line, in a child process",
  "tests/store_lock_test.ts": "SQLite write locks",
  "tests/tls_test.ts": "the TLS listener (the forwarder is plain TCP)",
  "tests/web_test.ts": "the browser client over the HTTP listener",
};

/**
 * Tests of the clustered files left out by name, each with why: a limit or a
 * measure that is one process's by nature, a test that opens the SQLite file,
 * or a cluster bug (then listed in docs/cluster.md too). Clustered, they are
 * registered as ignored (tests/_cluster.ts), so a run reports how many.
 */
export const EXCLUDED_TESTS: Readonly<Record<string, string>> = {
  "caps: past --max-per-address a connection gets 503 and is closed; a freed slot is reused":
    "one node's limit by nature: --max-per-address counts the connections of the node it is on",
  "caps: past --max-connections a connection gets 503 'server is full' and is closed":
    "one node's limit by nature: --max-connections counts the connections of the node it is on",
  "brute force: concurrent guesses on many connections cannot get past the limit":
    "one node's limit by nature: --auth-failures counts the failures one node sees",
  "brute force: a flood of registrations from one address hashes only a few at a time":
    "one node's limit by nature: --register-pending counts one node's hashing",
  "hashing: the queue is bounded: registrations beyond it get 429, a login still gets in":
    "one node's limit by nature: --hash-queue is one node's queue",
  "hashing: --register-limit bounds the accounts one address creates per hour":
    "one node's limit by nature: --register-limit counts the accounts one node created",
  "shutdown: queued registrations are refused with 503 and none is created after the signal, within the grace":
    "one node's limit by nature: it counts one registration hashing at the signal; each node hashes one",
  "history: the age limit drops old messages from pages and from the file": "opens the SQLite file",
  "start: stored memberships beyond the caps stay on disk but are not loaded":
    "opens the SQLite file",
  "slow consumer: offline mail being delivered to a reader that stops reading is not stored twice":
    "opens the SQLite file",
};

if (import.meta.main) {
  const args = [
    "test",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-env",
    "--allow-sys",
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

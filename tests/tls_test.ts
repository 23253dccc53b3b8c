import { assertEquals, assertMatch, assertRejects, assertThrows } from "@std/assert";
import { JsonObjectDecoder } from "../lib/protocol/codec.ts";
import { parseServerArgs } from "../lib/cli/server_args.ts";
import { UsageError } from "../lib/cli/parse.ts";
import { parseClientArgs } from "../lib/client/args.ts";
import { guest, now, type Obj, startServer } from "./_helpers.ts";
import { spawnServer } from "./_proc.ts";
import { makeCertificates } from "./_tls.ts";

/** A minimal JIM client over TLS: one request, one answer. */
async function tlsRequest(
  options: { hostname: string; port: number; ca: string },
  request: Obj,
): Promise<{ answer: Obj; conn: Deno.TlsConn }> {
  const conn = await Deno.connectTls({
    hostname: options.hostname,
    port: options.port,
    caCerts: [options.ca],
  });
  await conn.handshake();
  const bytes = new TextEncoder().encode(JSON.stringify(request) + "\n");
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
  return { answer: await readObject(conn), conn };
}

async function readObject(conn: Deno.Conn, timeoutMs = 5000): Promise<Obj> {
  const decoder = new JsonObjectDecoder({ maxObjectBytes: 1 << 16 });
  const buf = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("closed before an answer");
      for (const e of decoder.push(buf.subarray(0, n))) if (e.kind === "object") return e.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

function presence(name: string): Obj {
  return { action: "presence", time: now(), user: { account_name: name } };
}

Deno.test("TLS: a client with the CA talks over TLS to a client on the plain port", async () => {
  await using certs = await makeCertificates();
  await using server = await startServer({
    tls: { port: 0, certFile: certs.certFile, keyFile: certs.keyFile },
  });
  const tlsPort = server.tlsPort!;
  await using plain = await guest(server.port, "plain");
  const { answer, conn } = await tlsRequest(
    { hostname: "127.0.0.1", port: tlsPort, ca: certs.ca },
    presence("secure"),
  );
  try {
    assertEquals(answer.response, 200);
    const msg = { action: "msg", time: now(), to: "plain", from: "secure", message: "over TLS" };
    await conn.write(new TextEncoder().encode(JSON.stringify(msg) + "\n"));
    assertEquals((await readObject(conn)).response, 200);
    assertEquals((await plain.message()).message, "over TLS");
  } finally {
    conn.close();
  }
});

Deno.test("TLS: a host name the certificate does not name is refused by the client", async () => {
  await using certs = await makeCertificates("DNS:jim.example");
  await using server = await startServer({
    tls: { port: 0, certFile: certs.certFile, keyFile: certs.keyFile },
  });
  await assertRejects(
    () => tlsRequest({ hostname: "127.0.0.1", port: server.tlsPort!, ca: certs.ca }, presence("x")),
    Error,
    "not valid for name",
  );
});

Deno.test("TLS: a certificate from another CA is refused by the client", async () => {
  await using certs = await makeCertificates();
  await using other = await makeCertificates();
  await using server = await startServer({
    tls: { port: 0, certFile: certs.certFile, keyFile: certs.keyFile },
  });
  await assertRejects(
    () => tlsRequest({ hostname: "127.0.0.1", port: server.tlsPort!, ca: other.ca }, presence("x")),
    Error,
    "invalid peer certificate",
  );
});

Deno.test("TLS: serve() names a missing or unusable certificate file", async () => {
  await using certs = await makeCertificates();
  await assertRejects(
    () =>
      startServer({ tls: { port: 0, certFile: `${certs.dir}/nope.crt`, keyFile: certs.keyFile } }),
    Error,
    `Cannot read TLS certificate ${certs.dir}/nope.crt: no such file`,
  );
  await assertRejects(
    () => startServer({ tls: { port: 0, certFile: certs.keyFile, keyFile: certs.keyFile } }),
    Error,
    `Cannot use TLS certificate ${certs.keyFile} with key ${certs.keyFile}`,
  );
});

Deno.test("parseServerArgs() reads the TLS flags and refuses them half given", () => {
  const args = parseServerArgs(["--tls-cert", "c.pem", "--tls-key", "k.pem", "--no-plain"]);
  assertEquals(args.tls, { port: 7443, certFile: "c.pem", keyFile: "k.pem" });
  assertEquals(args.plain, false);
  assertEquals(parseServerArgs([]).tls, undefined);
  assertEquals(parseServerArgs([]).plain, true);
  assertEquals(
    parseServerArgs(["--tls-cert", "c", "--tls-key", "k", "--tls-port", "0"]).tls?.port,
    0,
  );
  assertThrows(() => parseServerArgs(["--tls-cert", "c.pem"]), UsageError, "go together");
  assertThrows(() => parseServerArgs(["--no-plain"]), UsageError, "--no-plain: it needs");
  assertThrows(() => parseServerArgs(["--tls-port", "1"]), UsageError, "--tls-port: it needs");
});

/** Waits until the child's log matches `pattern`. */
async function logShows(server: { log(): string }, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pattern.test(server.log())) {
    if (Date.now() > deadline) throw new Error(`log never showed ${pattern}:\n${server.log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("TLS: server.ts --no-plain serves TLS only and re-reads its certificate on SIGHUP", async () => {
  await using certs = await makeCertificates();
  await using next = await makeCertificates(); // a new CA, so the swap can be seen
  await using server = await spawnServer({
    args: [
      "--tls-cert",
      certs.certFile,
      "--tls-key",
      certs.keyFile,
      "--tls-port",
      "0",
      "--no-plain",
    ],
  });
  assertMatch(server.log(), /listening on 127\.0\.0\.1:\d+ \(TLS only\)/);
  const port = server.port;
  const first = await tlsRequest({ hostname: "127.0.0.1", port, ca: certs.ca }, presence("one"));
  assertEquals(first.answer.response, 200);

  // A broken file on SIGHUP: the old certificate stays in use.
  Deno.writeTextFileSync(certs.certFile, "not a certificate\n");
  server.kill("SIGHUP");
  await logShows(server, /Cannot use TLS certificate .*; keeping the old one/);
  const still = await tlsRequest({ hostname: "127.0.0.1", port, ca: certs.ca }, presence("two"));
  assertEquals(still.answer.response, 200);
  still.conn.close();

  // A renewed certificate (from another CA here): new connections get it.
  Deno.copyFileSync(next.certFile, certs.certFile);
  Deno.copyFileSync(next.keyFile, certs.keyFile);
  server.kill("SIGHUP");
  await logShows(server, /TLS certificate .* reloaded/);
  const renewed = await tlsRequest({ hostname: "127.0.0.1", port, ca: next.ca }, presence("three"));
  assertEquals(renewed.answer.response, 200);
  renewed.conn.close();
  await assertRejects(
    () => tlsRequest({ hostname: "127.0.0.1", port, ca: certs.ca }, presence("four")),
    Error,
    "invalid peer certificate",
  );
  // The connection made before the swap is still up.
  const msg = { action: "msg", time: now(), to: "three", from: "one", message: "hi" };
  await first.conn.write(new TextEncoder().encode(JSON.stringify(msg) + "\n"));
  assertEquals((await readObject(first.conn)).response, 404);
  first.conn.close();
});

// -- jim's client --

const CLIENT = new URL("../client.ts", import.meta.url).pathname;

async function runClient(args: string[]): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", "--allow-env", "--allow-read", CLIENT, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const out = await child.output();
  clearTimeout(timer);
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("TLS: jim client --tls --ca sends over a verified connection", async () => {
  await using certs = await makeCertificates();
  await using server = await startServer({
    tls: { port: 0, certFile: certs.certFile, keyFile: certs.keyFile },
  });
  await using bob = await guest(server.port, "bob");
  const out = await runClient([
    "127.0.0.1",
    String(server.tlsPort),
    "--tls",
    "--ca",
    certs.caFile,
    "--user",
    "ann",
    "--to",
    "bob",
    "-m",
    "sealed",
  ]);
  assertEquals(out.code, 0, out.stderr);
  const m = await bob.message();
  assertEquals([m.from, m.message], ["ann", "sealed"]);
});

Deno.test("TLS: jim client refuses a wrong host name and an unknown CA, exit 3", async () => {
  await using wrongName = await makeCertificates("DNS:jim.example");
  await using server = await startServer({
    tls: { port: 0, certFile: wrongName.certFile, keyFile: wrongName.keyFile },
  });
  const base = ["127.0.0.1", String(server.tlsPort), "--tls", "--retries", "0", "--user", "ann"];
  const named = await runClient([...base, "--ca", wrongName.caFile, "--to", "x", "-m", "hi"]);
  assertEquals(named.code, 3, named.stderr);
  assertMatch(
    named.stderr,
    new RegExp(
      `Cannot connect to 127\\.0\\.0\\.1:${server.tlsPort} over TLS: .*not valid for name`,
    ),
  );
  const unknown = await runClient([...base, "--to", "x", "-m", "hi"]);
  assertEquals(unknown.code, 3, unknown.stderr);
  assertMatch(unknown.stderr, /over TLS: invalid peer certificate/);
});

Deno.test("parseClientArgs() reads --tls and --ca; TLS's default port is 7443", () => {
  const args = parseClientArgs(["--tls", "--ca", "ca.pem", "chat.example"]);
  assertEquals([args.tls, args.caFile, args.port], [true, "ca.pem", 7443]);
  assertEquals(parseClientArgs(["--tls", "h", "7000"]).port, 7000);
  assertEquals(parseClientArgs(["h"]).tls, false);
  assertThrows(() => parseClientArgs(["--ca", "ca.pem", "h"]), UsageError, "--ca: it needs --tls");
});

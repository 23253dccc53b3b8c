/**
 * The client as a process (`deno run client.ts …`) with piped stdin and
 * stdout, against a real server started in this process.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { SERVER_DEFAULTS } from "../lib/server/options.ts";
import { guest, login, now, register, startServer, tempDir } from "./_helpers.ts";

const CLIENT = new URL("../client.ts", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function command(
  args: string[],
  env: Record<string, string> = {},
  stdin: "piped" | "null" = "piped",
) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      CLIENT,
      ...args,
    ],
    stdin,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  });
}

/** Runs the client with `input` on stdin and waits for it to exit. */
async function run(args: string[], input = "", env: Record<string, string> = {}): Promise<Run> {
  const child = command(args, env).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A running client whose stdout can be waited on line by line. */
class LiveClient {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #stdout = "";
  #stderr = "";
  #wake: (() => void)[] = [];
  readonly #reading: Promise<void>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.#child = command(args, env).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const decoder = new TextDecoder();
    const pump = async (stream: ReadableStream<Uint8Array>, err: boolean) => {
      for await (const chunk of stream) {
        if (err) this.#stderr += decoder.decode(chunk);
        else this.#stdout += decoder.decode(chunk);
        for (const w of this.#wake.splice(0)) w();
      }
    };
    this.#reading = Promise.all([pump(this.#child.stdout, false), pump(this.#child.stderr, true)])
      .then(() => {
        for (const w of this.#wake.splice(0)) w();
      });
  }

  get stdout(): string {
    return this.#stdout;
  }

  async line(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text + "\n"));
  }

  /** Waits until stdout contains `text` (fails after 10 s with what was printed). */
  async waitFor(text: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.#stdout.includes(text)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no "${text}" in stdout:\n${this.#stdout}\nstderr:\n${this.#stderr}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#wake.push(r);
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  /** Closes stdin and waits for exit. */
  async finish(): Promise<Run> {
    await this.#writer.close();
    const status = await this.#child.status;
    await this.#reading;
    return { code: status.code, stdout: this.#stdout, stderr: this.#stderr };
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

Deno.test("client process: piped lines join a room, message it and /msg someone", async () => {
  await using server = await startServer();
  await using bob = await guest(server.port, "bob");
  const r = await run(
    ["127.0.0.1", String(server.port), "--user", "alice"],
    "/join #general\nhello room\n/msg bob hi bob\n",
  );
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, `Signed in as guest alice on 127.0.0.1:${server.port}`);
  assertStringIncludes(r.stdout, "[#general] -- You created and joined #general");
  const m = await bob.message();
  assertEquals([m.from, m.to, m.message], ["alice", "bob", "hi bob"]);
  assertEquals(r.stderr, "");
});

Deno.test("client process: --to sends every stdin line there and prints incoming messages", async () => {
  await using server = await startServer();
  await using bob = await guest(server.port, "bob");
  const alice = new LiveClient([
    "127.0.0.1",
    String(server.port),
    "--user",
    "alice",
    "--to",
    "bob",
  ]);
  await alice.waitFor("Signed in as guest alice");
  await alice.line("first");
  assertEquals((await bob.message()).message, "first");
  await bob.request({
    action: "msg",
    time: now(),
    to: "alice",
    encoding: "utf-8",
    message: "Привет, alice 😀",
  });
  await alice.waitFor("[bob] <bob> Привет, alice 😀");
  await alice.line("second");
  assertEquals((await bob.message()).message, "second");
  const r = await alice.finish();
  assertEquals(r.code, 0, r.stderr);
});

Deno.test("client process: --to/--message exits 0 on 202 and prints the sentence", async () => {
  await using server = await startServer();
  await register(server.port, "bob");
  // Only an account may leave offline mail.
  await register(server.port, "alice", "open sesame");
  const r = await run(
    [
      "127.0.0.1",
      String(server.port),
      "--user",
      "alice",
      "--login",
      "--to",
      "bob",
      "-m",
      "see you",
    ],
    "",
    { JIM_PASSWORD: "open sesame" },
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, "bob is offline; the message will be delivered when they log in\n");
  await using bob = await login(server.port, "bob");
  assertEquals((await bob.message()).message, "see you");
});

Deno.test("client process: --to/--message exits 1 with the server's refusal", async () => {
  await using server = await startServer();
  const r = await run([
    "127.0.0.1",
    String(server.port),
    "--user",
    "alice",
    "--to",
    "nobody",
    "-m",
    "hi",
  ]);
  assertEquals(r.code, 1);
  assertEquals(r.stderr.trim(), "Not sent: nobody called nobody is online or registered");
});

Deno.test("client process: a refused connection is one plain line and exit 3", async () => {
  const port = freePort();
  const r = await run(["127.0.0.1", String(port), "--user", "alice"]);
  assertEquals(r.code, 3);
  assertEquals(r.stderr, `Cannot connect to 127.0.0.1:${port}: connection refused\n`);
});

Deno.test("client process: bad usage is one line plus usage, exit 2", async () => {
  for (const args of [["127.0.0.1", "70000"], [], ["127.0.0.1", "--frob"]]) {
    const r = await run(["--user", "alice", ...args]);
    assertEquals(r.code, 2, args.join(" "));
    const lines = r.stderr.trim().split("\n");
    assert(lines[0]!.startsWith("jim client: Cannot "), r.stderr);
    assertEquals(lines[1], "Usage: jim client [OPTIONS] ADDR [PORT]");
    assert(!r.stderr.includes("    at "), r.stderr);
  }
  const help = await run(["--help"]);
  assertEquals(help.code, 0);
  assertStringIncludes(help.stdout, "Exit codes:");
});

Deno.test("client process: --register then --login read JIM_PASSWORD", async () => {
  await using server = await startServer();
  const env = { JIM_PASSWORD: "open sesame" };
  const reg = await run(
    ["127.0.0.1", String(server.port), "--user", "carol", "--register"],
    "",
    env,
  );
  assertEquals(reg.code, 0, reg.stderr);
  assertStringIncludes(reg.stdout, "Account carol created");
  assertStringIncludes(reg.stdout, "Logged in as carol");
  const bad = await run(["127.0.0.1", String(server.port), "--user", "carol", "--login"], "", {
    JIM_PASSWORD: "wrong one",
  });
  assertEquals(bad.code, 1);
  assertEquals(bad.stderr, "Cannot log in: wrong account name or password\n");
  const none = await run(["127.0.0.1", String(server.port), "--user", "carol", "--login"]);
  assertEquals(none.code, 2);
  assertStringIncludes(none.stderr, "JIM_PASSWORD is not set");
});

Deno.test("client process: unknown commands get a hint and exit 1; --log-dir keeps history", async () => {
  await using server = await startServer();
  await using dir = await tempDir();
  await using bob = await guest(server.port, "bob");
  const r = await run(
    ["127.0.0.1", String(server.port), "--user", "alice", "--log-dir", dir.path],
    "/frob\n/msg bob logged line\n",
  );
  assertEquals(r.code, 1);
  assertStringIncludes(r.stderr, "Unknown command /frob");
  assertEquals((await bob.message()).message, "logged line");
  const log = await Deno.readTextFile(`${dir.path}/bob.log`);
  assert(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d <alice> logged line$/m.test(log), log);
});

Deno.test("client process: a one-shot --login prints the offline mail waiting for it, and the store keeps none", async () => {
  await using server = await startServer();
  await register(server.port, "carol");
  await register(server.port, "bob");
  await register(server.port, "alice");
  {
    await using a = await login(server.port, "alice");
    for (const message of ["first", "second"]) {
      const r = await a.request({ action: "msg", time: now(), to: "carol", message });
      assertEquals(r.response, 202);
    }
  }
  const env = { JIM_PASSWORD: "correct horse" };
  const r = await run(["127.0.0.1", String(server.port), "--user", "carol", "--login"], "", env);
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, "<alice> first\n");
  assertStringIncludes(r.stdout, "<alice> second\n");
  {
    await using a = await login(server.port, "alice");
    const r = await a.request({ action: "msg", time: now(), to: "carol", message: "third" });
    assertEquals(r.response, 202);
  }
  const one = await run(
    ["127.0.0.1", String(server.port), "--user", "carol", "--login", "--to", "bob", "-m", "hi"],
    "",
    env,
  );
  assertEquals(one.code, 0, one.stderr);
  assertStringIncludes(one.stdout, "<alice> third\n");
  assert(!one.stdout.includes("first"), one.stdout);
  // Everything shown was acknowledged: nothing waits any more.
  await using c = await login(server.port, "carol");
  await c.send({ action: "presence", time: now(), user: { account_name: "carol" } });
  assertEquals((await c.response()).response, 200);
  assertEquals(c.inbox.filter((o) => o.action === "msg"), []);
});

/** A listener on a free port that hands each connection to `serve` (not JIM). */
function fakeServer(serve: (conn: Deno.Conn) => Promise<void>): AsyncDisposable & { port: number } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const served: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      served.push(
        serve(conn).catch(() => {}).finally(() => {
          try {
            conn.close();
          } catch { /* closed already */ }
        }),
      );
    }
  })();
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
      await Promise.all(served);
    },
  };
}

async function readAll(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(4096);
  while ((await conn.read(buf)) !== null) { /* ignore it */ }
}

Deno.test("client process: a server that never answers is one line and exit 3 after --handshake-timeout", async () => {
  await using silent = fakeServer(readAll);
  const expected =
    `Cannot talk to 127.0.0.1:${silent.port}: no answer within 0.3 s; is it a JIM server?\n`;
  const base = ["127.0.0.1", String(silent.port), "--user", "alice", "--handshake-timeout", "300"];
  for (const args of [base, [...base, "--to", "bob", "-m", "hi"]]) {
    const r = await run(args);
    assertEquals([r.code, r.stderr], [3, expected], args.join(" "));
  }
});

Deno.test("client process: an HTTP server is one line and exit 3", async () => {
  await using http = fakeServer(async (conn) => {
    await conn.read(new Uint8Array(4096));
    const page = "<html>\n<body>\n<h1>400 Bad Request</h1>\n</body>\n</html>\n";
    await conn.write(
      new TextEncoder().encode(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nConnection: close\r\n" +
          `Content-Length: ${page.length}\r\n\r\n${page}`,
      ),
    );
  });
  const base = ["127.0.0.1", String(http.port), "--user", "alice"];
  for (const args of [base, [...base, "--to", "bob", "-m", "hi"]]) {
    const r = await run(args);
    assertEquals(r.code, 3, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assert(
      lines[0]!.startsWith(`Cannot talk to 127.0.0.1:${http.port}: it does not speak JIM (`),
      r.stderr,
    );
  }
});

Deno.test("client process: 5,000 piped lines against the default rate limit all arrive, in order", async () => {
  await using server = await startServer({
    rateLimit: SERVER_DEFAULTS.rateLimit,
    rateBurst: SERVER_DEFAULTS.rateBurst,
    // bob only reads for the minute this takes: no probe for it.
    probeIntervalMs: 600_000,
  });
  await using bob = await guest(server.port, "bob");
  const count = 5000;
  const input = Array.from({ length: count }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
  const r = await run(["127.0.0.1", String(server.port), "--user", "alice", "--to", "bob"], input);
  assertEquals(r.code, 0, r.stderr.slice(-2000));
  const got: string[] = [];
  while (got.length < count) got.push(String((await bob.message(10_000)).message));
  assertEquals(got, Array.from({ length: count }, (_, i) => `line ${i + 1}`));
  // Slow enough to report progress, with nothing refused or lost on the way.
  assertStringIncludes(r.stderr, "Sent ");
  assert(!r.stderr.includes("too many requests"), r.stderr.slice(0, 2000));
  assertEquals(bob.inbox.length, 0);
});

Deno.test("client process: 300 double quotes or 639 characters go as several messages that each fit", async () => {
  await using server = await startServer();
  await using bob = await guest(server.port, "bob");
  for (const text of ['"'.repeat(300), "x".repeat(639), "word ".repeat(200).trim()]) {
    const r = await run([
      "127.0.0.1",
      String(server.port),
      "--user",
      "alice",
      "--to",
      "bob",
      "-m",
      text,
    ]);
    assertEquals([r.code, r.stderr], [0, ""]);
    const parts = [String((await bob.message()).message), String((await bob.message()).message)];
    for (const p of parts) assert([...p].length <= 500, String([...p].length));
    assertEquals(parts.join(text.startsWith("word") ? " " : ""), text);
  }
});

/**
 * Every dialect of JIM the course's clients speak, against a real server:
 * Python clients written as students write them (tests/fixtures/dialect_client.py)
 * chat with each other and with a newline-framed jim client, and recorded
 * transcripts are replayed byte for byte, read as those clients read: one
 * recv(1024) and one json.loads per object. Skipped where python3 is missing.
 */
import { assert, assertEquals } from "@std/assert";
import { auth, guest, now, type Obj, RawClient, register, startServer } from "./_helpers.ts";

const script = new URL("./fixtures/dialect_client.py", import.meta.url).pathname;
const python = await new Deno.Command("python3", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One Python client of a dialect, driven by commands on its stdin. */
class PyClient implements AsyncDisposable {
  readonly name: string;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: string[] = [];
  #waiters: Array<() => void> = [];
  #ended = false;
  readonly #reading: Promise<void>;
  readonly #stderr: Promise<string>;

  constructor(dialect: string, port: number, name: string) {
    this.name = name;
    this.#child = new Deno.Command("python3", {
      args: ["-u", script, dialect, String(port), name],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#reading = this.#read();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  async #read(): Promise<void> {
    let pending = "";
    for await (const chunk of this.#child.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        this.#lines.push(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      for (const w of this.#waiters.splice(0)) w();
    }
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Takes the first output line starting with `prefix`, waiting up to `timeoutMs`. */
  async expect(prefix: string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const i = this.#lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return this.#lines.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (this.#ended || left <= 0) {
        try {
          this.#child.kill();
        } catch { /* exited */ }
        const err = await this.#stderr;
        throw new Error(
          `${this.name}: no "${prefix}" (${this.#ended ? "ended" : "timed out"}); output: ${
            JSON.stringify(this.#lines)
          }; stderr: ${err}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  async send(line: string): Promise<void> {
    await this.#stdin.write(encoder.encode(line + "\n"));
  }

  /** Quits as its dialect does; returns what it logged on stderr. */
  async quit(): Promise<string> {
    await this.send("quit");
    await this.expect("BYE");
    await this.#stdin.close().catch(() => {});
    const status = await this.#child.status;
    await this.#reading;
    const err = await this.#stderr;
    assertEquals(status.code, 0, `${this.name} exited with ${status.code}: ${err}`);
    return err;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.#stdin.close();
    } catch { /* closed by quit */ }
    try {
      this.#child.kill();
    } catch { /* exited */ }
    await this.#child.status;
    await this.#reading;
    await this.#stderr;
  }
}

/** A newline-framed client as jim's own writes and reads (see lib/client/connection.ts). */
async function jimClient(port: number, name: string): Promise<RawClient> {
  return await guest(port, name);
}

// -- dialect pairs --

const DIALECTS = ["seed", "lesson8", "lesson8v", "contacts", "c2018"] as const;

Deno.test({
  name: "dialects: every pair of dialects and jim's own client exchange messages both ways",
  ignore: !python,
  async fn() {
    await using server = await startServer();
    const clients: PyClient[] = [];
    try {
      for (const d of DIALECTS) {
        const c = new PyClient(d, server.port, `py_${d}`);
        clients.push(c);
        await c.expect("READY");
      }
      await using jim = await jimClient(server.port, "jim_own");
      for (const a of clients) {
        for (const b of clients) {
          if (a === b) continue;
          const text = `привет ${b.name} от ${a.name}`;
          await a.send(`send ${b.name} ${text}`);
          await a.expect("OK");
          assertEquals(await b.expect("GOT"), `GOT ${a.name} ${text}`);
        }
        // With jim's own client, both ways.
        await a.send(`send jim_own hi jim from ${a.name}`);
        await a.expect("OK");
        const got = await jim.message();
        assertEquals([got.from, got.to, got.message], [a.name, "jim_own", `hi jim from ${a.name}`]);
        assertEquals(
          (await jim.request({ action: "msg", time: now(), to: a.name, message: "hi back" }))
            .response,
          200,
        );
        assertEquals(await a.expect("GOT"), "GOT jim_own hi back");
      }
      // jim's own client saw only messages and answers: no probe, no stray object.
      assertEquals(jim.inbox, []);
      for (const c of clients) assertEquals(await c.quit(), "", `${c.name} logged errors`);
    } finally {
      for (const c of clients) await c[Symbol.asyncDispose]();
    }
  },
});

Deno.test({
  name: "dialects: quit, exit and reconnect leave no error on either side",
  ignore: !python,
  async fn() {
    await using server = await startServer();
    for (let round = 0; round < 2; round++) {
      await using seed = new PyClient("seed", server.port, "reseed");
      await using lesson = new PyClient("lesson8", server.port, "relesson");
      await seed.expect("READY");
      await lesson.expect("READY");
      await seed.send("send relesson round " + round);
      await seed.expect("OK");
      assertEquals(await lesson.expect("GOT"), `GOT reseed round ${round}`);
      assertEquals(await seed.quit(), "");
      assertEquals(await lesson.quit(), "");
      // Both names are free again before the next round connects.
      const deadline = Date.now() + 5000;
      while (server.connections > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assertEquals(server.connections, 0);
    }
  },
});

// -- probes --

Deno.test({
  name: "dialects: idle course clients stay connected through several probe intervals",
  ignore: !python,
  async fn() {
    await using server = await startServer({ probeIntervalMs: 150, probeTimeoutMs: 150 });
    await using lesson = new PyClient("lesson8", server.port, "idle8");
    await using seed = new PyClient("seed", server.port, "idleseed");
    await lesson.expect("READY");
    await seed.expect("READY");
    // jim's own client answers probes: its probes are the clock for this test.
    await using jim = await jimClient(server.port, "clock");
    for (let i = 0; i < 4; i++) {
      await jim.take((o) => o.action === "probe");
      assertEquals(
        (await jim.request({ action: "presence", time: now(), user: { account_name: "clock" } }))
          .response,
        200,
      );
    }
    // Four probe intervals and more have passed: both idle clients still chat.
    assertEquals(
      (await jim.request({ action: "msg", time: now(), to: "idle8", message: "still there?" }))
        .response,
      200,
    );
    assertEquals(await lesson.expect("GOT"), "GOT clock still there?");
    assertEquals(
      (await jim.request({ action: "msg", time: now(), to: "idleseed", message: "and you?" }))
        .response,
      200,
    );
    assertEquals(await seed.expect("GOT"), "GOT clock and you?");
    assertEquals(await lesson.quit(), "");
    assertEquals(await seed.quit(), "");
  },
});

/** A bare peer as the course's clients are: writes objects without newlines, reads with one recv(1024). */
class BareClient implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }
  static async connect(port: number): Promise<BareClient> {
    return new BareClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  async write(text: string): Promise<void> {
    const bytes = encoder.encode(text);
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }
  /** One read of at most 1024 bytes, parsed as one object (null at the end). */
  async recv(timeoutMs = 3000): Promise<Obj | null> {
    const buf = new Uint8Array(1024);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      this.conn.read(buf),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("recv timed out")), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (n === null) return null;
    const text = decoder.decode(buf.subarray(0, n));
    assert(![...text].some((ch) => ch.charCodeAt(0) > 0x7f), `not ASCII: ${text}`);
    return JSON.parse(text);
  }
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** `o` without `time` (the server's own unix seconds, checked to be an integer). */
function untimed(o: Obj | null): Obj | null {
  if (o === null) return null;
  const { time, ...rest } = o;
  assert(Number.isInteger(time), `time ${time} in ${JSON.stringify(o)}`);
  return rest;
}

Deno.test("probes: a bare client someone's contact list named is probed once; not answering costs it nothing", async () => {
  await using server = await startServer({ probeIntervalMs: 100, probeTimeoutMs: 100 });
  await using quiet = await BareClient.connect(server.port);
  await quiet.write(
    '{"action": "presence", "time": 1.5, "type": "status", "user": {"account_name": "quiet", "status": "here"}}',
  );
  assertEquals(untimed(await quiet.recv()), { response: 200, alert: "OK" });
  await using watcher = await jimClient(server.port, "watcher");
  assertEquals(
    (await watcher.request({ action: "add_contact", time: now(), contact: "quiet" })).response,
    200,
  );
  const list = await watcher.request({ action: "get_contacts", time: now() });
  assertEquals([list.response, list.data_list], [202, ["quiet"]]);
  // Asked about: it gets the seed's probe, and does not answer it.
  assertEquals(untimed(await quiet.recv()), { action: "probe" });
  // Several timeouts later it is still connected, and was not probed again:
  // the next thing it reads is a message.
  for (let i = 0; i < 3; i++) {
    await watcher.take((o) => o.action === "probe");
    await watcher.request({ action: "presence", time: now(), user: { account_name: "watcher" } });
  }
  assertEquals(
    (await watcher.request({ action: "msg", time: now(), to: "quiet", message: "ok?" })).response,
    200,
  );
  assertEquals(untimed(await quiet.recv()), {
    action: "msg",
    from: "watcher",
    to: "quiet",
    encoding: "ascii",
    message: "ok?",
  });
});

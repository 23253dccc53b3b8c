/**
 * Every dialect of JIM the course's clients speak, against a real server:
 * Python clients written as students write them (tests/fixtures/dialect_client.py)
 * chat with each other and with a newline-framed jim client, and recorded
 * transcripts are replayed byte for byte, read as those clients read: one
 * recv(1024) and one json.loads per object. Skipped where python3 is missing.
 */
import { assert, assertEquals } from "@std/assert";
import {
  auth,
  guest,
  now,
  type Obj,
  RawClient,
  register,
  startServer,
  tempDir as tempDirFor,
} from "./_helpers.ts";

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
    const log: string[] = [];
    await using server = await startServer({ log: (line) => log.push(line) });
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
      // Nor on the server's side: only the closes each client asked for.
      const deadline = Date.now() + 5000;
      while (server.connections > 1 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assertEquals(log.filter((l) => !/: closing: (quit|exit)$/.test(l)), []);
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
    // A long timeout, so that a loaded machine does not drop the clock client;
    // a probe to either idle client would still show (they log it as an error).
    await using server = await startServer({ probeIntervalMs: 150, probeTimeoutMs: 2000 });
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
  await using server = await startServer({ probeIntervalMs: 100, probeTimeoutMs: 300 });
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
  // Six probe intervals of the watcher's: past quiet's probe timeout and the next interval.
  for (let i = 0; i < 6; i++) {
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

// -- recorded transcripts, replayed byte for byte --

Deno.test("transcript: the seed and lesson 8 (both spellings) talk; quit is answered, exit is not", async () => {
  await using server = await startServer();
  await using olga = await BareClient.connect(server.port);
  await using ivan = await BareClient.connect(server.port);
  await olga.write(
    '{"action": "presence", "time": 1795680538.44, "user": {"account_name": "olga"}}',
  );
  assertEquals(untimed(await olga.recv()), { response: 200, alert: "OK" });
  await ivan.write(
    '{"action": "presence", "time": "1795680538.44", "type": "status", "user": {"account_name": "ivan", "status": "here"}}',
  );
  assertEquals(untimed(await ivan.recv()), { response: 200, alert: "OK" });
  // Nanoseconds in `time`, Cyrillic as Python escapes it.
  await ivan.write(
    '{"action": "msg", "time": 1795680540123456789, "to": "olga", "from": "ivan", "encoding": "utf-8", "message": "\\u043f\\u0440\\u0438\\u0432\\u0435\\u0442"}',
  );
  assertEquals(untimed(await ivan.recv()), { response: 200, alert: "OK" });
  // olga has not said which names she uses: both spellings.
  assertEquals(untimed(await olga.recv()), {
    action: "message",
    from: "ivan",
    to: "olga",
    sender: "ivan",
    destination: "olga",
    mess_text: "привет",
    message_text: "привет",
  });
  await olga.write(
    '{"action": "message", "time": "08:08:30", "sender": "olga", "destination": "ivan", "message_text": "hi ivan"}',
  );
  assertEquals(untimed(await ivan.recv()), {
    action: "msg",
    from: "olga",
    to: "ivan",
    encoding: "utf-8",
    message: "hi ivan",
  });
  await ivan.write(
    '{"action": "msg", "time": 1795680541.5, "to": "olga", "from": "ivan", "encoding": "ascii", "message": "again"}',
  );
  assertEquals(untimed(await ivan.recv()), { response: 200, alert: "OK" });
  // No answer to her message came first: the next thing she reads is this,
  // in her own spelling now.
  assertEquals(untimed(await olga.recv()), {
    action: "message",
    sender: "ivan",
    destination: "olga",
    message_text: "again",
  });
  // A failed message is answered, with a classic code.
  await olga.write(
    '{"action": "message", "time": 1795680542, "sender": "olga", "destination": "nobody", "message_text": "x"}',
  );
  assertEquals(untimed(await olga.recv()), {
    response: 404,
    error: "Cannot send to nobody: no such user",
  });
  await ivan.write('{"action": "quit"}');
  assertEquals(untimed(await ivan.recv()), { response: 200, alert: "OK" });
  assertEquals(await ivan.recv(), null);
  await olga.write('{"action": "exit", "time": 1795680550.0, "account_name": "olga"}');
  assertEquals(await olga.recv(), null);
});

Deno.test("transcript: the contacts lessons and the 2018 contact list share one list per name", async () => {
  await using server = await startServer();
  await using ivan = await BareClient.connect(server.port);
  await ivan.write(
    '{"action": "presence", "time": 1795680538, "type": "status", "user": {"account_name": "ivan", "status": "here"}}',
  );
  assertEquals(untimed(await ivan.recv()), { response: 200, alert: "OK" });
  await using anna = await BareClient.connect(server.port);
  await anna.write(
    '{"action": "presence", "time": 1795680538.44, "user": {"account_name": "anna", "pubkey": "-----BEGIN PUBLIC KEY-----\\nMIIB\\n-----END PUBLIC KEY-----"}}',
  );
  assertEquals(untimed(await anna.recv()), { response: 200, alert: "OK" });
  await anna.write('{"action": "get_users", "time": 1795680538.5, "account_name": "anna"}');
  assertEquals(untimed(await anna.recv()), {
    response: 202,
    alert: ["ivan", "anna"],
    data_list: ["ivan", "anna"],
  });
  await anna.write(
    '{"action": "add", "user": "anna", "time": 1795680539.0, "account_name": "ivan"}',
  );
  assertEquals(untimed(await anna.recv()), { response: 200, alert: "ivan added to contacts" });
  await anna.write('{"action": "get_contacts", "time": 1795680539.5, "user": "anna"}');
  assertEquals(untimed(await anna.recv()), {
    response: 202,
    alert: ["ivan"],
    data_list: ["ivan"],
  });
  await anna.write(
    '{"action": "message", "sender": "anna", "destination": "ivan", "time": 1795680540.0, "mess_text": "hi"}',
  );
  // These clients wait for the answer to each message.
  assertEquals(untimed(await anna.recv()), { response: 200, alert: "OK" });
  assertEquals((await ivan.recv())?.message, "hi");
  await anna.write('{"action": "pubkey_need", "time": 1795680541, "account_name": "anna"}');
  assertEquals(untimed(await anna.recv()), {
    response: 511,
    bin: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
  });

  // A 2018 client arrives: anna, who asked for the users, is told (205).
  await using petr = await BareClient.connect(server.port);
  await petr.write(
    '{"action": "presence", "time": "2018-05-01-12.00.00", "type": "status", "user": {"account_name": "petr", "status": "Yep, I am here!"}}',
  );
  assertEquals(untimed(await petr.recv()), { response: 200, alert: "OK" });
  assertEquals(untimed(await anna.recv()), {
    response: 205,
    alert: "the list of users online changed",
    action: "users_changed",
  });
  for (const name of ["ivan", "anna"]) {
    await petr.write(
      `{"action": "add_contact", "user_id": "${name}", "time": "2018-05-01-12.00.01"}`,
    );
    assertEquals(untimed(await petr.recv()), { response: 200, alert: `${name} added to contacts` });
  }
  await petr.write('{"action": "get_contacts", "time": "2018-05-01-12.00.02"}');
  assertEquals(untimed(await petr.recv()), { response: 202, alert: "2 contacts", quantity: 2 });
  // Each in its own read, as these clients read them.
  assertEquals(untimed(await petr.recv()), { action: "contact_list", user_id: "ivan" });
  assertEquals(untimed(await petr.recv()), { action: "contact_list", user_id: "anna" });
  await petr.write('{"action": "del_contact", "user_id": "ivan", "time": "2018-05-01-12.00.03"}');
  assertEquals(untimed(await petr.recv()), { response: 200, alert: "ivan removed from contacts" });
  // One list per name, whichever dialect changes it: petr's own `remove`.
  await petr.write('{"action": "remove", "user": "petr", "time": 1, "account_name": "anna"}');
  assertEquals(untimed(await petr.recv()), { response: 200, alert: "anna removed from contacts" });
  await petr.write('{"action": "get_contacts", "time": 2, "user": "petr"}');
  assertEquals(untimed(await petr.recv()), { response: 202, alert: [], data_list: [] });
});

Deno.test("classic codes: a bare seed client gets 400 for the rate limit; jim's own client gets 429", async () => {
  await using server = await startServer({ rateLimit: 1, rateBurst: 1 });
  await using seed = await BareClient.connect(server.port);
  await seed.write(
    '{"action": "presence", "time": 1, "type": "status", "user": {"account_name": "hasty", "status": "x"}}',
  );
  assertEquals(untimed(await seed.recv()), { response: 200, alert: "OK" });
  await seed.write('{"action": "msg", "time": 2, "to": "hasty", "message": "a"}');
  const r = untimed(await seed.recv());
  assertEquals(r, { response: 400, error: "Cannot handle request: too many requests" });
  await using jim = await RawClient.connect(server.port);
  await jim.send({ action: "presence", time: now(), user: { account_name: "modern" } });
  await jim.send({ action: "who", time: now() });
  assertEquals((await jim.response()).response, 200);
  assertEquals((await jim.response()).response, 429);
});

Deno.test("contacts: an account's list persists across logins and restarts; a guest's moves to its account", async () => {
  await using dir = await tempDirFor();
  const dbPath = `${dir.path}/jim.db`;
  {
    await using server = await startServer({ dbPath });
    await register(server.port, "carol");
    await using _bob = await guest(server.port, "bob"); // online, so a contact can name it
    await using c = await RawClient.connect(server.port);
    await c.send({ action: "presence", time: now(), user: { account_name: "guest1" } });
    assertEquals((await c.response()).response, 200);
    assertEquals(
      (await c.request({ action: "add_contact", time: now(), contact: "bob" })).response,
      200,
    );
    assertEquals(
      (await c.request({ action: "add_contact", time: now(), contact: "zed" })).response,
      404,
    );
    assertEquals((await c.request(auth("carol", "correct horse"))).response, 200);
    const list = await c.request({ action: "get_contacts", time: now() });
    assertEquals(list.data_list, ["bob"]);
  }
  await using server = await startServer({ dbPath });
  await using c = await RawClient.connect(server.port);
  assertEquals((await c.request(auth("carol", "correct horse"))).response, 200);
  assertEquals((await c.request({ action: "get_contacts", time: now() })).data_list, ["bob"]);
  assertEquals(
    (await c.request({ action: "del_contact", time: now(), contact: "bob" })).response,
    200,
  );
  assertEquals((await c.request({ action: "get_contacts", time: now() })).data_list, []);
});

// -- jim's own client, the real one --

const CLIENT = new URL("../client.ts", import.meta.url).pathname;

Deno.test({
  name: "dialects: jim's own client (line mode) chats with a client of every dialect, both ways",
  ignore: !python,
  async fn() {
    await using server = await startServer();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-read",
        "--allow-write",
        CLIENT,
        "127.0.0.1",
        String(server.port),
        "--user",
        "jimmy",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const stdin = child.stdin.getWriter();
    let stdout = "";
    let wake: (() => void)[] = [];
    const reading = (async () => {
      for await (const chunk of child.stdout) {
        stdout += decoder.decode(chunk, { stream: true });
        for (const w of wake.splice(0)) w();
      }
    })();
    const stderr = new Response(child.stderr).text();
    async function waitFor(text: string): Promise<void> {
      const deadline = Date.now() + 10_000;
      while (!stdout.includes(text)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no "${text}" in jim's stdout:\n${stdout}`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((r) => {
          wake.push(r);
          timer = setTimeout(r, left);
        });
        clearTimeout(timer);
      }
    }
    const clients: PyClient[] = [];
    try {
      await waitFor("Signed in as guest jimmy");
      for (const d of DIALECTS) {
        const c = new PyClient(d, server.port, `real_${d}`);
        clients.push(c);
        await c.expect("READY");
        await stdin.write(encoder.encode(`/msg ${c.name} привет ${d}\n`));
        assertEquals(await c.expect("GOT"), `GOT jimmy привет ${d}`);
        await c.send(`send jimmy hello from ${d}`);
        await c.expect("OK");
        await waitFor(`<${c.name}> hello from ${d}`);
      }
      for (const c of clients) assertEquals(await c.quit(), "", `${c.name} logged errors`);
      await stdin.close();
      assertEquals((await child.status).code, 0);
      await reading;
      assertEquals(await stderr, "");
    } finally {
      for (const c of clients) await c[Symbol.asyncDispose]();
      try {
        child.kill();
      } catch { /* exited */ }
      await child.status;
      await reading;
      await stderr;
      wake = [];
    }
  },
});

Deno.test("bare peers: objects are written --bare-write-gap apart, each in its own read", async () => {
  await using server = await startServer({ bareWriteGapMs: 80 });
  await using petr = await BareClient.connect(server.port);
  await petr.write(
    '{"action": "presence", "time": 1, "type": "status", "user": {"account_name": "petr", "status": "x"}}',
  );
  assertEquals(untimed(await petr.recv()), { response: 200, alert: "OK" });
  for (const name of ["petr", "petr"]) {
    await petr.write(`{"action": "add_contact", "user_id": "${name}", "time": 1}`);
    await petr.recv();
  }
  await petr.write('{"action": "get_contacts", "time": "2018-05-01-12.00.02"}');
  const arrivals: number[] = [];
  const seen: (Obj | null)[] = [];
  for (let i = 0; i < 2; i++) {
    seen.push(untimed(await petr.recv()));
    arrivals.push(performance.now());
  }
  assertEquals(seen, [
    { response: 202, alert: "1 contact", quantity: 1 },
    { action: "contact_list", user_id: "petr" },
  ]);
  const gap = arrivals[1]! - arrivals[0]!;
  assert(gap >= 60, `objects ${gap.toFixed(1)} ms apart`);
});

Deno.test("transcript: a seed client and jim's own client talk in a room, both ways", async () => {
  await using server = await startServer();
  await using ivan = await BareClient.connect(server.port);
  await ivan.write(
    '{"action": "presence", "time": 1795680538.44, "type": "status", "user": {"account_name": "ivan", "status": "here"}}',
  );
  assertEquals(untimed(await ivan.recv()), { response: 200, alert: "OK" });
  await ivan.write('{"action": "join", "time": 1795680539.0, "room": "#all"}');
  assertEquals(untimed(await ivan.recv()), { response: 201, alert: "room #all created" });
  await using jim = await jimClient(server.port, "jim_own");
  assertEquals((await jim.request({ action: "join", time: now(), room: "#all" })).response, 200);
  await ivan.write(
    '{"action": "msg", "time": 1795680540.0, "to": "#all", "from": "ivan", "encoding": "utf-8", "message": "\\u0432\\u0441\\u0435\\u043c"}',
  );
  assertEquals(untimed(await ivan.recv()), { response: 200, alert: "OK" });
  const got = await jim.message();
  assertEquals([got.from, got.to, got.message], ["ivan", "#all", "всем"]);
  assertEquals(
    (await jim.request({ action: "msg", time: now(), to: "#all", message: "и тебе" })).response,
    200,
  );
  assertEquals(untimed(await ivan.recv()), {
    action: "msg",
    from: "jim_own",
    to: "#all",
    encoding: "ascii",
    message: "и тебе",
  });
});

Deno.test("pubkey_need: an account's announced key is kept while it is offline; a guest's only while online", async () => {
  await using server = await startServer();
  await register(server.port, "kim");
  {
    await using kim = await RawClient.connect(server.port);
    assertEquals((await kim.request(auth("kim", "correct horse"))).response, 200);
    const r = await kim.request({
      action: "presence",
      time: now(),
      user: { account_name: "kim", pubkey: "KIM-KEY" },
    });
    assertEquals(r.response, 200);
    await using guestKey = await RawClient.connect(server.port);
    assertEquals(
      (await guestKey.request({
        action: "presence",
        time: now(),
        user: { account_name: "lee", pubkey: "LEE-KEY" },
      })).response,
      200,
    );
    await using asker = await BareClient.connect(server.port);
    await asker.write('{"action": "presence", "time": 1, "user": {"account_name": "anna"}}');
    await asker.recv();
    await asker.write('{"action": "pubkey_need", "time": 2, "account_name": "lee"}');
    assertEquals(untimed(await asker.recv()), { response: 511, bin: "LEE-KEY" });
  }
  await using anna = await BareClient.connect(server.port);
  await anna.write('{"action": "presence", "time": 1, "user": {"account_name": "anna2"}}');
  await anna.recv();
  await anna.write('{"action": "pubkey_need", "time": 2, "account_name": "kim"}');
  assertEquals(untimed(await anna.recv()), { response: 511, bin: "KIM-KEY" });
  // lee was a guest and has gone: its key went with it.
  const deadline = Date.now() + 5000;
  let answer: Obj | null = null;
  while (Date.now() < deadline) {
    await anna.write('{"action": "pubkey_need", "time": 3, "account_name": "lee"}');
    answer = untimed(await anna.recv());
    if (answer?.response === 404) break;
    await new Promise((r) => setTimeout(r, 20)); // lee's disconnect not seen yet
  }
  assertEquals(answer, {
    response: 404,
    error: "Cannot get the public key of lee: no key announced",
  });
});

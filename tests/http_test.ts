/**
 * The `--http` listener: the page and its headers, /healthz, and JIM over a
 * WebSocket on the same hub as TCP, with the same validation and caps.
 */
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "@std/assert";
import { parseServerArgs, SERVER_HELP } from "../lib/cli/server_args.ts";
import { UsageError } from "../lib/cli/parse.ts";
import {
  CONTENT_SECURITY_POLICY,
  HttpListenError,
  originAllowed,
  parseHttpAddress,
} from "../lib/server/http.ts";
import { guest, now, type Obj, startServer } from "./_helpers.ts";
import { spawnServer } from "./_proc.ts";
import type { JimServer, ServeOptions } from "../lib/server/serve.ts";
import { makeCertificates, type TestCertificates } from "./_tls.ts";

/**
 * Deno's WebSocket takes options (an HTTP client trusting the test CA, an
 * Origin header); the DOM types the check also loads know only protocols.
 */
const DenoWebSocket = WebSocket as unknown as new (
  url: string,
  options: { client?: Deno.HttpClient; headers?: HeadersInit },
) => WebSocket;

/** A WebSocket JIM client that records every frame it reads. */
class WsClient implements AsyncDisposable {
  readonly socket: WebSocket;
  readonly frames: string[] = [];
  readonly #inbox: Obj[] = [];
  #waiters: (() => void)[] = [];
  closed = false;
  closeCode: number | null = null;
  readonly done: Promise<void>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.onmessage = (e) => {
      this.frames.push(String(e.data));
      this.#inbox.push(JSON.parse(String(e.data)));
      this.#wake();
    };
    this.done = new Promise((resolve) => {
      socket.onclose = (e) => {
        this.closeCode = e.code;
        this.closed = true;
        this.#wake();
        resolve();
      };
    });
  }

  /** Over wss:// when given an HTTP client that trusts the test CA. */
  static async open(port: number, tls?: Deno.HttpClient): Promise<WsClient> {
    const socket = tls
      ? new DenoWebSocket(`wss://127.0.0.1:${port}/jim`, { client: tls })
      : new WebSocket(`ws://127.0.0.1:${port}/jim`);
    const c = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error("WebSocket did not open"));
    });
    return c;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async take(match: (o: Obj) => boolean, timeoutMs = 3000): Promise<Obj> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const i = this.#inbox.findIndex(match);
      if (i >= 0) return this.#inbox.splice(i, 1)[0]!;
      if (this.closed) throw new Error(`closed; inbox: ${JSON.stringify(this.#inbox)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; inbox: ${JSON.stringify(this.#inbox)}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  response(): Promise<Obj> {
    return this.take((o) => typeof o.response === "number");
  }

  message(): Promise<Obj> {
    return this.take((o) => o.action === "msg");
  }

  request(value: Obj): Promise<Obj> {
    this.socket.send(JSON.stringify(value));
    return this.response();
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("not closed")), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.closed) this.socket.close();
    await this.done;
  }
}

function withHttp(options: ServeOptions = {}): Promise<JimServer> {
  return startServer({ http: { hostname: "127.0.0.1", port: 0 }, ...options });
}

function base(server: JimServer): string {
  return `http://127.0.0.1:${server.http!.port}`;
}

function presence(name: string): Obj {
  return { action: "presence", time: now(), user: { account_name: name } };
}

/** A WebSocket handshake by hand, to see the HTTP answer a browser would get. */
async function handshake(server: JimServer, origin: string): Promise<Response> {
  const r = await fetch(`${base(server)}/jim`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      origin,
    },
  });
  await r.body?.cancel();
  return r;
}

Deno.test("http: GET / serves the page with strict security headers; the script and style too", async () => {
  await using server = await withHttp();
  const page = await fetch(`${base(server)}/`);
  const html = await page.text();
  assertEquals(page.status, 200);
  assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
  assertEquals(page.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
  assertMatch(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
  assertEquals(/script-src[^;]*unsafe-inline/.test(CONTENT_SECURITY_POLICY), false);
  assertEquals(page.headers.get("x-content-type-options"), "nosniff");
  assertEquals(page.headers.get("x-frame-options"), "DENY");
  assertMatch(html, /<script type="module" src="\/app\.js"><\/script>/);
  assertEquals(/<script>/.test(html), false, "no inline script");
  const js = await fetch(`${base(server)}/app.js`);
  assertEquals(js.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert((await js.text()).length > 1000);
  const css = await fetch(`${base(server)}/app.css`);
  assertEquals(css.headers.get("content-type"), "text/css; charset=utf-8");
  await css.body?.cancel();
  const missing = await fetch(`${base(server)}/nope`);
  assertEquals([missing.status, await missing.text()], [404, "Cannot find /nope\n"]);
  const post = await fetch(`${base(server)}/`, { method: "POST", body: "x" });
  assertEquals([post.status, post.headers.get("allow")], [405, "GET, HEAD"]);
  const head = await fetch(`${base(server)}/healthz`, { method: "HEAD" });
  assertEquals([head.status, head.headers.get("content-type")], [200, "application/json"]);
  assertEquals(await head.text(), "");
  await post.body?.cancel();
  const plain = await fetch(`${base(server)}/jim`);
  assertEquals(plain.status, 426);
  await plain.body?.cancel();
});

Deno.test("http: /healthz answers 200 JSON with the connection count and the store's state", async () => {
  await using server = await withHttp();
  await using _tcp = await guest(server.port, "tcp_one");
  await using _ws = await WsClient.open(server.http!.port);
  const r = await fetch(`${base(server)}/healthz`);
  assertEquals(r.status, 200);
  assertEquals(r.headers.get("content-type"), "application/json");
  assertEquals(await r.json(), { status: "up", connections: 2, store: "ok" });
});

Deno.test("http: a WebSocket peer and a TCP peer are two connections on one hub (direct and room)", async () => {
  await using server = await withHttp();
  await using web = await WsClient.open(server.http!.port);
  await using tcp = await guest(server.port, "tcp_bob");
  assertEquals((await web.request(presence("web_amy"))).response, 200);
  assertEquals(
    (await web.request({ action: "msg", time: now(), to: "tcp_bob", message: "привет" }))
      .response,
    200,
  );
  const got = await tcp.message();
  assertEquals([got.from, got.to, got.message], ["web_amy", "tcp_bob", "привет"]);
  const sent = await tcp.request({
    action: "msg",
    time: now(),
    to: "web_amy",
    message: "<b>hi</b>",
  });
  assertEquals(sent.response, 200);
  const back = await web.message();
  assertEquals([back.from, back.message], ["tcp_bob", "<b>hi</b>"]);
  assertEquals((await web.request({ action: "join", time: now(), room: "#mix" })).response, 201);
  assertEquals((await tcp.request({ action: "join", time: now(), room: "#mix" })).response, 200);
  const who = await web.request({ action: "who", time: now(), target: "#mix" });
  assertEquals(who.users.sort(), ["tcp_bob", "web_amy"]);
  await tcp.send({ action: "msg", time: now(), to: "#mix", message: "room hello" });
  assertEquals((await web.message()).message, "room hello");
  // Every frame the server wrote is exactly one object, with no newline.
  for (const f of web.frames) {
    assertEquals(f.includes("\n"), false);
    assertEquals(typeof JSON.parse(f), "object");
  }
});

Deno.test("http: each frame is judged on its own: a broken one gets its 400 at once, the next works", async () => {
  await using server = await withHttp({ maxObjectBytes: 1024 });
  await using web = await WsClient.open(server.http!.port);
  const cases: [string, string][] = [
    ['{"action":"presence"', "Cannot parse request: invalid JSON"],
    [
      '{"action":"presence","time":1}\n{"action":"who","time":1}',
      "Cannot parse request: invalid JSON",
    ],
    ["[1,2]", "Cannot parse request: expected a JSON object"],
    ["", "Cannot parse request: invalid JSON"],
    [
      `{"action":"msg","time":1,"message":"${"x".repeat(2000)}"}`,
      "Cannot parse request: object exceeds 1024 bytes",
    ],
    ['{"action":"fly","time":1}', 'Cannot parse request: unknown action "fly"'],
  ];
  for (const [frame, error] of cases) {
    web.socket.send(frame);
    const r = await web.response();
    assertEquals([r.response, r.error], [400, error], frame.slice(0, 40));
  }
  web.socket.send(new Uint8Array([123, 125]));
  const bin = await web.response();
  assertEquals(bin.response, 400);
  assertMatch(bin.error, /binary frames/);
  assertEquals((await web.request(presence("still_here"))).response, 200);
});

Deno.test("http: a foreign Origin is refused with 403; the served origin and --http-origin ones are let in", async () => {
  await using server = await withHttp({ httpOrigins: ["https://chat.example.org"] });
  const foreign = await handshake(server, "http://evil.example");
  assertEquals(foreign.status, 403);
  const served = await handshake(server, base(server));
  assertEquals(served.status, 101);
  const listed = await handshake(server, "https://chat.example.org");
  assertEquals(listed.status, 101);
  assertEquals(originAllowed("http://localhost:80", "localhost:80", []), true);
  assertEquals(originAllowed("http://localhost:81", "localhost:80", []), false);
  assertEquals(originAllowed("null", "localhost:80", []), false);
});

Deno.test("http: WebSocket connections count toward --max-per-address: 503, then closed", async () => {
  await using server = await withHttp({ maxPerAddress: 1 });
  await using _tcp = await guest(server.port, "first");
  await using web = await WsClient.open(server.http!.port);
  const r = await web.response();
  assertEquals([r.response, r.error], [
    503,
    "Cannot connect: too many connections from your address",
  ]);
  await web.waitClosed();
});

Deno.test("http: the same rate limit as TCP: a flooding WebSocket gets 429 then is closed", async () => {
  await using server = await withHttp({ rateLimit: 1, rateBurst: 2, floodDisconnect: 3 });
  await using web = await WsClient.open(server.http!.port);
  for (let i = 0; i < 8; i++) web.socket.send(JSON.stringify(presence("flood")));
  await web.waitClosed();
  const codes = web.frames.map((f) => JSON.parse(f).response);
  assertEquals(codes.slice(0, 2), [200, 200]);
  assertEquals(codes.slice(2), [429, 429, 429]);
});

Deno.test("http: shutdown sends 101 to WebSocket peers and closes them", async () => {
  const server = await withHttp();
  const web = await WsClient.open(server.http!.port);
  assertEquals((await web.request(presence("leaving"))).response, 200);
  await server.shutdown();
  const notice = await web.take((o) => o.response === 101);
  assertEquals(notice.alert, "server shutting down");
  await web.waitClosed();
});

Deno.test("parseHttpAddress: PORT, ADDR:PORT and [IPv6]:PORT; anything else is null", () => {
  assertEquals(parseHttpAddress("8080", "0.0.0.0"), { hostname: "0.0.0.0", port: 8080 });
  assertEquals(parseHttpAddress("127.0.0.1:0", "0.0.0.0"), { hostname: "127.0.0.1", port: 0 });
  assertEquals(parseHttpAddress("[::1]:8080", "0.0.0.0"), { hostname: "::1", port: 8080 });
  assertEquals(parseHttpAddress("localhost:99999", "0.0.0.0"), null);
  assertEquals(parseHttpAddress("http://x", "0.0.0.0"), null);
  assertEquals(parseHttpAddress("", "0.0.0.0"), null);
});

Deno.test("parseServerArgs(): --http and --http-origin; bad values are usage errors", () => {
  const a = parseServerArgs([
    "-a",
    "127.0.0.1",
    "--http",
    "8080",
    "--http-origin",
    "https://a.example, http://b.example:81",
  ]);
  assertEquals(a.http, { hostname: "127.0.0.1", port: 8080 });
  assertEquals(a.httpOrigins, ["https://a.example", "http://b.example:81"]);
  assertEquals(parseServerArgs([]).http, null);
  assertThrows(
    () => parseServerArgs(["--http", "web"]),
    UsageError,
    'expected PORT or ADDR:PORT, got "web"',
  );
  assertThrows(
    () => parseServerArgs(["--http-origin", "a.example"]),
    UsageError,
    "expected origins like",
  );
  assertMatch(SERVER_HELP, /--http PORT\|ADDR:PORT .*\(default off/s);
});

Deno.test("http: a port in use for --http is a start error naming --http", async () => {
  await using first = await withHttp();
  await assertRejects(
    () => startServer({ http: { hostname: "127.0.0.1", port: first.http!.port } }),
    HttpListenError,
    `Cannot listen on 127.0.0.1:${first.http!.port} (--http): address already in use`,
  );
});

Deno.test("jim server --http: the entry point serves the page and /healthz and logs the address", async () => {
  await using server = await spawnServer({ args: ["--http", "127.0.0.1:0"] });
  const deadline = Date.now() + 10_000;
  let m: RegExpExecArray | null = null;
  while (!(m = /web client on http:\/\/127\.0\.0\.1:(\d+)\//.exec(server.log()))) {
    assert(Date.now() < deadline, `no "web client on" line; log:\n${server.log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const health = await fetch(`http://127.0.0.1:${m[1]}/healthz`);
  assertEquals(await health.json(), { status: "up", connections: 0, store: "ok" });
  const page = await fetch(`http://127.0.0.1:${m[1]}/`);
  assertMatch(await page.text(), /<title>jim<\/title>/);
});

/** One masked client text frame (RFC 6455 5.2). */
function clientFrame(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const n = payload.length;
  const head = n < 126 ? [0x81, 0x80 | n] : [0x81, 0x80 | 126, n >> 8, n & 0xff];
  const mask = [1, 2, 3, 4];
  const out = new Uint8Array(head.length + 4 + n);
  out.set(head);
  out.set(mask, head.length);
  for (let i = 0; i < n; i++) out[head.length + 4 + i] = payload[i]! ^ mask[i % 4]!;
  return out;
}

Deno.test("http: a WebSocket peer that stops reading is dropped like a slow TCP reader, others unharmed", async () => {
  const logs: string[] = [];
  await using server = await withHttp({ maxQueueBytes: 16 * 1024, log: (l) => logs.push(l) });
  // A browser-less WebSocket that upgrades, joins a room, then never reads.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.http!.port });
  try {
    const w = (b: Uint8Array) => conn.write(b);
    await w(new TextEncoder().encode(
      "GET /jim HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    assertMatch(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 101/);
    await w(clientFrame(JSON.stringify(presence("sleepy"))));
    await w(clientFrame(JSON.stringify({ action: "join", time: now(), room: "#busy" })));
    await using talker = await guest(server.port, "talker");
    assertEquals(
      (await talker.request({ action: "join", time: now(), room: "#busy" })).response,
      200,
    );
    const text = "x".repeat(400);
    const deadline = Date.now() + 10_000;
    // Room messages pile up for the sleeper until the server drops it.
    while (!logs.some((l) => l.includes("sleepy: disconnected: too slow to read"))) {
      assert(Date.now() < deadline, `not dropped; log:\n${logs.slice(-5).join("\n")}`);
      const r = await talker.request({ action: "msg", time: now(), to: "#busy", message: text });
      assertEquals(r.response, 200);
    }
    // The talker is still served.
    assertEquals((await talker.request(presence("talker"))).response, 200);
  } finally {
    conn.close();
  }
});

// -- HTTPS: with --tls-cert/--tls-key the --http listener uses the same certificate --

function withHttps(certs: TestCertificates, options: ServeOptions = {}): Promise<JimServer> {
  return withHttp({
    tls: { port: 0, certFile: certs.certFile, keyFile: certs.keyFile },
    ...options,
  });
}

/**
 * Whether a wss:// handshake claiming `origin` is let in. (fetch cannot show
 * the answer as {@linkcode handshake} does: over TLS it speaks HTTP/2, which
 * has no Upgrade.)
 */
async function wssOpens(
  server: JimServer,
  client: Deno.HttpClient,
  origin: string,
): Promise<boolean> {
  const socket = new DenoWebSocket(`wss://127.0.0.1:${server.http!.port}/jim`, {
    client,
    headers: { origin },
  });
  const opened = await new Promise<boolean>((resolve) => {
    socket.onopen = () => resolve(true);
    socket.onerror = () => resolve(false);
  });
  if (opened) {
    const closed = new Promise((r) => socket.onclose = r);
    socket.close();
    await closed;
  }
  return opened;
}

Deno.test("https: with a TLS certificate --http serves HTTPS: /healthz with the CA; an unknown CA is refused", async () => {
  await using certs = await makeCertificates();
  await using server = await withHttps(certs);
  assertEquals(server.http!.scheme, "https");
  using client = Deno.createHttpClient({ caCerts: [certs.ca] });
  const health = await fetch(`https://127.0.0.1:${server.http!.port}/healthz`, { client });
  assertEquals(await health.json(), { status: "up", connections: 0, store: "ok" });
  const page = await fetch(`https://127.0.0.1:${server.http!.port}/`, { client });
  assertEquals(page.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
  assertMatch(await page.text(), /<title>jim<\/title>/);
  await assertRejects(() => fetch(`https://127.0.0.1:${server.http!.port}/healthz`));
});

Deno.test("https: a WebSocket over wss:// chats with a TCP client; the served origin is https://", async () => {
  await using certs = await makeCertificates();
  await using server = await withHttps(certs);
  using client = Deno.createHttpClient({ caCerts: [certs.ca] });
  await using web = await WsClient.open(server.http!.port, client);
  await using tcp = await guest(server.port, "tcp_bob");
  assertEquals((await web.request(presence("web_amy"))).response, 200);
  await web.request({ action: "msg", time: now(), to: "tcp_bob", message: "over wss" });
  assertEquals((await tcp.message()).message, "over wss");
  await tcp.request({ action: "msg", time: now(), to: "web_amy", message: "back" });
  assertEquals((await web.message()).message, "back");
  // The page's own origin is now https://…; http:// of the same host:port is another origin.
  const origin = `127.0.0.1:${server.http!.port}`;
  assertEquals(await wssOpens(server, client, `https://${origin}`), true);
  assertEquals(await wssOpens(server, client, `http://${origin}`), false);
  assertEquals(originAllowed("https://localhost:8443", "localhost:8443", [], "https"), true);
  assertEquals(originAllowed("http://localhost:8443", "localhost:8443", [], "https"), false);
  assertEquals(originAllowed("https://jim.example", "jim.example", [], "https"), false);
});

Deno.test("https: reloadTls serves a new certificate on the same port, keeps the old one on bad files", async () => {
  await using certs = await makeCertificates();
  await using next = await makeCertificates(); // a new CA, so the swap can be seen
  await using server = await withHttps(certs);
  const port = server.http!.port;
  using oldCa = Deno.createHttpClient({ caCerts: [certs.ca] });
  using newCa = Deno.createHttpClient({ caCerts: [next.ca] });
  const healthz = async (client: Deno.HttpClient) =>
    (await fetch(`https://127.0.0.1:${port}/healthz`, { client })).status;
  await using web = await WsClient.open(port, oldCa);
  assertEquals((await web.request(presence("early"))).response, 200);

  Deno.writeTextFileSync(certs.certFile, "not a certificate\n");
  await assertRejects(() => server.reloadTls(), Error, "; keeping the old one");
  assertEquals(await healthz(oldCa), 200);
  assertEquals((await web.request({ action: "who", time: now() })).response, 200);

  Deno.copyFileSync(next.certFile, certs.certFile);
  Deno.copyFileSync(next.keyFile, certs.keyFile);
  await server.reloadTls();
  assertEquals(server.http!.port, port);
  assertEquals(await healthz(newCa), 200);
  // A new connection is refused under the old CA (one already open may be
  // served by the old listener until it ends).
  using oldCaAgain = Deno.createHttpClient({ caCerts: [certs.ca] });
  await assertRejects(() => healthz(oldCaAgain), TypeError);
  // Deno.serve cannot swap certificates: the listener is restarted, and its
  // shutdown closes open WebSockets with 1001 (the web client reconnects).
  await web.waitClosed();
  assertEquals(web.closeCode, 1001);
  await using again = await WsClient.open(port, newCa);
  assertEquals((await again.request(presence("early"))).response, 200);
});

Deno.test("https: reloadTls does not wait for an idle HTTP/2 connection (a browser's) to close", async () => {
  await using certs = await makeCertificates();
  await using next = await makeCertificates();
  await using server = await withHttps(certs);
  const port = server.http!.port;
  // A browser keeps its HTTP/2 connection open, idle, for minutes: the
  // old listener's graceful shutdown waits for it to close.
  const h2 = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [certs.ca],
    alpnProtocols: ["h2"],
  });
  try {
    assertEquals((await h2.handshake()).alpnProtocol, "h2");
    await h2.write(new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    await h2.write(new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0])); // an empty SETTINGS frame
    // The server's SETTINGS: the connection is up.
    assertEquals((await h2.read(new Uint8Array(64)) ?? 0) > 0, true);
    Deno.copyFileSync(next.certFile, certs.certFile);
    Deno.copyFileSync(next.keyFile, certs.keyFile);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reloaded = await Promise.race([
      server.reloadTls().then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 5000)),
    ]).finally(() => clearTimeout(timer));
    assertEquals(reloaded, true, "the reload waited for the idle HTTP/2 connection");
    using newCa = Deno.createHttpClient({ caCerts: [next.ca] });
    const r = await fetch(`https://127.0.0.1:${port}/healthz`, { client: newCa });
    await r.body?.cancel();
    assertEquals(r.status, 200);
  } finally {
    h2.close();
  }
});

Deno.test("jim server --http with --tls-cert: logs https://, and SIGHUP reloads the HTTPS certificate", async () => {
  await using certs = await makeCertificates();
  await using next = await makeCertificates();
  await using server = await spawnServer({
    args: ["--http", "127.0.0.1:0", "--tls-cert", certs.certFile, "--tls-key", certs.keyFile],
  });
  const waitLog = async (pattern: RegExp): Promise<RegExpExecArray> => {
    const deadline = Date.now() + 10_000;
    let m: RegExpExecArray | null;
    while (!(m = pattern.exec(server.log()))) {
      assert(Date.now() < deadline, `log never showed ${pattern}:\n${server.log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return m;
  };
  const port = (await waitLog(/web client on https:\/\/127\.0\.0\.1:(\d+)\//))[1];
  using oldCa = Deno.createHttpClient({ caCerts: [certs.ca] });
  using newCa = Deno.createHttpClient({ caCerts: [next.ca] });
  assertEquals((await fetch(`https://127.0.0.1:${port}/healthz`, { client: oldCa })).status, 200);
  Deno.copyFileSync(next.certFile, certs.certFile);
  Deno.copyFileSync(next.keyFile, certs.keyFile);
  server.kill("SIGHUP");
  await waitLog(/TLS certificate .* reloaded/);
  assertEquals((await fetch(`https://127.0.0.1:${port}/healthz`, { client: newCa })).status, 200);
});

import { assertEquals, assertStringIncludes } from "@std/assert";
import { sniffHttp } from "../lib/protocol/http_sniff.ts";
import { guest, now, RawClient, startServer } from "./_helpers.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

// -- sniffHttp --

Deno.test("sniffHttp() recognises request lines of every method a browser can send", () => {
  for (const method of ["GET", "POST", "PUT", "HEAD", "OPTIONS", "CONNECT", "DELETE", "PATCH"]) {
    assertEquals(sniffHttp(bytes(`${method} / HTTP/1.1\r\n`)), "http", method);
    assertEquals(sniffHttp(bytes(`${method} `)), "http", method);
  }
});

Deno.test("sniffHttp() passes JIM, whitespace and other text as not HTTP", () => {
  for (
    const text of ['{"action":"presence"}', " {", "\n", "[1]", "get / HTTP/1.1", "A B", "{POST "]
  ) {
    assertEquals(sniffHttp(bytes(text)), "jim", text);
  }
  assertEquals(sniffHttp(bytes("ABCDEFGHIJKLMNOPQRSTUVWXYZ ")), "jim");
});

Deno.test("sniffHttp() waits while the first bytes could still be a method", () => {
  assertEquals(sniffHttp(bytes("")), undefined);
  assertEquals(sniffHttp(bytes("PO")), undefined);
  assertEquals(sniffHttp(bytes("OPTIONS")), undefined);
});

// -- the server --

function post(body: string): string {
  return "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n" +
    `Content-Length: ${bytes(body).length}\r\n\r\n${body}`;
}

/** Everything the server wrote, as text, once it has closed. */
async function readAll(c: RawClient): Promise<string> {
  await c.waitClosed();
  const decoder = new TextDecoder();
  return c.chunks.map((chunk) => decoder.decode(chunk)).join("");
}

Deno.test("server closes an HTTP POST carrying JIM objects without executing any", async () => {
  await using server = await startServer();
  await using bob = await guest(server.port, "bob");
  const body = [
    { action: "presence", time: now(), user: { account_name: "page" } },
    { action: "msg", time: now(), to: "bob", from: "page", message: "from a web page" },
  ].map((o) => JSON.stringify(o)).join("\n") + "\n";
  await using page = await RawClient.connect(server.port, { keepChunks: true });
  await page.writeRaw(post(body));
  const answer = await readAll(page);
  assertStringIncludes(answer, "HTTP/1.1 400 Bad Request");
  assertEquals(answer.includes('"response"'), false, answer);
  // Nothing reached bob, and the name was never taken: bob can still talk to it.
  const r = await bob.request({
    action: "msg",
    time: now(),
    to: "page",
    from: "bob",
    message: "?",
  });
  assertEquals(r.response, 404);
  assertEquals(bob.inbox.filter((o) => o.action === "msg"), []);
});

Deno.test("server closes a request line that arrives a byte at a time", async () => {
  await using server = await startServer();
  await using c = await RawClient.connect(server.port, { keepChunks: true });
  c.conn.setNoDelay(true);
  for (const ch of "OPTIONS * HTTP/1.1\r\n") {
    if (c.closed) break;
    await c.writeRaw(ch).catch(() => {});
  }
  assertStringIncludes(await readAll(c), "HTTP/1.1 400");
});

Deno.test("server still reads JIM whose first object arrives in pieces", async () => {
  await using server = await startServer();
  await using c = await RawClient.connect(server.port);
  c.conn.setNoDelay(true);
  const line = JSON.stringify({ action: "presence", time: now(), user: { account_name: "ann" } });
  for (const ch of line.slice(0, 4)) await c.writeRaw(ch);
  await c.writeRaw(line.slice(4) + "\n");
  assertEquals((await c.response()).response, 200);
});

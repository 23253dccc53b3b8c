/**
 * DNS rebinding: a page on an attacker's domain that resolves to this
 * machine has an origin matching its own Host header, so "same origin" alone
 * would let it open the JIM WebSocket and act as a client.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { originAllowed } from "../lib/server/http.ts";
import { startServer } from "./_helpers.ts";

/** A WebSocket handshake written by hand, with the Host a rebound page would send. */
async function handshake(port: number, host: string, origin: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request = [
      "GET /jim HTTP/1.1",
      `Host: ${host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      `Origin: ${origin}`,
      "",
      "",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(request));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0] ?? "";
  } finally {
    conn.close();
  }
}

Deno.test("http: a page under a rebound DNS name cannot open the WebSocket; by address it can", async () => {
  await using server = await startServer({ http: { hostname: "127.0.0.1", port: 0 } });
  const port = server.http!.port;
  const rebound = await handshake(port, `evil.example:${port}`, `http://evil.example:${port}`);
  assertMatch(rebound, /^HTTP\/1\.1 403/);
  const byAddress = await handshake(port, `127.0.0.1:${port}`, `http://127.0.0.1:${port}`);
  assertMatch(byAddress, /^HTTP\/1\.1 101/);
  const local = await handshake(port, `localhost:${port}`, `http://localhost:${port}`);
  assertMatch(local, /^HTTP\/1\.1 101/);
});

Deno.test("originAllowed() trusts a same-origin page only under an address or localhost", () => {
  assertEquals(originAllowed("http://evil.example:80", "evil.example:80", []), false);
  assertEquals(originAllowed("http://chat.example.org", "chat.example.org", []), false);
  assertEquals(
    originAllowed("http://chat.example.org", "chat.example.org", ["http://chat.example.org"]),
    true,
  );
  assertEquals(originAllowed("http://127.0.0.1:8080", "127.0.0.1:8080", []), true);
  assertEquals(originAllowed("http://[::1]:8080", "[::1]:8080", []), true);
  assertEquals(originAllowed("http://localhost", "localhost", []), true);
});

/** The status line and body of `GET /` asked for under `host`. */
async function page(port: number, host: string): Promise<{ status: string; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request = `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buf = new Uint8Array(16384);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    const [head = "", body = ""] = text.split("\r\n\r\n", 2);
    return { status: head.split("\r\n")[0] ?? "", body };
  } finally {
    conn.close();
  }
}

Deno.test("http: the page under a DNS name it would refuse says how to allow it, instead of never connecting", async () => {
  await using server = await startServer({ http: { hostname: "127.0.0.1", port: 0 } });
  const port = server.http!.port;
  const named = await page(port, `chat.example:${port}`);
  assertMatch(named.status, /^HTTP\/1\.1 403/);
  assertMatch(
    named.body,
    new RegExp(`start it with --http-origin http://chat\\.example:${port} to allow this name`),
  );
  const byAddress = await page(port, `127.0.0.1:${port}`);
  assertMatch(byAddress.status, /^HTTP\/1\.1 200/);
  assertMatch(byAddress.body, /<html/i);
});

Deno.test("http: a DNS name listed with --http-origin gets the page", async () => {
  await using server = await startServer({
    http: { hostname: "127.0.0.1", port: 0 },
    httpOrigins: ["http://chat.example"],
  });
  const listed = await page(server.http!.port, "chat.example");
  assertMatch(listed.status, /^HTTP\/1\.1 200/);
});

/**
 * The module graph keeps its layers: data flows one way (socket →
 * connection → hub → store), the codec knows nothing of sockets, the hub
 * nothing of connections, and the client nothing of the server.
 */
import { assertEquals } from "@std/assert";

const root = new URL("../", import.meta.url);

/** Our own modules that `file` imports, as paths from the project root. */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(new URL(file, root));
  const found: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"(\.[^"]+)"/gms)) {
    found.push(new URL(m[1]!, new URL(file, root)).pathname.slice(root.pathname.length));
  }
  return found.sort();
}

function modules(dir: string): string[] {
  return [...Deno.readDirSync(new URL(dir, root))]
    .filter((e) => e.isFile && e.name.endsWith(".ts"))
    .map((e) => `${dir}/${e.name}`)
    .sort();
}

/** Which of our folders each folder may import from. */
const ALLOWED: Record<string, string[]> = {
  "lib/protocol": ["lib/protocol"],
  "lib/auth": [],
  "lib/store": ["lib/protocol", "lib/store"],
  "lib/server": [
    "lib/protocol",
    "lib/auth",
    "lib/store",
    "lib/server",
    "lib/server/handlers",
    "lib/web",
  ],
  "lib/server/handlers": [
    "lib/protocol",
    "lib/auth",
    "lib/store",
    "lib/server",
    "lib/server/handlers",
  ],
  "lib/web": ["lib/web"],
  "lib/client": ["lib/protocol", "lib/cli", "lib/client"],
  "lib/admin": ["lib/auth", "lib/cli", "lib/protocol", "lib/store"],
  "lib/cli": ["lib/cli", "lib/server", "lib/store"],
};

Deno.test("layers: each lib folder imports only the folders below it", () => {
  const wrong: string[] = [];
  for (const [dir, allowed] of Object.entries(ALLOWED)) {
    for (const file of modules(dir)) {
      for (const dep of importsOf(file)) {
        const depDir = dep.slice(0, dep.lastIndexOf("/"));
        if (!allowed.includes(depDir)) wrong.push(`${file} imports ${dep}`);
      }
    }
  }
  assertEquals(wrong, []);
});

Deno.test("layers: the codec, messages and validation do no I/O and import almost nothing", () => {
  assertEquals(importsOf("lib/protocol/codec.ts"), []);
  assertEquals(importsOf("lib/protocol/messages.ts"), []);
  assertEquals(importsOf("lib/protocol/validate.ts"), [
    "lib/protocol/messages.ts",
    "lib/protocol/names.ts",
  ]);
  assertEquals(importsOf("lib/protocol/names.ts"), []);
  for (const file of modules("lib/protocol")) {
    const text = Deno.readTextFileSync(new URL(file, root));
    assertEquals(/\bDeno\.(connect|listen|read|write|open)/.test(text), false, file);
  }
});

Deno.test("layers: the hub sees peers, never connections or sockets; only serve.ts wires parts", () => {
  const hub = importsOf("lib/server/hub.ts");
  assertEquals(hub.includes("lib/server/connection.ts"), false);
  assertEquals(
    /Deno\.(Conn|TcpConn)/.test(Deno.readTextFileSync(new URL("lib/server/hub.ts", root))),
    false,
  );
  const concrete = ["lib/store/sqlite_store.ts", "lib/server/connection.ts"];
  for (const file of modules("lib/server")) {
    if (file === "lib/server/serve.ts") continue;
    for (const dep of importsOf(file)) {
      if (dep === "lib/server/connection.ts" && file !== "lib/server/connection.ts") {
        assertEquals(`${file} imports ${dep}`, "", "only serve.ts may import connection.ts");
      }
      if (dep === "lib/store/sqlite_store.ts") {
        assertEquals(`${file} imports ${dep}`, "", "only serve.ts may pick the store");
      }
    }
  }
  assertEquals(concrete.every((c) => importsOf("lib/server/serve.ts").includes(c)), true);
});

Deno.test("layers: handlers see peers and parts through their context, never sockets or the hub", () => {
  const wrong: string[] = [];
  const sockets = ["connection.ts", "transport.ts", "websocket_transport.ts", "listener.ts"];
  const parts = ["lib/server/sessions.ts", "lib/server/presence.ts"];
  for (const file of [...modules("lib/server/handlers"), ...parts]) {
    for (const dep of importsOf(file)) {
      const base = dep.slice(dep.lastIndexOf("/") + 1);
      if (dep === "lib/server/hub.ts" || dep === "lib/server/serve.ts" || sockets.includes(base)) {
        wrong.push(`${file} imports ${dep}`);
      }
    }
    const text = Deno.readTextFileSync(new URL(file, root));
    if (/Deno\.(Conn|TcpConn|connect|listen)/.test(text)) wrong.push(`${file} uses a socket`);
  }
  assertEquals(wrong, []);
  // The hub wires each area's handlers into one table.
  const hub = importsOf("lib/server/hub.ts");
  for (const area of ["identity", "messaging", "rooms", "contacts"]) {
    assertEquals(hub.includes(`lib/server/handlers/${area}.ts`), true, area);
  }
});

Deno.test("layers: the web client (web/) uses the client core, never the server or the store", () => {
  const wrong: string[] = [];
  for (const file of modules("web")) {
    for (const dep of importsOf(file)) {
      if (
        !dep.startsWith("lib/client/") && !dep.startsWith("lib/protocol/") &&
        !dep.startsWith("web/")
      ) {
        wrong.push(`${file} imports ${dep}`);
      }
    }
  }
  assertEquals(wrong, []);
});

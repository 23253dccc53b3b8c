/**
 * The client's account session against a real server: a session token kept in
 * memory for reconnects (the password as the fallback), /passwd and
 * /delete-account.
 */
import { assert, assertEquals } from "@std/assert";
import { DatabaseSync } from "node:sqlite";
import { ClientCore, type CoreEvent } from "../lib/client/client_core.ts";
import { SERVER_WINDOW } from "../lib/client/conversations.ts";
import { hashPassword } from "../lib/auth/password.ts";
import type { JimServer } from "../lib/server/serve.ts";
import { auth, login, now, RawClient, register, startServer, tempDir } from "./_helpers.ts";

function waitFor(core: ClientCore, pred: (e: CoreEvent) => boolean): Promise<CoreEvent> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error("no such event within 5 s"));
    }, 5000);
    core.on((e) => {
      if (!done && pred(e)) {
        done = true;
        clearTimeout(timer);
        resolve(e);
      }
    });
  });
}

function account(port: number, password = "correct horse"): ClientCore {
  return new ClientCore({
    host: "127.0.0.1",
    port,
    user: "alice",
    auth: "login",
    password,
    reconnect: { minDelayMs: 5, maxDelayMs: 20, retries: 200 },
  });
}

function serverLines(core: ClientCore): string[] {
  return core.conversations.find(SERVER_WINDOW)?.lines.map((l) => l.text) ?? [];
}

/** Restarts a server on the same port and database, with `change` run on the file in between. */
async function restart(
  server: JimServer,
  dbPath: string,
  change: (db: DatabaseSync) => void | Promise<void>,
  log?: (line: string) => void,
): Promise<JimServer> {
  const port = server.port;
  await server.shutdown();
  const db = new DatabaseSync(dbPath);
  try {
    await change(db);
  } finally {
    db.close();
  }
  return await startServer({ dbPath, port, ...(log ? { log } : {}) });
}

Deno.test("ClientCore reconnects with its session token, without the password", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  let server = await startServer({ dbPath });
  try {
    await register(server.port, "alice");
    const core = account(server.port);
    await core.start();
    const back = waitFor(core, (e) => e.type === "state" && e.state === "online");
    // While the server is down, the password changes behind the token's back
    // (raw SQL, so the token stays): only a token login can still succeed.
    const other = await hashPassword("another password", { iterations: 1000 });
    server = await restart(server, dbPath, (db) => {
      db.prepare("UPDATE accounts SET password_hash = ? WHERE name = 'alice'").run(other);
    });
    await back;
    assertEquals(core.authenticated, true);
    assert(
      serverLines(core).some((l) => l.startsWith("Reconnected")),
      serverLines(core).join("\n"),
    );
    await core.quit();
  } finally {
    await server.shutdown();
  }
});

Deno.test("ClientCore falls back to the password when its token is refused", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  const log: string[] = [];
  let server = await startServer({ dbPath });
  try {
    await register(server.port, "alice");
    const core = account(server.port);
    await core.start();
    const back = waitFor(core, (e) => e.type === "state" && e.state === "online");
    server = await restart(server, dbPath, (db) => {
      db.exec("DELETE FROM tokens");
    }, (line) => log.push(line));
    await back;
    assertEquals(core.authenticated, true);
    assert(log.some((l) => l.startsWith('refused token for "alice"')), log.join("\n"));
    // The password login took a new token: a second restart uses it.
    const again = waitFor(core, (e) => e.type === "state" && e.state === "online");
    const other = await hashPassword("another password", { iterations: 1000 });
    server = await restart(server, dbPath, (db) => {
      db.prepare("UPDATE accounts SET password_hash = ? WHERE name = 'alice'").run(other);
    });
    await again;
    assertEquals(core.authenticated, true);
    await core.quit();
  } finally {
    await server.shutdown();
  }
});

Deno.test("ClientCore.passwd() changes the password and keeps a working token", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  let server = await startServer({ dbPath });
  try {
    await register(server.port, "alice");
    const core = account(server.port);
    await core.start();
    const wrong = await core.passwd("wrong wrong", "a new secret");
    assertEquals([wrong.ok, wrong.text], [false, "Cannot change password: wrong password"]);
    const ok = await core.passwd("correct horse", "a new secret");
    assertEquals([ok.ok, ok.text], [true, "Password changed"]);
    // The old token was revoked; the new one brings it back after a restart
    // even though the password changes again behind its back.
    const back = waitFor(core, (e) => e.type === "state" && e.state === "online");
    const other = await hashPassword("a third one", { iterations: 1000 });
    server = await restart(server, dbPath, (db) => {
      db.prepare("UPDATE accounts SET password_hash = ? WHERE name = 'alice'").run(other);
    });
    await back;
    assertEquals(core.authenticated, true);
    await core.quit();
  } finally {
    await server.shutdown();
  }
});

Deno.test("ClientCore.deleteAccount() deletes the account and carries on as a guest of that name", async () => {
  await using server = await startServer();
  await register(server.port, "alice");
  const core = account(server.port);
  await core.start();
  assertEquals((await core.join("#r")).ok, true);
  const outcome = await core.deleteAccount("correct horse");
  assertEquals([outcome.ok, outcome.text], [
    true,
    "Account alice deleted, with its mail and rooms",
  ]);
  assertEquals(core.authenticated, false);
  await using c = await RawClient.connect(server.port);
  assertEquals((await c.request(auth("alice", "correct horse"))).response, 402);
  await register(server.port, "bob");
  await using b = await login(server.port, "bob");
  const who = await b.request({ action: "who", time: now(), target: "alice" });
  assertEquals(who.users, ["alice"], "online again, as a guest");
  // Its membership is gone; the room, kept since an account was in it, lives on empty.
  assertEquals((await b.request({ action: "who", time: now(), target: "#r" })).users, []);
  await core.quit();
});

/**
 * The client's account session against a real server: a session token kept in
 * memory for reconnects (the password as the fallback), /passwd and
 * /delete-account.
 */
import { assert, assertEquals } from "@std/assert";
import { DatabaseSync } from "node:sqlite";
import type { ClientCore } from "../lib/client/client_core.ts";
import { SERVER_WINDOW } from "../lib/client/conversations.ts";
import { hashPassword } from "../lib/auth/password.ts";
import type { JimServer } from "../lib/server/serve.ts";
import { auth, login, now, RawClient, register, startServer, tempDir } from "./_helpers.ts";
import { accountCore, waitFor, windowText } from "./_client.ts";

/**
 * alice, registered, logged in through a ClientCore (that reconnects at once
 * and for long) to a server on a database file that the test may change
 * while the server is down.
 */
class AliceSession implements AsyncDisposable {
  readonly core: ClientCore;
  readonly dbPath: string;
  server: JimServer;

  private constructor(core: ClientCore, dbPath: string, server: JimServer) {
    this.core = core;
    this.dbPath = dbPath;
    this.server = server;
  }

  static async start(dir: string): Promise<AliceSession> {
    const dbPath = `${dir}/jim.db`;
    const server = await startServer({ dbPath });
    const core = accountCore(server.port, "alice", { minDelayMs: 5, maxDelayMs: 20, retries: 200 });
    const session = new AliceSession(core, dbPath, server);
    try {
      await register(server.port, "alice");
      await core.start();
    } catch (error) {
      await session[Symbol.asyncDispose]();
      throw error;
    }
    return session;
  }

  /**
   * Stops the server, runs `change` on its database file, starts it again
   * on the same port and resolves once the core is online again.
   */
  async restart(
    change: (db: DatabaseSync) => void | Promise<void>,
    log?: (line: string) => void,
  ): Promise<void> {
    const back = waitFor(this.core, (e) => e.type === "state" && e.state === "online");
    const port = this.server.port;
    await this.server.shutdown();
    const db = new DatabaseSync(this.dbPath);
    try {
      await change(db);
    } finally {
      db.close();
    }
    this.server = await startServer({ dbPath: this.dbPath, port, ...(log ? { log } : {}) });
    await back;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.core.quit();
    await this.server.shutdown();
  }
}

/** Sets alice's password in the database file (raw SQL, so that her tokens stay). */
async function changePasswordBehindTokens(db: DatabaseSync, password: string): Promise<void> {
  const hash = await hashPassword(password, { iterations: 1000 });
  db.prepare("UPDATE accounts SET password_hash = ? WHERE name = 'alice'").run(hash);
}

Deno.test("ClientCore reconnects with its session token, without the password", async () => {
  await using dir = await tempDir();
  await using alice = await AliceSession.start(dir.path);
  // While the server is down, the password changes behind the token's back:
  // only a token login can still succeed.
  await alice.restart((db) => changePasswordBehindTokens(db, "another password"));
  assertEquals(alice.core.authenticated, true);
  const lines = windowText(alice.core, SERVER_WINDOW);
  assert(lines.some((l) => l.startsWith("Reconnected")), lines.join("\n"));
});

Deno.test("ClientCore falls back to the password when its token is refused", async () => {
  await using dir = await tempDir();
  await using alice = await AliceSession.start(dir.path);
  const log: string[] = [];
  await alice.restart((db) => db.exec("DELETE FROM tokens"), (line) => log.push(line));
  assertEquals(alice.core.authenticated, true);
  assert(log.some((l) => l.startsWith('refused token for "alice"')), log.join("\n"));
  // The password login took a new token: a second restart uses it.
  await alice.restart((db) => changePasswordBehindTokens(db, "another password"));
  assertEquals(alice.core.authenticated, true);
});

Deno.test("ClientCore.passwd() changes the password and keeps a working token", async () => {
  await using dir = await tempDir();
  await using alice = await AliceSession.start(dir.path);
  const wrong = await alice.core.passwd("wrong wrong", "a new secret");
  assertEquals([wrong.ok, wrong.text], [false, "Cannot change password: wrong password"]);
  const ok = await alice.core.passwd("correct horse", "a new secret");
  assertEquals([ok.ok, ok.text], [true, "Password changed"]);
  // The old token was revoked; the new one brings it back after a restart
  // even though the password changes again behind its back.
  await alice.restart((db) => changePasswordBehindTokens(db, "a third one"));
  assertEquals(alice.core.authenticated, true);
});

Deno.test("ClientCore.deleteAccount() deletes the account and carries on as a guest of that name", async () => {
  await using dir = await tempDir();
  await using alice = await AliceSession.start(dir.path);
  const { core, server } = alice;
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
});

import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  auth,
  guest,
  login,
  member,
  now,
  type Obj,
  RawClient,
  register,
  startServer,
  tempDir,
} from "./_helpers.ts";

const t = now;

/** `authenticate` with a password, asking for a session token. */
function remember(name: string, password = "correct horse"): Obj {
  return { ...auth(name, password), remember: true };
}

/** `authenticate` with a session token. */
function resume(name: string, token: string): Obj {
  return { action: "authenticate", time: t(), user: { account_name: name, token } };
}

async function tokenFor(port: number, name: string, password = "correct horse"): Promise<string> {
  await using c = await RawClient.connect(port);
  const r = await c.request(remember(name, password));
  assertEquals(r.response, 200, JSON.stringify(r));
  return r.token;
}

// -- resumable logins --

Deno.test("authenticate: remember returns a 256-bit token that logs in without the password", async () => {
  await using server = await startServer();
  await register(server.port, "alice");
  await using a = await RawClient.connect(server.port);
  const before = now();
  const r = await a.request(remember("alice"));
  assertEquals(r.response, 200);
  assertMatch(r.token, /^[A-Za-z0-9_-]{43}$/);
  const lifetime = 30 * 86400;
  assert(r.expires >= Math.floor(before) + lifetime - 1 && r.expires <= now() + lifetime + 1);
  // A plain login gets no token.
  await register(server.port, "bob");
  await using plain = await login(server.port, "bob");
  assertEquals(plain.inbox.find((o) => o.response === 200)?.token, undefined);
  await a.send({ action: "quit" });
  await a.waitClosed();

  await using again = await RawClient.connect(server.port);
  const resumed = await again.request(resume("alice", r.token));
  assertEquals(resumed.response, 200, JSON.stringify(resumed));
  assertEquals(resumed.token, undefined, "no new token unless asked");
  const who = await plain.request({ action: "who", time: t(), target: "alice" });
  assertEquals(who.users, ["alice"]);
});

Deno.test("authenticate: a wrong, foreign or malformed token is refused, and the connection stays", async () => {
  await using server = await startServer();
  await register(server.port, "alice");
  await register(server.port, "bob");
  const token = await tokenFor(server.port, "alice");
  await using c = await RawClient.connect(server.port);
  const other = token.startsWith("A") ? "B" + token.slice(1) : "A" + token.slice(1);
  const wrong = await c.request(resume("alice", other));
  assertEquals(wrong.response, 402);
  assertEquals(wrong.error, "Cannot authenticate: the token is expired, revoked or unknown");
  assertEquals((await c.request(resume("bob", token))).response, 402, "another account's token");
  assertEquals((await c.request(resume("nobody", token))).response, 402);
  const both = await c.request({
    action: "authenticate",
    time: t(),
    user: { account_name: "alice", password: "correct horse", token },
  });
  assertEquals(both.response, 400);
  assertEquals(both.error, "Cannot parse request: user must hold a password or a token, not both");
  const short = await c.request(resume("alice", token.slice(1)));
  assertEquals(short.error, "Cannot parse request: user.token must be 43 base64url characters");
  const flag = await c.request({ ...remember("alice"), remember: "yes" });
  assertEquals(flag.error, "Cannot parse request: remember must be true or false");
  assertEquals((await c.request(resume("alice", token))).response, 200);
});

Deno.test("authenticate: a token survives a restart, and delivers waiting mail", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  let token: string;
  {
    await using server = await startServer({ dbPath });
    await register(server.port, "jo");
    token = await tokenFor(server.port, "jo");
    await using a = await member(server.port, "ann");
    assertEquals(
      (await a.request({ action: "msg", time: t(), to: "jo", message: "hi" })).response,
      202,
    );
  }
  await using server = await startServer({ dbPath });
  await using j = await RawClient.connect(server.port);
  assertEquals((await j.request(resume("jo", token))).response, 200);
  assertEquals((await j.message()).message, "hi");
});

Deno.test("authenticate: token logins skip the login limits, so many at once from one address all pass", async () => {
  await using server = await startServer({ authFailures: 2 });
  const names = Array.from({ length: 20 }, (_, i) => `u${i}`);
  const tokens: string[] = [];
  for (const name of names) {
    await register(server.port, name);
    tokens.push(await tokenFor(server.port, name));
  }
  const clients = await Promise.all(names.map(() => RawClient.connect(server.port)));
  try {
    const answers = await Promise.all(
      clients.map((c, i) => c.request(resume(names[i]!, tokens[i]!))),
    );
    assertEquals(answers.map((r) => r.response), names.map(() => 200));
  } finally {
    for (const c of clients) await c[Symbol.asyncDispose]();
  }
});

Deno.test("authenticate: a lockout from wrong passwords does not stop a token login", async () => {
  await using server = await startServer({ authFailures: 3 });
  await register(server.port, "alice");
  const token = await tokenFor(server.port, "alice");
  await using c = await RawClient.connect(server.port);
  for (let i = 0; i < 3; i++) {
    assertEquals((await c.request(auth("alice", "wrong wrong"))).response, 402);
  }
  assertEquals((await c.request(auth("alice", "correct horse"))).response, 403);
  assertEquals((await c.request(resume("alice", token))).response, 200);
});

Deno.test("authenticate: an expired token is refused", async () => {
  await using server = await startServer({ tokenLifetimeMs: 1 });
  await register(server.port, "alice");
  const token = await tokenFor(server.port, "alice");
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline) {
    await using c = await RawClient.connect(server.port);
    const r = await c.request(resume("alice", token));
    if (r.response === 402) return;
    assertEquals(r.response, 200);
  }
  throw new Error("the token did not expire within 1 s");
});

Deno.test("authenticate: only the newest --tokens-per-account tokens stay valid", async () => {
  await using server = await startServer({ tokensPerAccount: 2 });
  await register(server.port, "alice");
  const tokens: string[] = [];
  for (let i = 0; i < 3; i++) {
    tokens.push(await tokenFor(server.port, "alice"));
    // Tokens are ordered by the millisecond they were issued.
    const at = Date.now();
    while (Date.now() === at) await Promise.resolve();
  }
  const results: number[] = [];
  for (const token of tokens) {
    await using c = await RawClient.connect(server.port);
    results.push((await c.request(resume("alice", token))).response);
  }
  assertEquals(results, [402, 200, 200]);
});

// -- passwd --

Deno.test("passwd: changes one's own password, revokes every token, and can return a new one", async () => {
  await using server = await startServer();
  await register(server.port, "alice");
  const old = await tokenFor(server.port, "alice");
  await using g = await guest(server.port, "gus");
  const asGuest = await g.request({
    action: "passwd",
    time: t(),
    user: { account_name: "gus", password: "x", new_password: "new password" },
  });
  assertEquals(asGuest.response, 401);
  assertEquals(asGuest.error, "Cannot change password: log in first");

  await using a = await login(server.port, "alice");
  const passwd = (user: Obj, extra: Obj = {}) =>
    a.request({ action: "passwd", time: t(), user, ...extra });
  assertEquals(
    (await passwd({ account_name: "bob", password: "correct horse", new_password: "new password" }))
      .response,
    403,
  );
  const wrong = await passwd({
    account_name: "alice",
    password: "wrong wrong",
    new_password: "new password",
  });
  assertEquals([wrong.response, wrong.error], [402, "Cannot change password: wrong password"]);
  const short = await passwd({
    account_name: "alice",
    password: "correct horse",
    new_password: "x",
  });
  assertEquals(
    short.error,
    "Cannot parse request: user.new_password must have at least 8 characters",
  );
  const ok = await passwd(
    { account_name: "alice", password: "correct horse", new_password: "new password" },
    { remember: true },
  );
  assertEquals(ok.response, 200, JSON.stringify(ok));
  assertMatch(ok.token, /^[A-Za-z0-9_-]{43}$/);
  await a.send({ action: "quit" });
  await a.waitClosed();

  await using c = await RawClient.connect(server.port);
  assertEquals((await c.request(resume("alice", old))).response, 402, "old token revoked");
  assertEquals((await c.request(auth("alice", "correct horse"))).response, 402, "old password");
  assertEquals((await c.request(resume("alice", ok.token))).response, 200, "new token");
  await c.send({ action: "quit" });
  await c.waitClosed();
  await using _d = await login(server.port, "alice", "new password");
});

// -- unregister --

Deno.test("unregister: deletes one's own account with its mail and rooms; the connection stays, logged out", async () => {
  await using server = await startServer();
  await register(server.port, "alice");
  const token = await tokenFor(server.port, "alice");
  await using g = await member(server.port, "gus");
  assertEquals(
    (await g.request({ action: "msg", time: t(), to: "alice", message: "old" })).response,
    202,
  );
  await using a = await login(server.port, "alice");
  assertEquals((await a.message()).message, "old");
  assertEquals((await g.request({ action: "join", time: t(), room: "#r" })).response, 201);
  assertEquals((await a.request({ action: "join", time: t(), room: "#r" })).response, 200);
  await a.send({ action: "quit" });
  await a.waitClosed();
  assertEquals(
    (await g.request({ action: "msg", time: t(), to: "alice", message: "new" })).response,
    202,
  );

  await using b = await login(server.port, "alice");
  await b.take((o) => o.action === "msg" && o.message === "new");
  const unregister = (password: string) =>
    b.request({ action: "unregister", time: t(), user: { account_name: "alice", password } });
  const wrong = await unregister("wrong wrong");
  assertEquals([wrong.response, wrong.error], [402, "Cannot delete account: wrong password"]);
  assertEquals(
    (await g.request({ action: "msg", time: t(), to: "alice", message: "kept" })).response,
    200,
  );
  const ok = await unregister("correct horse");
  assertEquals([ok.response, ok.alert], [200, "account alice deleted"]);
  // Logged out, on the same connection.
  assertEquals(
    (await b.request({ action: "msg", time: t(), to: "gus", message: "x" })).response,
    401,
  );
  const members = await g.request({ action: "who", time: t(), target: "#r" });
  assertEquals(members.users, ["gus"]);
  assertEquals((await g.request({ action: "who", time: t(), target: "alice" })).response, 404);
  assertEquals(
    (await g.request({ action: "msg", time: t(), to: "alice", message: "x" })).response,
    404,
  );
  await using c = await RawClient.connect(server.port);
  assertEquals((await c.request(resume("alice", token))).response, 402, "tokens revoked");
  assertEquals((await c.request(auth("alice", "correct horse"))).response, 402, "account gone");
  // The name is free; a new account of that name gets none of the old mail or rooms.
  await register(server.port, "alice");
  await using n = await login(server.port, "alice");
  assertEquals((await n.request({ action: "who", time: t(), target: "#r" })).users, ["gus"]);
  assertEquals(n.inbox.filter((o) => o.action === "msg"), []);
});

Deno.test("authenticate: a token is never sent to another connection answered in the same second", async () => {
  await using server = await startServer();
  const names = ["a1", "a2", "a3", "a4"];
  for (const name of names) await register(server.port, name);
  const clients = await Promise.all(names.map(() => RawClient.connect(server.port)));
  try {
    // Plain and remembering logins interleaved: shared reply bytes would leak.
    const answers = await Promise.all(
      clients.map((c, i) =>
        c.request(i % 2 === 0 ? auth(names[i]!, "correct horse") : remember(names[i]!))
      ),
    );
    assertEquals(answers.map((r) => r.response), [200, 200, 200, 200]);
    assertEquals(answers.map((r) => typeof r.token), [
      "undefined",
      "string",
      "undefined",
      "string",
    ]);
    assert(answers[1]!.token !== answers[3]!.token);
    const plain = await clients[0]!.request({
      action: "presence",
      time: t(),
      user: { account_name: "a1" },
    });
    assertEquals(plain.token, undefined);
  } finally {
    for (const c of clients) await c[Symbol.asyncDispose]();
  }
});

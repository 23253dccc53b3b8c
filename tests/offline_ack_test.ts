import { assertEquals } from "@std/assert";
import { auth, login, now, type Obj, RawClient, register, startServer } from "./_helpers.ts";

const t = now;

async function mailFor(port: number, to: string, texts: string[]): Promise<void> {
  await using a = await login(port, "sender");
  for (const message of texts) {
    const r = await a.request({ action: "msg", time: t(), to, message });
    assertEquals(r.response, 202, JSON.stringify(r));
  }
}

/** Messages already in the inbox, in order, taken out. */
function messagesIn(c: RawClient): Obj[] {
  const out: Obj[] = [];
  while (c.inbox.some((o) => o.action === "msg")) {
    const i = c.inbox.findIndex((o) => o.action === "msg");
    out.push((c.inbox as Obj[]).splice(i, 1)[0]!);
  }
  return out;
}

/** Logs in and sends a request at once; returns what arrived before its answer. */
async function loginAndSync(port: number, name: string): Promise<{ c: RawClient; mail: Obj[] }> {
  const c = await RawClient.connect(port);
  await c.send(auth(name, "correct horse"));
  await c.send({ action: "presence", time: t(), user: { account_name: name } });
  assertEquals((await c.response()).response, 200);
  assertEquals((await c.response()).response, 200);
  return { c, mail: messagesIn(c) };
}

Deno.test("offline mail: the answer to a request sent right after logging in follows all of the mail", async () => {
  await using server = await startServer();
  await register(server.port, "carol");
  await register(server.port, "sender");
  await mailFor(server.port, "carol", ["one", "two", "three"]);
  const { c, mail } = await loginAndSync(server.port, "carol");
  await using _ = c;
  assertEquals(mail.map((m) => m.message), ["one", "two", "three"]);
  const ids = mail.map((m) => m.id);
  assertEquals(ids.every((id) => Number.isInteger(id)), true, JSON.stringify(mail));
  assertEquals(new Set(ids).size, 3);
});

Deno.test("offline mail: a connection that drops before any later request gets it again, same ids", async () => {
  await using server = await startServer();
  await register(server.port, "carol");
  await register(server.port, "sender");
  await mailFor(server.port, "carol", ["one", "two"]);
  const first: Obj[] = [];
  {
    await using c = await login(server.port, "carol");
    first.push(await c.message(), await c.message());
  }
  // Dropped without a request or quit after the mail: it is still there.
  const { c, mail } = await loginAndSync(server.port, "carol");
  await using _ = c;
  assertEquals(mail.map((m) => [m.message, m.id]), first.map((m) => [m.message, m.id]));
});

Deno.test("offline mail: a request after the mail arrived removes it from the store", async () => {
  await using server = await startServer();
  await register(server.port, "carol");
  await register(server.port, "sender");
  await mailFor(server.port, "carol", ["one", "two"]);
  {
    const { c, mail } = await loginAndSync(server.port, "carol");
    await using _ = c;
    assertEquals(mail.length, 2);
    // This request is read after the mail was written: it acknowledges it.
    assertEquals((await c.request({ action: "who", time: t() })).response, 200);
  }
  const { c, mail } = await loginAndSync(server.port, "carol");
  await using _ = c;
  assertEquals(mail, []);
});

Deno.test("offline mail: a clean quit after the mail arrived removes it from the store", async () => {
  await using server = await startServer();
  await register(server.port, "carol");
  await register(server.port, "sender");
  await mailFor(server.port, "carol", ["one"]);
  {
    const { c, mail } = await loginAndSync(server.port, "carol");
    assertEquals(mail.length, 1);
    await c.send({ action: "quit" });
    await c.waitClosed();
    await c[Symbol.asyncDispose]();
  }
  const { c, mail } = await loginAndSync(server.port, "carol");
  await using _ = c;
  assertEquals(mail, []);
});

/**
 * Contacts with live presence (`contacts` and `contact` pushes) over real TCP.
 */

import { assert, assertEquals } from "@std/assert";
import {
  auth,
  login,
  member,
  now as t,
  type Obj,
  RawClient,
  register,
  startServer,
} from "./_helpers.ts";

function assertShape(r: Obj, code: number): void {
  assertEquals(r.response, code, JSON.stringify(r));
}

/** How long a watcher may take to hear of a change on loopback. */
const PUSH_DEADLINE_MS = 100;

/**
 * Runs `act` and waits for `watcher`'s next `contact` push about `name`;
 * returns it and the milliseconds from the start of `act` to its arrival.
 */
async function pushAfter(
  watcher: RawClient,
  name: string,
  act: () => Promise<unknown>,
): Promise<{ user: Obj; ms: number }> {
  const started = performance.now();
  const pushed = watcher.take((o) => o.action === "contact" && o.user.account_name === name);
  await act();
  const notice = await pushed;
  return { user: notice.user, ms: performance.now() - started };
}

Deno.test("presence: a sees b come online, change status and go offline, within 100 ms; c sees none of it", async () => {
  await using server = await startServer();
  await register(server.port, "b");
  await using a = await member(server.port, "a");
  await using c = await member(server.port, "c");
  const added = await a.request({ action: "contacts", time: t(), add: "b" });
  assertShape(added, 200);
  assertEquals(added.alert, "b added to contacts");
  assertEquals(added.contacts, [{ account_name: "b", state: "offline" }]);
  assertShape(await c.request({ action: "contacts", time: t() }), 200);

  const b = await RawClient.connect(server.port);
  const online = await pushAfter(
    a,
    "b",
    async () => assertShape(await b.request(auth("b", "correct horse")), 200),
  );
  assertEquals(online.user, { account_name: "b", state: "online" });

  const away = await pushAfter(a, "b", async () =>
    assertShape(
      await b.request({
        action: "presence",
        time: t(),
        user: { account_name: "b", status: "at lunch" },
      }),
      200,
    ));
  assertEquals(away.user, { account_name: "b", state: "away", status: "at lunch" });

  const before = Math.floor(Date.now() / 1000);
  const offline = await pushAfter(a, "b", async () => {
    b.close();
    await b.reading;
  });
  assertEquals([offline.user.account_name, offline.user.state], ["b", "offline"]);
  assert(offline.user.last_seen >= before, JSON.stringify(offline.user));
  for (const step of [online, away, offline]) {
    assert(step.ms < PUSH_DEADLINE_MS, `pushed after ${step.ms.toFixed(1)} ms`);
  }
  // The list shows when b was last seen; c, who never added b, was told nothing.
  const list = await a.request({ action: "contacts", time: t() });
  assertEquals(list.contacts, [{
    account_name: "b",
    state: "offline",
    last_seen: offline.user.last_seen,
  }]);
  assertEquals(c.inbox.filter((o) => o.action === "contact"), []);
  const removed = await a.request({ action: "contacts", time: t(), remove: "b" });
  assertEquals([removed.alert, removed.contacts], ["b removed from contacts", []]);
  await using _b2 = await login(server.port, "b");
  assertShape(await a.request({ action: "who", time: t() }), 200);
  assertEquals(a.inbox.filter((o) => o.action === "contact"), []);
});

Deno.test("presence: a guest gets a clear refusal for contacts", async () => {
  await using server = await startServer();
  await using g = await RawClient.connect(server.port);
  assertShape(
    await g.request({ action: "presence", time: t(), user: { account_name: "gus" } }),
    200,
  );
  const r = await g.request({ action: "contacts", time: t(), add: "bob" });
  assertShape(r, 401);
  assertEquals(r.error, "Cannot use contacts: log in to an account first (guests have none)");
});

Deno.test("presence: bad contacts requests get 400 or 404", async () => {
  await using server = await startServer();
  await using a = await member(server.port, "a");
  const cases: [Obj, number, string][] = [
    [{ add: "no such" }, 400, "Cannot parse request: add may hold only"],
    [{ add: "x", remove: "y" }, 400, "Cannot parse request: add and remove cannot come together"],
    [{ show_to: "friends" }, 400, `Cannot parse request: show_to must be "everyone" or "contacts"`],
    [{ add: "a" }, 400, "Cannot parse request: add must not be yourself"],
    [{ add: "ghost" }, 404, "Cannot add ghost to contacts: no such account"],
    [{ remove: "ghost" }, 404, "Cannot remove ghost from contacts: not a contact"],
  ];
  for (const [fields, code, text] of cases) {
    const r = await a.request({ action: "contacts", time: t(), ...fields });
    assertShape(r, code);
    assert(r.error.startsWith(text), r.error);
  }
});

Deno.test("presence: an account that shows itself to its contacts only is hidden from others", async () => {
  await using server = await startServer();
  await using a = await member(server.port, "a");
  await using c = await member(server.port, "c");
  await using b = await member(server.port, "b");
  const hide = await b.request({ action: "contacts", time: t(), show_to: "contacts", add: "a" });
  assertShape(hide, 200);
  assertEquals(hide.show_to, "contacts");
  assertEquals(
    (await a.request({ action: "contacts", time: t(), add: "b" })).contacts,
    [{ account_name: "b", state: "online" }],
  );
  assertEquals(
    (await c.request({ action: "contacts", time: t(), add: "b" })).contacts,
    [{ account_name: "b", state: "offline" }],
  );
  // Not in `who` for c either, nor is its last-seen time.
  const whoAll = await c.request({ action: "who", time: t() });
  assertEquals(whoAll.users.includes("b"), false);
  assertEquals((await c.request({ action: "who", time: t(), target: "b" })).alert, "b is offline");
  // b adds c: c is told b is online.
  const shown = await pushAfter(
    c,
    "b",
    () => b.request({ action: "contacts", time: t(), add: "c" }),
  );
  assertEquals(shown.user, { account_name: "b", state: "online" });
  const hidden = await pushAfter(
    c,
    "b",
    () => b.request({ action: "contacts", time: t(), remove: "c" }),
  );
  assertEquals(hidden.user, { account_name: "b", state: "offline" });
  b.close();
  await b.reading;
  const off = await a.take((o) => o.action === "contact" && o.user.state === "offline");
  assert(typeof off.user.last_seen === "number");
  const forC = await c.request({ action: "contacts", time: t() });
  assertEquals(forC.contacts, [{ account_name: "b", state: "offline" }]);
});

Deno.test("presence: a course client whose list names b is never pushed anything", async () => {
  await using server = await startServer();
  await register(server.port, "b");
  await register(server.port, "d");
  // The contacts lessons' client: bare objects, its own action names.
  await using d = await RawClient.connect(server.port);
  await d.writeRaw(JSON.stringify(auth("d", "correct horse")));
  assertShape(await d.response(), 200);
  await d.writeRaw(JSON.stringify({ action: "add_contact", time: t(), user_id: "b" }));
  assertShape(await d.response(), 200);
  await d.writeRaw(JSON.stringify({ action: "get_contacts", time: t() }));
  await d.take(() => true);
  // A watcher that asked, to know when the changes have happened.
  await using a = await member(server.port, "a");
  assertShape(await a.request({ action: "contacts", time: t(), add: "b" }), 200);
  const b = await login(server.port, "b");
  await a.take((o) => o.action === "contact" && o.user.state === "online");
  b.close();
  await b.reading;
  await a.take((o) => o.action === "contact" && o.user.state === "offline");
  await d.writeRaw(JSON.stringify({ action: "msg", time: t(), to: "d", message: "ping" }));
  await d.take((o) => o.action === "msg");
  await d.take((o) => typeof o.response === "number");
  assertEquals(d.inbox.filter((o) => o.action !== "contact_list"), []);
});

Deno.test("presence: who #room lists a member that shows itself to its contacts only to its contacts", async () => {
  await using server = await startServer();
  await using a = await member(server.port, "a");
  await using b = await member(server.port, "b");
  await using c = await member(server.port, "c");
  assertShape(
    await b.request({ action: "contacts", time: t(), show_to: "contacts", add: "a" }),
    200,
  );
  for (const client of [a, b, c]) {
    assert(
      [200, 201].includes(
        (await client.request({ action: "join", time: t(), room: "#r" })).response,
      ),
    );
  }
  const whoR = (client: RawClient) => client.request({ action: "who", time: t(), target: "#r" });
  const forC = await whoR(c);
  assertShape(forC, 200);
  assertEquals([...forC.users].sort(), ["a", "c"]);
  assertEquals(forC.alert, "2 online in #r");
  assertEquals([...(await whoR(a)).users].sort(), ["a", "b", "c"]);
  assertEquals([...(await whoR(b)).users].sort(), ["a", "b", "c"]);
  // It sees itself online in the server's list too.
  assertEquals((await b.request({ action: "who", time: t() })).users.includes("b"), true);
  // Once b adds c, c sees it too.
  assertShape(await b.request({ action: "contacts", time: t(), add: "c" }), 200);
  assertEquals([...(await whoR(c)).users].sort(), ["a", "b", "c"]);
});

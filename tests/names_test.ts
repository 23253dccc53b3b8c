import { assertEquals, assertNotEquals } from "@std/assert";
import { invisibleIn, NameMap, skeleton } from "../lib/protocol/names.ts";
import { validateRequest } from "../lib/protocol/validate.ts";
import { ProtocolError } from "../lib/protocol/messages.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { guest, now, type Obj, RawClient, register, startServer } from "./_helpers.ts";

// -- skeleton --

Deno.test("skeleton() is one for fullwidth, mathematical bold and Cyrillic look-alikes", () => {
  const forms = ["alice", "ａｌｉｃｅ", "𝐚𝐥𝐢𝐜𝐞", "\u0430lice", "al\u0456ce"];
  for (const form of forms) assertEquals(skeleton(form), skeleton("alice"), form);
  // Confusables across letters and digits, as TS #39 defines them.
  assertEquals(skeleton("rn"), skeleton("m"));
  assertEquals(skeleton("b0b"), skeleton("bOb"));
  assertEquals(skeleton("l1"), skeleton("ll"));
});

Deno.test("skeleton() keeps names apart that do not look alike", () => {
  assertNotEquals(skeleton("alice"), skeleton("Alice"));
  assertNotEquals(skeleton("alice"), skeleton("alicia"));
  assertNotEquals(skeleton("боб"), skeleton("bob"));
  assertNotEquals(skeleton("小明"), skeleton("小朋"));
});

Deno.test("invisibleIn() names the first invisible or filler character", () => {
  assertEquals(invisibleIn("alice"), null);
  assertEquals(invisibleIn("привет_1"), null);
  for (
    const [name, found] of [
      ["alice\u3164", "U+3164"],
      ["\u3164\u3164", "U+3164"],
      ["\u115Fx", "U+115F"],
      ["x\u1160", "U+1160"],
      ["a\u200Db", "U+200D"],
      ["a\u200Cb", "U+200C"],
      ["\uFFA0", "U+FFA0"],
      ["a\u2800", "U+2800"],
      ["a\uFE0F", "U+FE0F"],
      ["a\u00ADb", "U+00AD"],
    ]
  ) {
    assertEquals(invisibleIn(name!), found, JSON.stringify(name));
  }
});

Deno.test("NameMap finds a key that looks like a name, and forgets it when deleted", () => {
  const m = new NameMap<number>();
  m.set("alice", 1);
  assertEquals(m.lookalike("\u0430lice"), "alice");
  assertEquals(m.lookalike("alice"), undefined, "a key is not its own look-alike");
  assertEquals(m.lookalike("bob"), undefined);
  // Old data may hold two look-alike keys: either still finds the other.
  m.set("ａｌｉｃｅ", 2);
  assertEquals(m.lookalike("alice"), "ａｌｉｃｅ");
  m.delete("alice");
  assertEquals(m.lookalike("\u0430lice"), "ａｌｉｃｅ");
  m.delete("ａｌｉｃｅ");
  assertEquals(m.lookalike("\u0430lice"), undefined);
  assertEquals(m.get("alice"), undefined);
});

// -- validation --

function problem(value: Obj): string {
  try {
    validateRequest(value);
  } catch (e) {
    if (e instanceof ProtocolError) return `${e.code} ${e.message}`;
    throw e;
  }
  return "accepted";
}

Deno.test("validateRequest() refuses invisible and filler characters in names and rooms, naming them", () => {
  const presence = (account_name: string) => ({
    action: "presence",
    time: 1,
    user: { account_name },
  });
  assertEquals(
    problem(presence("alice\u3164")),
    "400 Cannot parse request: account_name must not contain invisible or filler characters (U+3164)",
  );
  assertEquals(
    problem(presence("\u3164")),
    "400 Cannot parse request: account_name must not contain invisible or filler characters (U+3164)",
  );
  assertEquals(
    problem({
      action: "register",
      time: 1,
      user: { account_name: "\u115F\u1160", password: "x".repeat(8) },
    }),
    "400 Cannot parse request: account_name must not contain invisible or filler characters (U+115F)",
  );
  assertEquals(
    problem({ action: "join", time: 1, room: "#lob\u200Dby" }),
    "400 Cannot parse request: room must not contain invisible or filler characters (U+200D)",
  );
  assertEquals(problem(presence("ａｌｉｃｅ")), "accepted");
});

// -- the server --

function presence(account_name: string): Obj {
  return { action: "presence", time: now(), user: { account_name } };
}

Deno.test("server: no guest or account can take a name that looks like one in use or registered", async () => {
  await using server = await startServer();
  await register(server.port, "alice");
  await using c = await RawClient.connect(server.port);
  for (const name of ["ａｌｉｃｅ", "𝐚𝐥𝐢𝐜𝐞", "\u0430lice"]) {
    const r = await c.request(presence(name));
    assertEquals(
      [r.response, r.error],
      [409, `Cannot use the name ${name}: it looks like the account alice`],
    );
    const reg = await c.request({
      action: "register",
      time: now(),
      user: { account_name: name, password: "correct horse" },
    });
    assertEquals(
      [reg.response, reg.error],
      [409, `Cannot register ${name}: it looks like the account alice`],
    );
  }
  await using _bob = await guest(server.port, "bob");
  const r = await c.request(presence("b\u043Eb"));
  assertEquals([r.response, r.error], [
    409,
    "Cannot use the name b\u043Eb: it looks like bob, which is in use",
  ]);
  const reg = await c.request({
    action: "register",
    time: now(),
    user: { account_name: "b\u043Eb", password: "correct horse" },
  });
  assertEquals(reg.response, 409);
  // Names that only share letters are fine.
  assertEquals((await c.request(presence("Alice"))).response, 200);
});

Deno.test("server: a room name that looks like an existing room is refused", async () => {
  await using server = await startServer();
  await using g = await guest(server.port, "gus");
  assertEquals((await g.request({ action: "join", time: now(), room: "#lobby" })).response, 201);
  await using h = await guest(server.port, "hal");
  const r = await h.request({ action: "join", time: now(), room: "#l\u043Ebby" });
  assertEquals([r.response, r.error], [409, "Cannot create #l\u043Ebby: it looks like #lobby"]);
  const full = await h.request({ action: "join", time: now(), room: "#ｌｏｂｂｙ" });
  assertEquals(full.response, 409);
  assertEquals((await h.request({ action: "join", time: now(), room: "#lobby" })).response, 200);
});

// -- the store --

Deno.test("SqliteStore.createAccount() refuses a name that looks like an account's", async () => {
  await using store = SqliteStore.open(":memory:");
  assertEquals(await store.createAccount("alice", "h"), true);
  assertEquals(await store.createAccount("\u0430lice", "h"), false);
  assertEquals(await store.createAccount("ａｌｉｃｅ", "h"), false);
  assertEquals(await store.accountLike("𝐚𝐥𝐢𝐜𝐞"), "alice");
  assertEquals(await store.accountLike("alice"), null);
  assertEquals(await store.accountLike("bob"), null);
  assertEquals(await store.createAccount("Alice", "h"), true);
});

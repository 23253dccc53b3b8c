/**
 * The dialect layer on its own: recognition, rewriting requests into jim's
 * shape, and writing answers and pushes back. No sockets.
 */
import { assertEquals, assertThrows } from "@std/assert";
import { classicResponse, clientTime, Dialect } from "../lib/protocol/dialect.ts";
import { type DeliveredMsg, ProtocolError, response } from "../lib/protocol/messages.ts";

const BARE = false;
const FRAMED = true;

const delivered: DeliveredMsg = {
  action: "msg",
  time: 1,
  from: "ivan",
  to: "olga",
  encoding: "utf-8",
  message: "hi",
};

Deno.test("clientTime() takes numbers and strings holding a number or a clock time", () => {
  assertEquals(clientTime(1795680538.44), 1795680538.44);
  assertEquals(clientTime(1795680538440000000), 1795680538440000000);
  assertEquals(clientTime("1795680538.44"), 1795680538.44);
  for (const text of ["08:08:30", "2018-05-01-12.00.00", "Thu Nov 26 09:48:00 2026"]) {
    assertEquals(typeof clientTime(text), "number", text);
  }
  for (const text of ["soon", "", "1".repeat(65) + ":"]) {
    assertThrows(() => clientTime(text), ProtocolError, "time must be a number", text);
  }
  // Not a string: left for validation to refuse.
  assertEquals(clientTime(null), null);
});

Deno.test("Dialect.read() rewrites lesson 8's message in either spelling and answers only failures", () => {
  const d = new Dialect();
  d.read({ action: "presence", time: 1, user: { account_name: "olga" } }, BARE);
  assertEquals(d.rewritesPushes, true);
  assertEquals(d.probes, false);
  const call = d.read(
    { action: "message", time: "2", sender: "olga", destination: "ivan", message_text: "hi" },
    BARE,
  );
  assertEquals(call.value, {
    action: "msg",
    time: 2,
    to: "ivan",
    from: "olga",
    encoding: "utf-8",
    message: "hi",
  });
  assertEquals(call.answering, "failures");
  assertEquals(d.answer(response(200), undefined, call, BARE), []);
  assertEquals(d.answer(response(404, "no"), undefined, call, BARE).length, 1);
  // Pushes follow its own spelling now.
  assertEquals(d.push(delivered), {
    action: "message",
    time: 1,
    sender: "ivan",
    destination: "olga",
    message_text: "hi",
  });
  const exit = d.read({ action: "exit", time: 3, account_name: "olga" }, BARE);
  assertEquals([exit.value, exit.answering], [{ action: "quit" }, "never"]);
});

Deno.test("Dialect.read() tells the seed's presence, lesson 8's and jim's own apart", () => {
  const seed = new Dialect();
  seed.read({ action: "presence", time: 1, type: "status", user: { account_name: "a" } }, BARE);
  assertEquals([seed.rewritesPushes, seed.probes], [false, true]);
  const jim = new Dialect();
  jim.read({ action: "presence", time: 1, user: { account_name: "a" } }, FRAMED);
  assertEquals([jim.rewritesPushes, jim.probes, jim.classic(FRAMED)], [false, true, false]);
  const lesson = new Dialect();
  lesson.read({ action: "presence", time: 1, user: { account_name: "a" } }, BARE);
  assertEquals(lesson.rewritesPushes, true);
  // A `msg` corrects the guess.
  lesson.read({ action: "msg", time: 1, to: "b", message: "x" }, BARE);
  assertEquals(lesson.rewritesPushes, false);
});

Deno.test("Dialect.answer() lists contacts as data_list and alert, or as the 2018 quantity shape", () => {
  const listed = response(202, "2 contacts", { users: ["ivan", "olga"] });
  const lesson = new Dialect();
  const call = lesson.read({ action: "get_contacts", time: 1, user: "anna" }, BARE);
  assertEquals(lesson.answer(listed, { action: "get_contacts", time: 1 }, call, BARE), [
    { response: 202, time: listed.time, alert: ["ivan", "olga"], data_list: ["ivan", "olga"] },
  ]);
  const old = new Dialect();
  const oldCall = old.read({ action: "get_contacts", time: "2018-05-01-12.00.00" }, BARE);
  assertEquals(old.answer(listed, { action: "get_contacts", time: 1 }, oldCall, BARE), [
    { response: 202, time: listed.time, alert: "2 contacts", quantity: 2 },
    { action: "contact_list", time: listed.time, user_id: "ivan" },
    { action: "contact_list", time: listed.time, user_id: "olga" },
  ]);
  // jim's own client (newline-framed) asking the same gets the list shape.
  const jim = new Dialect();
  const jimCall = jim.read({ action: "get_contacts", time: 1 }, FRAMED);
  assertEquals(jim.answer(listed, { action: "get_contacts", time: 1 }, jimCall, FRAMED).length, 1);
});

Deno.test("Dialect.read() maps add/remove and add_contact/del_contact onto one request", () => {
  const d = new Dialect();
  assertEquals(d.read({ action: "add", user: "anna", time: 1, account_name: "ivan" }, BARE).value, {
    action: "add_contact",
    time: 1,
    contact: "ivan",
  });
  assertEquals(d.read({ action: "del_contact", user_id: "ivan", time: 1 }, BARE).value, {
    action: "del_contact",
    time: 1,
    contact: "ivan",
  });
  assertEquals(
    d.read({ action: "add_contact", user_id: "ivan", time: 1, user_login: "anna" }, BARE).value,
    { action: "add_contact", time: 1, contact: "ivan" },
  );
});

Deno.test("classicResponse() sends the x00 of the class with the detail kept", () => {
  assertEquals(classicResponse(response(429, "Cannot handle request: too many requests")), {
    response: 400,
    time: response(200).time,
    error: "Cannot handle request: too many requests",
  });
  assertEquals(classicResponse(response(503, "full")).response, 500);
  assertEquals(classicResponse(response(205)).response, 200);
  const d = new Dialect();
  assertEquals(d.classic(BARE), true);
  // The seed's own authenticate keeps a bare client classic; jim's `who` does not.
  d.read({ action: "authenticate", time: 1, user: { account_name: "a", password: "p" } }, BARE);
  assertEquals(d.classic(BARE), true);
  d.read({ action: "who", time: 1 }, BARE);
  assertEquals(d.classic(BARE), false);
});

Deno.test("Dialect.read() names a lesson-8 message's missing fields in the client's own terms", () => {
  const d = new Dialect();
  assertThrows(
    () => d.read({ action: "message", time: 1, sender: "a", mess_text: "x" }, BARE),
    ProtocolError,
    "message needs destination (or to) as a string",
  );
  assertThrows(
    () => d.read({ action: "message", time: 1, sender: "a", destination: "b" }, BARE),
    ProtocolError,
    "message needs mess_text (or message_text) as a string",
  );
});

Deno.test("Dialect.answer() gives get_contacts with user_login the list shape, not the 2018 one", () => {
  const d = new Dialect();
  const call = d.read(
    { action: "get_contacts", time: "Thu Nov 26 09:48:00 2026", user_login: "a" },
    BARE,
  );
  const listed = response(202, "1 contact", { users: ["b"] });
  assertEquals(d.answer(listed, { action: "get_contacts", time: 1 }, call, BARE), [
    { response: 202, time: listed.time, alert: ["b"], data_list: ["b"] },
  ]);
  // A seed client otherwise: messages are not rewritten, and it may be probed.
  assertEquals([d.rewritesPushes, d.probes], [false, true]);
});

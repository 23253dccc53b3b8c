import { assertEquals } from "@std/assert";
import {
  type Answer,
  describeAnswer,
  describeNotice,
  type RequestContext,
} from "../lib/client/describe.ts";

function answer(code: number, text = "x", extra: Record<string, unknown> = {}): Answer {
  return { code, text, raw: { response: code, ...extra } };
}

Deno.test("describeAnswer() has a sentence for every answer to msg", () => {
  const to: RequestContext = { action: "msg", to: "bob" };
  const room: RequestContext = { action: "msg", to: "#x" };
  const cases: [RequestContext, number, boolean, string][] = [
    [to, 200, true, ""],
    [to, 202, true, "bob is offline; the message will be delivered when they log in"],
    [to, 401, false, "Not sent: you have no name on the server yet (/login or /register)"],
    [to, 404, false, "Not sent: nobody called bob is online or registered"],
    [room, 404, false, "Not sent: there is no room #x; /join #x creates it"],
    [room, 403, false, "Not sent: you are not in #x; /join #x first"],
    [to, 410, false, "Not sent: bob is offline and the server cannot keep messages for them"],
    [to, 429, false, "The server says you are sending too fast: wait a moment and retry"],
    [to, 500, false, "The server failed to handle the request: x"],
    [to, 400, false, "Not sent: the server rejected the message (x)"],
  ];
  for (const [ctx, code, ok, text] of cases) {
    assertEquals(describeAnswer(ctx, answer(code)), { ok, text }, `${code}`);
  } // A 410 gives the server's reason when it has one.
  assertEquals(
    describeAnswer(to, answer(410, "Cannot send to bob: their offline mailbox is full")).text,
    "Not sent to bob: their offline mailbox is full",
  );
});

Deno.test("describeAnswer() words identity answers", () => {
  const g: RequestContext = { action: "presence", name: "alice", guest: true };
  assertEquals(describeAnswer(g, answer(200)).text, "Signed in as guest alice");
  assertEquals(
    describeAnswer(g, answer(401)).text,
    "alice is a registered account: log in with --login (or pick another --user)",
  );
  assertEquals(
    describeAnswer(g, answer(409)).text,
    "The name alice is in use by someone online: pick another --user",
  );
  const a: RequestContext = { action: "authenticate", name: "alice" };
  assertEquals(
    describeAnswer(a, answer(402)).text,
    "Cannot log in: wrong account name or password",
  );
  assertEquals(
    describeAnswer(a, answer(409)).text,
    "Cannot log in: alice is already connected elsewhere",
  );
  const r: RequestContext = { action: "register", name: "alice" };
  assertEquals(describeAnswer(r, answer(201)).text, "Account alice created");
  assertEquals(describeAnswer(r, answer(409)).text, "Cannot register: the name alice is taken");
});

Deno.test("describeAnswer() words rooms and who, including an old server", () => {
  assertEquals(
    describeAnswer({ action: "join", room: "#a" }, answer(201)).text,
    "You created and joined #a",
  );
  assertEquals(describeAnswer({ action: "join", room: "#a" }, answer(200)).text, "You joined #a");
  assertEquals(
    describeAnswer({ action: "leave", room: "#a" }, answer(404)).text,
    "You are not in #a",
  );
  const who: RequestContext = { action: "who", target: "#a" };
  assertEquals(
    describeAnswer(who, answer(200, "2", { users: ["a", "b"] })).text,
    "In #a (2): a, b",
  );
  assertEquals(
    describeAnswer(who, answer(400, 'Cannot parse request: unknown action "who"')),
    { ok: false, text: "/who is not supported by this server" },
  );
  assertEquals(
    describeAnswer({ action: "who", target: "zed" }, answer(404)).text,
    "Nobody called zed is online or registered",
  );
});

Deno.test("describeNotice() words 100, 101 and stray answers", () => {
  assertEquals(describeNotice(answer(101, "bye")).text, "The server is shutting down");
  assertEquals(describeNotice(answer(100, "maintenance")).text, "Server notice: maintenance");
  assertEquals(
    describeNotice(answer(418, "teapot")).text,
    "Unexpected answer from the server: code 418: teapot (418)",
  );
});

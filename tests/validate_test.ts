import { assert, assertEquals, assertThrows } from "@std/assert";
import { ProtocolError } from "../lib/protocol/messages.ts";
import { isClientAnswer, LIMITS, validateRequest } from "../lib/protocol/validate.ts";

function rejects(value: Record<string, unknown>, message: string): void {
  const e = assertThrows(() => validateRequest(value), ProtocolError) as ProtocolError;
  assertEquals(e.code, 400);
  assertEquals(e.message, `Cannot parse request: ${message}`);
}

const T = 1700000000;

Deno.test("validateRequest() accepts each limit at its edge and rejects one past it", () => {
  const name = "n".repeat(LIMITS.name);
  validateRequest({ action: "msg", time: T, to: name, from: name, message: "ж".repeat(500) });
  rejects(
    { action: "msg", time: T, to: "bob", message: "ж".repeat(501) },
    "message exceeds 500 characters",
  );
  rejects({ action: "msg", time: T, to: name + "x", message: "hi" }, "to exceeds 25 characters");
  validateRequest({ action: "join", time: T, room: "#" + "r".repeat(24) });
  rejects({ action: "join", time: T, room: "#" + "r".repeat(25) }, "room exceeds 25 characters");
  rejects({ action: "a".repeat(16), time: T }, "action exceeds 15 characters");
  validateRequest({ action: "presence", time: T, user: { account_name: name } });
  rejects(
    { action: "presence", time: T, user: { account_name: name + "x" } },
    "account_name exceeds 25 characters",
  );
});

Deno.test("validateRequest() counts characters, not UTF-16 units or bytes", () => {
  validateRequest({ action: "msg", time: T, to: "bob", message: "🎉".repeat(500) });
  rejects(
    { action: "msg", time: T, to: "bob", message: "🎉".repeat(501) },
    "message exceeds 500 characters",
  );
});

Deno.test("validateRequest() limits the whole object to 640 characters of compact JSON", () => {
  const big = { action: "msg", time: T, to: "bob", message: "x".repeat(400), pad: "y".repeat(300) };
  rejects(big, "object exceeds 640 characters");
});

Deno.test("validateRequest() checks action and time before anything else", () => {
  rejects({ time: T }, "action must be a string");
  rejects({ action: 5, time: T }, "action must be a string");
  rejects({ action: "msg" }, "time must be a number");
  rejects({ action: "msg", time: "now" }, "time must be a number");
  rejects({ action: "nope" }, "time must be a number");
  rejects({ action: "nope", time: T }, 'unknown action "nope"');
  rejects({ action: "probe", time: T }, "probe is sent by the server only");
  assertEquals(validateRequest({ action: "quit" }), { action: "quit" });
});

Deno.test("validateRequest() checks field types and defaults encoding to ascii", () => {
  rejects({ action: "msg", time: T, to: 5, message: "x" }, "to must be a string");
  rejects({ action: "msg", time: T, to: "bob", message: null }, "message must be a string");
  rejects(
    { action: "msg", time: T, to: "bob", message: "x", encoding: "koi8" },
    'encoding must be "ascii" or "utf-8"',
  );
  rejects({ action: "presence", time: T, user: "bob" }, "user must be an object");
  rejects(
    { action: "presence", time: T, user: { account_name: "a b" } },
    "account_name may hold only letters, digits, '_', '.' and '-'",
  );
  rejects(
    { action: "join", time: T, room: "club" },
    "room must be '#' followed by letters, digits, '_', '.' or '-'",
  );
  rejects(
    { action: "register", time: T, user: { account_name: "bob", password: "short" } },
    "user.password must have at least 8 characters",
  );
  assertEquals(validateRequest({ action: "msg", time: T, to: "bob", message: "x" }), {
    action: "msg",
    time: T,
    to: "bob",
    encoding: "ascii",
    message: "x",
  });
  assertEquals(
    (validateRequest({ action: "msg", time: T, to: "bob", message: "x", encoding: "UTF-8" }) as {
      encoding: string;
    })
      .encoding,
    "utf-8",
  );
});

Deno.test("isClientAnswer() recognises a response without an action", () => {
  assertEquals(isClientAnswer({ response: 200, alert: "ok" }), true);
  assertEquals(isClientAnswer({ response: 200, action: "msg" }), false);
  assertEquals(isClientAnswer({ action: "msg" }), false);
});

Deno.test("validateRequest() judges the object limit from source text exactly as from re-serialising", () => {
  const pad = (n: number) => "x".repeat(n);
  const sources = [
    `{"action":"msg","time":1e20,"to":"bob","message":"${pad(560)}"}`,
    `{"action":"msg","time":1E20,"to":"bob","message":"${pad(560)}"}`,
    `{"action":"msg","time":100000000000000000000,"to":"bob","message":"${pad(560)}"}`,
    `{"action":"msg","time":1,"to":"bob","message":"${pad(500)}","x":[1e20,1e20,1e20,1e20,1e20]}`,
    `{"action": "msg", "time": 1.0, "to": "bob", "message": "${"\\u0436".repeat(100)}"}`,
    `{"action":"msg","time":0.0000001,"to":"bob","message":"${pad(590)}"}`,
  ];
  for (const src of sources) {
    const value = JSON.parse(src);
    const bytes = new TextEncoder().encode(src).length;
    const full = (() => {
      try {
        return validateRequest(value);
      } catch (e) {
        return (e as Error).message;
      }
    })();
    const fast = (() => {
      try {
        return validateRequest(value, bytes, src);
      } catch (e) {
        return (e as Error).message;
      }
    })();
    assertEquals(fast, full, src.slice(0, 60));
  }
  // Under 640 characters as sent, over it as compact JSON: still refused.
  assert(sources[3]!.length < 640);
  rejects(JSON.parse(sources[3]!), "object exceeds 640 characters");
});

Deno.test("validateRequest() reads passwd, unregister and token logins", () => {
  const user = { account_name: "alice", password: "pw", new_password: "long enough" };
  assertEquals(validateRequest({ action: "passwd", time: 1, user, remember: true }), {
    action: "passwd",
    time: 1,
    user,
    remember: true,
  });
  assertEquals(
    validateRequest({ action: "unregister", time: 1, user: { account_name: "a", password: "p" } }),
    { action: "unregister", time: 1, user: { account_name: "a", password: "p" } },
  );
  const token = "A".repeat(43);
  assertEquals(
    validateRequest({ action: "authenticate", time: 1, user: { account_name: "a", token } }),
    { action: "authenticate", time: 1, user: { account_name: "a", token } },
  );
  assertThrows(
    () => validateRequest({ action: "unregister", time: 1, user: { account_name: "a" } }),
    ProtocolError,
    "user.password must be a string",
  );
  assertThrows(
    () =>
      validateRequest({
        action: "authenticate",
        time: 1,
        user: { account_name: "a", token: "A".repeat(42) + "=" },
      }),
    ProtocolError,
    "user.token must be 43 base64url characters",
  );
});

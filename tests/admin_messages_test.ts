import { assertEquals, assertThrows } from "@std/assert";
import { parseAdminRequest } from "../lib/protocol/admin_messages.ts";

Deno.test("parseAdminRequest() reads each command", () => {
  assertEquals(parseAdminRequest('{"command":"stats"}'), { command: "stats" });
  for (const command of ["block", "unblock", "kick", "logout-all"]) {
    assertEquals(parseAdminRequest(JSON.stringify({ command, name: "bob" })), {
      command,
      name: "bob",
    });
  }
  assertEquals(
    parseAdminRequest('{"command":"reset-password","name":"bob","password":"a new secret"}'),
    { command: "reset-password", name: "bob", password: "a new secret" },
  );
});

Deno.test("parseAdminRequest() names what is wrong", () => {
  const cases: Array<[string, string]> = [
    ["nope", "Cannot parse admin request: not JSON"],
    ["[1]", "Cannot parse admin request: not an object"],
    ['{"command":"frob"}', 'Cannot parse admin request: unknown command "frob"'],
    ['{"command":"kick"}', "Cannot parse admin request: name must be a non-empty string"],
    ['{"command":"kick","name":""}', "Cannot parse admin request: name must be a non-empty string"],
    [
      '{"command":"reset-password","name":"bob"}',
      "Cannot parse admin request: password must be a string",
    ],
  ];
  for (const [line, message] of cases) {
    assertThrows(() => parseAdminRequest(line), TypeError, message);
  }
});

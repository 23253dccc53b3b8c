import { assert, assertEquals } from "@std/assert";
import { COMMAND_NAMES, helpText, parseCommand } from "../lib/client/commands.ts";

Deno.test("parseCommand() treats a plain line as text for the current conversation", () => {
  assertEquals(parseCommand("hello there"), { kind: "say", text: "hello there" });
  assertEquals(parseCommand("  padded  "), { kind: "say", text: "  padded  " });
  assertEquals(parseCommand("//not a command"), { kind: "say", text: "/not a command" });
  assertEquals(parseCommand(""), { kind: "empty" });
  assertEquals(parseCommand("   "), { kind: "empty" });
});

Deno.test("parseCommand() parses /msg with text, and without text as opening a window", () => {
  assertEquals(parseCommand("/msg bob hi there"), { kind: "msg", to: "bob", text: "hi there" });
  assertEquals(parseCommand("/msg #room  two  spaces"), {
    kind: "msg",
    to: "#room",
    text: " two  spaces",
  });
  assertEquals(parseCommand("/msg bob"), { kind: "query", to: "bob" });
  assertEquals(parseCommand("/MSG bob x"), { kind: "msg", to: "bob", text: "x" });
  assertEquals(parseCommand("/msg"), { kind: "invalid", message: "Usage: /msg NAME|#ROOM [TEXT]" });
});

Deno.test("parseCommand() parses /join and /leave, adding a missing #", () => {
  assertEquals(parseCommand("/join #general"), { kind: "join", room: "#general" });
  assertEquals(parseCommand("/join general"), { kind: "join", room: "#general" });
  assertEquals(parseCommand("/join"), { kind: "invalid", message: "Usage: /join #ROOM" });
  assertEquals(parseCommand("/join a b").kind, "invalid");
  assertEquals(parseCommand("/leave"), { kind: "leave" });
  assertEquals(parseCommand("/leave #x"), { kind: "leave", room: "#x" });
});

Deno.test("parseCommand() parses /status, /who, /me, /register, /login", () => {
  assertEquals(parseCommand("/status away for lunch"), { kind: "status", text: "away for lunch" });
  assertEquals(parseCommand("/status"), { kind: "status", text: "" });
  assertEquals(parseCommand("/who"), { kind: "who" });
  assertEquals(parseCommand("/who #general"), { kind: "who", target: "#general" });
  assertEquals(parseCommand("/who bob"), { kind: "who", target: "bob" });
  assertEquals(parseCommand("/me waves"), { kind: "me", text: "waves" });
  assertEquals(parseCommand("/me").kind, "invalid");
  assertEquals(parseCommand("/register"), { kind: "register" });
  assertEquals(parseCommand("/register secret").kind, "invalid");
  assertEquals(parseCommand("/login"), { kind: "login" });
  assertEquals(parseCommand("/login alice"), { kind: "login", name: "alice" });
  assertEquals(parseCommand("/passwd"), { kind: "passwd" });
  assertEquals(parseCommand("/passwd secret").kind, "invalid");
  assertEquals(parseCommand("/delete-account"), { kind: "delete-account" });
  assertEquals(parseCommand("/delete-account now").kind, "invalid");
});

Deno.test("parseCommand() parses /clear, /close, /help, /switch, /quit", () => {
  assertEquals(parseCommand("/clear"), { kind: "clear" });
  assertEquals(parseCommand("/close"), { kind: "close" });
  assertEquals(parseCommand("/help"), { kind: "help" });
  assertEquals(parseCommand("/help /msg"), { kind: "help", topic: "msg" });
  assertEquals(parseCommand("/switch 2"), { kind: "switch", target: "2" });
  assertEquals(parseCommand("/switch #general"), { kind: "switch", target: "#general" });
  assertEquals(parseCommand("/switch").kind, "invalid");
  assertEquals(parseCommand("/quit"), { kind: "quit" });
});

Deno.test("parseCommand() answers an unknown command with a one-line hint", () => {
  const c = parseCommand("/frobnicate now");
  assertEquals(c.kind, "invalid");
  if (c.kind === "invalid") {
    assert(c.message.startsWith("Unknown command /frobnicate"), c.message);
    assert(!c.message.includes("\n"));
  }
  const near = parseCommand("/st");
  assert(near.kind === "invalid" && near.message.includes("/status"), JSON.stringify(near));
});

Deno.test("helpText() lists every command and explains one", () => {
  const all = helpText();
  for (const name of COMMAND_NAMES) assert(all.some((l) => l.includes(name)), name);
  assertEquals(helpText("join"), ["/join #ROOM: join a room (created if new)"]);
  assertEquals(helpText("nope"), ["No command /nope: type /help for the list"]);
});

import { assertEquals, assertNotEquals } from "@std/assert";
import type { ChatLine } from "../lib/client/conversations.ts";
import {
  formatLine,
  formatTime,
  historyLine,
  sanitize,
  senderColour,
} from "../lib/client/format.ts";

const at = new Date(2024, 4, 1, 9, 5, 7);

function line(partial: Partial<ChatLine>): ChatLine {
  return { time: at, kind: "msg", text: "hi", from: "bob", ...partial };
}

Deno.test("formatTime() shows HH:MM today and MM-DD HH:MM for other days", () => {
  assertEquals(formatTime(at, new Date(2024, 4, 1, 23, 0)), "09:05");
  assertEquals(formatTime(at, new Date(2024, 4, 2, 0, 1)), "05-01 09:05");
});

Deno.test("formatLine() without colour gives plain prefixes per kind", () => {
  const o = { color: false, now: at };
  assertEquals(formatLine(line({}), o).prefix, "09:05 <bob> ");
  assertEquals(formatLine(line({ kind: "action", text: "waves" }), o).prefix, "09:05 * bob ");
  assertEquals(formatLine(line({ kind: "info" }), o).prefix, "09:05 -- ");
  assertEquals(formatLine(line({ kind: "error" }), o).prefix, "09:05 !! ");
  assertEquals(formatLine(line({}), { ...o, tag: "#general" }).prefix, "09:05 [#general] <bob> ");
  const plain = formatLine(line({}), o);
  assertEquals(plain.styledPrefix, plain.prefix);
  assertEquals(plain.bodyStyle, "");
});

Deno.test("formatLine() with colour gives each sender a stable colour", () => {
  const f = formatLine(line({}), { color: true, now: at });
  assertEquals(f.styledPrefix.includes(senderColour("bob") + "<bob>"), true);
  assertEquals(senderColour("bob"), senderColour("bob"));
  const colours = new Set(["alice", "bob", "carol", "dave", "erin", "frank"].map(senderColour));
  assertNotEquals(colours.size, 1);
});

Deno.test("sanitize() defuses terminal escapes and control characters in received text", () => {
  assertEquals(sanitize("a\x1b[2Jb"), "a^[[2Jb");
  assertEquals(sanitize("bell\x07\r\n"), "bell^G^M^J");
  assertEquals(sanitize("tab\there"), "tab here");
  assertEquals(sanitize("\u202eevil"), "evil");
  assertEquals(sanitize("Привет 你好 😀"), "Привет 你好 😀");
  assertEquals(formatLine(line({ text: "\x1b]0;x\x07" }), { color: false }).body, "^[]0;x^G");
});

Deno.test("historyLine() writes full time stamps", () => {
  assertEquals(historyLine(line({})), "2024-05-01 09:05:07 <bob> hi");
  assertEquals(
    historyLine(line({ kind: "action", text: "waves" })),
    "2024-05-01 09:05:07 * bob waves",
  );
  assertEquals(historyLine(line({ kind: "error", text: "x" })), "2024-05-01 09:05:07 !! x");
});

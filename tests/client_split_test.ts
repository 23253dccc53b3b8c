import { assert, assertEquals } from "@std/assert";
import { splitMessage } from "../lib/client/split.ts";

/** The request the client sends, as the server measures it. */
function request(message: string): string {
  return JSON.stringify({
    action: "msg",
    to: "bob",
    from: "alice",
    encoding: "utf-8",
    message,
    time: 1764075600,
  });
}
const OVERHEAD = [...request("")].length;

function assertFits(parts: string[]): void {
  for (const p of parts) {
    assert([...p].length <= 500, `${[...p].length} characters`);
    assert([...request(p)].length <= 640, `${[...request(p)].length} characters of JSON`);
  }
}

Deno.test("splitMessage() leaves a message that fits alone", () => {
  assertEquals(splitMessage("hello", OVERHEAD), ["hello"]);
  assertEquals(splitMessage("x".repeat(500), OVERHEAD), ["x".repeat(500)]);
});

Deno.test("splitMessage() cuts 300 double quotes so that each part fits 640 after escaping", () => {
  const parts = splitMessage('"'.repeat(300), OVERHEAD);
  assert(parts.length === 2, String(parts.length));
  assertFits(parts);
  assertEquals(parts.join(""), '"'.repeat(300));
});

Deno.test("splitMessage() cuts long text at spaces, at most 500 characters each", () => {
  const words = Array.from({ length: 300 }, (_, i) => `word${i}`);
  const parts = splitMessage(words.join(" "), OVERHEAD);
  assertFits(parts);
  assertEquals(parts.join(" "), words.join(" "));
  for (const p of parts) assert(!p.startsWith(" ") && !p.endsWith(" "), p);
});

Deno.test("splitMessage() never cuts inside an emoji or a combining sequence", () => {
  const text = "👍🏽".repeat(300) + "é".repeat(300);
  const parts = splitMessage(text, OVERHEAD);
  assertFits(parts);
  assertEquals(parts.join(""), text);
  for (const p of parts) {
    assert(!p.startsWith("\u{1F3FD}") && !p.startsWith("\u0301"), "cut inside a cluster");
  }
});

import { assertEquals } from "@std/assert";
import { KeyDecoder } from "../lib/client/keys.ts";

const enc = new TextEncoder();

function keys(...chunks: string[]) {
  const d = new KeyDecoder();
  return chunks.flatMap((c) => d.push(enc.encode(c)));
}

Deno.test("KeyDecoder groups typed text and names control keys", () => {
  assertEquals(keys("hi\r"), [{ name: "text", text: "hi" }, { name: "enter" }]);
  assertEquals(keys("\x7f\x15\x17\x01\x05\x0b\t"), [
    { name: "backspace" },
    { name: "kill-line" },
    { name: "kill-word" },
    { name: "home" },
    { name: "end" },
    { name: "kill-to-end" },
    { name: "tab" },
  ]);
  assertEquals(keys("\x0e\x10\x04\x03"), [
    { name: "next-window" },
    { name: "prev-window" },
    { name: "eof" },
    { name: "interrupt" },
  ]);
});

Deno.test("KeyDecoder decodes arrow, Home/End, Delete and paging sequences", () => {
  assertEquals(keys("\x1b[A\x1b[B\x1b[C\x1b[D"), [
    { name: "up" },
    { name: "down" },
    { name: "right" },
    { name: "left" },
  ]);
  assertEquals(keys("\x1b[H\x1b[F\x1bOH\x1bOF\x1b[1~\x1b[4~\x1b[3~\x1b[5~\x1b[6~"), [
    { name: "home" },
    { name: "end" },
    { name: "home" },
    { name: "end" },
    { name: "home" },
    { name: "end" },
    { name: "delete" },
    { name: "page-up" },
    { name: "page-down" },
  ]);
});

Deno.test("KeyDecoder decodes Alt-digit and keeps sequences split across reads", () => {
  assertEquals(keys("\x1b1\x1b9"), [{ name: "alt-digit", digit: 1 }, {
    name: "alt-digit",
    digit: 9,
  }]);
  assertEquals(keys("\x1b[", "3~", "x"), [{ name: "delete" }, { name: "text", text: "x" }]);
  assertEquals(keys("\x1b[1;", "5D"), [{ name: "word-left" }]);
});

Deno.test("KeyDecoder keeps UTF-8 characters split across reads whole", () => {
  const d = new KeyDecoder();
  const bytes = enc.encode("Привет 😀");
  const out = [...bytes].flatMap((b) => d.push(new Uint8Array([b])));
  assertEquals(out.map((k) => (k.name === "text" ? k.text : "")).join(""), "Привет 😀");
});

Deno.test("KeyDecoder ignores unknown sequences and takes CR LF as one Enter", () => {
  assertEquals(keys("\x1b[99Zx"), [{ name: "text", text: "x" }]);
  assertEquals(keys("a\r\nb"), [
    { name: "text", text: "a" },
    { name: "enter" },
    { name: "text", text: "b" },
  ]);
});

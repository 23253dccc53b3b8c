import { assertEquals } from "@std/assert";
import { readSecret, type SecretTerminal } from "../lib/client/secret_prompt.ts";

function terminal(input: string): SecretTerminal & { out: string; raw: boolean[] } {
  let bytes = new TextEncoder().encode(input);
  const t = {
    out: "",
    raw: [] as boolean[],
    write(text: string) {
      t.out += text;
    },
    readSync(buffer: Uint8Array): number | null {
      if (bytes.length === 0) return null;
      const n = Math.min(2, bytes.length, buffer.length); // two bytes at a time: splits UTF-8
      buffer.set(bytes.subarray(0, n));
      bytes = bytes.subarray(n);
      return n;
    },
    setRaw(on: boolean) {
      t.raw.push(on);
    },
  };
  return t;
}

Deno.test("readSecret() reads a line without echo, with Backspace and Ctrl-U", () => {
  const t = terminal("xx\x15pässx\x7f\r");
  assertEquals(readSecret("Password:", t), "päss");
  assertEquals(t.out, "Password: \r\n");
  assertEquals(t.raw, [true, false]);
});

Deno.test("readSecret() gives null on Ctrl-C, Ctrl-D and end of input, and leaves raw mode", () => {
  for (const input of ["abc\x03", "\x04", "abc"]) {
    const t = terminal(input);
    assertEquals(readSecret("Password:", t), null, JSON.stringify(input));
    assertEquals(t.raw, [true, false]);
  }
});

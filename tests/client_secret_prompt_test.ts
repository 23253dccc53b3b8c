import { assertEquals, assertRejects } from "@std/assert";
import {
  type EndSignal,
  PromptSignalled,
  readSecret,
  type SecretTerminal,
} from "../lib/client/secret_prompt.ts";

function terminal(input: string): SecretTerminal & { out: string; raw: boolean[] } {
  let bytes = new TextEncoder().encode(input);
  const t = {
    out: "",
    raw: [] as boolean[],
    write(text: string) {
      t.out += text;
    },
    read(buffer: Uint8Array): Promise<number | null> {
      if (bytes.length === 0) return Promise.resolve(null);
      const n = Math.min(2, bytes.length, buffer.length); // two bytes at a time: splits UTF-8
      buffer.set(bytes.subarray(0, n));
      bytes = bytes.subarray(n);
      return Promise.resolve(n);
    },
    setRaw(on: boolean) {
      t.raw.push(on);
    },
  };
  return t;
}

Deno.test("readSecret() reads a line without echo, with Backspace and Ctrl-U", async () => {
  const t = terminal("xx\x15pässx\x7f\r");
  assertEquals(await readSecret("Password:", t), "päss");
  assertEquals(t.out, "Password: \r\n");
  assertEquals(t.raw, [true, false]);
});

Deno.test("readSecret() gives null on Ctrl-C, Ctrl-D and end of input, and leaves raw mode", async () => {
  for (const input of ["abc\x03", "\x04", "abc"]) {
    const t = terminal(input);
    assertEquals(await readSecret("Password:", t), null, JSON.stringify(input));
    assertEquals(t.raw, [true, false]);
  }
});

Deno.test("readSecret() rejects on a signal while it waits, out of raw mode, its listener removed", async () => {
  for (const signal of ["SIGTERM", "SIGHUP", "SIGINT"] as const) {
    const t = terminal("");
    const listening = { handler: null as ((s: EndSignal) => void) | null };
    let pending!: (n: number | null) => void;
    const term: SecretTerminal = {
      ...t,
      read: () => new Promise((resolve) => pending = resolve),
      onSignal(h) {
        listening.handler = h;
        return () => listening.handler = null;
      },
    };
    const reading = readSecret("Password:", term);
    const handler = listening.handler;
    if (handler === null) throw new Error("no signal listener while the prompt waits");
    handler(signal);
    const error = await assertRejects(() => reading, PromptSignalled);
    assertEquals(error.signal, signal);
    assertEquals(error.message, `Cannot read the password: ${signal} received`);
    assertEquals(t.raw, [true, false]);
    assertEquals(t.out, "Password: \r\n");
    assertEquals(listening.handler, null);
    pending(null); // the read still pending, as the terminal's would be
  }
});

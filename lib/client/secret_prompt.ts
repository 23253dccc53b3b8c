/**
 * Reads a password on the terminal without echo. Unlike std's
 * `promptSecret` (which keeps signals on, so Ctrl-C kills the process with
 * echo still off), the terminal is in raw mode only while reading, Ctrl-C
 * and Ctrl-D are read as keys, and the mode is restored on every path.
 *
 * @module
 */

/** What the prompt needs of a terminal; tests may pass their own. */
export interface SecretTerminal {
  write(text: string): void;
  /** Reads some bytes; null at end of input. */
  readSync(buffer: Uint8Array): number | null;
  setRaw(on: boolean): void;
}

/** The process's own terminal. */
export function processTerminal(): SecretTerminal {
  const encoder = new TextEncoder();
  return {
    write(text) {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
    },
    readSync: (buffer) => Deno.stdin.readSync(buffer),
    setRaw: (on) => Deno.stdin.setRaw(on),
  };
}

const ENTER = new Set([0x0a, 0x0d]);
const BACKSPACE = new Set([0x08, 0x7f]);
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const CTRL_U = 0x15;

/**
 * Shows `message`, reads a line without echo and returns it, or null when
 * the user pressed Ctrl-C (or Ctrl-D on an empty line, or input ended).
 */
export function readSecret(
  message: string,
  term: SecretTerminal = processTerminal(),
): string | null {
  term.write(`${message} `);
  term.setRaw(true);
  const decoder = new TextDecoder();
  let text = "";
  const buffer = new Uint8Array(256);
  try {
    while (true) {
      const n = term.readSync(buffer);
      if (n === null) return null;
      for (const byte of buffer.subarray(0, n)) {
        if (ENTER.has(byte)) return text + decoder.decode();
        if (byte === CTRL_C) return null;
        if (byte === CTRL_D && text === "") return null;
        if (byte === CTRL_U) text = "";
        else if (BACKSPACE.has(byte)) text = [...text].slice(0, -1).join("");
        else if (byte >= 0x20) {
          text += decoder.decode(new Uint8Array([byte]), { stream: true });
        }
      }
    }
  } finally {
    try {
      term.setRaw(false);
    } catch { /* the terminal is gone */ }
    term.write("\r\n");
  }
}

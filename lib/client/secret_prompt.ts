/**
 * Reads a password on the terminal without echo. Unlike std's
 * `promptSecret` (which keeps signals on, so Ctrl-C kills the process with
 * echo still off), the terminal is in raw mode only while reading, Ctrl-C
 * and Ctrl-D are read as keys, and the mode is restored on every path,
 * a signal while it waits included (the read does not block the event loop,
 * so the signal is heard).
 *
 * @module
 */

/** A signal that ends the process, as the prompt reports it. */
export type EndSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

/** The signals that end a prompt: each restores the terminal first. */
const END_SIGNALS: readonly EndSignal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** The process was sent `signal` while the prompt waited (the terminal is restored). */
export class PromptSignalled extends Error {
  readonly signal: EndSignal;
  constructor(signal: EndSignal) {
    super(`Cannot read the password: ${signal} received`);
    this.signal = signal;
  }
}

/** What the prompt needs of a terminal; tests may pass their own. */
export interface SecretTerminal {
  write(text: string): void;
  /** Reads some bytes; null at end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
  setRaw(on: boolean): void;
  /** Calls `handler` on a signal that would end the process; returns what stops that. */
  onSignal?(handler: (signal: EndSignal) => void): () => void;
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
    read: (buffer) => Deno.stdin.read(buffer),
    setRaw: (on) => Deno.stdin.setRaw(on),
    onSignal(handler) {
      const listeners = END_SIGNALS.map((signal) => [signal, () => handler(signal)] as const);
      for (const [signal, listener] of listeners) {
        try {
          Deno.addSignalListener(signal, listener);
        } catch { /* not supported here */ }
      }
      return () => {
        for (const [signal, listener] of listeners) {
          try {
            Deno.removeSignalListener(signal, listener);
          } catch { /* not supported here */ }
        }
      };
    },
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
 * Reads without blocking the event loop, so that a signal (SIGTERM, SIGHUP,
 * SIGINT) is heard while it waits: it rejects with {@linkcode PromptSignalled}
 * once the terminal is restored.
 */
export async function readSecret(
  message: string,
  term: SecretTerminal = processTerminal(),
): Promise<string | null> {
  term.write(`${message} `);
  term.setRaw(true);
  const decoder = new TextDecoder();
  let text = "";
  const buffer = new Uint8Array(256);
  let signalled!: (signal: EndSignal) => void;
  const signal = new Promise<EndSignal>((resolve) => signalled = resolve);
  const stopSignals = term.onSignal?.(signalled);
  try {
    while (true) {
      const n = await Promise.race([term.read(buffer), signal]);
      if (typeof n === "string") throw new PromptSignalled(n);
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
    stopSignals?.();
    try {
      term.setRaw(false);
    } catch { /* the terminal is gone */ }
    term.write("\r\n");
  }
}

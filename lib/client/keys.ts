/**
 * Terminal key decoding, pure: raw bytes from a TTY in raw mode → named
 * keys. Escape sequences and UTF-8 characters split across reads are held
 * until complete.
 *
 * @module
 */

/** One key press, or a run of typed text. */
export type Key =
  | { name: "text"; text: string }
  | {
    name:
      | "enter"
      | "tab"
      | "backspace"
      | "delete"
      | "left"
      | "right"
      | "up"
      | "down"
      | "home"
      | "end"
      | "page-up"
      | "page-down"
      | "word-left"
      | "word-right"
      | "kill-line"
      | "kill-word"
      | "kill-to-end"
      | "next-window"
      | "prev-window"
      | "redraw"
      | "interrupt"
      | "eof"
      | "escape";
  }
  | { name: "alt-digit"; digit: number };

const ESC = "\x1b";

/** CSI and SS3 final sequences → key names. */
const SEQUENCES: Record<string, Key["name"]> = {
  "[A": "up",
  "[B": "down",
  "[C": "right",
  "[D": "left",
  "[H": "home",
  "[F": "end",
  "OA": "up",
  "OB": "down",
  "OC": "right",
  "OD": "left",
  "OH": "home",
  "OF": "end",
  "[1~": "home",
  "[7~": "home",
  "[4~": "end",
  "[8~": "end",
  "[3~": "delete",
  "[5~": "page-up",
  "[6~": "page-down",
  "[1;5D": "word-left",
  "[1;5C": "word-right",
  "[1;3D": "word-left",
  "[1;3C": "word-right",
};

const CONTROL: Record<number, Key["name"]> = {
  0x01: "home", // Ctrl-A
  0x02: "left", // Ctrl-B
  0x03: "interrupt", // Ctrl-C
  0x04: "eof", // Ctrl-D
  0x05: "end", // Ctrl-E
  0x06: "right", // Ctrl-F
  0x08: "backspace", // Ctrl-H
  0x09: "tab",
  0x0a: "enter",
  0x0b: "kill-to-end", // Ctrl-K
  0x0c: "redraw", // Ctrl-L
  0x0d: "enter",
  0x0e: "next-window", // Ctrl-N
  0x10: "prev-window", // Ctrl-P
  0x15: "kill-line", // Ctrl-U
  0x17: "kill-word", // Ctrl-W
  0x7f: "backspace",
};

/** Turns raw TTY bytes into {@linkcode Key}s. */
export class KeyDecoder {
  readonly #utf8 = new TextDecoder("utf-8");
  #pending = "";

  /** Feeds one read; returns the keys it completed. */
  push(bytes: Uint8Array): Key[] {
    const input = this.#pending + this.#utf8.decode(bytes, { stream: true });
    this.#pending = "";
    const keys: Key[] = [];
    let text = "";
    const flushText = () => {
      if (text) keys.push({ name: "text", text });
      text = "";
    };
    let i = 0;
    while (i < input.length) {
      const c = input[i]!;
      const code = c.charCodeAt(0);
      if (c === ESC) {
        const rest = input.slice(i + 1);
        if (rest === "" || rest === "[" || rest === "O" || /^\[[\d;]*$/.test(rest)) {
          // Incomplete: a lone ESC at the end of a read is taken as Escape only
          // if nothing follows in the same read; a started sequence waits.
          if (rest === "") {
            flushText();
            keys.push({ name: "escape" });
            i++;
            continue;
          }
          this.#pending = input.slice(i);
          break;
        }
        const m = /^(\[[\d;]*[A-Za-z~]|O[A-Za-z])/.exec(rest);
        flushText();
        if (m) {
          const name = SEQUENCES[m[1]!];
          if (name) keys.push({ name } as Key);
          i += 1 + m[1]!.length;
          continue;
        }
        const next = rest[0]!;
        if (next >= "0" && next <= "9") keys.push({ name: "alt-digit", digit: Number(next) });
        else if (next === "b") keys.push({ name: "word-left" });
        else if (next === "f") keys.push({ name: "word-right" });
        else if (next === "\x7f") keys.push({ name: "kill-word" });
        else if (next === ESC) {
          keys.push({ name: "escape" });
          i += 1;
          continue;
        }
        i += 2;
        continue;
      }
      if (code < 0x20 || code === 0x7f) {
        flushText();
        const name = CONTROL[code];
        if (name) keys.push({ name } as Key);
        // A CR LF pair (pasted text) is one Enter.
        if (code === 0x0d && input[i + 1] === "\n") i++;
        i++;
        continue;
      }
      text += c;
      i++;
    }
    flushText();
    return keys;
  }
}

/**
 * Local history: one plain-text file per conversation (`bob.log`,
 * `#general.log`) in a directory, appended as lines arrive.
 *
 * @module
 */

import { type ChatLine, SERVER_WINDOW } from "./conversations.ts";
import { historyLine } from "./format.ts";

/** The file a conversation is logged to, inside the log directory. */
export function historyFileName(conversation: string): string | null {
  if (conversation === SERVER_WINDOW) return null;
  // Names hold only letters, digits, '_', '.', '-' (and '#' for rooms); be safe anyway.
  const safe = conversation.replace(/[^\p{L}\p{N}_.#-]/gu, "_");
  return `${safe}.log`;
}

/** Appends chat lines to per-conversation files; writes are serialized per file. */
export class HistoryLog {
  readonly #dir: string;
  readonly #files = new Map<string, Promise<Deno.FsFile | null>>();
  #chain: Promise<void> = Promise.resolve();
  #failed = false;
  readonly #onError: (message: string) => void;
  readonly #encoder = new TextEncoder();

  constructor(dir: string, onError: (message: string) => void = () => {}) {
    this.#dir = dir;
    this.#onError = onError;
  }

  /** Queues one line for `conversation`'s file (lines for the server window are not kept). */
  append(conversation: string, line: ChatLine): void {
    const name = historyFileName(conversation);
    if (name === null || this.#failed) return;
    const bytes = this.#encoder.encode(historyLine(line) + "\n");
    this.#chain = this.#chain.then(async () => {
      const file = await this.#open(name);
      if (!file) return;
      try {
        let written = 0;
        while (written < bytes.length) written += await file.write(bytes.subarray(written));
      } catch (error) {
        this.#fail(`Cannot write history to ${this.#dir}/${name}: ${(error as Error).message}`);
      }
    });
  }

  #open(name: string): Promise<Deno.FsFile | null> {
    let file = this.#files.get(name);
    if (!file) {
      file = (async () => {
        try {
          await Deno.mkdir(this.#dir, { recursive: true });
          return await Deno.open(`${this.#dir}/${name}`, { append: true, create: true });
        } catch (error) {
          this.#fail(`Cannot open history file ${this.#dir}/${name}: ${(error as Error).message}`);
          return null;
        }
      })();
      this.#files.set(name, file);
    }
    return file;
  }

  #fail(message: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#onError(message);
  }

  /** Writes what is queued and closes the files. */
  async close(): Promise<void> {
    await this.#chain;
    for (const file of this.#files.values()) {
      const f = await file;
      try {
        f?.close();
      } catch { /* closed */ }
    }
    this.#files.clear();
  }
}

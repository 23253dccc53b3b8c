/**
 * Test fixtures for jim's own client core: one logged in, waiting on its
 * events (with a deadline) and reading what a window shows.
 *
 * @module
 */

import { ClientCore, type CoreEvent, type ReconnectOptions } from "../lib/client/client_core.ts";

/** A client that logs in as `user` (password "correct horse", as _helpers registers) on 127.0.0.1. */
export function accountCore(port: number, user: string, reconnect: ReconnectOptions): ClientCore {
  return new ClientCore({
    host: "127.0.0.1",
    port,
    user,
    auth: "login",
    password: "correct horse",
    reconnect,
  });
}

/** Resolves with `core`'s first event from now on that `pred` accepts; rejects after `ms`. */
export function waitFor(
  core: ClientCore,
  pred: (e: CoreEvent) => boolean,
  ms = 10_000,
): Promise<CoreEvent> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(`no such event within ${ms} ms`));
    }, ms);
    core.on((e) => {
      if (!done && pred(e)) {
        done = true;
        clearTimeout(timer);
        resolve(e);
      }
    });
  });
}

/** The text of each line in `core`'s window `window` ([] if it has none). */
export function windowText(core: ClientCore, window: string): string[] {
  return core.conversations.find(window)?.lines.map((l) => l.text) ?? [];
}

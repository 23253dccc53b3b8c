/**
 * URLs for logs, without their secrets: a store or cluster URL may carry a
 * password (`postgres://jim:secret@host/db`, `nats://user:secret@host`) or a
 * token in the user's place (`nats://token@host`).
 *
 * @module
 */

/** Options for {@linkcode redactUrl}. */
export interface RedactUrlOptions {
  /**
   * The user part is a secret too when it comes alone (NATS takes
   * `nats://TOKEN@host` as a token). @default {false}
   */
  loneUserIsSecret?: boolean;
}

/** `url` with its password (and, if asked, a lone user) replaced by `***`. */
export function redactUrl(url: string, options: RedactUrlOptions = {}): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (u.password !== "") u.password = "***";
  else if (u.username !== "" && options.loneUserIsSecret) u.username = "***";
  return u.toString();
}

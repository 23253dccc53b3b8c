/**
 * Session tokens for resumable logins. A token is 32 random bytes (256 bits)
 * from the system's CSPRNG, written as 43 base64url characters. The server
 * keeps only its SHA-256: a fast hash is enough because, unlike a password,
 * a token has full entropy and cannot be guessed, and it is what makes a
 * reconnect cheap (one SHA-256 instead of a slow password hash).
 *
 * @module
 */

/** Random bytes in a token. */
export const TOKEN_BYTES = 32;

/** Characters of a token as sent on the wire (base64url, no padding). */
export const TOKEN_LENGTH = 43;

/** What a well-formed token looks like. */
export const TOKEN_PATTERN: RegExp = /^[A-Za-z0-9_-]{43}$/;

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** A new token and the hash under which to store it. */
export interface NewToken {
  /** Sent to the client once, never stored. */
  token: string;
  /** Hex SHA-256 of the token, as {@linkcode tokenHash} computes it. */
  hash: string;
}

/** The hex SHA-256 of a token's text: the only form the server stores. */
export async function tokenHash(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(token)));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/**
 * Makes a new random token.
 *
 * @example
 * ```ts
 * import { newToken, TOKEN_PATTERN } from "./token.ts";
 * const { token, hash } = await newToken();
 * console.assert(TOKEN_PATTERN.test(token) && hash.length === 64);
 * ```
 */
export async function newToken(): Promise<NewToken> {
  const token = base64url(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)));
  return { token, hash: await tokenHash(token) };
}

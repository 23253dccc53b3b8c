/**
 * Password hashing with PBKDF2-HMAC-SHA256 through WebCrypto. Deno runs
 * `crypto.subtle.deriveBits` on a worker thread, so a hash never blocks the
 * event loop: other connections keep being served during a login.
 *
 * Encoded form: `pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>`
 * (standard base64 with padding; 16-byte salt, 32-byte hash). Verification
 * uses the iteration count stored in the hash, so raising
 * {@linkcode DEFAULT_HASH_ITERATIONS} does not invalidate existing accounts.
 *
 * Measured on the 2-core development machine (Deno 2.9.6, idle): one hash at
 * 600,000 iterations takes about 100 ms; four at once take about 200 ms in
 * all (two cores), and meanwhile a 2 ms `setInterval` never waits more than
 * 10-20 ms (tests/password_test.ts asserts no gap over 50 ms).
 *
 * @module
 */

/** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256. */
export const DEFAULT_HASH_ITERATIONS = 600_000;

/** The largest iteration count {@linkcode verifyPassword} accepts from a stored hash. */
export const MAX_HASH_ITERATIONS = 10_000_000;

const SCHEME = "pbkdf2-sha256";
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const encoder = new TextEncoder();

/** Options for {@linkcode hashPassword} and {@linkcode dummyVerify}. */
export interface HashOptions {
  /**
   * PBKDF2 iterations. Lower it only in tests.
   *
   * @default {DEFAULT_HASH_ITERATIONS}
   */
  iterations?: number;
}

function checkIterations(iterations: number): number {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_HASH_ITERATIONS) {
    throw new RangeError(
      `Cannot hash password: iterations must be an integer from 1 to ${MAX_HASH_ITERATIONS}`,
    );
  }
  return iterations;
}

async function derive(
  password: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    key,
    HASH_BYTES * 8,
  );
  return new Uint8Array(bits);
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Decodes standard base64; null when `text` is not base64. */
function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}

/** Compares every byte, whatever the first difference; false on unequal lengths. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Hashes a password with a fresh random salt.
 *
 * @example
 * ```ts
 * import { hashPassword, verifyPassword } from "./password.ts";
 * const hash = await hashPassword("correct horse", { iterations: 1000 });
 * console.assert(await verifyPassword("correct horse", hash));
 * ```
 *
 * @throws {RangeError} when `iterations` is not an integer from 1 to {@linkcode MAX_HASH_ITERATIONS}.
 */
export async function hashPassword(password: string, options: HashOptions = {}): Promise<string> {
  const iterations = checkIterations(options.iterations ?? DEFAULT_HASH_ITERATIONS);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, iterations);
  return `${SCHEME}$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

/**
 * Whether `password` matches an encoded hash from {@linkcode hashPassword}.
 * A malformed hash gives false; this never throws.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split("$");
  if (parts.length !== 4 || parts[0] !== SCHEME) return false;
  const [, iterationText = "", saltText = "", hashText = ""] = parts;
  if (!/^[1-9][0-9]{0,7}$/.test(iterationText)) return false;
  const iterations = Number(iterationText);
  if (iterations > MAX_HASH_ITERATIONS) return false;
  const salt = fromBase64(saltText);
  const expected = fromBase64(hashText);
  if (salt === null || salt.length === 0 || expected === null || expected.length !== HASH_BYTES) {
    return false;
  }
  try {
    return equalBytes(await derive(password, salt, iterations), expected);
  } catch {
    return false;
  }
}

const DUMMY_SALT = new Uint8Array(SALT_BYTES);
const DUMMY_HASH = new Uint8Array(HASH_BYTES);

/**
 * Spends the work of one {@linkcode verifyPassword} and resolves false, so
 * that "no such account" takes as long as "wrong password". Pass the same
 * `iterations` the server hashes with.
 */
export async function dummyVerify(password: string, options: HashOptions = {}): Promise<boolean> {
  const iterations = checkIterations(options.iterations ?? DEFAULT_HASH_ITERATIONS);
  const derived = await derive(password, DUMMY_SALT, iterations);
  equalBytes(derived, DUMMY_HASH);
  return false;
}

/**
 * Recognises an HTTP request line in the first bytes of a connection.
 *
 * Any web page can make a browser send a `POST` to a local port with a body
 * the page chooses; if that body held JIM objects, the server would act on
 * them for the page. No JIM request starts with a letter, so a connection
 * whose first bytes are a method token and a space (`POST `, `GET `,
 * `OPTIONS `…) is an HTTP client and is closed before anything is read as
 * JIM.
 *
 * @module
 */

/** The longest method token looked for; longer runs of capitals are not HTTP. */
export const MAX_METHOD_LENGTH = 16;
/** The shortest method token (`GET`, `PUT`). */
const MIN_METHOD_LENGTH = 3;

const SPACE = 0x20;
const UPPER_A = 0x41;
const UPPER_Z = 0x5a;

/**
 * What the first bytes of a connection say: `"http"` for a request line,
 * `"jim"` for anything else, `undefined` while too few bytes have arrived to
 * tell (then call again with more).
 *
 * @example
 * ```ts
 * import { sniffHttp } from "./http_sniff.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * console.assert(sniffHttp(bytes("POST / HTTP/1.1\r\n")) === "http");
 * console.assert(sniffHttp(bytes('{"action":"presence"}')) === "jim");
 * console.assert(sniffHttp(bytes("OPTI")) === undefined);
 * ```
 */
export function sniffHttp(first: Uint8Array): "http" | "jim" | undefined {
  const n = Math.min(first.length, MAX_METHOD_LENGTH + 1);
  for (let i = 0; i < n; i++) {
    const b = first[i]!;
    if (b === SPACE) return i >= MIN_METHOD_LENGTH ? "http" : "jim";
    if (b < UPPER_A || b > UPPER_Z) return "jim";
  }
  return first.length > MAX_METHOD_LENGTH ? "jim" : undefined;
}

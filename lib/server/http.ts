/**
 * The `--http` listener: serves the web client, upgrades `GET /jim` to a
 * WebSocket speaking JIM, and answers `GET /healthz`. Everything else about
 * a WebSocket peer (limits, hub, store) is the same as for TCP: this module
 * only checks the request and hands the socket on.
 *
 * @module
 */

import { checkKeyPair, type KeyPairFiles, readKeyPair } from "./listener.ts";

/** The web client's files, embedded in the program. */
export interface WebAssets {
  html: string;
  js: string;
  css: string;
}

/** The `--http` listener could not start; the message says where and why. */
export class HttpListenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HttpListenError";
  }
}

/** Options for {@linkcode startHttp}. */
export interface HttpOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * Origins allowed to open `/jim` besides the one the page is served from
   * (`http://HOST:PORT`, or `https://` with `tls`, as the browser sends it),
   * e.g. `https://chat.example.org`.
   */
  origins: readonly string[];
  /** Serve HTTPS with this certificate and key (the TLS listener's). @default {plain HTTP} */
  tls?: KeyPairFiles;
  assets: WebAssets;
  /** Called with each upgraded socket and its peer's address. */
  onSocket: (socket: WebSocket, address: string) => void;
  /** For `/healthz`: connections open and whether the store answers. */
  health: () => Promise<{ connections: number; store: boolean }>;
  log: (line: string) => void;
}

/** A running HTTP listener. */
export interface HttpListener {
  readonly hostname: string;
  readonly port: number;
  /** "https" when it was given `tls`. */
  readonly scheme: "http" | "https";
  /**
   * Reads the certificate and key again and serves with them: Deno.serve
   * cannot swap certificates, so the listener is restarted on the same port,
   * which closes open WebSockets (1001; the web client reconnects). Bad
   * files reject ("…; keeping the old one") and leave it serving as it was.
   * Does nothing without `tls`.
   */
  reloadTls(): Promise<void>;
  /** Stops listening; resolves once open requests have ended. */
  shutdown(): Promise<void>;
}

/**
 * No inline script or style, nothing from elsewhere, no framing: the page
 * runs only its own bundled script and talks only to its own origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-cache",
};

function reply(status: number, body: string | null, type?: string): Response {
  const headers = new Headers(SECURITY_HEADERS);
  if (type) headers.set("content-type", type);
  return new Response(body, { status, headers });
}

function text(status: number, body: string): Response {
  return reply(status, body + "\n", "text/plain; charset=utf-8");
}

/**
 * Parses `--http`: `PORT` or `ADDR:PORT` (`[::1]:8080` for IPv6). Returns
 * null when it is neither.
 */
export function parseHttpAddress(
  raw: string,
  defaultHostname: string,
): { hostname: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]:|([^:\[\]]+):)?(\d{1,5})$/.exec(raw);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { hostname: m[1] ?? m[2] ?? defaultHostname, port };
}

/**
 * Whether a Host header names the server by address or as `localhost`. A DNS
 * name could be one an attacker's page rebinds to this machine (DNS
 * rebinding): its origin would then match its Host, so a page of the
 * server's own origin under a name must be listed in `--http-origin`.
 */
function hostIsAddress(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return name === "localhost" || /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":");
}

/** Whether `origin` may open `/jim` on a request for `host`. */
export function originAllowed(
  origin: string | null,
  host: string | null,
  allowed: readonly string[],
  scheme: "http" | "https" = "http",
): boolean {
  // Browsers always send Origin on a WebSocket handshake; a program that
  // does not is no browser page, and could claim any origin anyway.
  if (origin === null) return true;
  const o = origin.toLowerCase();
  if (host !== null && hostIsAddress(host) && o === `${scheme}://${host.toLowerCase()}`) {
    return true;
  }
  return allowed.some((a) => a.toLowerCase() === o);
}

/** Starts the HTTP listener (HTTPS with `tls`). */
export async function startHttp(options: HttpOptions): Promise<HttpListener> {
  const { assets, log } = options;
  const scheme = options.tls ? "https" : "http";
  const handler = async (
    req: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Promise<Response> => {
    if (req.method === "HEAD") {
      // As GET without the body: health checkers often ask with HEAD. (A
      // WebSocket upgrade needs GET.)
      if (new URL(req.url).pathname === "/jim") return reply(426, null);
      const r = await get(new Request(req.url, { headers: req.headers }), info);
      await r.body?.cancel();
      return new Response(null, { status: r.status, headers: r.headers });
    }
    if (req.method !== "GET") {
      const url = new URL(req.url);
      const r = text(405, `Cannot ${req.method} ${url.pathname}: only GET and HEAD are served`);
      r.headers.set("allow", "GET, HEAD");
      return r;
    }
    return await get(req, info);
  };
  const get = async (
    req: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Promise<Response> => {
    const url = new URL(req.url);
    switch (url.pathname) {
      case "/": {
        // A page whose own origin may not open /jim would only ever say
        // "connecting": tell the person at the browser what to do instead.
        const host = req.headers.get("host");
        if (host !== null && !originAllowed(`${scheme}://${host}`, host, options.origins, scheme)) {
          return text(
            403,
            `Cannot serve the web client at ${scheme}://${host}: this server accepts its page only ` +
              `by address, as localhost, or at an origin it lists; start it with ` +
              `--http-origin ${scheme}://${host} to allow this name (see docs/security.md)`,
          );
        }
        return reply(200, assets.html, "text/html; charset=utf-8");
      }
      case "/app.js":
        return reply(200, assets.js, "text/javascript; charset=utf-8");
      case "/app.css":
        return reply(200, assets.css, "text/css; charset=utf-8");
      case "/favicon.ico":
        return reply(204, null);
      case "/healthz": {
        const h = await options.health();
        const body = JSON.stringify({
          status: h.store ? "up" : "degraded",
          connections: h.connections,
          store: h.store ? "ok" : "error",
        });
        return reply(h.store ? 200 : 503, body, "application/json");
      }
      case "/jim": {
        if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
          return text(426, "Cannot open /jim: it is a WebSocket endpoint");
        }
        const origin = req.headers.get("origin");
        if (!originAllowed(origin, req.headers.get("host"), options.origins, scheme)) {
          log(`${info.remoteAddr.hostname}: WebSocket refused: origin ${origin} not allowed`);
          return text(403, `Cannot open /jim: origin ${origin} is not allowed`);
        }
        // Read before the upgrade: afterwards the request is gone.
        const address = info.remoteAddr.hostname;
        const { socket, response } = Deno.upgradeWebSocket(req);
        options.onSocket(socket, address);
        return response;
      }
      default:
        return text(404, `Cannot find ${url.pathname}`);
    }
  };
  const serve = (
    address: { hostname: string; port: number },
    pair: { cert: string; key: string } | null,
  ): Promise<{ server: Deno.HttpServer; addr: Deno.NetAddr }> =>
    new Promise((resolve) => {
      const server: Deno.HttpServer = Deno.serve({
        ...address,
        ...pair,
        // Called before Deno.serve returns: server is not assigned yet.
        onListen: (addr) => queueMicrotask(() => resolve({ server, addr: addr as Deno.NetAddr })),
        onError(e) {
          log(`http: internal error: ${e instanceof Error ? e.stack : e}`);
          return text(500, "Cannot answer: internal server error");
        },
      }, handler);
    });
  let current: { server: Deno.HttpServer; addr: Deno.NetAddr };
  try {
    current = await serve(
      { hostname: options.hostname, port: options.port },
      options.tls ? readKeyPair(options.tls) : null,
    );
  } catch (e) {
    const where = `${options.hostname}:${options.port}`;
    const why = e instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : e instanceof Deno.errors.AddrNotAvailable
      ? "address not available"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new HttpListenError(`Cannot listen on ${where} (--http): ${why}`, { cause: e });
  }
  const { hostname, port } = current.addr;
  let stopped = false;
  let reloading: Promise<void> | null = null;
  /** The graceful shutdowns of listeners replaced by a reload, still waiting for connections. */
  const draining = new Set<Promise<void>>();
  async function reload(files: KeyPairFiles): Promise<void> {
    let pair: { cert: string; key: string };
    try {
      pair = readKeyPair(files);
      checkKeyPair(files, pair);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : error}; keeping the old one`);
    }
    // The old listener closes at once and its WebSockets with it; its
    // graceful shutdown then waits for every connection to end, and an idle
    // HTTP/2 connection (a browser's) may stay for minutes: the new listener
    // does not wait for that.
    const old = current.server;
    const drained = old.shutdown().finally(() => draining.delete(drained));
    draining.add(drained);
    if (stopped) return;
    // The port just closed may take a moment to be let go.
    for (let attempt = 0;; attempt++) {
      try {
        current = await serve({ hostname, port }, pair);
        return;
      } catch (error) {
        if (error instanceof Deno.errors.AddrInUse && attempt < 100) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          continue;
        }
        stopped = true;
        throw new Error(
          `Cannot listen for HTTPS on ${hostname}:${port} again: ${
            error instanceof Error ? error.message : error
          }`,
        );
      }
    }
  }
  return {
    hostname,
    port,
    scheme,
    reloadTls() {
      if (!options.tls || stopped || reloading) return reloading ?? Promise.resolve();
      reloading = reload(options.tls).finally(() => reloading = null);
      return reloading;
    },
    async shutdown() {
      stopped = true;
      // A reload in progress may be starting the next server: stop that one.
      await reloading?.catch(() => {});
      await Promise.all([current.server.shutdown(), ...draining]);
    },
  };
}

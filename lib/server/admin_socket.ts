/**
 * The admin socket: a local Unix socket through which `jim admin` acts on a
 * running server at once (block, unblock, kick, logout-all, reset-password,
 * stats, rooms). It is created with mode 0600, so only the server's user (and root)
 * can connect. Each connection carries one request line and gets one answer
 * line (lib/protocol/admin_messages.ts).
 *
 * @module
 */

import {
  ADMIN_MAX_LINE,
  type AdminAnswer,
  type AdminRequest,
  type AdminStats,
  parseAdminRequest,
} from "../protocol/admin_messages.ts";
import { LIMITS } from "../protocol/validate.ts";
import type { Hub } from "./hub.ts";

/** Options for {@linkcode listenAdmin}. */
export interface AdminSocketOptions {
  /** Where to create the socket. */
  path: string;
  hub: Hub;
  /** Open client connections now, for `stats`. */
  connections: () => number;
  log?: (line: string) => void;
  /**
   * How long one admin connection may take to send its request, in ms.
   *
   * @default {5000}
   */
  timeoutMs?: number;
}

/** A listening admin socket. */
export interface AdminSocket extends AsyncDisposable {
  readonly path: string;
  /** Stops listening and removes the socket file. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/** Whether something answers on a Unix socket path (a live server, not a stale file). */
async function answers(path: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Listens on `path`. A stale socket left by a server that died is replaced;
 * one that a live server answers on is not.
 *
 * @throws {Error} "Cannot listen on admin socket PATH: …"
 */
export async function listenAdmin(options: AdminSocketOptions): Promise<AdminSocket> {
  const { path, hub } = options;
  const log = options.log ?? (() => {});
  const timeoutMs = options.timeoutMs ?? 5000;
  const started = performance.now();
  let listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  try {
    listener = Deno.listen({ transport: "unix", path });
  } catch (e) {
    if (!(e instanceof Deno.errors.AddrInUse)) {
      throw new Error(
        `Cannot listen on admin socket ${path}: ${e instanceof Error ? e.message : e}`,
      );
    }
    if (await answers(path)) {
      throw new Error(`Cannot listen on admin socket ${path}: another server is using it`);
    }
    await Deno.remove(path);
    listener = Deno.listen({ transport: "unix", path });
  }
  // At once, before anyone can connect in practice; the database's own
  // directory is 0700 as well. Where modes do not exist (Windows), no socket.
  try {
    Deno.chmodSync(path, 0o600);
  } catch (e) {
    listener.close();
    await Deno.remove(path).catch(() => {});
    throw new Error(
      `Cannot listen on admin socket ${path}: cannot make it private: ${
        e instanceof Error ? e.message : e
      }`,
    );
  }

  async function run(request: AdminRequest): Promise<AdminAnswer> {
    switch (request.command) {
      case "stats": {
        // In a cluster, the sum over the nodes that answered; rooms are the
        // cluster's on every node already, uptime is this node's.
        const stats: AdminStats = {
          connections: options.connections(),
          ...hub.stats(),
          uptime: Math.floor((performance.now() - started) / 1000),
          nodes: 1,
        };
        for (const node of await hub.otherNodesStats()) {
          stats.connections += node.connections;
          stats.online += node.online;
          stats.accounts += node.accounts;
          stats.guests += node.guests;
          stats.nodes++;
        }
        return { ok: true, message: "stats", stats };
      }
      case "rooms":
        return { ok: true, message: "rooms", rooms: await hub.rooms() };
      case "block":
        return await hub.block(request.name)
          ? { ok: true, message: `Blocked ${request.name}: disconnected, its tokens revoked` }
          : { ok: false, error: `Cannot block ${request.name}: no such account` };
      case "unblock":
        return await hub.unblock(request.name)
          ? { ok: true, message: `Unblocked ${request.name}: the account may log in again` }
          : { ok: false, error: `Cannot unblock ${request.name}: no such account` };
      case "kick":
        return await hub.adminKick(request.name)
          ? { ok: true, message: `Kicked ${request.name}` }
          : { ok: false, error: `Cannot kick ${request.name}: not online` };
      case "logout-all": {
        const revoked = await hub.logoutAll(request.name);
        return revoked === null
          ? { ok: false, error: `Cannot log out ${request.name}: no such account` }
          : { ok: true, message: `Logged out ${request.name}: ${revoked} token(s) revoked` };
      }
      case "reset-password": {
        const n = [...request.password].length;
        if (n < LIMITS.passwordMin || n > LIMITS.passwordMax) {
          return {
            ok: false,
            error:
              `Cannot reset the password of ${request.name}: it must have ${LIMITS.passwordMin} to ${LIMITS.passwordMax} characters`,
          };
        }
        return await hub.resetPassword(request.name, request.password)
          ? {
            ok: true,
            message: `Reset the password of ${request.name}: its tokens revoked, disconnected`,
          }
          : { ok: false, error: `Cannot reset the password of ${request.name}: no such account` };
      }
    }
  }

  async function serveOne(conn: Deno.UnixConn): Promise<void> {
    const timer = setTimeout(() => conn.close(), timeoutMs);
    try {
      const line = await readLine(conn);
      let answer: AdminAnswer;
      if (line === null) {
        answer = {
          ok: false,
          error: `Cannot read admin request: no line within ${ADMIN_MAX_LINE} bytes`,
        };
      } else {
        try {
          const request = parseAdminRequest(line);
          answer = await run(request);
          const target = "name" in request ? ` ${request.name}` : "";
          log(`admin: ${request.command}${target}: ${answer.ok ? "done" : answer.error}`);
        } catch (e) {
          answer = { ok: false, error: e instanceof Error ? e.message : String(e) };
        }
      }
      const bytes = encoder.encode(JSON.stringify(answer) + "\n");
      for (let written = 0; written < bytes.length;) {
        written += await conn.write(bytes.subarray(written));
      }
    } catch {
      // The admin client went away or timed out; nothing to answer.
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch { /* closed by the timer */ }
    }
  }

  const accepting = (async () => {
    for await (const conn of listener) void serveOne(conn);
  })().catch(() => {});

  let closed: Promise<void> | null = null;
  function close(): Promise<void> {
    return closed ??= (async () => {
      listener.close();
      await accepting;
      await Deno.remove(path).catch(() => {});
    })();
  }
  return { path, close, [Symbol.asyncDispose]: close };
}

/** Reads up to the first newline; null when none comes within the bound. */
async function readLine(conn: Deno.UnixConn): Promise<string | null> {
  const buf = new Uint8Array(ADMIN_MAX_LINE);
  let used = 0;
  while (used < buf.length) {
    const n = await conn.read(buf.subarray(used));
    if (n === null) break;
    const end = buf.subarray(used, used + n).indexOf(10);
    used += n;
    if (end >= 0) return new TextDecoder().decode(buf.subarray(0, used - n + end));
  }
  return null;
}

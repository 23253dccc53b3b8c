/**
 * Where the database lives when `--db` is not given.
 *
 * @module
 */

/** Reads environment variables; `Deno.env` fits, and so does a test map. */
export interface EnvReader {
  get(name: string): string | undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/**
 * The default database file: `$JIM_DB` if set, else
 * `$XDG_DATA_HOME/jim/jim.db`, else `$HOME/.local/share/jim/jim.db`. Empty
 * variables count as unset, and a relative `XDG_DATA_HOME` is ignored (the
 * XDG spec requires an absolute path).
 *
 * @example
 * ```ts
 * import { defaultDbPath } from "./db_path.ts";
 * const env = new Map([["HOME", "/home/ann"]]);
 * console.assert(defaultDbPath(env) === "/home/ann/.local/share/jim/jim.db");
 * ```
 *
 * @throws {Error} when none of JIM_DB, XDG_DATA_HOME and HOME is usable.
 */
export function defaultDbPath(env: EnvReader): string {
  const explicit = nonEmpty(env.get("JIM_DB"));
  if (explicit !== undefined) return explicit;
  const xdg = nonEmpty(env.get("XDG_DATA_HOME"));
  if (xdg !== undefined && xdg.startsWith("/")) return `${trimSlash(xdg)}/jim/jim.db`;
  const home = nonEmpty(env.get("HOME"));
  if (home !== undefined) return `${trimSlash(home)}/.local/share/jim/jim.db`;
  throw new Error(
    "Cannot choose a database file: neither HOME nor XDG_DATA_HOME is set (use --db PATH or JIM_DB)",
  );
}

function trimSlash(dir: string): string {
  return dir.replace(/\/+$/, "");
}

/**
 * The default admin socket of a server on `dbPath`: `DB.sock` beside the
 * database file, so `jim admin --db DB` finds it. Null for `:memory:` and
 * `file:` URIs, which have no directory of their own.
 *
 * @example
 * ```ts
 * import { defaultAdminSocket } from "./db_path.ts";
 * console.assert(defaultAdminSocket("/srv/jim/jim.db") === "/srv/jim/jim.db.sock");
 * ```
 */
export function defaultAdminSocket(dbPath: string): string | null {
  if (dbPath === ":memory:" || dbPath.startsWith("file:")) return null;
  return `${dbPath}.sock`;
}

/**
 * The database's place on disk: created private, and checked at start.
 *
 * The file holds password hashes and private offline mail, so it is created
 * 0600 in directories created 0700. SQLite gives its `-wal` and `-shm` files
 * the mode of the database file, so they follow. An existing file with a
 * wider mode is left alone (its owner may mean it) but is warned about.
 *
 * @module
 */

import { dirname } from "node:path";

/** Mode of a database file jim creates: owner read and write. */
export const FILE_MODE = 0o600;
/** Mode of a directory jim creates for the database: owner only. */
export const DIR_MODE = 0o700;

/** Whether `path` names a file (not `:memory:` or a `file:` URI). */
export function isFilePath(path: string): boolean {
  return path !== ":memory:" && path !== "" && !path.startsWith("file:");
}

/**
 * Creates the database's missing parent directories (0700) and an empty
 * database file (0600) if there is none, so that SQLite opens a file with
 * that mode rather than creating one by the umask.
 */
export function prepareDatabaseFile(path: string): void {
  if (!isFilePath(path) || Deno.build.os === "windows") return;
  Deno.mkdirSync(dirname(path), { recursive: true, mode: DIR_MODE });
  try {
    Deno.openSync(path, { write: true, createNew: true, mode: FILE_MODE }).close();
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
}

/**
 * One line for each of the database, its `-wal` and its `-shm` file that
 * exists and that users other than its owner may read or write.
 */
export function permissionWarnings(path: string): string[] {
  if (!isFilePath(path) || Deno.build.os === "windows") return [];
  const warnings: string[] = [];
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let mode: number | null;
    try {
      mode = Deno.statSync(file).mode;
    } catch {
      continue; // not there (yet): SQLite creates it with the database's mode
    }
    if (mode === null || (mode & 0o077) === 0) continue;
    const octal = (mode & 0o777).toString(8).padStart(4, "0");
    warnings.push(
      `warning: ${file} has mode ${octal}: other users can read or change accounts and offline mail; run chmod 600 ${file}`,
    );
  }
  return warnings;
}

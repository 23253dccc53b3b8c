/**
 * A throwaway PostgreSQL for tests and the bench: `initdb` into a temp dir,
 * `pg_ctl start` on a free loopback port with its socket in that dir, and a
 * stop that removes it all. As root (CI), the server runs as the `postgres`
 * user the Debian package creates, since initdb refuses root. When it cannot
 * start, it throws: a test that needs it fails, it never skips.
 *
 * @module
 */

const PG_BINS = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/local/bin"];

async function findBin(name: string): Promise<string> {
  for (const dir of PG_BINS) {
    try {
      await Deno.stat(`${dir}/${name}`);
      return `${dir}/${name}`;
    } catch {
      // next
    }
  }
  throw new Error(
    `Cannot start PostgreSQL: ${name} not found in ${
      PG_BINS.join(", ")
    } (apt-get install postgresql; .ci/run does)`,
  );
}

/** A free port on 127.0.0.1 (free now; the engine takes it at once). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function run(cmd: string[], what: string): Promise<void> {
  const out = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd: "/tmp",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`Cannot start PostgreSQL: ${what} failed: ${text.trim().slice(-500)}`);
  }
}

/** A running throwaway PostgreSQL. */
export interface TestPostgres extends AsyncDisposable {
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:PORT/DB` for a database of that name. */
  url(database: string): string;
  /** Creates a database (empty) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
  /** Stops the server at once (like a crash: `-m immediate`), keeping its files. */
  halt(): Promise<void>;
  /** Starts it again after {@linkcode halt}, on the same port and files. */
  resume(): Promise<void>;
  /** The same, blocking: for an `unload` handler, when a filtered run skipped the last test. */
  stopSync(): void;
}

/** Starts a PostgreSQL cluster on a free loopback port. */
export async function startPostgres(): Promise<TestPostgres> {
  const initdb = await findBin("initdb");
  const pgCtl = await findBin("pg_ctl");
  const psql = await findBin("psql");
  const root = Deno.uid() === 0;
  const dir = await Deno.makeTempDir({ prefix: "jim_pg_" });
  const as = (cmd: string[]) => root ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  if (root) await run(["chown", "postgres:postgres", dir], "chown");
  const data = `${dir}/data`;
  const port = freePort();
  let started = false;
  const stop = async () => {
    if (started) {
      started = false;
      await run(as([pgCtl, "-D", data, "-m", "immediate", "-w", "stop"]), "pg_ctl stop").catch(
        () => {},
      );
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const start = async () => {
    await run(
      as([
        pgCtl,
        "-D",
        data,
        "-l",
        `${dir}/server.log`,
        "-w",
        "-t",
        "30",
        "-o",
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on`,
        "start",
      ]),
      "pg_ctl start",
    );
    started = true;
  };
  try {
    await run(
      as([initdb, "-D", data, "--auth=trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"]),
      "initdb",
    );
    await start();
  } catch (e) {
    await stop();
    throw e;
  }
  const stopSync = () => {
    if (started) {
      started = false;
      new Deno.Command(as([pgCtl, "-D", data, "-m", "immediate", "-w", "stop"])[0]!, {
        args: as([pgCtl, "-D", data, "-m", "immediate", "-w", "stop"]).slice(1),
        cwd: "/tmp",
        stdout: "null",
        stderr: "null",
      }).outputSync();
    }
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // gone already
    }
  };
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async createDatabase(name: string) {
      await run(
        [
          psql,
          "-h",
          "127.0.0.1",
          "-p",
          String(port),
          "-U",
          "postgres",
          "-d",
          "postgres",
          "-c",
          `CREATE DATABASE "${name}"`,
        ],
        "createdb",
      );
      return url(name);
    },
    stop,
    stopSync,
    async halt() {
      if (!started) return;
      started = false;
      await run(as([pgCtl, "-D", data, "-m", "immediate", "-w", "stop"]), "pg_ctl stop");
    },
    resume: start,
    [Symbol.asyncDispose]: stop,
  };
}

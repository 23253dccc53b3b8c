/**
 * Test fixtures for a server in a child process (`deno run -A server.ts`), so
 * that what /proc reports (resident memory, open file descriptors) is the
 * server's own and not the test runner's, and so that it can be killed with
 * SIGKILL.
 *
 * @module
 */

const SERVER_PATH = new URL("../server.ts", import.meta.url).pathname;
const MAIN_PATH = new URL("../main.ts", import.meta.url).pathname;

/** What `jim admin` printed and how it exited (see {@linkcode admin}). */
export interface AdminRun {
  code: number;
  out: string[];
  err: string[];
}

/** Runs `jim admin ARGS` in a child process; its output as lines. */
export async function admin(
  args: string[],
  env: Record<string, string> = {},
): Promise<AdminRun> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_PATH, "admin", ...args],
    stdin: "null",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const lines = (bytes: Uint8Array) =>
    new TextDecoder().decode(bytes).split("\n").filter((line) => line !== "");
  return { code: result.code, out: lines(result.stdout), err: lines(result.stderr) };
}
const LISTENING = /jim server listening on ([^\s]+):(\d+)/;
/** Log kept for failure messages: the tail of the child's stderr. */
const LOG_KEEP = 64 * 1024;

/** Options for {@linkcode spawnServer}. */
export interface SpawnServerOptions {
  /** SQLite file. @default {":memory:"} */
  dbPath?: string;
  /** A PostgreSQL URL (`--store`) instead of the SQLite file. */
  store?: string;
  /** Deno's flags for the child (say, the server task's permissions). @default {["-A"]} */
  denoFlags?: string[];
  /** More `jim server` flags, e.g. `["--rate-limit", "0"]`. */
  args?: string[];
  /** Time to wait for the "listening" line, in ms. @default {20000} */
  startTimeoutMs?: number;
  /** A command that runs deno, e.g. `["prlimit", "--nofile=64", "--"]`. */
  prefix?: string[];
}

/** A server running in a child process. */
export interface ChildServer extends AsyncDisposable {
  readonly pid: number;
  readonly port: number;
  /** The tail of what the server has logged so far. */
  log(): string;
  /** Resolves when the process has exited (and its stderr is drained). */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Sends a signal (no-op once exited). */
  kill(signal?: Deno.Signal): void;
  /** Stops the server with SIGTERM and waits for it; SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<Deno.CommandStatus>;
}

/**
 * Starts `server.ts` on 127.0.0.1, port 0, and waits until it listens.
 * `--hash-iterations 1000` and `--rate-limit 0` (cheap hashing and no rate
 * limit, like `startServer`) apply unless `args` gives those flags.
 */
export async function spawnServer(options: SpawnServerOptions = {}): Promise<ChildServer> {
  const extra = options.args ?? [];
  const defaults = Object.entries({ "--hash-iterations": "1000", "--rate-limit": "0" })
    .filter(([flag]) => !extra.includes(flag)).flat();
  const args = [
    "run",
    ...(options.denoFlags ?? ["-A"]),
    SERVER_PATH,
    "-p",
    "0",
    "-a",
    "127.0.0.1",
    ...(options.store === undefined
      ? ["--db", options.dbPath ?? ":memory:"]
      : ["--store", options.store]),
    ...defaults,
    ...extra,
  ];
  const prefix = options.prefix ?? [];
  const child = new Deno.Command(prefix[0] ?? Deno.execPath(), {
    args: prefix.length > 0 ? [...prefix.slice(1), Deno.execPath(), ...args] : args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();

  let text = "";
  let resolvePort!: (port: number) => void;
  const portSeen = new Promise<number>((r) => resolvePort = r);
  const draining = (async () => {
    const decoder = new TextDecoder();
    // Drained to the end: a full pipe would block the server's logging.
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      const m = LISTENING.exec(text);
      if (m) resolvePort(Number(m[2]));
      if (text.length > 2 * LOG_KEEP) text = text.slice(-LOG_KEEP);
    }
  })();
  const exited = draining.then(() => child.status);
  let done = false;
  exited.then(() => done = true);

  const timeoutMs = options.startTimeoutMs ?? 20_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const port = await Promise.race([
    portSeen,
    exited.then((s) => -s.code - 1),
    new Promise<number>((r) => timer = setTimeout(() => r(0), timeoutMs)),
  ]).finally(() => clearTimeout(timer));
  if (port <= 0) {
    if (!done) child.kill("SIGKILL");
    await exited;
    throw new Error(
      `Cannot start server: ${port === 0 ? "timed out" : "it exited"}; log:\n${text}`,
    );
  }

  function kill(signal: Deno.Signal = "SIGTERM"): void {
    if (done) return;
    try {
      child.kill(signal);
    } catch { /* exited meanwhile */ }
  }

  async function stop(timeoutMs = 5000): Promise<Deno.CommandStatus> {
    kill("SIGTERM");
    let t: ReturnType<typeof setTimeout> | undefined;
    const forced = new Promise<void>((r) => t = setTimeout(r, timeoutMs));
    await Promise.race([exited, forced]);
    clearTimeout(t);
    kill("SIGKILL");
    return await exited;
  }

  return {
    pid: child.pid,
    port,
    log: () => text.slice(-LOG_KEEP),
    exited,
    kill,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

// -- /proc --
//
// Deno asks for --allow-all to touch /proc, which the test task does not
// grant; a small shell (under --allow-run) reads and writes it instead.

async function sh(script: string, pid: number): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", String(pid)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (code !== 0) throw new Error(`Cannot read /proc/${pid}: ${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

function kib(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  if (!m) throw new Error(`Cannot read ${field} from /proc status`);
  return Number(m[1]) * 1024;
}

/** Resident set size of a process, in bytes (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  return kib(await sh('cat "/proc/$1/status"', pid), "VmRSS");
}

/** Peak resident set size since start or the last {@linkcode resetPeakRss}, in bytes (VmHWM). */
export async function peakRssBytes(pid: number): Promise<number> {
  return kib(await sh('cat "/proc/$1/status"', pid), "VmHWM");
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0: `echo 5 > /proc/PID/clear_refs`). */
export async function resetPeakRss(pid: number): Promise<void> {
  await sh('echo 5 > "/proc/$1/clear_refs"', pid);
}

/** Open file descriptors of a process (entries of /proc/PID/fd). */
export async function fdCount(pid: number): Promise<number> {
  return Number((await sh('ls -1 "/proc/$1/fd" | wc -l', pid)).trim());
}

/** Bytes as MiB with one decimal, for messages. */
export function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/**
 * Samples a process's RSS every 20 ms until stopped; `stop()` returns the
 * highest sample, or VmHWM if higher (it also catches spikes between samples;
 * reset it first with {@linkcode resetPeakRss}).
 */
export function sampleRss(pid: number): { stop(): Promise<number> } {
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'while grep -h VmRSS "/proc/$1/status" 2>/dev/null; do sleep 0.02; done',
      "sh",
      String(pid),
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let max = 0;
  const reading = (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of child.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const m = /(\d+) kB/.exec(line);
        if (m) max = Math.max(max, Number(m[1]) * 1024);
      }
    }
  })();
  return {
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await reading;
      await child.status;
      try {
        max = Math.max(max, await peakRssBytes(pid));
      } catch { /* exited */ }
      return max;
    },
  };
}

/** Prints a measured figure; deno test shows it in the test's output section. */
export function report(line: string): void {
  // deno-lint-ignore no-console -- the measured figures are part of what these tests report
  console.log(line);
}

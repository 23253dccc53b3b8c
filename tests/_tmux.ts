/**
 * Test fixtures for the client in a real terminal: a tmux server of its own
 * with one pane, and a jim server child process on a fixed port.
 *
 * @module
 */

export const ROOT = new URL("..", import.meta.url).pathname;
export const COLUMNS = 100;
export const ROWS = 20;

export function hasTmux(): boolean {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** One tmux server (own socket) with one pane running the client. */
export class Tmux implements AsyncDisposable {
  readonly #socket = `jim-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  readonly #config: string;

  constructor(config: string) {
    this.#config = config;
  }

  async tmux(...args: string[]): Promise<string> {
    const out = await new Deno.Command("tmux", {
      args: ["-L", this.#socket, "-f", this.#config, ...args],
      stdout: "piped",
      stderr: "piped",
      env: { LC_ALL: "C.UTF-8", LANG: "C.UTF-8" },
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      throw new Error(`tmux ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return text;
  }

  async start(command: string[], env: Record<string, string>): Promise<void> {
    const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    await this.tmux(
      "new-session",
      "-d",
      "-x",
      String(COLUMNS),
      "-y",
      String(ROWS),
      ...envArgs,
      ...command,
    );
  }

  /** Types literal text. */
  type(text: string): Promise<string> {
    return this.tmux("send-keys", "-t", "0", "-l", text);
  }

  /** Presses named keys (tmux names: Enter, Left, BSpace, M-1, …). */
  press(...keys: string[]): Promise<string> {
    return this.tmux("send-keys", "-t", "0", ...keys);
  }

  async screen(): Promise<string[]> {
    return (await this.tmux("capture-pane", "-p", "-t", "0")).replace(/\n$/, "").split("\n");
  }

  async cursor(): Promise<[number, number]> {
    const [x, y] = (await this.tmux("display-message", "-p", "-t", "0", "#{cursor_x} #{cursor_y}"))
      .trim().split(" ").map(Number);
    return [x!, y!];
  }

  /** Polls the screen until `predicate` holds; fails after 15 s showing the screen. */
  async waitFor(what: string | ((screen: string[]) => boolean)): Promise<string[]> {
    const test = typeof what === "string" ? (s: string[]) => s.join("\n").includes(what) : what;
    const deadline = Date.now() + 15_000;
    while (true) {
      const screen = await this.screen();
      if (test(screen)) return screen;
      if (Date.now() > deadline) {
        throw new Error(`screen never showed ${String(what)}:\n${screen.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The pid of the pane's own process. */
  async panePid(): Promise<number> {
    return Number((await this.tmux("display-message", "-p", "-t", "0", "#{pane_pid}")).trim());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.tmux("kill-server").catch(() => "");
  }
}

/**
 * A shell line that runs the client, then shows "client exited with status
 * N" and "echo is echo" (or "-echo", when the client left echo off).
 */
const REPORT = '"$@"; echo "client exited with status $?"; ' +
  'echo "echo is $(stty -a | tr " " "\\n" | grep -x -- "-\\?echo")"; exec sleep 60';

/** Options for {@linkcode startClient}. */
export interface ClientInTmuxOptions {
  /** A folder for tmux's config. */
  dir: string;
  /** The client's environment, beside TERM=xterm-256color and LC_ALL=C.UTF-8. */
  env?: Record<string, string>;
  /**
   * The entry to run, beside the repository's root: `main.ts` runs `jim`
   * (then `args` start with its command, e.g. `admin`).
   * @default {"client.ts"}
   */
  entry?: "client.ts" | "main.ts";
  /**
   * Runs the client through a shell that reports, once it ends, its exit
   * status and whether echo is on (see REPORT).
   * @default {false}
   */
  report?: boolean;
}

/** Starts a tmux of its own (no status line) whose one pane runs `client.ts ARGS` (or `entry`). */
export async function startClient(args: string[], options: ClientInTmuxOptions): Promise<Tmux> {
  const config = `${options.dir}/tmux.conf`;
  await Deno.writeTextFile(config, "set -g status off\n");
  const term = new Tmux(config);
  const client = [Deno.execPath(), "run", "-A", `${ROOT}${options.entry ?? "client.ts"}`, ...args];
  try {
    await term.start(options.report ? ["sh", "-c", REPORT, "sh", ...client] : client, {
      TERM: "xterm-256color",
      LC_ALL: "C.UTF-8",
      ...options.env,
    });
  } catch (error) {
    await term[Symbol.asyncDispose]();
    throw error;
  }
  return term;
}

/** The pid of the client that {@linkcode startClient} started with `report`: the shell's child. */
export async function reportedClientPid(term: Tmux): Promise<number> {
  const shell = await term.panePid();
  const out = await new Deno.Command("ps", { args: ["-o", "pid=", "--ppid", String(shell)] })
    .output();
  const children = new TextDecoder().decode(out.stdout);
  const [pid, ...others] = children.trim().split(/\s+/).map(Number);
  if (pid === undefined || others.length > 0 || !(pid > 0)) {
    throw new Error(`Cannot find the client: the shell's children are "${children}"`);
  }
  return pid;
}

/** A server child process on a fixed port, so that it can be killed and started again. */
export async function startServer(port: number, db: string): Promise<{ kill(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}server.ts`,
      "-p",
      String(port),
      "-a",
      "127.0.0.1",
      "--db",
      db,
      "--hash-iterations",
      "1000",
      "--rate-limit",
      "0",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  let listening!: () => void;
  const ready = new Promise<void>((r) => listening = r);
  const drained = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      log += decoder.decode(chunk);
      if (log.includes("listening on")) listening();
    }
  })();
  const timeout = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await Promise.race([
    ready,
    drained.then(() => Promise.reject(new Error(`server exited:\n${log}`))),
  ]);
  clearTimeout(timeout);
  return {
    async kill() {
      child.kill("SIGKILL");
      await child.status;
      await drained;
    },
  };
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

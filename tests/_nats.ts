/**
 * A throwaway nats-server with JetStream for tests and the bench, on a free
 * loopback port (`-p -1`, read back from its ports file) with its store in
 * a temp dir. When it cannot start, it throws: tests that need it fail.
 *
 * @module
 */

const NATS_SERVER = "/usr/sbin/nats-server";

/** A running nats-server. */
export interface TestNats extends AsyncDisposable {
  readonly port: number;
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly pid: number;
  /** Stops it (SIGTERM) and removes its files. */
  stop(): Promise<void>;
  /** Stops it at once, like a crash (SIGKILL), keeping its files for a restart. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
}

/** Options for {@linkcode startNats}. */
export interface StartNatsOptions {
  /** More nats-server flags, e.g. `["--user", "u", "--pass", "p"]`. */
  args?: string[];
}

/** Starts nats-server with JetStream on 127.0.0.1. */
export async function startNats(options: StartNatsOptions = {}): Promise<TestNats> {
  try {
    await Deno.stat(NATS_SERVER);
  } catch {
    throw new Error(
      `Cannot start nats-server: ${NATS_SERVER} not found (apt-get install nats-server; .ci/run does)`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "jim_nats_" });
  let port = -1;
  let child: Deno.ChildProcess;

  const launch = async () => {
    const portsDir = await Deno.makeTempDir({ dir, prefix: "ports_" });
    child = new Deno.Command(NATS_SERVER, {
      args: [
        "-js",
        "-a",
        "127.0.0.1",
        "-p",
        String(port),
        "-sd",
        `${dir}/js`,
        "--ports_file_dir",
        portsDir,
        ...(options.args ?? []),
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    // It writes the ports file once it listens (20–50 ms here).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const file = `${portsDir}/nats-server_${child.pid}.ports`;
      try {
        const ports = JSON.parse(await Deno.readTextFile(file));
        const addr = String(ports.nats[0]);
        port = Number(addr.slice(addr.lastIndexOf(":") + 1));
        return;
      } catch {
        // not yet written
      }
      if (Date.now() > deadline) {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
        throw new Error("Cannot start nats-server: no ports file within 10 s");
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await launch();

  const kill = async (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* exited */ }
    await child.status;
  };
  const stop = async () => {
    await kill("SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    get port() {
      return port;
    },
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get pid() {
      return child.pid;
    },
    stop,
    kill: () => kill("SIGKILL"),
    restart: launch,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * nats-server, the optional upper bound: a message broker with no presence,
 * accounts or JSON. Find or install it (`apt-get install nats-server`, as
 * root) and build its command line for one run on 127.0.0.1.
 *
 * @module
 */

import { type BinaryLookup, ensureDebianBinary } from "./apt.ts";

/**
 * Finds nats-server, installing it with apt-get when missing and `install` is
 * set. Never throws: a machine without it runs the rest of the suite.
 */
export function ensureNats(install: boolean, log: (s: string) => void): Promise<BinaryLookup> {
  return ensureDebianBinary(
    {
      pkg: "nats-server",
      candidates: ["/usr/bin/nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"],
      versionArgs: ["--version"],
    },
    install,
    log,
  );
}

/**
 * nats-server's arguments for one run on 127.0.0.1:`port`, with its defaults
 * otherwise (no monitoring port, no clustering, no JetStream).
 */
export function natsArgs(port: number): string[] {
  return ["-a", "127.0.0.1", "-p", String(port)];
}

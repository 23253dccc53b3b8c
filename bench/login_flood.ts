// deno-lint-ignore-file no-console -- a command-line report
/**
 * Login latency under a registration flood: ten source addresses keep
 * registrations coming while one user logs in now and then, at the
 * production hash cost. Prints the login latency idle and under the flood.
 *
 * The hub is driven in process through its {@linkcode Peer} interface,
 * because every test client on one machine shares the address 127.0.0.1 and
 * the point is how turns are shared between addresses. The store is a real
 * SQLite file.
 *
 * Usage: `deno run -A bench/login_flood.ts [--addresses N] [--per-address N]
 * [--logins N] [--iterations N]`
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import type { Outgoing } from "../lib/protocol/codec.ts";
import type { Request } from "../lib/protocol/messages.ts";
import { Hub, type Peer, type Pin } from "../lib/server/hub.ts";
import { SERVER_DEFAULTS } from "../lib/server/options.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";

class BenchPeer implements Peer {
  readonly address: string;
  constructor(address: string) {
    this.address = address;
  }
  send(_: Outgoing): boolean {
    return true;
  }
  drain(): Promise<boolean> {
    return Promise.resolve(true);
  }
  close(): void {}
  abort(): void {}
  // Written at once: nothing is ever held back.
  pin(): Pin {
    return "gone";
  }
  unpin(): boolean {
    return false;
  }
}

const flags = parseArgs(Deno.args, {
  string: ["addresses", "per-address", "logins", "iterations"],
});
const addresses = Number(flags.addresses ?? 10);
const perAddress = Number(flags["per-address"] ?? 5);
const logins = Number(flags.logins ?? 5);
const iterations = Number(flags.iterations ?? SERVER_DEFAULTS.hashIterations);

const dir = await Deno.makeTempDir({ prefix: "jim_login_flood_" });
const store = SqliteStore.open(`${dir}/flood.db`);
const hub = await Hub.create({
  store,
  // The hourly registration limit is off, so that the flood lasts the run
  // (the worst case); every other limit is at its default.
  settings: { ...SERVER_DEFAULTS, hashIterations: iterations, registerLimit: 0 },
});

function request(action: "register" | "authenticate", name: string): Request {
  return { action, time: 1, user: { account_name: name, password: "long enough" } };
}

async function loginMs(): Promise<number> {
  const session = hub.connect(new BenchPeer("192.168.1.20"));
  const t0 = performance.now();
  const r = await hub.handle(session, request("authenticate", "owner"));
  const ms = performance.now() - t0;
  await hub.disconnect(session);
  if (r.response !== 200) throw new Error(`Cannot log in: ${JSON.stringify(r)}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const owner = hub.connect(new BenchPeer("192.168.1.20"));
await hub.handle(owner, request("register", "owner"));
await hub.disconnect(owner);

const idle: number[] = [];
for (let i = 0; i < logins; i++) idle.push(await loginMs());

let flooding = true;
let created = 0;
let refused = 0;
let serial = 0;
async function flooder(address: string): Promise<void> {
  while (flooding) {
    const session = hub.connect(new BenchPeer(address));
    const r = await hub.handle(session, request("register", `junk${serial++}`));
    await hub.disconnect(session);
    if (r.response === 201) created++;
    else {
      refused++;
      // Refused at once: a real client would wait for its answer's round trip.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
const flood: Promise<void>[] = [];
for (let a = 0; a < addresses; a++) {
  for (let i = 0; i < perAddress; i++) flood.push(flooder(`10.0.${a}.1`));
}
// Let the queue fill before measuring.
await new Promise((resolve) => setTimeout(resolve, 1000));
const loaded: number[] = [];
for (let i = 0; i < logins; i++) loaded.push(await loginMs());
flooding = false;
await Promise.all(flood);
await store.close();
await Deno.remove(dir, { recursive: true });

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
console.log(
  `login latency, ${iterations} iterations, hash concurrency ${SERVER_DEFAULTS.hashConcurrency}: ` +
    `idle median ${fmt(median(idle))}; with ${addresses} addresses flooding registrations ` +
    `(${perAddress} at a time each) median ${fmt(median(loaded))}, max ${
      fmt(Math.max(...loaded))
    } (${created} accounts created, ${refused} registrations refused meanwhile)`,
);

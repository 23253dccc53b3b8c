/**
 * ngircd, the production chat server we compare with: find or install it
 * (`apt-get install ngircd`, as root), and write a minimal config for one
 * run: flood protection off, no per-address cap, no DNS or ident lookups.
 *
 * @module
 */

import { type BinaryLookup, ensureDebianBinary } from "./apt.ts";

/** The ngircd binary and its version, or why there is none. */
export type NgircdLookup = BinaryLookup;

/**
 * Finds ngircd, installing it with apt-get when missing and `install` is set.
 * Never throws: a machine without it runs the rest of the suite.
 */
export function ensureNgircd(install: boolean, log: (s: string) => void): Promise<NgircdLookup> {
  return ensureDebianBinary(
    {
      pkg: "ngircd",
      candidates: ["/usr/sbin/ngircd", "/usr/bin/ngircd", "/usr/local/sbin/ngircd"],
      versionArgs: ["--version"],
    },
    install,
    log,
  );
}

/**
 * A minimal ngircd config for one benchmark run on 127.0.0.1:`port`.
 * `MaxPenaltyTime = 0` turns off flood protection (else one client gets about
 * five messages a second) and `MaxConnectionsIP = 0` lifts the per-address cap.
 */
export function ngircdConfig(port: number, dir: string): string {
  return `[Global]
Name = bench.irc
Info = jim benchmark peer
AdminInfo1 = jim bench
AdminInfo2 = localhost
AdminEMail = root@localhost
Listen = 127.0.0.1
Ports = ${port}
MotdPhrase = bench
PidFile = ${dir}/ngircd.pid
HelpFile = /dev/null

[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 15
MaxPenaltyTime = 0
PingTimeout = 600
PongTimeout = 600

[Options]
DNS = no
Ident = no
PAM = no
`;
}

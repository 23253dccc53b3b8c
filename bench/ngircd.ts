/**
 * ngircd, the production chat server we compare with: find or install it
 * (`apt-get install ngircd`, as root), and write a minimal config for one
 * run: flood protection off, no per-address cap, no DNS or ident lookups.
 *
 * @module
 */

/** Where Debian puts the binary. */
const CANDIDATES = ["/usr/sbin/ngircd", "/usr/bin/ngircd", "/usr/local/sbin/ngircd"];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function findBinary(): Promise<string | null> {
  for (const path of CANDIDATES) if (await exists(path)) return path;
  return null;
}

async function run(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "null",
      stderr: "piped",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** The ngircd binary and its version, or why there is none. */
export type NgircdLookup = { path: string; version: string } | { path: null; reason: string };

/**
 * Finds ngircd, installing it with apt-get when missing and `install` is set.
 * Never throws: a machine without it runs the rest of the suite.
 */
export async function ensureNgircd(
  install: boolean,
  log: (s: string) => void,
): Promise<NgircdLookup> {
  let path = await findBinary();
  if (!path && install) {
    log("ngircd is missing: installing it with apt-get (Debian package ngircd)");
    if (!await run("apt-get", ["install", "-y", "-q", "ngircd"])) {
      await run("apt-get", ["update", "-q"]);
      await run("apt-get", ["install", "-y", "-q", "ngircd"]);
    }
    path = await findBinary();
  }
  if (!path) {
    return {
      path: null,
      reason: install
        ? "ngircd could not be installed (apt-get install ngircd failed)"
        : "ngircd is not installed",
    };
  }
  let version = "unknown";
  try {
    const out = await new Deno.Command(path, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    version = new TextDecoder().decode(out.stdout).split("\n")[0]?.trim() ?? version;
  } catch {
    // keep "unknown"
  }
  return { path, version };
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

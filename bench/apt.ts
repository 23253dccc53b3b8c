/**
 * Finds a reference server's binary, installing its Debian package with
 * `apt-get install` (as root) when it is missing. Never throws: a machine
 * without the peer runs the rest of the suite.
 *
 * @module
 */

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function findBinary(candidates: string[]): Promise<string | null> {
  for (const path of candidates) if (await exists(path)) return path;
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

/** A peer's binary and its version, or why there is none. */
export type BinaryLookup = { path: string; version: string } | { path: null; reason: string };

/** What to look for and how to install it. */
export interface DebianBinary {
  /** The Debian package, e.g. `ngircd`. */
  pkg: string;
  /** Where the package puts the binary, in order of preference. */
  candidates: string[];
  /** Arguments that make the binary print its version on stdout or stderr. */
  versionArgs: string[];
}

/**
 * Finds `spec`'s binary, installing its package with apt-get when missing and
 * `install` is set (`apt-get update` once if the first attempt fails).
 */
export async function ensureDebianBinary(
  spec: DebianBinary,
  install: boolean,
  log: (s: string) => void,
): Promise<BinaryLookup> {
  let path = await findBinary(spec.candidates);
  if (!path && install) {
    log(`${spec.pkg} is missing: installing it with apt-get (Debian package ${spec.pkg})`);
    const args = ["install", "-y", "-q", spec.pkg];
    if (!await run("apt-get", args)) {
      await run("apt-get", ["update", "-q"]);
      await run("apt-get", args);
    }
    path = await findBinary(spec.candidates);
  }
  if (!path) {
    return {
      path: null,
      reason: install
        ? `${spec.pkg} could not be installed (apt-get install ${spec.pkg} failed)`
        : `${spec.pkg} is not installed`,
    };
  }
  let version = "unknown";
  try {
    const out = await new Deno.Command(path, {
      args: spec.versionArgs,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) || new TextDecoder().decode(out.stderr);
    version = text.split("\n")[0]?.trim() || version;
  } catch {
    // keep "unknown"
  }
  return { path, version };
}

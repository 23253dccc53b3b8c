/**
 * A typed wrapper over std's untyped `parseArgs`, shared by the server, admin
 * and client entries: unknown flags and malformed values become a
 * {@linkcode UsageError}, which entries turn into one line, the usage, and exit 2.
 *
 * @module
 */

import { parseArgs as stdParseArgs } from "@std/cli/parse-args";

/** A command line that cannot be used; entries print it with the usage and exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What {@linkcode parseFlags} accepts. */
export interface FlagSpec {
  /** Flags that take a value. */
  string?: readonly string[];
  /** Flags that are on or off. */
  boolean?: readonly string[];
  /** Boolean flags that also accept `--no-NAME`. */
  negatable?: readonly string[];
  /** Short names: `{ p: "port" }`. */
  alias?: Readonly<Record<string, string>>;
  /** Defaults, by long name. */
  default?: Readonly<Record<string, string | boolean>>;
}

/** Parsed flags: values by long name, and the positional arguments. */
export interface ParsedFlags {
  values: Record<string, string | boolean | undefined>;
  positional: string[];
}

/**
 * Parses `args` by `spec`.
 *
 * @throws {UsageError} on an unknown flag, a value flag without its value, or a repeated flag
 */
export function parseFlags(args: readonly string[], spec: FlagSpec): ParsedFlags {
  const known = new Set<string>([
    ...(spec.string ?? []),
    ...(spec.boolean ?? []),
    ...Object.keys(spec.alias ?? {}),
  ]);
  let unknown: string | null = null;
  const parsed = stdParseArgs([...args], {
    string: [...(spec.string ?? [])],
    boolean: [...(spec.boolean ?? [])],
    negatable: [...(spec.negatable ?? [])],
    alias: { ...(spec.alias ?? {}) },
    default: { ...(spec.default ?? {}) },
    unknown(arg: string, key?: string) {
      if (key === undefined) return true; // a positional argument
      if (!known.has(key) && unknown === null) unknown = arg;
      return false;
    },
  }) as Record<string, unknown> & { _: unknown[] };
  if (unknown !== null) throw new UsageError(`unknown option ${String(unknown).split("=")[0]}`);
  const values: ParsedFlags["values"] = {};
  for (const name of spec.string ?? []) {
    const v = parsed[name];
    if (Array.isArray(v)) throw new UsageError(`--${name} given more than once`);
    if (v !== undefined && typeof v !== "string") throw new UsageError(`--${name} needs a value`);
    if (v === "" && args.some((a) => a === `--${name}` || a === `-${shortOf(spec, name)}`)) {
      throw new UsageError(`--${name} needs a value`);
    }
    values[name] = v;
  }
  for (const name of spec.boolean ?? []) values[name] = parsed[name] === true;
  return { values, positional: parsed._.map(String) };
}

function shortOf(spec: FlagSpec, name: string): string {
  for (const [short, long] of Object.entries(spec.alias ?? {})) if (long === name) return short;
  return name;
}

/** An integer flag within `[min, max]`, or `fallback` when absent. */
export function intFlag(
  values: ParsedFlags["values"],
  name: string,
  range: { min: number; max: number },
): number | undefined {
  const raw = values[name];
  if (raw === undefined || typeof raw === "boolean") return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(
      `--${name} must be a whole number from ${range.min} to ${range.max}, got "${raw}"`,
    );
  }
  return n;
}

/** A TCP port from a flag or positional argument. */
export function parsePort(raw: string, options: { what?: string; min?: 0 | 1 } = {}): number {
  const { what = "port", min = 1 } = options;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > 65535) {
    throw new UsageError(`${what} must be a number from ${min} to 65535, got "${raw}"`);
  }
  return n;
}

/**
 * The one typed wrapper over std's untyped `parseArgs`, shared by the server,
 * client and admin entries. Every command-line mistake becomes a
 * {@linkcode UsageError} whose message reads "Cannot <action>: <state>";
 * entries print it as one line after their name, then their usage, and exit 2.
 *
 * @example
 * ```ts
 * import { intFlag, parseFlags } from "./parse.ts";
 * const { values, flags, positional } = parseFlags(["-n", "3", "--quiet", "x"], {
 *   string: ["count"],
 *   boolean: ["quiet"],
 *   alias: { n: "count" },
 * });
 * console.assert(intFlag(values, "count", { min: 1, max: 9 }) === 3);
 * console.assert(flags.quiet && positional[0] === "x");
 * ```
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";

/** A command line that cannot be used; entries print it with the usage and exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What {@linkcode parseFlags} accepts. */
export interface FlagSpec<V extends string, B extends string> {
  /** Flags that take a value (`--db PATH`, `--db=PATH`): at most once each, never empty. */
  string?: readonly V[];
  /** Flags that are on or off (default off). */
  boolean?: readonly B[];
  /** Boolean flags that default to on and accept `--no-NAME`. */
  negatable?: readonly B[];
  /** Short names: `{ p: "port" }`. */
  alias?: Readonly<Record<string, V | B>>;
}

/** What {@linkcode parseFlags} found. */
export interface ParsedFlags<V extends string, B extends string> {
  /** Each value flag's text; `undefined` when not given. */
  values: Readonly<Record<V, string | undefined>>;
  /** Each boolean flag. */
  flags: Readonly<Record<B, boolean>>;
  /** The other arguments, exactly as given (also those after `--`). */
  positional: string[];
}

/**
 * Parses `args` by `spec`. A value flag followed by a negative number takes
 * it as its value (`--rate-limit -1`), so range checks can name the flag.
 *
 * @throws {UsageError} on an unknown option, a value flag given twice or
 * without its value
 */
export function parseFlags<const V extends string = never, const B extends string = never>(
  args: readonly string[],
  spec: FlagSpec<V, B>,
): ParsedFlags<V, B> {
  const strings: readonly string[] = spec.string ?? [];
  const negatable: readonly string[] = spec.negatable ?? [];
  const alias: Readonly<Record<string, string>> = spec.alias ?? {};
  const positional: string[] = [];
  let unknown: string | undefined;
  const parsed: Record<string, unknown> & { _: unknown[] } = parseArgs(
    joinNegativeValues(args, strings, alias),
    {
      string: [...strings],
      boolean: [...(spec.boolean ?? [])],
      negatable: [...negatable],
      collect: [...strings],
      alias: { ...alias },
      default: Object.fromEntries(negatable.map((name) => [name, true])),
      unknown(arg: string, key?: string): boolean {
        if (key === undefined) positional.push(arg);
        else unknown ??= arg.startsWith("--") ? arg.split("=")[0] : `-${key}`;
        return false;
      },
    },
  );
  if (unknown !== undefined) {
    throw new UsageError(`Cannot parse arguments: unknown option ${unknown}`);
  }
  const values = {} as Record<V, string | undefined>; // filled for every V below
  for (const name of spec.string ?? []) {
    const raw = parsed[name];
    const given = Array.isArray(raw) ? raw.map(String) : raw === undefined ? [] : [String(raw)];
    if (given.length > 1) throw new UsageError(`Cannot parse --${name}: given more than once`);
    if (given[0] === "") throw new UsageError(`Cannot parse --${name}: a value is required`);
    values[name] = given[0];
  }
  const flags = {} as Record<B, boolean>; // filled for every B below
  for (const name of spec.boolean ?? []) flags[name] = parsed[name] === true;
  positional.push(...parsed._.map(String)); // after `--`
  return { values, flags, positional };
}

/** `--rate-limit -1` → `--rate-limit=-1`: std would read `-1` as an option of its own. */
function joinNegativeValues(
  args: readonly string[],
  strings: readonly string[],
  alias: Readonly<Record<string, string>>,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const short = arg.slice(1);
    const name = arg.startsWith("--")
      ? arg.slice(2)
      : arg.startsWith("-") && Object.hasOwn(alias, short)
      ? alias[short]
      : undefined;
    const next = args[i + 1];
    if (
      name !== undefined && strings.includes(name) && next !== undefined && /^-[\d.]/.test(next)
    ) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** A whole number within `range`; `what` names it in the error (`--retries`, `PORT`). */
function wholeNumber(raw: string, what: string, range: { min: number; max: number }): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(
      `Cannot parse ${what}: expected a whole number from ${range.min} to ${range.max}, got "${raw}"`,
    );
  }
  return n;
}

/**
 * The whole number a value flag gives, or `undefined` when it is absent.
 *
 * @throws {UsageError} when it is not a whole number within `range`
 */
export function intFlag<V extends string>(
  values: Readonly<Record<V, string | undefined>>,
  name: V,
  range: { min: number; max: number },
): number | undefined {
  const raw = values[name];
  return raw === undefined ? undefined : wholeNumber(raw, `--${name}`, range);
}

/**
 * A TCP port from a flag or positional argument; `what` names it in the
 * error (default `PORT`), `min` is 0 where the system may pick one.
 *
 * @throws {UsageError} when it is not a whole number from `min` to 65535
 */
export function parsePort(raw: string, options: { what?: string; min?: 0 | 1 } = {}): number {
  return wholeNumber(raw, options.what ?? "PORT", { min: options.min ?? 1, max: 65535 });
}

/**
 * Refuses positional arguments past the first `max`.
 *
 * @throws {UsageError} naming the first extra one
 */
export function limitPositional(positional: readonly string[], max: number): void {
  const extra = positional[max];
  if (extra !== undefined) {
    throw new UsageError(`Cannot parse arguments: unexpected argument "${extra}"`);
  }
}

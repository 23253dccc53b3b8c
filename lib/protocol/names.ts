/**
 * What makes two names (or room names) the same to a reader's eye. A name's
 * _skeleton_ is NFKC, then the confusable skeleton of Unicode Technical
 * Standard #39 (section 4): NFD, each character replaced by its prototype
 * from the Unicode confusables table, NFD again. `alice`, `ａｌｉｃｅ`
 * (fullwidth), `𝐚𝐥𝐢𝐜𝐞` (mathematical bold) and `аlice` (Cyrillic а) share one
 * skeleton, so only one of them can be in use. Names themselves are kept and
 * shown as typed.
 *
 * The table is `confusables.txt` of Unicode 13.0.0, as the npm package
 * `unhomoglyph@1.0.6` ships it (`data.json`: character → prototype), imported
 * statically so that it is part of the program (and of `deno compile`).
 *
 * @module
 */

import confusables from "unhomoglyph/data.json" with { type: "json" };

/** The Unicode version of the confusables table. */
export const CONFUSABLES_VERSION = "13.0.0";

const PROTOTYPES: ReadonlyMap<string, string> = new Map(
  Object.entries(confusables as Record<string, string>),
);

/**
 * Characters that render as nothing or as blank space and would let two
 * names look alike: every Default_Ignorable_Code_Point (joiners, variation
 * selectors, the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, …), and
 * blank letters and symbols that Unicode does not list as ignorable.
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\u2800\u{1D159}\u{1D173}-\u{1D17A}]/u;

function hex(c: string): string {
  return "U+" + c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
}

/**
 * The first invisible or filler character in `name`, as `U+XXXX`, or null
 * when there is none.
 */
export function invisibleIn(name: string): string | null {
  const m = INVISIBLE.exec(name);
  return m ? hex(m[0]) : null;
}

/** The skeleton of a name: two names look alike when their skeletons are equal. */
export function skeleton(name: string): string {
  let out = "";
  for (const c of name.normalize("NFKC").normalize("NFD")) out += PROTOTYPES.get(c) ?? c;
  return out.normalize("NFD");
}

/**
 * A map from names to values that also finds a key that looks like a given
 * name (same {@linkcode skeleton}). `get`, `has` and iteration are a plain
 * Map's: only `set` and `delete` pay for the skeleton.
 */
export class NameMap<V> extends Map<string, V> {
  /** Skeleton → the key that holds it. */
  readonly #bySkeleton = new Map<string, string>();
  /** Further keys of a skeleton held already (only data older than the check has them). */
  readonly #twins = new Map<string, string[]>();

  override set(key: string, value: V): this {
    if (!super.has(key)) {
      const s = skeleton(key);
      if (!this.#bySkeleton.has(s)) this.#bySkeleton.set(s, key);
      else this.#twins.set(s, [...(this.#twins.get(s) ?? []), key]);
    }
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    if (!super.delete(key)) return false;
    const s = skeleton(key);
    const twins = this.#twins.get(s);
    if (this.#bySkeleton.get(s) === key) {
      const next = twins?.shift();
      if (next === undefined) this.#bySkeleton.delete(s);
      else this.#bySkeleton.set(s, next);
    } else if (twins) {
      twins.splice(twins.indexOf(key), 1);
    }
    if (twins?.length === 0) this.#twins.delete(s);
    return true;
  }

  override clear(): void {
    super.clear();
    this.#bySkeleton.clear();
    this.#twins.clear();
  }

  /** A key other than `name` that looks like it, or undefined. */
  lookalike(name: string): string | undefined {
    const s = skeleton(name);
    const key = this.#bySkeleton.get(s);
    if (key !== name) return key;
    return this.#twins.get(s)?.[0];
  }
}

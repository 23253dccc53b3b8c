/**
 * Terminal column widths of text: Cyrillic and Latin take one column, CJK
 * and emoji two, combining marks and joiners none. Measured per grapheme
 * cluster, the unit a terminal draws and a cursor steps over.
 *
 * std's `unicode_width` would serve, but the npm mirror we import std from
 * ships it without its data table, so this module carries its own.
 *
 * @module
 */

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** East Asian Wide and Fullwidth ranges (Unicode 15), emoji excluded: those go by property. */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x2329, 0x232a],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f200, 0x1f251],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\p{Cc}]$/u;
const EMOJI_PRESENTATION = /^\p{Emoji_Presentation}$/u;
const PICTOGRAPHIC = /^\p{Extended_Pictographic}$/u;
const VS16 = 0xfe0f;
const ZWJ = 0x200d;

function isWide(cp: number): boolean {
  if (cp < 0x1100) return false;
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = WIDE[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Columns one code point takes on its own: 0, 1 or 2. */
export function codePointWidth(cp: number): 0 | 1 | 2 {
  if (cp >= 0x20 && cp < 0x7f) return 1; // fast path: printable ASCII
  const c = String.fromCodePoint(cp);
  if (ZERO_WIDTH.test(c)) return 0;
  if (cp >= 0x1160 && cp <= 0x11ff) return 0; // Hangul medial vowels and final consonants
  if (isWide(cp) || EMOJI_PRESENTATION.test(c)) return 2;
  return 1;
}

/** Columns one grapheme cluster takes. */
export function graphemeWidth(cluster: string): number {
  const first = cluster.codePointAt(0);
  if (first === undefined) return 0;
  let width: number = codePointWidth(first);
  if (cluster.length > 1) {
    // An emoji sequence (text-style base + VS16, or joined by ZWJ) is drawn wide.
    const pictographic = PICTOGRAPHIC.test(String.fromCodePoint(first));
    for (const ch of cluster) {
      const cp = ch.codePointAt(0)!;
      if ((cp === VS16 || cp === ZWJ) && pictographic) return 2;
    }
    if (width === 0) {
      // A lone mark or joiner leading the cluster: take the widest part.
      for (const ch of cluster) width = Math.max(width, codePointWidth(ch.codePointAt(0)!));
    }
  }
  return width;
}

/** The grapheme clusters of `text`, in order. */
export function graphemes(text: string): string[] {
  const out: string[] = [];
  for (const { segment } of segmenter.segment(text)) out.push(segment);
  return out;
}

/** Columns `text` takes on a terminal. */
export function stringWidth(text: string): number {
  if (/^[\x20-\x7e]*$/.test(text)) return text.length;
  let width = 0;
  for (const { segment } of segmenter.segment(text)) width += graphemeWidth(segment);
  return width;
}

/** The longest prefix of `text` that fits in `columns`, never splitting a cluster. */
export function truncateToWidth(text: string, columns: number): string {
  let width = 0;
  let end = 0;
  for (const { segment, index } of segmenter.segment(text)) {
    const w = graphemeWidth(segment);
    if (width + w > columns) return text.slice(0, index);
    width += w;
    end = index + segment.length;
  }
  return text.slice(0, end);
}

/** `text` cut to `columns` and padded with spaces to exactly that width. */
export function fitToWidth(text: string, columns: number): string {
  const cut = truncateToWidth(text, columns);
  return cut + " ".repeat(Math.max(0, columns - stringWidth(cut)));
}

/**
 * Splits `text` into rows of at most `columns` columns, breaking after a
 * space where one is near, else between clusters. Always at least one row.
 */
export function wrapToWidth(text: string, columns: number): string[] {
  if (columns < 1) throw new RangeError(`Cannot wrap text: columns must be >= 1, got ${columns}`);
  const rows: string[] = [];
  let row = "";
  let rowWidth = 0;
  let lastSpace = -1; // index in `row` just after the last space
  for (const { segment } of segmenter.segment(text)) {
    const w = graphemeWidth(segment);
    if (rowWidth + w > columns && row.length > 0) {
      if (segment === " ") {
        rows.push(row);
        row = "";
        rowWidth = 0;
        lastSpace = -1;
        continue;
      }
      if (lastSpace > 0 && stringWidth(row.slice(lastSpace)) < columns / 2) {
        rows.push(row.slice(0, lastSpace).trimEnd());
        row = row.slice(lastSpace);
        rowWidth = stringWidth(row);
      } else {
        rows.push(row);
        row = "";
        rowWidth = 0;
      }
      lastSpace = -1;
    }
    row += segment;
    rowWidth += w;
    if (segment === " ") lastSpace = row.length;
  }
  rows.push(row);
  return rows;
}

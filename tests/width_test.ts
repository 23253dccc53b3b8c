import { assertEquals, assertThrows } from "@std/assert";
import {
  codePointWidth,
  fitToWidth,
  graphemeWidth,
  stringWidth,
  truncateToWidth,
  wrapToWidth,
} from "../lib/client/width.ts";

Deno.test("stringWidth() counts ASCII and Cyrillic as one column each", () => {
  assertEquals(stringWidth("hello"), 5);
  assertEquals(stringWidth("Привет"), 6);
  assertEquals(stringWidth(""), 0);
});

Deno.test("stringWidth() counts CJK, Hangul and fullwidth forms as two columns", () => {
  assertEquals(stringWidth("你好"), 4);
  assertEquals(stringWidth("日本語"), 6);
  assertEquals(stringWidth("한국"), 4);
  assertEquals(stringWidth("ＡＢ"), 4);
  assertEquals(stringWidth("a你b"), 4);
});

Deno.test("stringWidth() counts emoji, with modifiers and joiners, as two columns", () => {
  assertEquals(stringWidth("😀"), 2);
  assertEquals(stringWidth("👍🏽"), 2); // skin tone modifier
  assertEquals(stringWidth("👨‍👩‍👧"), 2); // ZWJ family
  assertEquals(stringWidth("❤️"), 2); // text-style heart + VS16
  assertEquals(stringWidth("🇫🇮"), 2); // flag
  assertEquals(stringWidth("ok 🎉!"), 6);
});

Deno.test("stringWidth() gives combining marks and format characters no columns", () => {
  assertEquals(stringWidth("e\u0301"), 1); // é decomposed
  assertEquals(stringWidth("й"), 1); // и + breve, decomposed
  assertEquals(stringWidth("a\u200bb"), 2); // zero width space
  assertEquals(codePointWidth(0x0301), 0);
  assertEquals(graphemeWidth(""), 0);
});

Deno.test("truncateToWidth() never splits a wide character or a cluster", () => {
  assertEquals(truncateToWidth("你好世界", 5), "你好");
  assertEquals(truncateToWidth("abc", 10), "abc");
  assertEquals(truncateToWidth("e\u0301e\u0301", 1), "e\u0301");
  assertEquals(truncateToWidth("😀x", 1), "");
});

Deno.test("fitToWidth() pads to the exact width", () => {
  assertEquals(fitToWidth("你好世", 5), "你好 ");
  assertEquals(fitToWidth("ab", 4), "ab  ");
  assertEquals(stringWidth(fitToWidth("Привет 😀 мир", 9)), 9);
});

Deno.test("wrapToWidth() breaks at spaces when it can, else between characters", () => {
  assertEquals(wrapToWidth("hello brave new world", 11), ["hello brave", "new world"]);
  assertEquals(wrapToWidth("abcdefghij", 4), ["abcd", "efgh", "ij"]);
  assertEquals(wrapToWidth("你好世界", 5), ["你好", "世界"]);
  assertEquals(wrapToWidth("", 5), [""]);
  for (const row of wrapToWidth("Съешь же ещё этих мягких французских булок 你好 😀😀😀", 7)) {
    assertEquals(stringWidth(row) <= 7, true, row);
  }
  assertThrows(() => wrapToWidth("x", 0), RangeError);
});

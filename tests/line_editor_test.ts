import { assertEquals } from "@std/assert";
import { commonPrefix, type CompletionSources, LineEditor } from "../lib/client/line_editor.ts";

function typed(text: string): LineEditor {
  const e = new LineEditor();
  e.insert(text);
  return e;
}

Deno.test("LineEditor inserts at the cursor and moves by whole characters", () => {
  const e = typed("hllo");
  e.home();
  e.right();
  e.insert("e");
  assertEquals([e.text, e.cursor], ["hello", 2]);
  e.end();
  assertEquals(e.cursor, 5);
  e.right();
  assertEquals(e.cursor, 5);
  e.home();
  e.left();
  assertEquals(e.cursor, 0);
});

Deno.test("LineEditor steps over emoji and combining marks as one character", () => {
  const e = typed("a😀e\u0301b");
  e.left();
  e.left();
  assertEquals(e.text.slice(e.cursor), "e\u0301b");
  e.left();
  assertEquals(e.text.slice(e.cursor), "😀e\u0301b");
  e.delete();
  assertEquals(e.text, "ae\u0301b");
  e.end();
  e.left();
  e.backspace();
  assertEquals(e.text, "ab");
});

Deno.test("LineEditor Backspace and Delete at the edges do nothing", () => {
  const e = typed("ab");
  e.delete();
  assertEquals(e.text, "ab");
  e.home();
  e.backspace();
  assertEquals([e.text, e.cursor], ["ab", 0]);
  e.delete();
  assertEquals(e.text, "b");
});

Deno.test("LineEditor Ctrl-U deletes to the start, Ctrl-K to the end", () => {
  const e = typed("hello world");
  e.wordLeft();
  e.killLine();
  assertEquals([e.text, e.cursor], ["world", 0]);
  e.right();
  e.killToEnd();
  assertEquals(e.text, "w");
});

Deno.test("LineEditor Ctrl-W deletes the word before the cursor", () => {
  const e = typed("/msg bob hello  ");
  e.killWord();
  assertEquals(e.text, "/msg bob ");
  e.killWord();
  assertEquals(e.text, "/msg ");
  e.killWord();
  e.killWord();
  assertEquals(e.text, "");
});

Deno.test("LineEditor moves by words", () => {
  const e = typed("one two  three");
  e.wordLeft();
  assertEquals(e.cursor, 9);
  e.wordLeft();
  assertEquals(e.cursor, 4);
  e.wordRight();
  assertEquals(e.cursor, 7);
});

Deno.test("LineEditor insert() turns pasted line breaks into spaces and drops controls", () => {
  const e = typed("a\r\nb\tc\x07d");
  assertEquals(e.text, "a b cd");
});

Deno.test("LineEditor history: Up/Down browse, the draft comes back", () => {
  const e = new LineEditor();
  e.insert("first");
  assertEquals(e.submit(), "first");
  e.insert("second");
  e.submit();
  e.insert("second"); // repeated: stored once
  e.submit();
  e.insert("draft");
  e.historyUp();
  assertEquals(e.text, "second");
  e.historyUp();
  assertEquals(e.text, "first");
  e.historyUp();
  assertEquals(e.text, "first");
  e.historyDown();
  assertEquals(e.text, "second");
  e.historyDown();
  assertEquals(e.text, "draft");
  e.historyDown();
  assertEquals(e.text, "draft");
  assertEquals(e.history, ["first", "second"]);
});

Deno.test("LineEditor submit(false) keeps passwords out of the history", () => {
  const e = typed("hunter22");
  assertEquals(e.submit(false), "hunter22");
  assertEquals(e.history, []);
  assertEquals(e.text, "");
});

Deno.test("LineEditor history is bounded", () => {
  const e = new LineEditor({ historySize: 2 });
  for (const s of ["a", "b", "c"]) {
    e.insert(s);
    e.submit();
  }
  assertEquals(e.history, ["b", "c"]);
});

const sources: CompletionSources = {
  commands: ["/msg", "/me", "/join", "/leave"],
  names: ["bob", "bobby", "alice"],
  rooms: ["#general", "#games"],
};

Deno.test("LineEditor complete() completes commands at the start of a line", () => {
  const e = typed("/jo");
  assertEquals(e.complete(sources), { candidates: ["/join"], changed: true });
  assertEquals(e.text, "/join ");
  const m = typed("/m");
  assertEquals(m.complete(sources), { candidates: ["/me", "/msg"], changed: false });
  assertEquals(m.text, "/m");
});

Deno.test("LineEditor complete() completes rooms and names, to the common prefix", () => {
  const e = typed("/join #gen");
  e.complete(sources);
  assertEquals(e.text, "/join #general ");
  const g = typed("see #ga");
  g.complete(sources);
  assertEquals(g.text, "see #games ");
  const b = typed("/msg bo");
  assertEquals(b.complete(sources).candidates, ["bob", "bobby"]);
  assertEquals(b.text, "/msg bob");
  const a = typed("al");
  a.complete(sources);
  assertEquals(a.text, "alice: ");
  const none = typed("zz");
  assertEquals(none.complete(sources), { candidates: [], changed: false });
});

Deno.test("LineEditor complete() works in the middle of a line", () => {
  const e = typed("hi al how are you");
  e.home();
  e.wordRight();
  e.wordRight();
  e.complete(sources);
  assertEquals(e.text, "hi alice how are you");
  assertEquals(e.cursor, "hi alice ".length);
});

Deno.test("commonPrefix() finds the shared start", () => {
  assertEquals(commonPrefix(["bob", "bobby"]), "bob");
  assertEquals(commonPrefix([]), "");
  assertEquals(commonPrefix(["a", "b"]), "");
});

import { assertEquals } from "@std/assert";
import { Conversations, SERVER_WINDOW } from "../lib/client/conversations.ts";

const t = new Date(0);

Deno.test("Conversations counts unread messages outside the current window", () => {
  const c = new Conversations();
  assertEquals(c.current.name, SERVER_WINDOW);
  c.add("bob", { time: t, kind: "msg", from: "bob", text: "1" });
  c.add("bob", { time: t, kind: "info", text: "not counted" });
  c.add("bob", { time: t, kind: "msg", from: "alice", text: "own", own: true });
  assertEquals(c.find("bob")!.unread, 1);
  c.switchTo("bob");
  assertEquals([c.current.name, c.find("bob")!.unread, c.currentNumber], ["bob", 0, 2]);
  c.add("bob", { time: t, kind: "msg", from: "bob", text: "2" });
  assertEquals(c.find("bob")!.unread, 0);
});

Deno.test("Conversations switches by number, name prefix and cycling", () => {
  const c = new Conversations();
  c.open("bob");
  c.open("#general");
  assertEquals(c.switchToNumber(3), true);
  assertEquals(c.current.name, "#general");
  assertEquals(c.switchToNumber(9), false);
  assertEquals(c.cycle(1).name, SERVER_WINDOW);
  assertEquals(c.cycle(-1).name, "#general");
  assertEquals(c.resolve("#gen")?.name, "#general");
  assertEquals(c.resolve("2")?.name, "bob");
  c.open("bobby");
  assertEquals(c.resolve("bo")?.name, undefined); // ambiguous
  assertEquals(c.resolve("bob")?.name, "bob"); // exact wins
});

Deno.test("Conversations closes and clears windows, never the server window", () => {
  const c = new Conversations({ maxLines: 2 });
  c.switchTo("bob");
  for (const n of ["1", "2", "3"]) c.add("bob", { time: t, kind: "msg", from: "bob", text: n });
  assertEquals(c.find("bob")!.lines.map((l) => l.text), ["2", "3"]);
  c.clear("bob");
  assertEquals(c.find("bob")!.lines, []);
  assertEquals(c.close(SERVER_WINDOW), false);
  assertEquals(c.close("bob"), true);
  assertEquals(c.current.name, SERVER_WINDOW);
});

import { assertEquals } from "@std/assert";
import { Conversations } from "../lib/client/conversations.ts";
import {
  composeScreen,
  connectionText,
  type ScreenModel,
  statusText,
} from "../lib/client/screen.ts";
import { stringWidth } from "../lib/client/width.ts";

const now = new Date(2024, 4, 1, 12, 3);

function model(partial: Partial<ScreenModel> = {}): ScreenModel {
  const c = new Conversations();
  c.add("(server)", { time: now, kind: "info", text: "Signed in as guest alice" });
  c.add("#general", { time: now, kind: "msg", from: "bob", text: "hello" });
  c.add("#general", { time: now, kind: "msg", from: "alice", text: "hi bob", own: true });
  c.add("carol", { time: now, kind: "msg", from: "carol", text: "psst" });
  c.switchTo("#general");
  return {
    windows: c.list,
    current: c.currentNumber,
    user: "alice",
    guest: true,
    server: "127.0.0.1:7777",
    state: "online",
    reconnect: null,
    queued: 0,
    now,
    prompt: "[#general] ",
    input: "",
    cursor: 0,
    masked: false,
    scroll: 0,
    hint: "",
    color: false,
    ...partial,
  };
}

Deno.test("composeScreen() puts messages above, status and input at the bottom", () => {
  const s = composeScreen(model({ input: "typing", cursor: 6 }), 90, 6);
  assertEquals(s.rows.map((r) => r.trimEnd()), [
    "",
    "",
    "12:03 <bob> hello",
    "12:03 <alice> hi bob",
    " [12:03] [alice (guest)] [127.0.0.1:7777 online] [2:#general] [act: 3:carol(1)]",
    "[#general] typing",
  ]);
  // Every row the full width, but the last: its last column stays empty.
  assertEquals(s.rows.map(stringWidth), [...Array(5).fill(90), 89]);
  assertEquals([s.cursorRow, s.cursorColumn], [5, 17]);
});

Deno.test("statusText() shows unread counts of other windows", () => {
  const m = model();
  assertEquals(
    statusText(m),
    " [12:03] [alice (guest)] [127.0.0.1:7777 online] [2:#general] [act: 3:carol(1)]",
  );
});

Deno.test("connectionText() counts down to the next reconnect attempt", () => {
  const reconnect = { attempt: 2, at: now.getTime() + 2500, maxAttempts: undefined };
  assertEquals(
    connectionText({ state: "reconnecting", reconnect, now, queued: 2 }),
    "offline, reconnecting in 3s (attempt 2), 2 queued",
  );
  assertEquals(
    connectionText({
      state: "reconnecting",
      reconnect: { ...reconnect, at: 0, maxAttempts: 5 },
      now,
      queued: 0,
    }),
    "offline, reconnecting now (attempt 2/5)",
  );
});

Deno.test("composeScreen() wraps long lines under the message, CJK included", () => {
  const c = new Conversations();
  c.switchTo("bob");
  c.add("bob", {
    time: now,
    kind: "msg",
    from: "bob",
    text: "你好世界你好世界你好世界你好世界你好世界",
  });
  const s = composeScreen(model({ windows: c.list, current: 2 }), 40, 5);
  assertEquals(s.rows.slice(0, 3).map((r) => r.trimEnd()), [
    "",
    "12:03 <bob> 你好世界你好世界你好世界你好",
    "            世界你好世界",
  ]);
  assertEquals(s.rows.slice(0, -1).every((r) => stringWidth(r) === 40), true);
  assertEquals(stringWidth(s.rows.at(-1)!), 39);
});

Deno.test("composeScreen() scrolls the input so the cursor stays visible", () => {
  const input = "x".repeat(100) + "你好";
  const s = composeScreen(model({ input, cursor: input.length }), 30, 4);
  const last = s.rows[3]!;
  assertEquals(last.startsWith("[#general] "), true);
  assertEquals(last.trimEnd().endsWith("你好"), true);
  assertEquals(s.cursorColumn <= 29, true);
  assertEquals(s.cursorColumn, stringWidth(last.trimEnd()));
});

Deno.test("composeScreen() masks passwords and clamps scrolling", () => {
  const s = composeScreen(
    model({
      prompt: "Password for alice: ",
      input: "pässwörd",
      cursor: 8,
      masked: true,
      scroll: 99,
    }),
    40,
    5,
  );
  assertEquals(s.rows[4]!.trimEnd(), "Password for alice: ********");
  assertEquals(s.scroll, 0);
  assertEquals(s.cursorColumn, 28);
});

import { assertEquals } from "@std/assert";
import { historyFileName, HistoryLog } from "../lib/client/history_log.ts";
import { SERVER_WINDOW } from "../lib/client/conversations.ts";

Deno.test("historyFileName() gives one file per conversation, none for the server window", () => {
  assertEquals(historyFileName("bob"), "bob.log");
  assertEquals(historyFileName("#general"), "#general.log");
  assertEquals(historyFileName("../x"), ".._x.log");
  assertEquals(historyFileName(SERVER_WINDOW), null);
});

Deno.test("HistoryLog appends plain-text lines per conversation", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = new HistoryLog(`${dir}/nested`);
    const time = new Date(2024, 0, 2, 3, 4, 5);
    log.append("bob", { time, kind: "msg", from: "bob", text: "hi" });
    log.append("#r", { time, kind: "action", from: "carol", text: "waves" });
    log.append("bob", { time, kind: "msg", from: "alice", text: "hello", own: true });
    log.append(SERVER_WINDOW, { time, kind: "info", text: "not kept" });
    await log.close();
    assertEquals(
      await Deno.readTextFile(`${dir}/nested/bob.log`),
      "2024-01-02 03:04:05 <bob> hi\n2024-01-02 03:04:05 <alice> hello\n",
    );
    assertEquals(
      await Deno.readTextFile(`${dir}/nested/#r.log`),
      "2024-01-02 03:04:05 * carol waves\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HistoryLog reports an unwritable directory once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "");
    const errors: string[] = [];
    const log = new HistoryLog(`${dir}/file`, (m) => errors.push(m));
    log.append("bob", { time: new Date(), kind: "msg", from: "bob", text: "1" });
    log.append("carol", { time: new Date(), kind: "msg", from: "carol", text: "2" });
    await log.close();
    assertEquals(errors.length, 1);
    assertEquals(errors[0]!.startsWith(`Cannot open history file ${dir}/file/bob.log`), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

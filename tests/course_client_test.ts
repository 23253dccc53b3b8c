/**
 * The course's Python clients against a real server: bare objects, one
 * recv(1024) and one json.loads per answer, ASCII decoding. Skipped where
 * python3 is missing.
 */
import { assertEquals } from "@std/assert";
import { startServer } from "./_helpers.ts";

const script = new URL("./fixtures/course_client.py", import.meta.url).pathname;
const python = await new Deno.Command("python3", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);

function runPython(args: string[]): Deno.ChildProcess {
  return new Deno.Command("python3", { args: [script, ...args], stdout: "piped", stderr: "piped" })
    .spawn();
}

async function lines(child: Deno.ChildProcess): Promise<Record<string, unknown>[]> {
  const out = await child.output();
  const err = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, err);
  return new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test({
  name: "a course-style Python client chats in Cyrillic with another through the server",
  ignore: !python,
  async fn() {
    await using server = await startServer();
    const receiver = runPython([String(server.port), "ivan"]);
    // The receiver is online once the server knows its name.
    const deadline = Date.now() + 10_000;
    while (server.connections === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    let sent: Record<string, unknown>[] = [];
    while (Date.now() < deadline) {
      sent = await lines(runPython([String(server.port), "olga", "ivan", "Привет, Иван!"]));
      if (sent[1]?.response === 200) break;
      await new Promise((r) => setTimeout(r, 50)); // ivan's presence not in yet
    }
    assertEquals(sent[0]!.response, 200);
    assertEquals(sent[1]!.response, 200);
    const got = await lines(receiver);
    assertEquals(got[0]!.response, 200);
    assertEquals([got[1]!.action, got[1]!.from, got[1]!.message], ["msg", "olga", "Привет, Иван!"]);
  },
});

/**
 * The terminal client in tmux, for what only a real terminal shows: the
 * terminal's own idea of character widths, and its modes after Ctrl-C or a signal at a
 * password prompt (the client's, and jim admin's).
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { guest, now, register, startServer as startInProcess, tempDir } from "./_helpers.ts";
import { hasTmux, reportedClientPid, ROWS, startClient, type Tmux } from "./_tmux.ts";

/**
 * alice's client at its --login password prompt, in tmux through the
 * reporting shell, against a server of its own where alice has `password`.
 */
async function atLoginPrompt(
  password = "correct horse",
): Promise<{ term: Tmux; port: number } & AsyncDisposable> {
  const dir = await tempDir();
  const server = await startInProcess();
  let term: Tmux | undefined;
  const dispose = async () => {
    await term?.[Symbol.asyncDispose]();
    await server.shutdown();
    await dir[Symbol.asyncDispose]();
  };
  try {
    await register(server.port, "alice", password);
    term = await startClient(["127.0.0.1", String(server.port), "--user", "alice", "--login"], {
      dir: dir.path,
      report: true,
    });
    await term.waitFor("Password for alice:");
    return { term, port: server.port, [Symbol.asyncDispose]: dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * Waits for the client to end; asserts its exit status, that echo is on
 * again and that `typed` was never shown. Returns the screen's text.
 */
async function assertEnded(term: Tmux, status: number, typed: string): Promise<string> {
  const text = (await term.waitFor("echo is ")).join("\n");
  assertStringIncludes(text, `client exited with status ${status}`);
  assertStringIncludes(text, "echo is echo");
  assert(!text.includes(typed), text);
  return text;
}

Deno.test({
  name: "client in a terminal: Ctrl-C at the --login password prompt leaves echo on (exit 130)",
  ignore: !hasTmux(),
  async fn() {
    await using prompt = await atLoginPrompt();
    const { term } = prompt;
    await term.type("half a pass");
    await term.press("C-c");
    await assertEnded(term, 130, "half a pass");
  },
});

Deno.test({
  name:
    "client in a terminal: a password typed at the --login prompt logs in, and keys reach the screen",
  ignore: !hasTmux(),
  async fn() {
    await using prompt = await atLoginPrompt("alice password");
    const { term } = prompt;
    await term.type("alice password");
    await term.press("Enter");
    await term.waitFor(`Logged in as alice on 127.0.0.1:${prompt.port}`);
    await term.type("/quit");
    await term.press("Enter");
    await assertEnded(term, 0, "alice password");
  },
});

Deno.test({
  name:
    "client in a terminal: SIGTERM or SIGHUP at the --login password prompt leaves echo on (exit 143, 129)",
  ignore: !hasTmux(),
  async fn() {
    for (const [signal, status] of [["SIGTERM", 143], ["SIGHUP", 129]] as const) {
      await using prompt = await atLoginPrompt();
      const { term } = prompt;
      await term.type("half a pass");
      Deno.kill(await reportedClientPid(term), signal);
      const text = await assertEnded(term, status, "half a pass");
      assertStringIncludes(text, `jim client: cancelled by ${signal}`);
    }
  },
});

Deno.test({
  name:
    "client in a terminal: an emoji with a skin tone keeps the status line on the last row but one",
  ignore: !hasTmux(),
  async fn() {
    await using dir = await tempDir();
    await using server = await startInProcess();
    await using term = await startClient(["127.0.0.1", String(server.port), "--user", "alice"], {
      dir: dir.path,
    });
    await term.waitFor("Signed in as guest alice");
    await using bob = await guest(server.port, "bob");
    const statusOnItsRow = (s: string[]) =>
      s.length === ROWS && s.at(-2)!.includes("[alice (guest)]");
    // Typed into the input line, the last row.
    await term.type("👍🏽 thanks");
    let screen = await term.waitFor((s) => s.at(-1)!.includes("thanks"));
    assert(statusOnItsRow(screen), screen.join("\n"));
    // Received into a message row, with the window open.
    await term.press("C-u");
    await term.type("/msg bob");
    await term.press("Enter");
    const r = await bob.request({
      action: "msg",
      time: now(),
      to: "alice",
      encoding: "utf-8",
      message: "👍🏽".repeat(60),
    });
    assertEquals(r.response, 200);
    screen = await term.waitFor("<bob> 👍🏽");
    assert(statusOnItsRow(screen), screen.join("\n"));
    await term.type("👍🏽");
    screen = await term.waitFor((s) => s.at(-1)!.startsWith("[bob] 👍🏽"));
    assert(statusOnItsRow(screen), screen.join("\n"));
    // Ctrl-L redraws from scratch: still every row in its place.
    await term.press("C-l");
    screen = await term.waitFor((s) => s.at(-1)!.startsWith("[bob] 👍🏽"));
    assert(statusOnItsRow(screen), screen.join("\n"));
    await term.press("C-u");
    await term.type("/quit");
    await term.press("Enter");
  },
});

Deno.test({
  name:
    "client in a terminal: a refusal or note shows where it was typed, its window marked active",
  ignore: !hasTmux(),
  async fn() {
    await using dir = await tempDir();
    await using server = await startInProcess();
    await register(server.port, "carol");
    await using term = await startClient(["127.0.0.1", String(server.port), "--user", "alice"], {
      dir: dir.path,
    });
    await term.waitFor("Signed in as guest alice");
    await using bob = await guest(server.port, "bob");
    await term.type("/msg bob");
    await term.press("Enter");
    await term.waitFor((s) => s.at(-1)!.startsWith("[bob]"));
    for (
      const [typed, answer] of [
        ["/msg zed hello?", "Not sent: nobody called zed is online or registered"],
        ["/msg #nowhere hi", "there is no room #nowhere"],
        ["/msg carol see you", "Not sent to carol: they are offline, and guests cannot leave"],
      ]
    ) {
      await term.type(typed!);
      await term.press("Enter");
      // Still in bob's window, which shows the answer.
      const screen = await term.waitFor(answer!);
      assert(screen.at(-1)!.startsWith("[bob]"), screen.join("\n"));
    }
    const screen = await term.waitFor((s) => s.at(-2)!.includes("act:"));
    const status = screen.at(-2)!;
    for (const name of ["zed(1)", "#nowhere(1)", "carol(1)"]) assertStringIncludes(status, name);
    // Long text: the input line says how many messages it will be.
    await term.type("a".repeat(600));
    await term.waitFor((s) => s.at(-1)!.startsWith("[bob] (2 messages) "));
    await term.press("Enter");
    const parts = [String((await bob.message()).message), String((await bob.message()).message)];
    assertEquals(parts.join(""), "a".repeat(600));
    await term.type("/quit");
    await term.press("Enter");
  },
});

Deno.test({
  name:
    "jim admin in a terminal: Ctrl-C, SIGTERM or SIGHUP at the reset-password prompt leaves echo on (exit 130, 143, 129)",
  ignore: !hasTmux(),
  async fn() {
    await using dir = await tempDir();
    const db = `${dir.path}/jim.db`;
    {
      await using server = await startInProcess({ dbPath: db });
      await register(server.port, "alice");
    }
    const cases = [["C-c", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const;
    for (const [how, status] of cases) {
      await using term = await startClient(["admin", "reset-password", "alice", "--db", db], {
        dir: dir.path,
        entry: "main.ts",
        report: true,
      });
      await term.waitFor("New password for alice:");
      await term.type("half a pass");
      if (how === "C-c") await term.press("C-c");
      else Deno.kill(await reportedClientPid(term), how);
      const text = await assertEnded(term, status, "half a pass");
      assertStringIncludes(text, how === "C-c" ? "jim admin: cancelled" : `cancelled by ${how}`);
    }
  },
});

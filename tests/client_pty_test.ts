/**
 * The terminal client as a person uses it: in a pseudo-terminal (tmux),
 * typing, receiving while typing, and living through a server crash and
 * restart on the same port and database file.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { login, now, register, tempDir } from "./_helpers.ts";
import { freePort, hasTmux, ROWS, startClient, startServer } from "./_tmux.ts";

Deno.test({
  name: "client in a terminal: types, receives while typing, survives a server restart",
  ignore: !hasTmux(),
  async fn() {
    await using dir = await tempDir();
    const db = `${dir.path}/jim.db`;
    const port = freePort();
    let server = await startServer(port, db);
    await register(port, "alice", "alice password");
    await register(port, "bob", "bob password");
    let bob = await login(port, "bob", "bob password");

    // Through a shell that reports the client's exit status on the screen.
    await using term = await startClient([
      "127.0.0.1",
      String(port),
      "--user",
      "alice",
      "--login",
      "--reconnect-delay",
      "100",
      "--reconnect-max-delay",
      "300",
      "--log-dir",
      `${dir.path}/history`,
    ], { dir: dir.path, env: { JIM_PASSWORD: "alice password" }, report: true });
    await term.waitFor(`Logged in as alice on 127.0.0.1:${port}`);

    // Open a window for bob and talk.
    await term.type("/msg bob");
    await term.press("Enter");
    await term.waitFor((s) => s.at(-1)!.startsWith("[bob]"));
    await term.type("hello bob");
    await term.press("Enter");
    assertEquals((await bob.message()).message, "hello bob");

    // Half a line typed, with an edit, when bob's message comes in.
    await term.type("half typxed");
    await term.press("Left", "Left", "BSpace", "End");
    await term.waitFor((s) => s.at(-1)!.trimEnd() === "[bob] half typed");
    await bob.request({
      action: "msg",
      time: now(),
      to: "alice",
      encoding: "utf-8",
      message: "are you there? Привет 你好",
    });
    let screen = await term.waitFor("<bob> are you there? Привет 你好");
    assertEquals(screen.at(-1)!.trimEnd(), "[bob] half typed", screen.join("\n"));
    assertStringIncludes(screen.at(-2)!, "[alice]");
    assertStringIncludes(screen.at(-2)!, `[127.0.0.1:${port} online]`);
    assertEquals(await term.cursor(), ["[bob] half typed".length, ROWS - 1]);
    await term.type(" 你好");
    await term.waitFor((s) => s.at(-1)!.trimEnd() === "[bob] half typed 你好");
    assertEquals(await term.cursor(), ["[bob] half typed".length + 5, ROWS - 1]);
    await term.press("Enter");
    assertEquals((await bob.message()).message, "half typed 你好");
    // Answers come in order: once /who is answered, so is the message (else it
    // would count as unconfirmed and be sent again after the restart).
    await term.type("/who bob");
    await term.press("Enter");
    await term.waitFor("bob is online");

    // The server dies mid-chat: the client counts down, queues, and reconnects.
    await server.kill();
    await bob[Symbol.asyncDispose]();
    await term.waitFor("reconnecting");
    await term.type("sent while offline");
    await term.press("Enter");
    await term.waitFor("Not connected: queued");
    server = await startServer(port, db);
    screen = await term.waitFor("bob is offline; the message will be delivered when they log in");
    assertStringIncludes(screen.at(-2)!, `[127.0.0.1:${port} online]`);
    bob = await login(port, "bob", "bob password");
    assertEquals((await bob.message()).message, "sent while offline");

    // The server window tells the story; Alt-1 goes there.
    await term.press("M-1");
    screen = await term.waitFor((s) => s.at(-1)!.startsWith("[server]"));
    const text = screen.join("\n");
    assertStringIncludes(text, "Connection to 127.0.0.1");
    assertStringIncludes(text, "Reconnected: Logged in as alice");

    await term.type("/quit");
    await term.press("Enter");
    await term.waitFor("client exited with status 0");
    await term.waitFor("echo is echo");
    await bob[Symbol.asyncDispose]();
    await server.kill();
    const history = await Deno.readTextFile(`${dir.path}/history/bob.log`);
    assert(history.includes("<alice> sent while offline"), history);
    assert(history.includes("<bob> are you there?"), history);
  },
});

Deno.test({
  name:
    "client in a terminal: contacts come and go, a room's history on join, PgUp loads older pages",
  ignore: !hasTmux(),
  async fn() {
    await using dir = await tempDir();
    const db = `${dir.path}/jim.db`;
    const port = freePort();
    const server = await startServer(port, db);
    await register(port, "alice", "alice password");
    await register(port, "bob", "bob password");
    await register(port, "carol", "carol password");
    {
      await using carol = await login(port, "carol", "carol password");
      await carol.request({ action: "join", time: now(), room: "#den" });
      await carol.request({ action: "topic", time: now(), room: "#den", topic: "plans" });
      for (let i = 0; i < 80; i++) {
        await carol.send({ action: "msg", time: now(), to: "#den", message: `h${i}` });
      }
      for (let i = 0; i < 80; i++) assertEquals((await carol.response()).response, 200);
    }

    await using term = await startClient(
      ["127.0.0.1", String(port), "--user", "alice", "--login"],
      { dir: dir.path, env: { JIM_PASSWORD: "alice password" } },
    );
    await term.waitFor(`Logged in as alice on 127.0.0.1:${port}`);

    // Contacts: bob is added, then seen to come online and go.
    await term.type("/add bob");
    await term.press("Enter");
    await term.waitFor("bob added to contacts");
    await term.type("/contacts");
    await term.press("Enter");
    await term.waitFor("bob: offline");
    const bob = await login(port, "bob", "bob password");
    await term.waitFor("bob: online");
    bob.close();
    await bob.reading;
    await term.waitFor("bob: offline (last seen");

    // History on join, with the topic in the status line.
    await term.type("/join #den");
    await term.press("Enter");
    let screen = await term.waitFor("You joined #den; topic: plans");
    assertStringIncludes(screen.join("\n"), "<carol> h79");
    assertStringIncludes(screen.at(-2)!, "[topic: plans]");
    // PgUp at the top loads the pages before, back to the first message.
    const first = (s: string[]) => s.some((line) => /<carol> h0\s*$/.test(line));
    for (let i = 0; i < 20 && !first(await term.screen()); i++) {
      await term.press("PPage");
      await new Promise((r) => setTimeout(r, 100));
    }
    screen = await term.waitFor(first);
    assertStringIncludes(screen.at(-2)!, "[scrolled back: PgDn]");

    await term.type("/quit");
    await term.press("Enter");
    await server.kill();
  },
});

import { assert, assertEquals, assertMatch } from "@std/assert";
import { now, type Obj, RawClient, tempDir } from "./_helpers.ts";
import { spawnServer } from "./_proc.ts";

const FD_LIMIT = ["prlimit", "--nofile=64:64", "--"];
const fdLimitModule = new URL("../lib/server/fd_limit.ts", import.meta.url).href;

/** Connects and says presence; the first answer, or "silent" if none comes in time. */
async function tryGuest(port: number, name: string): Promise<{ client: RawClient; answer: Obj }> {
  const client = await RawClient.connect(port);
  await client.send({ action: "presence", time: now(), user: { account_name: name } });
  const answer = await client.response(5000).catch((e) => {
    client.close();
    throw new Error(`no answer to client ${name}: ${e}`);
  });
  return { client, answer };
}

Deno.test("fd limit: warned at start, and clients past it get 503 instead of hanging", async () => {
  await using server = await spawnServer({
    prefix: FD_LIMIT,
    args: ["--max-connections", "1000", "--max-per-address", "0"],
  });
  assertMatch(
    server.log(),
    /warning: the open-file limit \(ulimit -n\) is 64, below --max-connections 1000 plus 64 for the server itself: raise it \(ulimit -n 1064\)/,
  );
  const held: RawClient[] = [];
  try {
    let refused: Obj | null = null;
    for (let i = 0; i < 100 && refused === null; i++) {
      const { client, answer } = await tryGuest(server.port, `g${i}`);
      if (answer.response === 200) {
        held.push(client);
      } else {
        refused = answer;
        await client.waitClosed();
        client.close();
      }
    }
    assertEquals(
      [refused?.response, refused?.error],
      [503, "Cannot connect: the server is out of file descriptors; try again later"],
      `served ${held.length}, then ${JSON.stringify(refused)}`,
    );
    // A second one is refused the same way, and the log says so once.
    const again = await tryGuest(server.port, "again");
    assertEquals(again.answer.response, 503);
    again.client.close();
    const log = server.log();
    assertEquals(log.match(/out of file descriptors \(ulimit -n\)/g)?.length, 1, log);
    assertEquals(log.includes("accept failed"), false, log);

    // Once some close, new clients are served again.
    for (const c of held.splice(0, 5)) c.close();
    const deadline = Date.now() + 10_000;
    let served = false;
    for (let i = 0; !served && Date.now() < deadline; i++) {
      const { client, answer } = await tryGuest(server.port, `back${i}`);
      served = answer.response === 200;
      if (served) held.push(client);
      else client.close();
    }
    assert(served, "no client was served after connections closed");
    assertMatch(server.log(), /accepting connections again \(\d+ refused/);
  } finally {
    for (const c of held) c.close();
  }
});

Deno.test("fdLimitWarning() counts free descriptors when /proc is not readable", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/check.ts`;
  Deno.writeTextFileSync(
    script,
    `import { fdLimitWarning } from ${JSON.stringify(fdLimitModule)};\n` +
      "console.log(fdLimitWarning(1000) ?? 'none');\nconsole.log(fdLimitWarning(100) ?? 'none');\n",
  );
  // --allow-read without --allow-all: Deno refuses /proc/self/limits.
  const out = await new Deno.Command("prlimit", {
    args: ["--nofile=256:256", "--", Deno.execPath(), "run", "--allow-read", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const [first, second] = new TextDecoder().decode(out.stdout).trim().split("\n");
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  assertMatch(
    first!,
    /^warning: only \d+ more files can be opened \(ulimit -n\), fewer than --max-connections 1000 plus 64/,
  );
  assertEquals(second, "none");
});

Deno.test("fd limit: without --max-connections, the cap follows a low limit and nothing warns", async () => {
  await using server = await spawnServer({
    prefix: ["prlimit", "--nofile=1024:1024", "--"],
    args: ["--max-per-address", "0"],
  });
  const log = server.log();
  assertMatch(
    log,
    /note: at most 960 connections: the open-file limit \(ulimit -n\) is 1024 and the server keeps 64 for itself/,
  );
  assertEquals(log.includes("warning:"), false, log);
  const { client, answer } = await tryGuest(server.port, "alice");
  assertEquals(answer.response, 200);
  client.close();
});

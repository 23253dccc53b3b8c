import { assert, assertEquals } from "@std/assert";
import { CLUSTER_FILES, EXCLUDED_TESTS, LEFT_OUT } from "./cluster_suite.ts";

const root = new URL("../", import.meta.url);

Deno.test("cluster suite: every test file that starts a server is run clustered or left out with a reason", async () => {
  const starting: string[] = [];
  for await (const entry of Deno.readDir(new URL("tests/", root))) {
    if (!entry.name.endsWith("_test.ts") || entry.name === "cluster_suite_test.ts") continue;
    const text = await Deno.readTextFile(new URL(`tests/${entry.name}`, root));
    if (/\b(startServer|spawnServer)\b/.test(text)) starting.push(`tests/${entry.name}`);
  }
  for (const file of starting) {
    const listed = Number(CLUSTER_FILES.includes(file)) + Number(file in LEFT_OUT);
    assertEquals(listed, 1, `${file} is in ${listed} of the lists`);
  }
  for (const file of [...CLUSTER_FILES, ...Object.keys(LEFT_OUT)]) {
    assert(starting.includes(file), `${file} starts no server`);
  }
  for (const reason of Object.values(LEFT_OUT)) assert(reason.length > 0);
});

Deno.test("cluster suite: every excluded test exists in a clustered file and says why", async () => {
  const texts = await Promise.all(
    CLUSTER_FILES.map((file) => Deno.readTextFile(new URL(file, root))),
  );
  for (const [name, reason] of Object.entries(EXCLUDED_TESTS)) {
    assert(texts.some((text) => text.includes(name)), `no test is named ${name}`);
    assert(reason.length > 0, `${name} has no reason`);
  }
});

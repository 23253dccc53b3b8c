import { assertEquals, assertThrows } from "@std/assert";
import { redactUrl } from "../lib/server/redact_url.ts";
import { parseNatsUrl } from "../lib/server/cluster.ts";

Deno.test("redactUrl() hides a password", () => {
  assertEquals(
    redactUrl("postgres://jim:s3cret@db:5432/jim"),
    "postgres://jim:***@db:5432/jim",
  );
  assertEquals(redactUrl("nats://jim:s3cret@127.0.0.1:4222"), "nats://jim:***@127.0.0.1:4222");
});

Deno.test("redactUrl() keeps a lone user unless it is a secret (a NATS token)", () => {
  assertEquals(redactUrl("postgres://jim@db/jim"), "postgres://jim@db/jim");
  assertEquals(
    redactUrl("nats://t0ken@127.0.0.1:4222", { loneUserIsSecret: true }),
    "nats://***@127.0.0.1:4222",
  );
  assertEquals(
    redactUrl("nats://127.0.0.1:4222", { loneUserIsSecret: true }),
    "nats://127.0.0.1:4222",
  );
});

Deno.test("redactUrl() gives back what is not a URL", () => {
  assertEquals(redactUrl("not a url"), "not a url");
});

Deno.test("parseNatsUrl() reads the server and its credentials", () => {
  assertEquals(parseNatsUrl("nats://127.0.0.1"), { server: "127.0.0.1:4222" });
  assertEquals(parseNatsUrl("nats://u:p%40ss@h:5"), { server: "h:5", user: "u", pass: "p@ss" });
  assertEquals(parseNatsUrl("nats://t0ken@h:5"), { server: "h:5", token: "t0ken" });
});

Deno.test("parseNatsUrl() refuses other schemes without showing the password", () => {
  assertThrows(
    () => parseNatsUrl("tls://u:s3cret@h:5"),
    TypeError,
    "Cannot use cluster URL tls://u:***@h:5: expected nats://HOST:PORT",
  );
});

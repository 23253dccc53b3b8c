import { assertEquals } from "@std/assert";
import { sourceKey } from "../lib/server/source_key.ts";

Deno.test("sourceKey() keeps IPv4 addresses and unwraps IPv4-mapped IPv6", () => {
  assertEquals(sourceKey("127.0.0.1"), "127.0.0.1");
  assertEquals(sourceKey("::ffff:10.0.0.7"), "10.0.0.7");
  assertEquals(sourceKey("::FFFF:10.0.0.7"), "10.0.0.7");
});

Deno.test("sourceKey() counts IPv6 addresses under their /64, however they are written", () => {
  const key = "2001:db8:85a3:0::/64";
  assertEquals(sourceKey("2001:db8:85a3::8a2e:370:7334"), key);
  assertEquals(sourceKey("2001:0db8:85a3:0000:ffff:ffff:ffff:ffff"), key);
  assertEquals(sourceKey("2001:db8:85a3:0:1::1"), key);
  assertEquals(sourceKey("2001:db8:85a3:1::1"), "2001:db8:85a3:1::/64");
  assertEquals(sourceKey("::1"), "0:0:0:0::/64");
  assertEquals(sourceKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assertEquals(sourceKey("64:ff9b::192.0.2.33"), "64:ff9b:0:0::/64");
});

Deno.test("sourceKey() leaves what it cannot parse as it is", () => {
  for (const odd of ["1::2::3", "1:2:3", "zz::1", "1:2:3:4:5:6:7:8:9"]) {
    assertEquals(sourceKey(odd), odd);
  }
});

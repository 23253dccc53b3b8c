import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  type DecodeEvent,
  encode,
  escapeNonAscii,
  JsonObjectDecoder,
  Outgoing,
} from "../lib/protocol/codec.ts";
import { ConcatenatedJsonParseStream } from "@std/json/concatenated-json-parse-stream";

const enc = new TextEncoder();

function feed(decoder: JsonObjectDecoder, chunks: (string | Uint8Array)[]): DecodeEvent[] {
  const events: DecodeEvent[] = [];
  for (const c of chunks) events.push(...decoder.push(typeof c === "string" ? enc.encode(c) : c));
  return events;
}

function values(events: DecodeEvent[]): unknown[] {
  return events.map((e) => e.kind === "object" ? e.value : { error: e.message });
}

Deno.test("JsonObjectDecoder decodes concatenated objects with and without whitespace", () => {
  const d = new JsonObjectDecoder();
  const events = feed(d, ['{"a":1}{"b":2} \n\t{"c":"}{"}\r\n{"d":[{"e":"\\"}"}]}']);
  assertEquals(values(events), [{ a: 1 }, { b: 2 }, { c: "}{" }, { d: [{ e: '"}' }] }]);
});

Deno.test("JsonObjectDecoder decodes input split at every byte", () => {
  const text = '{"action":"msg","message":"привет, 你好 🎉","n":[1,{"x":"\\\\"}]}\n{"b":true}';
  const bytes = enc.encode(text);
  for (let cut = 1; cut < bytes.length; cut++) {
    const d = new JsonObjectDecoder();
    const events = feed(d, [bytes.subarray(0, cut), bytes.subarray(cut)]);
    assertEquals(values(events), [JSON.parse(text.split("\n")[0]!), { b: true }], `cut at ${cut}`);
  }
  const d = new JsonObjectDecoder();
  const events = feed(d, [...bytes].map((b) => new Uint8Array([b])));
  assertEquals(events.length, 2);
});

Deno.test("JsonObjectDecoder reassembles Cyrillic split inside a character", () => {
  const bytes = enc.encode('{"m":"ж"}');
  const i = bytes.indexOf(0xd0); // first byte of ж
  const d = new JsonObjectDecoder();
  const events = feed(d, [bytes.subarray(0, i + 1), bytes.subarray(i + 1)]);
  assertEquals(values(events), [{ m: "ж" }]);
});

Deno.test("JsonObjectDecoder reports garbage and non-objects, then resynchronises at the newline", () => {
  const d = new JsonObjectDecoder();
  const events = feed(d, [
    '{"ok":1}\n',
    "garbage here\n",
    "[1,2]\n",
    '{"bad": nope}\n',
    '"str"\n',
    '{"ok":2}\n',
  ]);
  assertEquals(values(events), [
    { ok: 1 },
    { error: "Cannot parse request: expected a JSON object" },
    { error: "Cannot parse request: expected a JSON object" },
    { error: "Cannot parse request: invalid JSON" },
    { error: "Cannot parse request: expected a JSON object" },
    { ok: 2 },
  ]);
  assert(d.newlineFramed);
});

Deno.test("JsonObjectDecoder treats a raw newline inside a string as the end of a broken object", () => {
  const d = new JsonObjectDecoder();
  const events = feed(d, ['{"a":"unterminated\n', '{"b":1}\n']);
  assertEquals(values(events), [{ error: "Cannot parse request: invalid JSON" }, { b: 1 }]);
});

Deno.test("JsonObjectDecoder bounds an object that never ends and never holds more than the bound", () => {
  const d = new JsonObjectDecoder({ maxObjectBytes: 1024 });
  const events: DecodeEvent[] = [];
  events.push(...d.push(enc.encode('{"a":"')));
  for (let i = 0; i < 1000; i++) {
    events.push(...d.push(enc.encode("x".repeat(1000))));
    assert(d.pendingBytes <= 1024);
  }
  assertEquals(values(events), [{ error: "Cannot parse request: object exceeds 1024 bytes" }]);
  // The rest of the oversized object is skipped; the next one decodes.
  events.length = 0;
  events.push(...d.push(enc.encode('"}{"next":1}')));
  assertEquals(values(events), [{ next: 1 }]);
});

Deno.test("JsonObjectDecoder resynchronises an unframed peer at the next object", () => {
  const d = new JsonObjectDecoder();
  const events = feed(d, ['123{"a":1}']);
  assertEquals(values(events), [{ error: "Cannot parse request: expected a JSON object" }, {
    a: 1,
  }]);
  assert(!d.newlineFramed);
});

Deno.test("JsonObjectDecoder rejects invalid UTF-8 and NUL bytes without stopping", () => {
  const d = new JsonObjectDecoder();
  const events = feed(d, [
    new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a]),
    new Uint8Array([0x00, 0x0a]),
    '{"ok":true}\n',
  ]);
  assertEquals(values(events), [
    { error: "Cannot parse request: invalid UTF-8" },
    { error: "Cannot parse request: expected a JSON object" },
    { ok: true },
  ]);
});

Deno.test("JsonObjectDecoder reports sizes and marks newline framing only after a newline", () => {
  const d = new JsonObjectDecoder();
  const [e] = d.push(enc.encode('{"a":"ж"}'));
  assertEquals(e, { kind: "object", value: { a: "ж" }, bytes: 10, text: '{"a":"ж"}' });
  assert(!d.newlineFramed);
  d.push(enc.encode("\n"));
  assert(d.newlineFramed);
  assertThrows(() => new JsonObjectDecoder({ maxObjectBytes: 1 }), RangeError);
});

Deno.test("encode() writes compact JSON and a newline; ascii mode escapes like Python's json.dumps", () => {
  assertEquals(new TextDecoder().decode(encode({ a: "ж" })), '{"a":"ж"}\n');
  assertEquals(
    new TextDecoder().decode(encode({ a: "ж🎉" }, { ascii: true })),
    '{"a":"\\u0436\\ud83c\\udf89"}\n',
  );
  assertEquals(escapeNonAscii("plain"), "plain");
});

Deno.test("Outgoing serialises once per form and reuses bytes for ASCII-only values", () => {
  const plain = new Outgoing({ a: "b" });
  assert(plain.bytes(false) === plain.bytes(false));
  assert(plain.bytes(true) === plain.bytes(false));
  const cyr = new Outgoing({ a: "ж" });
  assertMatch(new TextDecoder().decode(cyr.bytes(true)), /\\u0436/);
  assertMatch(new TextDecoder().decode(cyr.bytes(false)), /ж/);
});

// -- why not std's ConcatenatedJsonParseStream on the server (docs/protocol.md) --

Deno.test("std ConcatenatedJsonParseStream stops at the first syntax error; JsonObjectDecoder goes on", async () => {
  const chunks = ['{"a":1}', 'oops{"b":2}', '{"c":3}'];
  const seen: unknown[] = [];
  let error: unknown = null;
  try {
    const stream = ReadableStream.from(chunks).pipeThrough(new ConcatenatedJsonParseStream());
    for await (const v of stream) seen.push(v);
  } catch (e) {
    error = e;
  }
  assertEquals(seen, [{ a: 1 }]);
  assert(error instanceof SyntaxError);
  const d = new JsonObjectDecoder();
  assertEquals(values(feed(d, chunks)), [
    { a: 1 },
    { error: "Cannot parse request: expected a JSON object" },
    { b: 2 },
    { c: 3 },
  ]);
});

Deno.test("std ConcatenatedJsonParseStream holds an unterminated object to the end; JsonObjectDecoder bounds it", async () => {
  const mib = "x".repeat(1 << 20);
  function* input() {
    yield '{"a":"';
    for (let i = 0; i < 4; i++) yield mib;
  }
  let error: unknown = null;
  try {
    const stream = ReadableStream.from(input()).pipeThrough(new ConcatenatedJsonParseStream());
    for await (const _ of stream) { /* nothing ever completes */ }
  } catch (e) {
    error = e;
  }
  // It complains only when the stream ends, about a 4 MiB string it kept whole.
  assert(error instanceof SyntaxError);
  assertMatch((error as SyntaxError).message, /position 4194310/);
  const d = new JsonObjectDecoder({ maxObjectBytes: 8192 });
  const events = feed(d, [...input()]);
  assertEquals(values(events), [{ error: "Cannot parse request: object exceeds 8192 bytes" }]);
  assert(d.pendingBytes <= 8192);
});

Deno.test("Outgoing.line() is the compact JSON line the bytes encode", () => {
  const out = new Outgoing({ a: "ж", n: 1 });
  assertEquals(out.line(), '{"a":"ж","n":1}\n');
  assert(out.line() === out.line());
  assertEquals(new TextDecoder().decode(out.bytes(false)), out.line());
  assertEquals(new TextDecoder().decode(out.bytes(true)), '{"a":"\\u0436","n":1}\n');
});

Deno.test("JsonObjectDecoder answers a mismatched bracket once and skips the rest of the line", () => {
  const d = new JsonObjectDecoder();
  const events = feed(d, [
    '{"ok":0}\n',
    '{"a":1]}\n',
    '{"a":[}\n',
    '{"x":1}\n',
    '{"b":[1,{"c":2}]}\n',
  ]);
  assertEquals(values(events), [
    { ok: 0 },
    { error: "Cannot parse request: invalid JSON" },
    { error: "Cannot parse request: invalid JSON" },
    { x: 1 },
    { b: [1, { c: 2 }] },
  ]);
  // The same for a bare peer, which resyncs at the next object.
  const bare = new JsonObjectDecoder();
  assertEquals(values(feed(bare, ['{"a":1]}{"y":2}'])), [
    { error: "Cannot parse request: invalid JSON" },
    { y: 2 },
  ]);
});

Deno.test("JsonObjectDecoder skips the rest of a line after an object that does not parse", () => {
  const d = new JsonObjectDecoder();
  const events = feed(d, ['{"ok":0}\n', '{"bad": nope} trailing {"junk": 1}\n', '{"ok":1}\n']);
  assertEquals(values(events), [
    { ok: 0 },
    { error: "Cannot parse request: invalid JSON" },
    { ok: 1 },
  ]);
});

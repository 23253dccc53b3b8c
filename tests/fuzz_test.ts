/**
 * Seeded, reproducible fuzzing of the codec, the validator and the request
 * handler (the hub), in process, and of a real server over TCP.
 *
 * Inputs: random bytes, mutated valid requests, deep nesting, huge and
 * expanding numbers, wrong types, invalid UTF-8, NUL bytes, long strings.
 *
 * Short variant (always): 12,000 codec/validator inputs, 10,000 hub requests,
 * 2,000 inputs streamed to a child server. Long variant: `JIM_LONG=1`
 * (200,000 / 100,000 / every input). `JIM_FUZZ_SEED=N` picks another seed; a
 * failure names the seed and the input.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { hashPassword } from "../lib/auth/password.ts";
import { type DecodeEvent, JsonObjectDecoder, Outgoing } from "../lib/protocol/codec.ts";
import {
  type DeliveredMsg,
  ProtocolError,
  type Request,
  type Response,
  RESPONSE_CODES,
} from "../lib/protocol/messages.ts";
import { LIMITS, nameProblem, validateRequest } from "../lib/protocol/validate.ts";
import { Hub, type Peer, type Pin, type Session } from "../lib/server/hub.ts";
import { SERVER_DEFAULTS } from "../lib/server/options.ts";
import { SqliteStore } from "../lib/store/sqlite_store.ts";
import { guest, now, type Obj, RawClient, startServer } from "./_helpers.ts";
import { report, spawnServer } from "./_proc.ts";

const LONG = Deno.env.get("JIM_LONG") === "1";
const SEED = Number(Deno.env.get("JIM_FUZZ_SEED") || 0x7a11ce);
const CODEC_INPUTS = LONG ? 200_000 : 12_000;
const HUB_REQUESTS = LONG ? 100_000 : 10_000;
const TCP_INPUTS = LONG ? Infinity : 2_000;

// -- a seeded generator --

/** mulberry32: small, fast, and the same sequence on every machine. */
class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

const NAMES = [
  "alice",
  "bob",
  "carol",
  "Алиса",
  "n".repeat(25),
  "n".repeat(26),
  "",
  "bad name",
  "a\u0000b",
  "🎉",
  "__proto__",
  "constructor",
  "#lobby",
  "x\ud800",
];
const ROOMS = ["#lobby", "#a", "#" + "r".repeat(24), "#" + "r".repeat(25), "lobby", "#", "#b c"];
const ACTIONS = [
  "presence",
  "authenticate",
  "register",
  "msg",
  "join",
  "leave",
  "who",
  "quit",
  "probe",
  "dance",
  "",
  "PRESENCE",
  "a".repeat(16),
];
const PIECES = ["a", "ж", "🎉", '"', "\\", "\n", "\u0000", "\u001f", "\ud800", " ", "}", "{"];
/** Number literals JSON.stringify never writes: huge, tiny, negative zero, expanding. */
const NUMBER_LITERALS = [
  "1e308",
  "1e309",
  "-1e309",
  "1e-400",
  "123456789012345678901234567890",
  "9007199254740993",
  "-0",
  "0.0000001",
  "1E+2",
  "1e20",
  "1e21",
  "-1e20",
];
/** Literals whose compact re-serialisation is longer than they are (1e20 becomes 21 digits). */
const EXPANDING_LITERALS = ["1e20", "-1e20", "9e20", "5e19", "1e-6", "2E20"];

function randomString(rng: Rng, max: number): string {
  if (rng.chance(0.3)) return rng.pick(PIECES).repeat(rng.int(max + 1));
  let s = "";
  const n = rng.int(max + 1);
  for (let i = 0; i < n; i++) s += rng.chance(0.7) ? "abcxyz_.-0"[rng.int(10)] : rng.pick(PIECES);
  return s;
}

function randomNumber(rng: Rng): number {
  return rng.pick([0, -1, 1.5, 1e20, -1e-7, 2 ** 53 + 2, Number.MAX_VALUE, 1764075600, rng.next()]);
}

function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 4 : 6)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return randomNumber(rng);
    case 3:
      return randomString(rng, 40);
    case 4:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) {
        o[rng.pick(["user", "a", "account_name", "x"])] = randomValue(rng, depth + 1);
      }
      return o;
    }
  }
}

/** A request that is valid, or nearly so (names and rooms from lists with bad entries). */
function plausibleRequest(
  rng: Rng,
  names: readonly string[] = NAMES.slice(0, 3),
): Record<string, unknown> {
  const time = rng.chance(0.9) ? 1764075600 : randomNumber(rng);
  const action = rng.chance(0.9)
    ? rng.pick(["presence", "authenticate", "register", "msg", "join", "leave", "who", "quit"])
    : rng.pick(ACTIONS);
  const name = rng.chance(0.8) ? rng.pick(names) : rng.pick(NAMES);
  switch (action) {
    case "presence": {
      const user: Record<string, unknown> = { account_name: name };
      if (rng.chance(0.3)) user.status = randomString(rng, 110);
      const r: Record<string, unknown> = { action, time, user };
      if (rng.chance(0.3)) r.type = rng.pick(["status", "x".repeat(16)]);
      return r;
    }
    case "authenticate":
    case "register":
      return {
        action,
        time,
        user: {
          account_name: name,
          password: rng.chance(0.8) ? rng.pick(["correct horse", "wrong horse"]) : randomString(
            rng,
            140,
          ),
        },
      };
    case "msg": {
      const r: Record<string, unknown> = {
        action,
        time,
        to: rng.chance(0.3) ? rng.pick(ROOMS) : name,
        message: rng.chance(0.8) ? randomString(rng, 60) : randomString(rng, 520),
      };
      if (rng.chance(0.3)) r.from = rng.pick(NAMES);
      if (rng.chance(0.3)) r.encoding = rng.pick(["ascii", "utf-8", "UTF8", "koi8", 7]);
      return r;
    }
    case "join":
    case "leave":
      return { action, time, room: rng.pick(ROOMS) };
    case "who":
      return rng.chance(0.3)
        ? { action, time }
        : { action, time, target: rng.chance(0.5) ? rng.pick(ROOMS) : name };
    case "quit":
      return rng.chance(0.5) ? { action } : { action, time };
    default:
      return { action, time };
  }
}

/** Replaces, removes or adds one field, often with a value of the wrong type. */
function wrongTypes(rng: Rng, request: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(request);
  const target = copy.user && typeof copy.user === "object" && rng.chance(0.4)
    ? copy.user as Record<string, unknown>
    : copy;
  const keys = Object.keys(target);
  const key = keys.length > 0 && rng.chance(0.8)
    ? rng.pick(keys)
    : rng.pick(["extra", "response", "__proto__"]);
  if (rng.chance(0.2)) delete target[key];
  // An own property, as JSON.parse makes it (even for "__proto__").
  else Object.defineProperty(target, key, { value: randomValue(rng), enumerable: true });
  return copy;
}

const encoder = new TextEncoder();

function serialise(rng: Rng, value: unknown): string {
  return rng.chance(0.2) ? JSON.stringify(value, null, rng.pick([1, "\t"])) : JSON.stringify(value);
}

/** Byte-level damage: flips, insertions, deletions, duplications, truncation. */
function mutate(rng: Rng, bytes: Uint8Array): Uint8Array {
  let b = [...bytes];
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const at = rng.int(b.length + 1);
    switch (rng.int(6)) {
      case 0:
        if (b.length > 0) b[Math.min(at, b.length - 1)]! ^= 1 << rng.int(8);
        break;
      case 1:
        b.splice(
          at,
          0,
          ...encoder.encode(rng.pick(["{", "}", '"', "\\", "\n", ",", ":", "[", "]"])),
        );
        break;
      case 2:
        b.splice(at, 1 + rng.int(8));
        break;
      case 3:
        b.splice(at, 0, ...b.slice(at, at + 1 + rng.int(16)));
        break;
      case 4:
        b = b.slice(0, at);
        break;
      default:
        b.splice(at, 0, rng.int(256));
    }
  }
  return new Uint8Array(b);
}

const INVALID_UTF8 = [[0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0xff], [
  0xfe,
]];

/** Puts an invalid UTF-8 sequence or a raw NUL inside the first string. */
function badBytesInString(rng: Rng, text: string): Uint8Array {
  const bytes = [...encoder.encode(text)];
  const quote = bytes.indexOf(0x22, bytes.indexOf(0x3a)); // a value's opening quote
  const at = quote < 0 ? rng.int(bytes.length + 1) : quote + 1;
  bytes.splice(at, 0, ...(rng.chance(0.5) ? rng.pick(INVALID_UTF8) : [0x00]));
  return new Uint8Array(bytes);
}

function deepNesting(rng: Rng): string {
  const depth = rng.pick([10, 100, 1000, 4000, 10_000]);
  const open = rng.chance(0.5) ? "[" : '{"a":';
  const close = open === "[" ? "]" : "}";
  const closed = rng.chance(0.7);
  return `{"action":"who","time":1,"x":${open.repeat(depth)}1${closed ? close.repeat(depth) : ""}}`;
}

function hugeNumbers(rng: Rng): string {
  const base = plausibleRequest(rng);
  if (rng.chance(0.5)) {
    // Numbers that grow when re-serialised (1e20 becomes 21 digits).
    const n = 1 + rng.int(40);
    base.x = "__LIST__";
    return JSON.stringify(base).replace(
      '"__LIST__"',
      `[${Array.from({ length: n }, () => rng.pick(EXPANDING_LITERALS)).join(",")}]`,
    );
  }
  base.time = "__NUM__";
  return JSON.stringify(base).replace('"__NUM__"', rng.pick(NUMBER_LITERALS));
}

function randomBytes(rng: Rng): Uint8Array {
  const n = rng.int(200);
  const out = new Uint8Array(n);
  const jsonish = rng.chance(0.5);
  for (let i = 0; i < n; i++) {
    out[i] = jsonish ? encoder.encode('{}[]":,\\ 0a\n')[rng.int(13)]! : rng.int(256);
  }
  return out;
}

interface FuzzInput {
  kind: string;
  bytes: Uint8Array;
  /** The value encoded, when the bytes are exactly `JSON.stringify(value)`. */
  value?: Record<string, unknown>;
}

function generate(rng: Rng): FuzzInput {
  switch (rng.int(9)) {
    case 0:
      return { kind: "random bytes", bytes: randomBytes(rng) };
    case 1:
    case 2: {
      const value = plausibleRequest(rng);
      return { kind: "valid", bytes: encoder.encode(JSON.stringify(value)), value };
    }
    case 3:
      return {
        kind: "mutated",
        bytes: mutate(rng, encoder.encode(serialise(rng, plausibleRequest(rng)))),
      };
    case 4: {
      const value = wrongTypes(rng, plausibleRequest(rng));
      return { kind: "wrong types", bytes: encoder.encode(JSON.stringify(value)), value };
    }
    case 5:
      return { kind: "deep nesting", bytes: encoder.encode(deepNesting(rng)) };
    case 6:
      return { kind: "huge numbers", bytes: encoder.encode(hugeNumbers(rng)) };
    case 7:
      return {
        kind: "invalid UTF-8 / NUL",
        bytes: badBytesInString(rng, JSON.stringify(plausibleRequest(rng))),
      };
    default: {
      const value = { ...plausibleRequest(rng), junk: randomValue(rng) };
      return { kind: "random value", bytes: encoder.encode(serialise(rng, value)) };
    }
  }
}

function generateAll(n: number, seed: number): FuzzInput[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => generate(rng));
}

function describe(input: FuzzInput, i: number): string {
  const text = new TextDecoder().decode(input.bytes.subarray(0, 300));
  return `seed ${SEED}, input #${i} (${input.kind}): ${JSON.stringify(text)}`;
}

// -- codec and validator --

/** Events in a comparable form (deep values compared as JSON, which has no depth limit). */
function comparable(events: DecodeEvent[]): string[] {
  return events.map((e) =>
    e.kind === "object" ? `object ${e.bytes} ${JSON.stringify(e.value)}` : `error ${e.message}`
  );
}

/** Events as values and errors only (a line's surrounding blanks may count in `bytes`). */
function values(events: DecodeEvent[]): string[] {
  return events.map((e) =>
    e.kind === "object" ? `object ${JSON.stringify(e.value)}` : `error ${e.message}`
  );
}

/** An object and a newline: the decoder then treats its peer as newline-framed. */
const PRIMER = new TextEncoder().encode('{"primer":1}\n');

/** Decodes `bytes` and a newline from a newline-framed peer, in the given cuts. */
function decodeFramed(bytes: Uint8Array, cuts: (b: Uint8Array) => Uint8Array[], max: number) {
  const line = new Uint8Array(bytes.length + 1);
  line.set(bytes);
  line[bytes.length] = 0x0a;
  return decodeIn([PRIMER, ...cuts(line)], max).slice(1);
}

function decodeIn(chunks: Uint8Array[], max: number): DecodeEvent[] {
  const decoder = new JsonObjectDecoder({ maxObjectBytes: max });
  const events: DecodeEvent[] = [];
  for (const chunk of chunks) {
    events.push(...decoder.push(chunk));
    assert(decoder.pendingBytes <= max, `holds ${decoder.pendingBytes} bytes over ${max}`);
  }
  return events;
}

function randomCuts(rng: Rng, bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + rng.int(Math.max(1, bytes.length / 3));
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

type Outcome = { ok: Request } | { code: number; message: string };

function outcome(value: Record<string, unknown>, rawBytes?: number, rawText?: string): Outcome {
  try {
    return { ok: validateRequest(value, rawBytes, rawText) };
  } catch (e) {
    // Anything but a ProtocolError is a bug: it would become a 500.
    if (!(e instanceof ProtocolError)) throw e;
    return { code: e.code, message: e.message };
  }
}

function codePoints(s: string): number {
  return [...s].length;
}

/** What every accepted request must satisfy. */
function checkAccepted(value: Record<string, unknown>, request: Request): void {
  assert(codePoints(JSON.stringify(value)) <= LIMITS.object, "accepted an object over the limit");
  // Validating the result changes nothing (unless the defaults it filled in,
  // such as `encoding`, push it over the object limit).
  if (codePoints(JSON.stringify(request)) <= LIMITS.object) {
    const again = validateRequest(structuredClone(request) as unknown as Record<string, unknown>);
    assertEquals(again, request, "validation is not idempotent");
  }
  switch (request.action) {
    case "presence":
    case "register":
      assertEquals(nameProblem(request.user.account_name), null);
      break;
    case "msg":
      assert(codePoints(request.message) <= LIMITS.message);
      assert(request.to.length > 0 && codePoints(request.to) <= LIMITS.name);
      break;
    case "join":
    case "leave":
      assert(/^#[\p{L}\p{N}_.-]+$/u.test(request.room) && codePoints(request.room) <= LIMITS.room);
      break;
  }
}

Deno.test(`fuzz: the decoder and validator hold on ${CODEC_INPUTS} seeded inputs`, () => {
  const inputs = generateAll(CODEC_INPUTS, SEED);
  const rng = new Rng(SEED ^ 0x5a5a5a5a);
  const kinds = new Map<string, number>();
  let objects = 0;
  let accepted = 0;
  for (const [i, input] of inputs.entries()) {
    kinds.set(input.kind, (kinds.get(input.kind) ?? 0) + 1);
    const max = rng.pick([64, 512, 8192]);
    try {
      // The same events however the bytes are cut.
      const whole = decodeIn([input.bytes], max);
      // (Values and errors: once a newline has been seen, the line fast path
      // counts a line's surrounding blanks in `bytes`, the state machine not.)
      const expected = values(whole);
      const cut = values(decodeIn(randomCuts(rng, input.bytes), max));
      assertEquals(cut, expected, "random cuts differ");
      if (input.bytes.length <= 2048 && i % 8 === 0) {
        const single = [...input.bytes].map((b) => new Uint8Array([b]));
        assertEquals(values(decodeIn(single, max)), expected, "byte-at-a-time differs");
      }
      // A newline-framed peer's line decodes alike whole (the line fast path)
      // and cut up or byte by byte (the state machine).
      const framed = values(decodeFramed(input.bytes, (b) => [b], max));
      assertEquals(
        values(decodeFramed(input.bytes, (b) => randomCuts(rng, b), max)),
        framed,
        "framed: random cuts differ",
      );
      if (input.bytes.length <= 2048 && i % 8 === 4) {
        const single = (b: Uint8Array) => [...b].map((x) => new Uint8Array([x]));
        assertEquals(values(decodeFramed(input.bytes, single, max)), framed, "framed: bytewise");
      }
      for (const event of decodeFramed(input.bytes, (b) => [b], max)) {
        if (event.kind !== "object") continue;
        assertEquals(
          outcome(event.value, event.bytes, event.text),
          outcome(event.value),
          "framed: raw-size fast path disagrees with the full check",
        );
      }
      // An encoded object within the bound comes back as itself.
      if (input.value && input.bytes.length <= max) {
        assertEquals(comparable(whole), [
          `object ${input.bytes.length} ${JSON.stringify(input.value)}`,
        ]);
      }
      for (const event of whole) {
        if (event.kind === "error") {
          assert(event.message.startsWith("Cannot parse request: "), event.message);
          continue;
        }
        objects++;
        const v = event.value;
        assert(typeof v === "object" && v !== null && !Array.isArray(v));
        assert(event.bytes <= max);
        // The fast path (raw size and text) agrees with the full check.
        const fast = outcome(v, event.bytes, event.text);
        assertEquals(fast, outcome(v), "raw-size fast path disagrees with the full check");
        if ("ok" in fast) {
          accepted++;
          checkAccepted(v, fast.ok);
        } else {
          assertEquals(fast.code, 400);
        }
      }
    } catch (e) {
      throw new Error(`${describe(input, i)}\n${e instanceof Error ? e.message : e}`);
    }
  }
  // Everything in one stream, cut anywhere, as a connection sees it.
  const stream = new Uint8Array(inputs.reduce((n, x) => n + x.bytes.length + 1, 0));
  let at = 0;
  for (const x of inputs) {
    stream.set(x.bytes, at);
    stream[at + x.bytes.length] = 0x0a;
    at += x.bytes.length + 1;
  }
  const streamed = decodeIn(randomCuts(rng, stream), 8192);
  assert(streamed.length > 0);
  report(
    `fuzz codec: seed ${SEED}, ${inputs.length} inputs ${
      JSON.stringify([...kinds])
    }; ${objects} objects decoded, ${accepted} requests accepted`,
  );
});

// Found by the fuzzer (seed 0x7a11ce): an object exactly one byte over the
// bound, ending in a later read, overflowed the decoder's buffer (RangeError).
Deno.test("fuzz regression: an object one byte over the bound that ends in a later read gets an error", () => {
  const max = 64;
  const text = `{"action":"who","time":1,"x":"${"y".repeat(max - 31)}"}`;
  assertEquals(text.length, max + 1);
  const bytes = encoder.encode(text);
  for (let cut = 1; cut < bytes.length; cut++) {
    const events = decodeIn([bytes.subarray(0, cut), bytes.subarray(cut)], max);
    assertEquals(comparable(events), [`error Cannot parse request: object exceeds ${max} bytes`]);
  }
  assertEquals(comparable(decodeIn([bytes], max)), [
    `error Cannot parse request: object exceeds ${max} bytes`,
  ]);
});

Deno.test("fuzz regression: the server answers 400 to an object one byte over --max-object-bytes and keeps the connection", async () => {
  await using server = await startServer({ maxObjectBytes: 8192 });
  await using c = await RawClient.connect(server.port);
  const head = `{"action":"who","time":1,"x":"`;
  // The server's first read takes at most 2 KiB: the object spans several.
  await c.writeRaw(head + "y".repeat(8192 - head.length - 1) + '"');
  await c.writeRaw("}\n");
  const r = await c.response();
  assertEquals(r.response, 400, JSON.stringify(r));
  assertEquals(r.error, "Cannot parse request: object exceeds 8192 bytes");
  const ok = await c.request({ action: "presence", time: now(), user: { account_name: "x" } });
  assertEquals(ok.response, 200);
});

// Found by the fuzzer (seed 0x7a11ce): a source under 512 bytes skipped the
// 640-character check, but numbers grow when re-serialised (1e20 → 21 digits).
Deno.test("fuzz regression: numbers that grow when re-serialised cannot slip past the 640-character limit", async () => {
  const source = `{"action":"who","time":1,"x":[${Array(40).fill("1e20").join(",")}]}`;
  assert(source.length < 512);
  const value = JSON.parse(source);
  assertEquals(outcome(value, source.length), {
    code: 400,
    message: "Cannot parse request: object exceeds 640 characters",
  });
  await using server = await startServer();
  await using c = await guest(server.port, "n");
  const r = await c.request(value);
  await c.writeRaw(source + "\n");
  assertEquals([r.response, (await c.response()).response], [400, 400]);
});

// Found by the fuzzer (seed 0x7a11ce, long run): the line fast path took a
// line of non-JSON blanks (vertical tab, no-break space) for an empty line and
// skipped it, where the state machine answers 400.
Deno.test("fuzz regression: a line of blanks JSON does not allow gets an error from a newline-framed peer too", () => {
  for (const blank of ["\v", "\f", "\u00a0", "\ufeff", "\u2028"]) {
    const line = encoder.encode(`${blank}\n`);
    const events = decodeIn([PRIMER, line], 8192).slice(1);
    assertEquals(values(events), ["error Cannot parse request: expected a JSON object"], blank);
  }
  // JSON's own blanks are skipped as before.
  assertEquals(decodeIn([PRIMER, encoder.encode(" \t\r\n\n")], 8192).length, 1);
});

// -- the request handler --

/** The names the hub's sessions contend for. */
const POOL = ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hana"];

class FakePeer implements Peer {
  readonly address: string;
  session: Session | null = null;
  delivered = 0;
  closed = false;

  constructor(address: string) {
    this.address = address;
  }

  send(message: Outgoing): boolean {
    if (this.closed) return false;
    const m = message.value as DeliveredMsg;
    // The hub sends only messages, addressed to this session or one of its rooms.
    assertEquals(m.action, "msg");
    for (const key of ["from", "to", "message", "encoding"] as const) {
      assertEquals(typeof m[key], "string");
    }
    assert(typeof m.time === "number");
    assert(
      m.to === this.session?.name || (m.to.startsWith("#") && this.session?.rooms.has(m.to)),
      `delivered to ${this.session?.name}: ${JSON.stringify(m)}`,
    );
    this.delivered++;
    return true;
  }
  drain(): Promise<boolean> {
    return Promise.resolve(!this.closed);
  }
  abort(): void {
    this.close();
  }
  close(): void {
    this.closed = true;
  }
  // Written at once: nothing is ever held back.
  pin(): Pin {
    return "gone";
  }
  unpin(): boolean {
    return false;
  }
}

function checkResponse(r: Response): void {
  assert(r.response in RESPONSE_CODES, `unknown code ${r.response}`);
  assert(r.response !== 500, `500: ${JSON.stringify(r)}`);
  assert(Number.isInteger(r.time));
  if (r.response < 400) assertEquals(typeof (r as { alert?: unknown }).alert, "string");
  else assertEquals(typeof (r as { error?: unknown }).error, "string");
}

// Found by the fuzzer (seed 7999950): a login stored its rooms before the
// session knew them, while its name was already online, so a room message
// reached a session that did not list the room.
Deno.test("fuzz regression: a session knows its rooms as soon as its name is online after a login", async () => {
  await using store = SqliteStore.open(":memory:");
  await store.createAccount("alice", await hashPassword("correct horse", { iterations: 1000 }));
  await store.addRoomMember("#lobby", "alice");
  const hub = await Hub.create({ store, settings: { ...SERVER_DEFAULTS, hashIterations: 1000 } });
  const gina = new FakePeer("10.0.0.1");
  gina.session = hub.connect(gina);
  assertEquals(
    (await hub.handle(gina.session, {
      action: "presence",
      time: 1,
      user: { account_name: "gina" },
    })).response,
    200,
  );
  assertEquals(
    (await hub.handle(gina.session, { action: "join", time: 1, room: "#lobby" }))
      .response,
    200,
  );
  // Hold the login inside its store write.
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const addRoomMembers = store.addRoomMembers.bind(store);
  store.addRoomMembers = async (rooms, account) => {
    await gate;
    return addRoomMembers(rooms, account);
  };
  const alice = new FakePeer("10.0.0.2");
  const session = alice.session = hub.connect(alice);
  const login = hub.handle(session, {
    action: "authenticate",
    time: 1,
    user: { account_name: "alice", password: "correct horse" },
  });
  const deadline = Date.now() + 5000;
  while (session.name !== "alice") {
    if (Date.now() > deadline) throw new Error("the login did not take the name within 5 s");
    await new Promise((r) => setTimeout(r, 1));
  }
  const sent = await hub.handle(gina.session, {
    action: "msg",
    time: 1,
    to: "#lobby",
    encoding: "ascii",
    message: "hi",
  });
  assertEquals(sent.response, 200);
  assertEquals(alice.delivered, 1);
  release();
  assertEquals((await login).response, 200);
  await hub.disconnect(session);
  await hub.disconnect(gina.session);
});

Deno.test(`fuzz: the hub answers ${HUB_REQUESTS} seeded requests from concurrent sessions`, async () => {
  const store = SqliteStore.open(":memory:");
  const hub = await Hub.create({
    store,
    settings: { ...SERVER_DEFAULTS, hashIterations: 1000, offlineLimit: 50, authFailures: 1000 },
  });
  const rng = new Rng(SEED ^ 0x1234567);
  const codes = new Map<number, number>();
  const peers = new Set<FakePeer>();
  let delivered = 0;
  let done = 0;

  function open(address: string): { peer: FakePeer; session: Session } {
    const peer = new FakePeer(address);
    peer.session = hub.connect(peer);
    peers.add(peer);
    return { peer, session: peer.session };
  }

  async function client(address: string, n: number): Promise<void> {
    let { peer, session } = open(address);
    for (let answered = 0; answered < n;) {
      // Mostly valid requests, some from the other generators; a session
      // without a name mostly gets one first.
      const value = session.name === null && rng.chance(0.7)
        ? {
          action: rng.pick(["presence", "authenticate", "register"]),
          time: 1,
          user: { account_name: rng.pick(POOL), password: "correct horse" },
        }
        : rng.chance(0.8)
        ? plausibleRequest(rng, POOL)
        : wrongTypes(rng, plausibleRequest(rng, POOL));
      const o = outcome(value);
      if (!("ok" in o)) continue;
      const request = o.ok;
      if (request.action === "quit" || rng.chance(0.01)) {
        peer.closed = true;
        delivered += peer.delivered;
        await hub.disconnect(session);
        peers.delete(peer);
        ({ peer, session } = open(address));
        continue;
      }
      let r: Response;
      try {
        r = await hub.handle(session, request);
      } catch (e) {
        throw new Error(`seed ${SEED}: ${JSON.stringify(request)} threw ${e}`);
      }
      checkResponse(r);
      codes.set(r.response, (codes.get(r.response) ?? 0) + 1);
      done++;
      answered++;
    }
  }

  const sessions = 8;
  await Promise.all(
    Array.from(
      { length: sessions },
      (_, i) => client(`10.0.0.${i % 3}`, Math.ceil(HUB_REQUESTS / sessions)),
    ),
  );
  for (const peer of peers) {
    delivered += peer.delivered;
    peer.closed = true;
    await hub.disconnect(peer.session!);
  }
  assertEquals(hub.size, 0);
  // Offline delivery runs on a timer after authenticate: let it finish.
  await new Promise((r) => setTimeout(r, 50));
  await store.close();
  assert(done >= HUB_REQUESTS, `only ${done} requests`);
  report(
    `fuzz hub: seed ${SEED}, ${done} requests answered ${
      JSON.stringify([...codes].sort((a, b) => a[0] - b[0]))
    }; ${delivered} messages delivered`,
  );
});

// -- a real server over TCP --

Deno.test("fuzz: a child server survives a sample streamed over TCP and answers a healthy client", async () => {
  const all = generateAll(CODEC_INPUTS, SEED);
  const sample = all.filter((_, i) => i % Math.max(1, Math.floor(all.length / TCP_INPUTS)) === 0)
    .slice(0, TCP_INPUTS);
  await using server = await spawnServer({ args: ["--handshake-timeout", "60"] });
  const lanes = 4;
  const answers = new Map<number, number>();
  let connections = 0;
  let sent = 0;

  function tally(c: RawClient): void {
    for (const o of c.inbox as Obj[]) {
      if (typeof o.response === "number") {
        answers.set(o.response, (answers.get(o.response) ?? 0) + 1);
      }
    }
    assertEquals(c.garbage, [], "the server wrote something that is not a JSON object");
  }

  async function lane(k: number): Promise<void> {
    // Lane 0 is a bare peer (no newlines); the others end every input with one.
    const framed = k !== 0;
    let c = await RawClient.connect(server.port);
    connections++;
    for (let i = k; i < sample.length; i += lanes) {
      const input = sample[i]!;
      const bytes = framed ? new Uint8Array([...input.bytes, 0x0a]) : input.bytes;
      try {
        await c.writeRaw(bytes);
        sent++;
      } catch {
        // A quit in the input closed it: carry on on a new connection.
        await c.reading;
        tally(c);
        await c[Symbol.asyncDispose]();
        c = await RawClient.connect(server.port);
        connections++;
      }
    }
    // Close out whatever object the inputs left open, then quit: the server
    // answers everything before it and closes.
    try {
      await c.writeRaw('\n"}]}]}\n');
      await c.send({ action: "quit" });
    } catch {
      // The last input was a quit: the server has closed already.
    }
    await c.waitClosed(10_000).catch(() => {});
    tally(c);
    await c[Symbol.asyncDispose]();
  }

  await Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)));

  await using healthy = await guest(server.port, "healthy");
  const r = await healthy.request({ action: "who", time: now(), target: "healthy" });
  assertEquals(r.response, 200);
  assertEquals(answers.get(500), undefined, "some input caused a 500");
  assert(!/internal error|unhandled/.test(server.log()), server.log());
  for (const code of answers.keys()) assert(code in RESPONSE_CODES, `unknown code ${code}`);
  healthy.close();
  const status = await server.stop();
  assertEquals(status.code, 0, server.log());
  report(
    `fuzz tcp: seed ${SEED}, ${sent} inputs over ${connections} connections; answers ${
      JSON.stringify([...answers].sort((a, b) => a[0] - b[0]))
    }`,
  );
});

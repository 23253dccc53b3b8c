// deno-lint-ignore-file no-console -- prints its port for the bench runner
/**
 * The ceiling: a minimal Deno TCP relay that reads bytes and writes them to
 * the other connections of its group, parsing nothing.
 *
 * A connection's first line is `group KEY SIZE`; once SIZE connections have
 * sent the same KEY, each gets `ok` and forwarding starts. In a group of two
 * (a pair) every chunk read goes to the peer as it is. In a larger group (a
 * room) a chunk goes to every other member up to its last newline, the rest
 * waiting for the next read, so lines from different senders never interleave.
 *
 * Usage: `deno run --allow-net bench/relay.ts [PORT]`; prints `listening PORT`.
 *
 * @module
 */

/** One destination socket with a serialised write queue. */
class Writer {
  readonly #conn: Deno.Conn;
  #tail: Promise<void> = Promise.resolve();

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Queues bytes behind every earlier write; resolves when written. */
  write(bytes: Uint8Array): Promise<void> {
    this.#tail = this.#tail.then(() => writeAll(this.#conn, bytes));
    return this.#tail;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

interface Member {
  conn: Deno.Conn;
  writer: Writer;
  /** bytes read after the hello line */
  leftover: Uint8Array;
}

interface Group {
  size: number;
  members: Member[];
}

const groups = new Map<string, Group>();
const decoder = new TextDecoder();
const encoder = new TextEncoder();

async function readHello(conn: Deno.Conn): Promise<{ hello: string; leftover: Uint8Array }> {
  const buf = new Uint8Array(1024);
  let have = 0;
  while (have < buf.length) {
    const n = await conn.read(buf.subarray(have));
    if (n === null) break;
    have += n;
    const nl = buf.subarray(0, have).indexOf(10);
    if (nl >= 0) {
      return { hello: decoder.decode(buf.subarray(0, nl)), leftover: buf.slice(nl + 1, have) };
    }
  }
  throw new Error("Cannot read hello: no line within 1024 bytes");
}

async function pairLoop(from: Member, to: Member): Promise<void> {
  if (from.leftover.length > 0) await to.writer.write(from.leftover);
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await from.conn.read(buf);
    if (n === null) return;
    await writeAll(to.conn, buf.subarray(0, n));
  }
}

async function roomLoop(from: Member, others: Member[]): Promise<void> {
  let rest = from.leftover;
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await from.conn.read(buf);
    if (n === null) return;
    const read = buf.subarray(0, n);
    const last = read.lastIndexOf(10);
    if (last < 0) {
      rest = concat(rest, read);
      continue;
    }
    const lines = concat(rest, read.subarray(0, last + 1));
    rest = read.slice(last + 1);
    await Promise.all(others.map((m) => m.writer.write(lines)));
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

async function handle(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const { hello, leftover } = await readHello(conn);
  const [word, key, sizeText] = hello.split(" ");
  const size = Number(sizeText);
  if (word !== "group" || !key || !Number.isInteger(size) || size < 2) {
    throw new Error(`Cannot join a group: bad hello ${JSON.stringify(hello)}`);
  }
  let group = groups.get(key);
  if (!group) {
    group = { size, members: [] };
    groups.set(key, group);
  }
  const member: Member = { conn, writer: new Writer(conn), leftover };
  group.members.push(member);
  if (group.members.length < group.size) return;
  groups.delete(key);
  const members = group.members;
  const ok = encoder.encode("ok\n");
  await Promise.all(members.map((m) => m.writer.write(ok)));
  for (const m of members) {
    const others = members.filter((o) => o !== m);
    const loop = others.length === 1 ? pairLoop(m, others[0]!) : roomLoop(m, others);
    loop.catch(() => {}).finally(() => {
      for (const o of members) {
        try {
          o.conn.close();
        } catch {
          // already closed
        }
      }
    });
  }
}

if (import.meta.main) {
  const port = Number(Deno.args[0] ?? 0);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  console.log(`listening ${listener.addr.port}`);
  for await (const conn of listener) {
    handle(conn).catch((e) => {
      console.error(e instanceof Error ? e.message : e);
      try {
        conn.close();
      } catch {
        // already closed
      }
    });
  }
}

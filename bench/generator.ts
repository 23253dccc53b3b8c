/**
 * The load generator: one process, one event loop, driven by the bench
 * runner over stdin/stdout (one JSON command per line in, one JSON reply per
 * line out). It opens clients through a {@linkcode Driver}, sends messages
 * that carry `SENDER.SEQ.SENT_US.` and padding, and checks every delivery:
 * each receiver must see each sender's sequence numbers consecutively, and
 * every message must be acknowledged and delivered before the run ends. Any
 * loss, duplicate or reordering prints a `fatal` line and exits 1.
 *
 * Usage: `deno run … bench/generator.ts '<GeneratorConfig JSON>'`.
 *
 * @module
 */

import type { BenchClient, ClientHooks, Driver, RelayGroup } from "./driver.ts";
import { unackedDriver } from "./driver.ts";
import { IrcClient } from "./irc_driver.ts";
import { JimClient, JimDriver } from "./jim_driver.ts";
import { NatsClient } from "./nats_driver.ts";
import { clockUs, Histogram, type HistogramData, selfCpuSeconds } from "./stats.ts";

/** The protocol the generator speaks. */
export type TargetKind = "jim" | "relay" | "irc" | "nats";

/** Fixed for the life of one generator process. */
export interface GeneratorConfig {
  target: TargetKind;
  hostname: string;
  port: number;
  /**
   * JIM only: several nodes of one cluster. Client i of a direct or room
   * setup connects to `ports[i % ports.length]`, so that the two clients of
   * a pair are always on different nodes, and most of a room's members are
   * on a node other than the sender's.
   */
  ports?: number[];
  /** Connections opened concurrently during setup (ngircd's backlog is 10). */
  connectBatch: number;
  /** Characters in each message payload. */
  size: number;
  /** How long a run may take to drain after its last send before it counts as loss. */
  drainSeconds: number;
}

/** Commands the runner sends, one per line. */
export type Command =
  | { cmd: "direct-setup"; pairs: number; firstPair: number }
  | { cmd: "room-setup"; members: number; senders: number; room: string }
  | {
    cmd: "run";
    mode: "window" | "rate";
    window: number;
    rate: number;
    seconds: number;
    storm?: Storm;
  }
  | { cmd: "idle-connect"; connections: number }
  | { cmd: "register"; accounts: string[]; password: string }
  | { cmd: "offline-setup"; senders: string[]; password: string }
  | { cmd: "offline-send"; recipients: string[]; total: number; window: number }
  | { cmd: "offline-login"; recipients: string[]; password: string; timeoutSeconds: number }
  | { cmd: "token-login"; accounts: string[]; tokens: string[]; concurrency: number }
  | { cmd: "close" }
  | { cmd: "exit" };

/** A login storm to run beside a `run`. */
export interface Storm {
  accounts: string[];
  password: string;
  concurrency: number;
}

/** What `run` answers. */
export interface RunResult {
  /** seconds from the first send to the last completion */
  seconds: number;
  /** messages sent and completed (acknowledged and delivered to every receiver) */
  messages: number;
  /** deliveries (messages × receivers) */
  deliveries: number;
  /** latency from send (or scheduled send, in rate mode) to each delivery */
  delivery: HistogramData;
  /** latency from send to the server's answer (JIM only) */
  ack: HistogramData;
  /**
   * rate mode: latency from the scheduled send time to completion (answered
   * and delivered everywhere), which counts the generator's own lag too
   */
  scheduled: HistogramData;
  /** rate mode: sends that found every sender's window full */
  stalls: number;
  /** this generator's CPU seconds over the run */
  generatorCpuSeconds: number;
  storm?: { authentications: number; latency: HistogramData };
}

interface Pending {
  /** when it was written */
  t0: number;
  /** when the rate schedule wanted it written (rate mode; else t0) */
  sched: number;
  remaining: number;
}

/** A client that sends: its target and its sequence state. */
interface Sender {
  index: number;
  client: BenchClient;
  target: string;
  /** next sequence number per target */
  seqs: Map<string, number>;
  /**
   * Messages in flight by token. The token is the sequence number while a
   * sender has one target (so a delivery finds its record); with several
   * targets (offline mail, tracked by answer only) it is a counter of its own.
   */
  records: Map<number, Pending>;
  tokens: number;
  outstanding: number;
}

const encoder = new TextEncoder();

function reply(obj: unknown): void {
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(obj) + "\n"));
}

function fatal(message: string): never {
  reply({ event: "fatal", message });
  Deno.exit(1);
}

/** The generator's state across commands. */
class Generator {
  readonly #config: GeneratorConfig;
  readonly #driver: Driver;
  /** One driver per cluster node (just `#driver` without `ports`). */
  readonly #spread: Driver[];
  readonly #clients: BenchClient[] = [];
  #senders: Sender[] = [];
  readonly #senderByIndex = new Map<number, Sender>();
  readonly #pad: string;
  readonly #hooks: ClientHooks;

  // per-phase state
  #perMessage = 1;
  #expectedAck = 200;
  #trackDeliveries = true;
  #running = false;
  #outstanding = 0;
  #messages = 0;
  #deliveries = 0;
  #lastCompletion = 0;
  #delivery = new Histogram();
  #ack = new Histogram();
  #scheduled = new Histogram();
  #window = 1;
  #mode: "window" | "rate" = "window";
  #budget = Infinity;
  #drained: (() => void) | null = null;
  #deliveredTarget = Infinity;
  #onAllDelivered: (() => void) | null = null;
  /** Where a sender's next message goes (the offline phase rotates recipients). */
  #targetOf: (s: Sender) => string = (s) => s.target;

  constructor(config: GeneratorConfig) {
    this.#config = config;
    const { hostname, port } = config;
    this.#driver = config.target === "irc"
      ? unackedDriver(hostname, port, (name, hooks) => new IrcClient(name, hooks))
      : config.target === "nats"
      ? unackedDriver(hostname, port, (name, hooks) => new NatsClient(name, hooks))
      : new JimDriver({ hostname, port, relay: config.target === "relay" });
    this.#spread = config.target === "jim" && config.ports && config.ports.length > 0
      ? config.ports.map((p) => new JimDriver({ hostname, port: p }))
      : [this.#driver];
    this.#pad = "x".repeat(Math.max(config.size, 64));
    this.#hooks = {
      onDeliver: (client, payload) => this.#onDeliver(client, payload),
      onAck: (client, code, token) => this.#onAck(client, code, token),
      onFailure: (client, error) => fatal(`${client.name}: ${error.message}`),
    };
  }

  async handle(command: Command): Promise<unknown> {
    switch (command.cmd) {
      case "direct-setup":
        return await this.#directSetup(command.pairs, command.firstPair);
      case "room-setup":
        return await this.#roomSetup(command.members, command.senders, command.room);
      case "run":
        return await this.#run(command);
      case "idle-connect":
        return await this.#idleConnect(command.connections);
      case "register":
        return await this.#register(command.accounts, command.password);
      case "offline-setup":
        return await this.#offlineSetup(command.senders, command.password);
      case "offline-send":
        return await this.#offlineSend(command.recipients, command.total, command.window);
      case "offline-login":
        return await this.#offlineLogin(command);
      case "token-login":
        return await this.#tokenLogin(command.accounts, command.tokens, command.concurrency);
      case "close":
        for (const c of this.#clients) c.close();
        this.#clients.length = 0;
        this.#senders = [];
        this.#senderByIndex.clear();
        return {};
      case "exit":
        return {};
    }
  }

  // -- setup --

  /** Opens `n` connections, `connectBatch` at a time; resolves with them in order. */
  async #openMany(
    n: number,
    open: (i: number) => Promise<BenchClient>,
  ): Promise<BenchClient[]> {
    const out: BenchClient[] = new Array(n);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        out[i] = await open(i);
      }
    };
    const workers = [];
    for (let w = 0; w < Math.min(this.#config.connectBatch, n); w++) workers.push(worker());
    await Promise.all(workers);
    return out;
  }

  /** Relay clients are usable once their whole group has arrived. */
  async #relayReady(clients: BenchClient[]): Promise<void> {
    await Promise.all(clients.map((c) => c instanceof JimClient ? c.relayReady : undefined));
  }

  #addSender(index: number, client: BenchClient, target: string): void {
    const s: Sender = {
      index,
      client,
      target,
      seqs: new Map(),
      records: new Map(),
      tokens: 0,
      outstanding: 0,
    };
    client.sender = s;
    this.#senders.push(s);
    this.#senderByIndex.set(index, s);
  }

  /** The driver for client `index` of a direct or room setup (one node unless `ports`). */
  #spreadDriver(index: number): Driver {
    return this.#spread[index % this.#spread.length]!;
  }

  async #directSetup(pairs: number, firstPair: number): Promise<unknown> {
    const t0 = performance.now();
    const clients = await this.#openMany(pairs * 2, (i) => {
      const pair = firstPair + Math.floor(i / 2);
      const group: RelayGroup = { key: `p${pair}`, size: 2 };
      const index = firstPair * 2 + i;
      return this.#spreadDriver(index).connect(`u${index}`, this.#hooks, group);
    });
    await this.#relayReady(clients);
    this.#clients.push(...clients);
    for (let i = 0; i < clients.length; i++) {
      const partner = clients[i ^ 1]!;
      this.#addSender(firstPair * 2 + i, clients[i]!, partner.name);
    }
    this.#perMessage = 1;
    return { seconds: (performance.now() - t0) / 1000 };
  }

  async #roomSetup(members: number, senders: number, room: string): Promise<unknown> {
    const t0 = performance.now();
    const group: RelayGroup = { key: room, size: members };
    const clients = await this.#openMany(members, async (i) => {
      const c = await this.#spreadDriver(i).connect(`m${i}`, this.#hooks, group);
      await c.join(room);
      return c;
    });
    await this.#relayReady(clients);
    this.#clients.push(...clients);
    for (let i = 0; i < senders; i++) this.#addSender(i, clients[i]!, room);
    this.#perMessage = members - 1;
    return { seconds: (performance.now() - t0) / 1000 };
  }

  async #idleConnect(n: number): Promise<unknown> {
    const t0 = performance.now();
    const clients = await this.#openMany(
      n,
      (i) => this.#driver.connect(`i${i}`, this.#hooks, { key: `i${i >> 1}`, size: 2 }),
    );
    this.#clients.push(...clients);
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, connections: n, perSecond: n / seconds };
  }

  #jim(): JimDriver {
    if (!(this.#driver instanceof JimDriver) || this.#config.target !== "jim") {
      fatal("Cannot use accounts: only the JIM server has them");
    }
    return new JimDriver({
      hostname: this.#config.hostname,
      port: this.#config.port,
      presence: false,
    });
  }

  async #register(accounts: string[], password: string): Promise<unknown> {
    const driver = this.#jim();
    const t0 = performance.now();
    await this.#openMany(accounts.length, async (i) => {
      const c = await driver.connect(accounts[i]!, this.#hooks) as JimClient;
      const res = await c.request({
        action: "register",
        time: Math.floor(Date.now() / 1000),
        user: { account_name: accounts[i]!, password },
      });
      if (res.response !== 201) fatal(`Cannot register ${accounts[i]}: ${JSON.stringify(res)}`);
      c.close();
      return c;
    });
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, accounts: accounts.length, perSecond: accounts.length / seconds };
  }

  async #authenticate(driver: JimDriver, name: string, password: string): Promise<JimClient> {
    const c = await driver.connect(name, this.#hooks) as JimClient;
    const res = await c.request({
      action: "authenticate",
      time: Math.floor(Date.now() / 1000),
      user: { account_name: name, password },
    });
    if (res.response !== 200) fatal(`Cannot authenticate ${name}: ${JSON.stringify(res)}`);
    return c;
  }

  /**
   * A reconnect storm: every account connects and logs in with its session
   * token, `concurrency` at a time (all at once by default), and stays
   * connected. Answers the time from the first connect to the last 200 and
   * each login's latency (connect included).
   */
  async #tokenLogin(accounts: string[], tokens: string[], concurrency: number): Promise<unknown> {
    const driver = this.#jim();
    const latency = new Histogram();
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < accounts.length) {
        const i = next++;
        const start = clockUs();
        const c = await driver.connect(accounts[i]!, this.#hooks) as JimClient;
        const res = await c.request({
          action: "authenticate",
          time: Math.floor(Date.now() / 1000),
          user: { account_name: accounts[i]!, token: tokens[i]! },
        });
        if (res.response !== 200) fatal(`Cannot resume ${accounts[i]}: ${JSON.stringify(res)}`);
        latency.record(clockUs() - start);
        this.#clients.push(c);
      }
    };
    const workers = [];
    for (let w = 0; w < Math.min(concurrency, accounts.length); w++) workers.push(worker());
    await Promise.all(workers);
    return {
      seconds: (performance.now() - t0) / 1000,
      logins: latency.count,
      latency: latency.toJSON(),
    };
  }

  // -- traffic --

  #payload(index: number, seq: number, t: number): string {
    const head = `${index}.${seq}.${t}.`;
    const pad = this.#config.size - head.length;
    return pad > 0 ? head + this.#pad.slice(0, pad) : head;
  }

  #sendNext(s: Sender, target: string, sched?: number): void {
    const t = clockUs();
    const seq = s.seqs.get(target) ?? 0;
    s.seqs.set(target, seq + 1);
    const token = this.#trackDeliveries ? seq : s.tokens++;
    s.records.set(token, {
      t0: t,
      sched: sched ?? t,
      remaining: this.#perMessage + (this.#driver.acks ? 1 : 0),
    });
    s.outstanding++;
    this.#outstanding++;
    s.client.send(target, this.#payload(s.index, seq, t), token);
  }

  #complete(s: Sender, seq: number, rec: Pending): void {
    s.records.delete(seq);
    s.outstanding--;
    this.#outstanding--;
    this.#messages++;
    this.#lastCompletion = clockUs();
    if (this.#mode === "rate") this.#scheduled.record(this.#lastCompletion - rec.sched);
    if (
      this.#running && this.#mode === "window" && s.outstanding < this.#window &&
      this.#budget > 0
    ) {
      this.#budget--;
      this.#sendNext(s, this.#targetOf(s));
    } else if (this.#outstanding === 0 && (!this.#running || this.#budget === 0)) {
      this.#drained?.();
    }
  }

  #onDeliver(client: BenchClient, payload: string): void {
    const now = clockUs();
    const d1 = payload.indexOf(".");
    const d2 = payload.indexOf(".", d1 + 1);
    const d3 = payload.indexOf(".", d2 + 1);
    const index = Number(payload.slice(0, d1));
    const seq = Number(payload.slice(d1 + 1, d2));
    const t = Number(payload.slice(d2 + 1, d3));
    if (d3 < 0 || !Number.isInteger(index) || !Number.isInteger(seq)) {
      fatal(`${client.name}: Cannot read a delivered payload: ${payload.slice(0, 60)}`);
    }
    const expected = client.expect.get(index) ?? 0;
    if (seq !== expected) {
      const what = seq < expected ? "a duplicate or reordered" : "a gap (lost or reordered)";
      fatal(
        `${client.name}: ${what} message from sender ${index}: got seq ${seq}, expected ${expected}`,
      );
    }
    client.expect.set(index, seq + 1);
    this.#deliveries++;
    if (this.#deliveries >= this.#deliveredTarget) this.#onAllDelivered?.();
    if (!this.#trackDeliveries) return;
    this.#delivery.record(now - t);
    const s = this.#senderByIndex.get(index);
    if (!s) return; // a sender in another generator process
    const rec = s.records.get(seq);
    if (!rec) fatal(`${client.name}: delivery of message ${index}.${seq} that is not pending`);
    if (--rec.remaining === 0) this.#complete(s, seq, rec);
  }

  #onAck(client: BenchClient, code: number, token: number): void {
    const s = client.sender as Sender | null;
    if (!s) fatal(`${client.name}: an answer to a message it did not send`);
    if (code !== this.#expectedAck) {
      fatal(
        `${client.name}: message ${s.index}.${token} answered ${code}, not ${this.#expectedAck}`,
      );
    }
    const rec = s.records.get(token);
    if (!rec) fatal(`${client.name}: answer to message ${s.index}.${token} that is not pending`);
    this.#ack.record(clockUs() - rec.t0);
    if (--rec.remaining === 0) this.#complete(s, token, rec);
  }

  #resetPhase(): void {
    this.#messages = 0;
    this.#deliveries = 0;
    this.#delivery = new Histogram();
    this.#ack = new Histogram();
    this.#scheduled = new Histogram();
    this.#budget = Infinity;
    this.#deliveredTarget = Infinity;
    this.#onAllDelivered = null;
  }

  /**
   * Waits until nothing is outstanding. It is loss when no message completes
   * for `drainSeconds` while some are still outstanding.
   */
  async #drain(what: string): Promise<void> {
    while (this.#outstanding > 0) {
      const before = this.#lastCompletion;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#drained = resolve),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.#config.drainSeconds * 1000);
        }),
      ]);
      clearTimeout(timer);
      this.#drained = null;
      if (this.#outstanding > 0 && this.#lastCompletion === before) {
        fatal(
          `Cannot finish ${what}: ${this.#outstanding} messages neither answered nor delivered ` +
            `within ${this.#config.drainSeconds} s (loss)`,
        );
      }
    }
  }

  async #run(command: Extract<Command, { cmd: "run" }>): Promise<RunResult> {
    if (this.#senders.length === 0) fatal("Cannot run: no senders (set up first)");
    this.#resetPhase();
    this.#mode = command.mode;
    this.#window = command.window;
    this.#trackDeliveries = true;
    this.#expectedAck = 200;
    const cpu0 = selfCpuSeconds();
    const start = clockUs();
    this.#running = true;
    const storm = command.storm ? this.#storm(command.storm) : null;
    let ticker: ReturnType<typeof setInterval> | undefined;
    let stalls = 0;
    if (command.mode === "window") {
      for (const s of this.#senders) {
        for (let i = 0; i < command.window; i++) this.#sendNext(s, s.target);
      }
    } else {
      const rate = command.rate;
      let sent = 0;
      let rr = 0;
      const senders = this.#senders;
      ticker = setInterval(() => {
        const due = Math.floor((clockUs() - start) / 1e6 * rate);
        while (sent < due) {
          let s: Sender | undefined;
          for (let k = 0; k < senders.length; k++) {
            const c = senders[(rr + k) % senders.length]!;
            if (c.outstanding < command.window) {
              s = c;
              rr = (rr + k + 1) % senders.length;
              break;
            }
          }
          if (!s) {
            stalls++;
            break;
          }
          this.#sendNext(s, s.target, Math.round(start + sent * 1e6 / rate));
          sent++;
        }
      }, 1);
    }
    await new Promise((resolve) => setTimeout(resolve, command.seconds * 1000));
    this.#running = false;
    clearInterval(ticker);
    const stormResult = storm ? await storm.stop() : undefined;
    await this.#drain("the run");
    const result: RunResult = {
      seconds: (this.#lastCompletion - start) / 1e6,
      messages: this.#messages,
      deliveries: this.#deliveries,
      delivery: this.#delivery.toJSON(),
      ack: this.#ack.toJSON(),
      scheduled: this.#scheduled.toJSON(),
      stalls,
      generatorCpuSeconds: selfCpuSeconds() - cpu0,
    };
    if (stormResult) result.storm = stormResult;
    return result;
  }

  #storm(storm: Storm): { stop(): Promise<{ authentications: number; latency: HistogramData }> } {
    const driver = this.#jim();
    const latency = new Histogram();
    let stopping = false;
    let next = 0;
    const loop = async () => {
      while (!stopping) {
        const name = storm.accounts[next++ % storm.accounts.length]!;
        const t0 = clockUs();
        const c = await this.#authenticate(driver, name, storm.password);
        latency.record(clockUs() - t0);
        c.close();
      }
    };
    const loops: Promise<void>[] = [];
    for (let i = 0; i < storm.concurrency; i++) loops.push(loop());
    return {
      stop: async () => {
        stopping = true;
        await Promise.all(loops);
        return { authentications: latency.count, latency: latency.toJSON() };
      },
    };
  }

  // -- offline mail --

  async #offlineSetup(senders: string[], password: string): Promise<unknown> {
    const t0 = performance.now();
    // Accounts: a guest cannot leave offline mail.
    const driver = this.#jim();
    const clients = await this.#openMany(
      senders.length,
      (i) => this.#authenticate(driver, senders[i]!, password),
    );
    this.#clients.push(...clients);
    for (let i = 0; i < clients.length; i++) this.#addSender(i, clients[i]!, "");
    return { seconds: (performance.now() - t0) / 1000 };
  }

  async #offlineSend(recipients: string[], total: number, window: number): Promise<unknown> {
    this.#resetPhase();
    this.#mode = "window";
    this.#window = window;
    this.#perMessage = 0;
    this.#trackDeliveries = false;
    this.#expectedAck = 202;
    this.#budget = total;
    let k = 0;
    // Messages go to the recipients in turn, each sender starting from its own offset.
    this.#targetOf = (s) => recipients[(s.index + k++) % recipients.length]!;
    const cpu0 = selfCpuSeconds();
    const start = clockUs();
    this.#running = true;
    for (const s of this.#senders) {
      for (let i = 0; i < window && this.#budget > 0; i++) {
        this.#budget--;
        this.#sendNext(s, this.#targetOf(s));
      }
    }
    await this.#drain("storing offline messages");
    this.#running = false;
    this.#targetOf = (s) => s.target;
    const seconds = (this.#lastCompletion - start) / 1e6;
    return {
      seconds,
      stored: this.#messages,
      perSecond: this.#messages / seconds,
      ack: this.#ack.toJSON(),
      generatorCpuSeconds: selfCpuSeconds() - cpu0,
    };
  }

  async #offlineLogin(command: Extract<Command, { cmd: "offline-login" }>): Promise<unknown> {
    this.#resetPhase();
    this.#trackDeliveries = false;
    let expected = 0;
    const perRecipient = new Map<string, Map<number, number>>();
    for (const s of this.#senders) {
      for (const [target, n] of s.seqs) {
        expected += n;
        let m = perRecipient.get(target);
        if (!m) perRecipient.set(target, m = new Map());
        m.set(s.index, n);
      }
    }
    const driver = this.#jim();
    const t0 = clockUs();
    let last = t0;
    const all = new Promise<void>((resolve) => {
      this.#deliveredTarget = expected;
      this.#onAllDelivered = () => {
        last = clockUs();
        resolve();
      };
    });
    if (expected === 0) this.#onAllDelivered?.();
    const clients = await this.#openMany(
      command.recipients.length,
      (i) => this.#authenticate(driver, command.recipients[i]!, command.password),
    );
    const loginSeconds = (clockUs() - t0) / 1e6;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      all,
      new Promise((resolve) => timer = setTimeout(resolve, command.timeoutSeconds * 1000)),
    ]);
    clearTimeout(timer);
    for (const c of clients) {
      const want = perRecipient.get(c.name) ?? new Map<number, number>();
      for (const [index, n] of want) {
        const got = c.expect.get(index) ?? 0;
        if (got !== n) {
          fatal(`${c.name}: got ${got} of ${n} offline messages from sender ${index} (loss)`);
        }
      }
      c.close();
    }
    const seconds = (last - t0) / 1e6;
    return {
      seconds,
      loginSeconds,
      logins: clients.length,
      delivered: this.#deliveries,
      perSecond: this.#deliveries / seconds,
    };
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(Deno.args[0] ?? "") as GeneratorConfig;
  const generator = new Generator(config);
  reply({ event: "hello", pid: Deno.pid });
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of Deno.stdin.readable) {
    rest += decoder.decode(chunk, { stream: true });
    let nl = rest.indexOf("\n");
    while (nl >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      nl = rest.indexOf("\n");
      if (!line.trim()) continue;
      const command = JSON.parse(line) as Command;
      try {
        const result = await generator.handle(command);
        reply({ event: "done", cmd: command.cmd, result });
      } catch (e) {
        fatal(`Cannot ${command.cmd}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (command.cmd === "exit") Deno.exit(0);
    }
  }
}

if (import.meta.main) await main();

/**
 * Measurement helpers for the benchmark: a mergeable latency histogram,
 * process CPU and memory from `/proc`, and number formatting.
 *
 * @module
 */

import process from "node:process";

/** Relative width of one histogram bucket above {@linkcode EXACT}: values are kept to within 1%. */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
/** Values below this many microseconds get a bucket each. */
const EXACT = 128;
/** Buckets: exact ones, then 1% ones up to about 10^3 seconds. */
const BUCKETS = EXACT + Math.ceil(Math.log(1e9 / EXACT) / LOG_GROWTH) + 1;

function bucketOf(us: number): number {
  if (us < EXACT) return us < 0 ? 0 : Math.floor(us);
  return Math.min(BUCKETS - 1, EXACT + Math.ceil(Math.log(us / EXACT) / LOG_GROWTH));
}

function valueOf(bucket: number): number {
  return bucket < EXACT ? bucket : EXACT * GROWTH ** (bucket - EXACT);
}

/** The wire form of a {@linkcode Histogram}: sparse `[bucket, count]` pairs plus exact extremes. */
export interface HistogramData {
  buckets: [number, number][];
  count: number;
  min: number;
  max: number;
  sum: number;
}

/**
 * A latency histogram in microseconds (exact below 128 µs, 1% buckets above),
 * mergeable across generator processes (percentiles of percentiles would be wrong).
 */
export class Histogram {
  #counts = new Float64Array(BUCKETS);
  #count = 0;
  #min = Infinity;
  #max = 0;
  #sum = 0;

  /** Records one value in microseconds. */
  record(us: number): void {
    this.#counts[bucketOf(us)]!++;
    this.#count++;
    this.#sum += us;
    if (us < this.#min) this.#min = us;
    if (us > this.#max) this.#max = us;
  }

  /** Values recorded. */
  get count(): number {
    return this.#count;
  }

  /** Mean value, or 0 when empty. */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /** The value at quantile `q` (0..1), to within 1%, clamped to the exact extremes; 0 when empty. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let k = 0; k < BUCKETS; k++) {
      seen += this.#counts[k]!;
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, valueOf(k)));
    }
    return this.#max;
  }

  /** Adds another histogram's values. */
  merge(other: Histogram | HistogramData): void {
    const data = other instanceof Histogram ? other.toJSON() : other;
    for (const [k, c] of data.buckets) this.#counts[k]! += c;
    this.#count += data.count;
    this.#sum += data.sum;
    if (data.count > 0) {
      this.#min = Math.min(this.#min, data.min);
      this.#max = Math.max(this.#max, data.max);
    }
  }

  /** The wire form. */
  toJSON(): HistogramData {
    const buckets: [number, number][] = [];
    for (let k = 0; k < BUCKETS; k++) if (this.#counts[k]! > 0) buckets.push([k, this.#counts[k]!]);
    return {
      buckets,
      count: this.#count,
      min: this.#count === 0 ? 0 : this.#min,
      max: this.#max,
      sum: this.#sum,
    };
  }

  /** Rebuilds a histogram from its wire form. */
  static from(data: HistogramData): Histogram {
    const h = new Histogram();
    h.merge(data);
    return h;
  }
}

/** Latency figures in milliseconds, as reported. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Summarises a histogram of microseconds as milliseconds. */
export function summarise(h: Histogram): LatencySummary {
  return {
    count: h.count,
    p50: h.quantile(0.5) / 1000,
    p99: h.quantile(0.99) / 1000,
    p999: h.quantile(0.999) / 1000,
    max: h.quantile(1) / 1000,
    mean: h.mean / 1000,
  };
}

/**
 * Microseconds on a clock shared by every process on this machine:
 * `timeOrigin` is the wall clock at process start, `now()` is monotonic after.
 */
export function clockUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** CPU time and memory of one process. */
export interface ProcSample {
  /** user + system CPU seconds, all threads */
  cpuSeconds: number;
  /** resident set size in bytes */
  rssBytes: number;
  /** peak resident set size in bytes */
  peakRssBytes: number;
}

let clockTicks = 100;

/** Reads `getconf CLK_TCK` once (the unit of utime/stime in /proc/PID/stat). */
export async function initClockTicks(): Promise<void> {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    if (Number.isInteger(n) && n > 0) clockTicks = n;
  } catch {
    // keep the Linux default of 100
  }
}

/**
 * Samples CPU time (from /proc/PID/stat) and RSS (from /proc/PID/status) of
 * another process. Deno asks for all permissions to read /proc directly, so
 * `cat` reads them.
 */
export async function sampleProcess(pid: number): Promise<ProcSample> {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`, `/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const nl = text.indexOf("\n");
  if (!out.success || nl < 0) throw new Error(`Cannot sample process ${pid}: it is gone`);
  const stat = text.slice(0, nl);
  const status = text.slice(nl + 1);
  // The command name may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Field n of proc(5) is fields[n - 3]: utime is 14, stime is 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return {
    cpuSeconds: ticks / clockTicks,
    rssBytes: statusKb(status, "VmRSS") * 1024,
    peakRssBytes: statusKb(status, "VmHWM") * 1024,
  };
}

/** CPU seconds (user + system) this process has used. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function statusKb(status: string, key: string): number {
  const m = status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : 0;
}

/** Total memory of the machine in bytes. */
export function machineMemoryBytes(): number {
  try {
    return Deno.systemMemoryInfo().total;
  } catch {
    return 0;
  }
}

/** Formats a rate: 12345 → "12.3k". */
export function fmtRate(n: number): string {
  if (!Number.isFinite(n)) return "-";
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)}k`;
  return n.toFixed(n >= 100 ? 0 : 1);
}

/** Formats milliseconds with a precision that suits their size. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** Formats bytes as KiB/MiB. */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return "-";
  if (Math.abs(n) >= 1024 * 1024 * 10) return `${(n / 1024 / 1024).toFixed(0)} MiB`;
  if (Math.abs(n) >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

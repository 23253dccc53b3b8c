// deno-lint-ignore-file no-console -- a command-line report
/**
 * Summarises V8 `.cpuprofile` files (from `deno run --cpu-prof`): the
 * functions with the most self time, and the inclusive time of jim's own
 * functions (everything under lib/).
 *
 * Usage: `deno run --allow-read bench/profile_summary.ts FILE_OR_DIR… [--top N]`
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One function's share of the samples. */
export interface Entry {
  name: string;
  self: number;
  total: number;
}

function label(frame: CallFrame): string {
  const name = frame.functionName || "(anonymous)";
  if (!frame.url) return name;
  const path = frame.url.replace(/^file:\/\/.*?\/(lib|bench|tests)\//, "$1/")
    .replace(/^ext:/, "ext:").replace(/^.*\/node_modules\//, "npm:");
  return `${name} ${path}:${frame.lineNumber + 1}`;
}

/** Self and inclusive sample counts per function label, plus the total sample count. */
export function summariseProfile(profile: CpuProfile): { entries: Entry[]; samples: number } {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) parent.set(c, node.id);
  }
  const entries = new Map<string, Entry>();
  const entry = (name: string) => {
    let e = entries.get(name);
    if (!e) entries.set(name, e = { name, self: 0, total: 0 });
    return e;
  };
  for (const id of profile.samples) {
    const node = byId.get(id);
    if (!node) continue;
    entry(label(node.callFrame)).self++;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = label(byId.get(at)!.callFrame);
      if (seen.has(name)) continue;
      seen.add(name);
      entry(name).total++;
    }
  }
  return { entries: [...entries.values()], samples: profile.samples.length };
}

async function files(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const info = await Deno.stat(p);
    if (info.isDirectory) {
      for await (const e of Deno.readDir(p)) {
        if (e.name.endsWith(".cpuprofile")) out.push(`${p}/${e.name}`);
      }
    } else out.push(p);
  }
  return out;
}

async function main(): Promise<void> {
  const args = [...Deno.args];
  let top = 25;
  const at = args.indexOf("--top");
  if (at >= 0) {
    top = Number(args[at + 1]);
    args.splice(at, 2);
  }
  for (const file of await files(args)) {
    const profile = JSON.parse(await Deno.readTextFile(file)) as CpuProfile;
    const { entries, samples } = summariseProfile(profile);
    const pct = (n: number) => `${(n / samples * 100).toFixed(1)}%`;
    const seconds = (profile.endTime - profile.startTime) / 1e6;
    console.log(`\n## ${file}\n\n${samples} samples over ${seconds.toFixed(1)} s\n`);
    console.log("| Self | Total | Function |\n|--:|--:|---|");
    for (const e of entries.sort((a, b) => b.self - a.self).slice(0, top)) {
      console.log(`| ${pct(e.self)} | ${pct(e.total)} | \`${e.name}\` |`);
    }
    console.log("\nInclusive time of jim's own functions (lib/):\n");
    console.log("| Total | Self | Function |\n|--:|--:|---|");
    const ours = entries.filter((e) => e.name.includes(" lib/"));
    for (const e of ours.sort((a, b) => b.total - a.total).slice(0, top)) {
      console.log(`| ${pct(e.total)} | ${pct(e.self)} | \`${e.name}\` |`);
    }
  }
}

if (import.meta.main) await main();

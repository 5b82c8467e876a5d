import { existsSync, readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import autocannon from "autocannon";
import { root, settings, stopServer, type World } from "./world.js";

/**
 * The runner: every figure's setup, then one warm-up per load, then the
 * repetitions, each measuring every chosen figure and its baseline in
 * turn, so a ratio compares two loads of the same repetition. BENCH_ONLY
 * (a regular expression over names) narrows the figures; their baselines
 * stay. `--profile` instead measures a few loads once under the service's
 * `--cpu-prof` and prints where its time went.
 */

export type Load = { url: string; connections: number; requests: autocannon.Request[] };

export type Sample = {
  throughput: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  statusCounts: Record<string, number>;
  /** Connections of the load that gave it. */
  connections: number;
  /** Figures gathered around the run (memory, side loads). */
  extra?: Record<string, number>;
};

/** One row of the table of figures. */
export type Figure = {
  name: string;
  /** What is measured, for the table. */
  what: string;
  /** The name of the figure this one is a ratio to (measured in the same repetition); null for a baseline. */
  baseline: string | null;
  /**
   * Seeds what this figure alone needs. Every figure's setup runs in every
   * run, narrowed or not, so a figure meets the same database either way.
   * Answers why the figure cannot run in this build, if it cannot.
   */
  setup?: () => Promise<string | undefined>;
  load: () => Load | Promise<Load>;
  target?: { minThroughputRatio?: number; maxP99Ms?: number };
  /** Wraps each measured run, adding `extra` figures (memory, side loads). */
  around?: (run: () => Promise<Sample>) => Promise<Sample>;
};

export async function measure(load: Load, seconds: number): Promise<Sample> {
  const result = await autocannon({
    url: load.url,
    connections: load.connections,
    duration: seconds,
    requests: load.requests,
    timeout: 30,
  });
  const statusCounts = Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, (stat as { count: number }).count]),
  );
  return {
    throughput: result["2xx"] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    statusCounts,
    connections: load.connections,
  };
}

/** Runs every figure's setup, in table order; answers the figures skipped and why. */
export async function setUp(figures: Figure[], log: (line: string) => void): Promise<Map<string, string>> {
  const skipped = new Map<string, string>();
  for (const figure of figures) {
    if (!figure.setup) continue;
    log(`setting up: ${figure.name}`);
    const reason = await figure.setup();
    if (reason) skipped.set(figure.name, reason);
  }
  return skipped;
}

/** The chosen figures (BENCH_ONLY) and their baselines, by name. */
export function chosenNames(figures: Figure[], only: string | undefined): Set<string> {
  const pattern = only ? new RegExp(only) : null;
  const chosen = pattern ? figures.filter((f) => pattern.test(f.name)) : figures;
  return new Set(chosen.flatMap((f) => [f.name, ...(f.baseline ? [f.baseline] : [])]));
}

/** Warms each load up once, then interleaves the repetitions; answers every figure's samples, by name. */
export async function runRepetitions(active: Figure[], log: (line: string) => void): Promise<Map<string, Sample[]>> {
  log(`warming up ${active.length} loads…`);
  for (const figure of active) await measure(await figure.load(), 1);
  const samples = new Map<string, Sample[]>();
  for (let rep = 1; rep <= settings.repetitions; rep++) {
    for (const figure of active) {
      log(`repetition ${rep}/${settings.repetitions}: ${figure.name}`);
      const load = await figure.load();
      const run = () => measure(load, settings.durationSeconds);
      const sample = figure.around ? await figure.around(run) : await run();
      samples.set(figure.name, [...(samples.get(figure.name) ?? []), sample]);
    }
  }
  return samples;
}

/** Runs the write and read paths under --cpu-prof and prints where the service spends its own time. */
export async function runProfile(figures: Figure[], world: World): Promise<void> {
  const { kept, profileDir, sql } = world;
  const names = process.env.BENCH_PROFILE_FIGURES?.split("|") ?? [
    "create commitment, many pairs",
    "GET …/events?limit=50",
  ];
  for (const name of names) {
    const figure = figures.find((f) => f.name === name);
    if (!figure) continue;
    process.stderr.write(`profiling: ${name}\n`);
    // Meanwhile, what the service's database sessions are doing (or waiting for).
    const waits = new Map<string, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await sql.query<{ what: string }>(
          `SELECT coalesce(wait_event_type || ':' || wait_event, state) || '  ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS what
           FROM pg_stat_activity WHERE application_name = 'kept' AND state <> 'idle'`,
        );
        for (const { what } of rows) waits.set(what, (waits.get(what) ?? 0) + 1);
        await delay(20);
      }
    })();
    const sample = await measure(await figure.load(), settings.durationSeconds);
    sampling = false;
    await sampler;
    const total = [...waits.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(`\ndatabase sessions during "${name}" (share of samples of busy sessions):\n`);
    for (const [what, n] of [...waits].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
      process.stdout.write(`${((n / total) * 100).toFixed(1).padStart(5)}%  ${what}\n`);
    }
    process.stderr.write(`  ${sample.throughput.toFixed(0)} 2xx/s, p99 ${sample.p99} ms\n`);
  }
  await stopServer(kept);
  const files = (await readdir(profileDir)).filter((f) => f.endsWith(".cpuprofile"));
  for (const file of files) {
    const full = path.join(profileDir, file);
    if (!existsSync(full)) continue;
    const profile = JSON.parse(readFileSync(full, "utf8")) as {
      nodes: { id: number; hitCount: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    };
    const self = new Map<string, number>();
    let total = 0;
    for (const node of profile.nodes) {
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url.replace(/^file:\/\//, "").replace(root, "");
      const key = `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + node.hitCount);
      total += node.hitCount;
    }
    const byPackage = new Map<string, number>();
    for (const [key, hits] of self) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(key);
      const bucket = match?.[1] ?? (key.includes("/src/") ? "kept src" : key.split(" ")[0] || "?");
      byPackage.set(bucket, (byPackage.get(bucket) ?? 0) + hits);
    }
    const top = (map: Map<string, number>, n: number) =>
      [...map]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([key, hits]) => `${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
    process.stdout.write(`\nself time by function (${file}):\n${top(self, 30).join("\n")}\n`);
    process.stdout.write(`\nself time by package:\n${top(byPackage, 20).join("\n")}\n`);
    process.stdout.write(`${full}\n`);
  }
}

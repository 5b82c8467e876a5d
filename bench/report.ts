import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Figure, Sample } from "./runner.js";
import { root, settings, type World } from "./world.js";

/**
 * The report: each figure's throughput and latencies over the repetitions
 * (min, median, max), its ratios to its baseline paired per repetition,
 * whether its target was met; printed as a table and written, with every
 * raw run, to bench/results/bench-<time>.json.
 */

type Stats = { runs: number[]; min: number; median: number; max: number };

function stats(runs: number[]): Stats {
  const sorted = [...runs].sort((a, b) => a - b);
  const median =
    sorted.length % 2 === 1
      ? (sorted[(sorted.length - 1) / 2] as number)
      : ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
  return { runs, min: sorted[0] ?? Number.NaN, median, max: sorted.at(-1) ?? Number.NaN };
}

type Row = {
  name: string;
  skipped?: string;
  throughput?: Stats;
  p50?: Stats;
  p99?: Stats;
  ratio?: { throughput: Stats | null; p99: Stats | null };
  targetMet?: boolean | null;
  extra?: Record<string, Stats>;
};

/** One result per reported figure (the chosen ones and their baselines), in table order. */
export function resultsOf(
  figures: Figure[],
  reported: Set<string>,
  samples: Map<string, Sample[]>,
  skipped: Map<string, string>,
) {
  return figures
    .filter((f) => reported.has(f.name))
    .map((figure) => {
      const skip = skipped.get(figure.name);
      if (skip) return { name: figure.name, what: figure.what, baseline: figure.baseline, skipped: skip };
      const runs = samples.get(figure.name) ?? [];
      const base = figure.baseline ? (samples.get(figure.baseline) ?? []) : undefined;
      const of = (list: Sample[], key: "throughput" | "p50" | "p99") => stats(list.map((s) => s[key]));
      const ratio = (key: "throughput" | "p50" | "p99") =>
        // A baseline left out of a narrowed run (BENCH_ONLY) has no samples: its ratio is NaN.
        base ? stats(runs.map((s, i) => s[key] / ((base[i] as Sample | undefined)?.[key] || Number.NaN))) : null;
      const throughput = of(runs, "throughput");
      const p99 = of(runs, "p99");
      const extras = Object.fromEntries(
        Object.keys(runs[0]?.extra ?? {}).map((k) => [k, stats(runs.map((s) => s.extra?.[k] ?? Number.NaN))]),
      );
      const ratios = { throughput: ratio("throughput"), p50: ratio("p50"), p99: ratio("p99") };
      const met = figure.target
        ? (figure.target.minThroughputRatio === undefined ||
            (ratios.throughput?.median ?? 0) >= figure.target.minThroughputRatio) &&
          (figure.target.maxP99Ms === undefined || p99.median < figure.target.maxP99Ms)
        : null;
      return {
        name: figure.name,
        what: figure.what,
        baseline: figure.baseline,
        connections: runs[0]?.connections ?? null,
        unit: { throughput: "2xx responses/s", latency: "ms" },
        throughput,
        p50: of(runs, "p50"),
        p99,
        baselineValues: base
          ? { throughput: of(base, "throughput"), p50: of(base, "p50"), p99: of(base, "p99") }
          : null,
        ratio: ratios,
        target: figure.target ?? null,
        targetMet: met,
        responses: {
          ok: runs.reduce((n, s) => n + s.ok, 0),
          non2xx: runs.reduce((n, s) => n + s.non2xx, 0),
          errors: runs.reduce((n, s) => n + s.errors, 0),
        },
        ...(Object.keys(extras).length > 0 ? { extra: extras } : {}),
      };
    });
}

export function machineOf(world: World) {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "?",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    postgres: world.pgVersion,
  };
}

export function printTable(rows: Row[], machine: ReturnType<typeof machineOf>): void {
  const f = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
  const range = (s: Stats | null | undefined, digits: number) =>
    s ? `${f(s.median, digits)} (${f(s.min, digits)}–${f(s.max, digits)})` : "";
  const lines = [
    `Kept benchmark — ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, PostgreSQL ${machine.postgres}`,
    `${settings.repetitions} × ${settings.durationSeconds} s per figure; median (min–max); ratios to the baseline measured in the same repetition`,
    "",
    "| figure | 2xx/s | ratio | p50 ms | p99 ms | p99 ratio | target |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    if (row.skipped) {
      lines.push(`| ${row.name} | skipped: ${row.skipped} | | | | | |`);
      continue;
    }
    const target = row.targetMet === null || row.targetMet === undefined ? "" : row.targetMet ? "met" : "not met";
    lines.push(
      `| ${row.name} | ${range(row.throughput, 0)} | ${range(row.ratio?.throughput, 2)} | ${f(row.p50?.median ?? Number.NaN, 1)} | ${range(row.p99, 1)} | ${range(row.ratio?.p99, 2)} | ${target} |`,
    );
    if (row.extra) {
      const memory = Object.entries(row.extra)
        .map(([k, s]) => `${k} ${range(s, 0)}`)
        .join(", ");
      lines.push(`|   ↳ ${memory} | | | | | | |`);
    }
  }
  process.stdout.write(`${lines.join("\n")}\n\n`);
}

/** Prints the table and writes the JSON file; answers its path. */
export async function writeReport(
  world: World,
  results: ReturnType<typeof resultsOf>,
  realtime: unknown[],
): Promise<string> {
  const machine = machineOf(world);
  const report = {
    command: "npm run bench",
    startedAt: world.started.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    settings: {
      durationSeconds: settings.durationSeconds,
      repetitions: settings.repetitions,
      connections: settings.connections,
      burst: settings.burst,
      pairs: settings.pairs,
      note: "ratio = figure ÷ its baseline, paired per repetition; throughput ratio higher is better, latency ratio lower is better. PostgreSQL runs with fsync and synchronous_commit off (both sides alike).",
    },
    figures: results,
    realtime,
  };
  printTable(results, machine);
  const dir = path.join(root, "bench", "results");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `bench-${world.started.toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

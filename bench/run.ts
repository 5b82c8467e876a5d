import { figuresOf } from "./figures.js";
import { realtimeBenchmarks } from "./realtime.js";
import { resultsOf, writeReport } from "./report.js";
import { chosenNames, runProfile, runRepetitions, setUp } from "./runner.js";
import { killChildren, PROFILE, startWorld } from "./world.js";

/**
 * `npm run bench`: starts an embedded PostgreSQL, the Kept service (the real
 * `src/server.ts`, with DATABASE_URL) and a bare Fastify baseline server,
 * seeds them (world.ts), then measures each figure of the table
 * (figures.ts) and its baseline in the same run, interleaved, over several
 * repetitions (runner.ts). Prints a table, writes a JSON file under
 * bench/results/ and prints its path last (report.ts).
 *
 * `npm run bench -- --profile` instead runs the write and read paths under
 * `--cpu-prof` and prints the functions with the most self time.
 */

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const world = await startWorld(log);
  try {
    const figures = figuresOf(world);
    const skipped = await setUp(figures, log);
    await world.sql.query("ANALYZE");
    if (PROFILE) return await runProfile(figures, world);

    const reported = chosenNames(figures, process.env.BENCH_ONLY);
    const active = figures.filter((f) => !skipped.has(f.name) && reported.has(f.name));
    const samples = await runRepetitions(active, log);
    // Realtime figures need their own seeded service (1,000 pairs connected); see bench/realtime.ts.
    process.stdout.write("\nrealtime (bench/realtime.ts)\n");
    const realtime = process.env.BENCH_SKIP_REALTIME
      ? []
      : await realtimeBenchmarks((line) => process.stdout.write(`${line}\n`));
    const file = await writeReport(world, resultsOf(figures, reported, samples, skipped), realtime);
    process.stdout.write(`${file}\n`);
  } finally {
    await world.stop();
  }
}

process.once("SIGINT", () => {
  killChildren();
  process.exit(130);
});

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});

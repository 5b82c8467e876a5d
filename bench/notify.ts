/**
 * Which way to wake the stream hubs: NOTIFY inside the writing transaction
 * (in the same statement as the insert), or a NOTIFY right after COMMIT
 * (what Kept does, measured by this script). PostgreSQL serialises the commits of notifying transactions
 * (a global lock on the notification queue), so under concurrent writes the
 * first could cost throughput. Measured against the same writes with no
 * NOTIFY at all, in one run, as ratios.
 *
 *   npx tsx bench/notify.ts
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import { startEmbeddedPostgres } from "../src/db/embedded.js";

const CLIENTS = 32;
const SECONDS = 3;
const REPETITIONS = 3;

type Mode = "none" | "inTransaction" | "afterCommit";

async function run(pool: pg.Pool, mode: Mode): Promise<number> {
  const until = Date.now() + SECONDS * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, worker) => {
      const client = await pool.connect();
      try {
        while (Date.now() < until) {
          const pair = (worker * 7919 + done) % 1000;
          await client.query("BEGIN");
          if (mode === "inTransaction") {
            await client.query(
              `WITH appended AS (INSERT INTO bench_events (pair_id, payload) VALUES ($1, $2) RETURNING id)
               SELECT pg_notify('bench', json_build_object('pairId', $1::int, 'seq', (SELECT id FROM appended))::text)`,
              [pair, "x".repeat(300)],
            );
          } else {
            await client.query("INSERT INTO bench_events (pair_id, payload) VALUES ($1, $2)", [pair, "x".repeat(300)]);
          }
          await client.query("COMMIT");
          if (mode === "afterCommit") {
            await client.query("SELECT pg_notify('bench', $1)", [JSON.stringify({ pairId: pair })]);
          }
          done++;
        }
      } finally {
        client.release();
      }
    }),
  );
  return done / SECONDS;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

const dir = await mkdtemp(path.join(os.tmpdir(), "kept-bench-notify-"));
await chmod(dir, 0o755);
const server = await startEmbeddedPostgres({ dataDir: dir, logger: pino({ level: "silent" }), database: "bench" });
try {
  const pool = new pg.Pool({ connectionString: server.ownerUrl, max: CLIENTS });
  pool.on("error", () => {}); // idle clients see the server stop at the end
  await pool.query(
    "CREATE TABLE IF NOT EXISTS bench_events (id bigserial PRIMARY KEY, pair_id int NOT NULL, payload text)",
  );
  // A real listener drains the queue, as the hubs would.
  const listener = new pg.Client({ connectionString: server.ownerUrl });
  await listener.connect();
  let received = 0;
  listener.on("notification", () => {
    received++;
  });
  await listener.query("LISTEN bench");

  const results: Record<Mode, number[]> = { none: [], inTransaction: [], afterCommit: [] };
  for (let i = 0; i < REPETITIONS; i++) {
    for (const mode of ["none", "inTransaction", "afterCommit"] as Mode[]) results[mode].push(await run(pool, mode));
  }
  const baseline = median(results.none);
  console.log(`\n${CLIENTS} concurrent writers, ${SECONDS} s × ${REPETITIONS}, durable commits (fsync on)\n`);
  console.log("mode            median tx/s   min     max     ratio to no NOTIFY");
  for (const mode of ["none", "inTransaction", "afterCommit"] as Mode[]) {
    const values = results[mode];
    console.log(
      `${mode.padEnd(15)} ${median(values).toFixed(0).padStart(11)} ${Math.min(...values)
        .toFixed(0)
        .padStart(7)} ${Math.max(...values)
        .toFixed(0)
        .padStart(7)}   ${(median(values) / baseline).toFixed(2)}`,
    );
  }
  console.log(`notifications received: ${received}`);
  listener.on("error", () => {});
  await listener.end();
  await pool.end();
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}

/**
 * How the cost of the consistency figures grows with a pair's history.
 *
 *   npx tsx bench/consistency.ts            # sizes 100, 1,000, 10,000; 15 timed runs each
 *   BENCH_RUNS=30 npx tsx bench/consistency.ts
 *
 * Self-contained: starts its own throwaway PostgreSQL under the OS
 * temporary folder (as the tests do), migrates it, builds the real app,
 * links one pair per size through the API, seeds its commitments with one
 * SQL statement (about four a day going back in time, a realistic mix of
 * outcomes, categories and owners), then times each read through
 * `app.inject` and prints medians and their ratio to the 100 baseline.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { buildApp } from "../src/app.js";
import type { Clock } from "../src/clock.js";
import { loadConfig } from "../src/config.js";
import { connectDatabase } from "../src/db/client.js";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { migrateWithLock } from "../src/db/migrate.js";
import { generatePrivateJwk, type PasswordHasher } from "../src/modules/auth/index.js";

const SIZES = [100, 1_000, 10_000];
const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 15));
const WARMUP = 5;
const NOW = new Date("2026-06-01T12:00:00.000Z");

// Hashing is not what is measured here.
const plainHasher: PasswordHasher = {
  hash: async (password) => `bench$${password}`,
  verify: async (hashed, password) => hashed === `bench$${password}`,
};

type Endpoint = { name: string; path: (pairId: string) => string };
const endpoints: Endpoint[] = [
  { name: "consistency?window=30d", path: (p) => `/v1/pairs/${p}/consistency?window=30d` },
  { name: "consistency?window=90d", path: (p) => `/v1/pairs/${p}/consistency?window=90d` },
  { name: "consistency?window=all", path: (p) => `/v1/pairs/${p}/consistency?window=all` },
  { name: "consistency/trend?weeks=12", path: (p) => `/v1/pairs/${p}/consistency/trend?weeks=12` },
  { name: "consistency/trend?weeks=104", path: (p) => `/v1/pairs/${p}/consistency/trend?weeks=104` },
  { name: "inbox", path: (p) => `/v1/pairs/${p}/inbox` },
];

async function call(app: FastifyInstance, method: "GET" | "POST", url: string, token?: string, payload?: object) {
  const response = await app.inject({
    method,
    url,
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    ...(payload ? { payload } : {}),
  });
  if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  return response.json();
}

async function linkedPair(app: FastifyInstance, label: string) {
  const register = (name: string) =>
    call(app, "POST", "/v1/auth/register", undefined, {
      email: `${name}-${label}@bench.example`,
      password: "correct horse battery",
      displayName: name,
      timeZone: "Europe/Paris",
    });
  const a = await register("ana");
  const b = await register("ben");
  const invite = await call(app, "POST", "/v1/invites", a.accessToken);
  const pair = await call(app, "POST", "/v1/pairs", b.accessToken, { inviteCode: invite.code });
  return { pairId: pair.id as string, ownerA: a.user.id as string, ownerB: b.user.id as string, token: a.accessToken };
}

/**
 * `count` commitments, about four a day back from NOW (a few in the
 * future): mostly confirmed kept, some missed, lapsed (one in five of them
 * reported late), withdrawn, disputed or awaiting confirmation, alternating
 * owners and cycling categories. Acknowledgements on some misses.
 */
async function seed(
  database: ReturnType<typeof connectDatabase>,
  pair: { pairId: string; ownerA: string; ownerB: string },
  count: number,
) {
  await database.pool.query(
    `INSERT INTO commitments (id, pair_id, owner_id, title, category, due_at, grace_minutes, lapses_at, status,
       outcome, reported_at, report_timing, confirmation_state, confirmation_auto, confirmation_at, lapsed_at,
       withdrawn_at, withdraw_cause, acknowledgement_text, acknowledged_at, acknowledgement_accepted_at,
       created_at, updated_at)
     SELECT gen_random_uuid(), $1, CASE WHEN i % 2 = 0 THEN $2::uuid ELSE $3::uuid END, 'Seeded ' || i,
       (ARRAY['time','communication','honesty','finances','household','social','care','other'])[1 + i % 8],
       due, 15, due + interval '15 minutes',
       CASE WHEN due > $4 THEN 'open'
            WHEN k < 70 THEN 'confirmed' WHEN k < 80 THEN 'confirmed' WHEN k < 88 THEN 'lapsed'
            WHEN k < 90 THEN 'reported' WHEN k < 95 THEN 'withdrawn' WHEN k < 97 THEN 'disputed' ELSE 'reported' END,
       CASE WHEN due > $4 OR k BETWEEN 80 AND 87 OR k BETWEEN 90 AND 94 THEN NULL
            WHEN k < 70 OR k >= 95 THEN 'kept' ELSE 'missed' END,
       CASE WHEN due > $4 OR k BETWEEN 80 AND 87 OR k BETWEEN 90 AND 94 THEN NULL ELSE due END,
       CASE WHEN due > $4 OR k BETWEEN 80 AND 87 OR k BETWEEN 90 AND 94 THEN NULL
            WHEN k BETWEEN 88 AND 89 THEN 'late' WHEN k % 3 = 0 THEN 'early' ELSE 'onTime' END,
       CASE WHEN due > $4 OR k BETWEEN 80 AND 87 OR k BETWEEN 90 AND 94 THEN NULL
            WHEN k < 80 THEN 'confirmed' WHEN k BETWEEN 95 AND 96 THEN 'disputed' ELSE 'pending' END,
       CASE WHEN due <= $4 AND k < 80 THEN k % 4 = 0 END,
       CASE WHEN due <= $4 AND k < 80 THEN due + interval '1 hour' END,
       CASE WHEN due <= $4 AND k BETWEEN 80 AND 89 THEN due + interval '16 minutes' END,
       CASE WHEN due <= $4 AND k BETWEEN 90 AND 94 THEN due - interval '1 day' END,
       CASE WHEN due <= $4 AND k BETWEEN 90 AND 94 THEN 'owner' END,
       CASE WHEN due <= $4 AND k BETWEEN 70 AND 87 AND i % 2 = 0 THEN 'Sorry' END,
       CASE WHEN due <= $4 AND k BETWEEN 70 AND 87 AND i % 2 = 0 THEN due + interval '2 hours' END,
       CASE WHEN due <= $4 AND k BETWEEN 70 AND 87 AND i % 4 = 0 THEN due + interval '3 hours' END,
       due - interval '2 days', due
     FROM (
       SELECT i, (i * 37) % 100 AS k, $4::timestamptz + interval '2 days' - i * interval '6 hours' AS due
       FROM generate_series(1, $5::int) AS i
     ) AS seeded`,
    [pair.pairId, pair.ownerA, pair.ownerB, NOW.toISOString(), count],
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function main() {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kept-bench-"));
  // The server runs as the `postgres` user when we are root: it must enter this folder.
  await chmod(dir, 0o755);
  const logger = pino({ level: "silent" });
  process.stderr.write("starting PostgreSQL…\n");
  const server = await startEmbeddedPostgres({ dataDir: dir, dataDirSetting: "bench folder", logger, ephemeral: true });
  const database = connectDatabase({
    url: server.ownerUrl,
    logger,
    poolSize: 10,
    connectTimeoutMs: 10_000,
    statementTimeoutMs: 60_000,
  });
  try {
    await migrateWithLock(database.pool);
    const clock: Clock = { now: () => NOW };
    const config = loadConfig({
      DATABASE_URL: server.ownerUrl,
      LOG_LEVEL: "silent",
      KEPT_RATE_LIMIT_PER_MINUTE: "1000000",
      KEPT_AUTH_RATE_LIMIT_PER_MINUTE: "1000000",
    });
    const app = await buildApp({
      config,
      database,
      clock,
      logger,
      signingKeys: [await generatePrivateJwk()],
      passwordHasher: plainHasher,
    });
    await app.ready();

    const pairs = [];
    for (const size of SIZES) {
      const pair = await linkedPair(app, String(size));
      process.stderr.write(`seeding ${size.toLocaleString("en")} commitments…\n`);
      await seed(database, pair, size);
      pairs.push({ size, ...pair });
    }
    await database.pool.query("VACUUM ANALYZE commitments");

    // One pass over everything first, so JIT warm-up does not land on the first cell measured.
    for (const endpoint of endpoints) {
      for (const pair of pairs)
        for (let i = 0; i < WARMUP; i++) await call(app, "GET", endpoint.path(pair.pairId), pair.token);
    }
    const results = new Map<string, number[]>();
    for (const endpoint of endpoints) {
      const medians: number[] = [];
      for (const pair of pairs) {
        const url = endpoint.path(pair.pairId);
        for (let i = 0; i < WARMUP; i++) await call(app, "GET", url, pair.token);
        const times: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const start = performance.now();
          await call(app, "GET", url, pair.token);
          times.push(performance.now() - start);
        }
        medians.push(median(times));
      }
      results.set(endpoint.name, medians);
    }

    const ms = (value: number) => `${value.toFixed(2)} ms`;
    const header = [
      "endpoint",
      ...SIZES.map((s) => `${s.toLocaleString("en")}`),
      ...SIZES.slice(1).map((s) => `×${s / 100}`),
    ];
    const rows = [...results].map(([name, medians]) => {
      const base = medians[0] ?? 1;
      return [name, ...medians.map(ms), ...medians.slice(1).map((m) => `${(m / base).toFixed(2)}×`)];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]) =>
      cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
    process.stdout.write(
      `\nMedian of ${RUNS} runs per cell (after ${WARMUP} warm-up runs), commitments per pair across; the ×10 and ×100 columns are each size's time over the 100 baseline.\n\n`,
    );
    process.stdout.write(`${line(header)}\n${line(widths.map((w) => "-".repeat(w)))}\n`);
    for (const row of rows) process.stdout.write(`${line(row)}\n`);
    await app.close();
  } finally {
    await database.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

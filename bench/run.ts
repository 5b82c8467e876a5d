import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import pg from "pg";
import pino from "pino";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { migrateWithLock } from "../src/db/migrate.js";
import { argon2idHasher } from "../src/modules/auth/index.js";
import { realtimeBenchmarks } from "./realtime.js";

/**
 * `npm run bench`: starts an embedded PostgreSQL, the Kept service (the real
 * `src/server.ts`, with DATABASE_URL) and a bare Fastify baseline server,
 * seeds them, then measures each figure and its baseline in the same run,
 * interleaved, over several repetitions. Prints a table, writes a JSON file
 * under bench/results/ and prints its path last.
 *
 * `npm run bench -- --profile` instead runs the write and read paths under
 * `--cpu-prof` and prints the functions with the most self time.
 */

const root = fileURLToPath(new URL("..", import.meta.url));
const PROFILE = process.argv.includes("--profile");
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? (PROFILE ? 10 : 5));
const REPETITIONS = Number(process.env.BENCH_REPETITIONS ?? 3);
const CONNECTIONS = 50;
const BURST = 200;
const PAIRS = 100;
const PASSWORD = "correct horse battery";
const DUE = "2099-06-01T10:00:00.000Z";

type Member = { id: string; email: string; token: string };
type Pair = { id: string; owner: Member; partner: Member };
type Service = { child: ChildProcess; port: number; baseUrl: string; stderr: () => string };

// ---- processes --------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

async function spawnServer(script: string, env: Record<string, string>, nodeFlags: string[] = []): Promise<Service> {
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk.slice(-20_000);
  });
  const port = Number(env.PORT);
  const deadline = Date.now() + 60_000;
  while (true) {
    if (child.exitCode !== null) throw new Error(`${script} exited early:\n${err}`);
    if (Date.now() > deadline) throw new Error(`${script} did not start:\n${err}`);
    const announced = /listening (\d+)/.exec(out);
    if (announced) break;
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    await delay(100);
  }
  return { child, port, baseUrl: `http://127.0.0.1:${port}`, stderr: () => err };
}

async function stopServer(service: Service): Promise<void> {
  if (service.child.exitCode !== null) return;
  const exited = new Promise((resolve) => service.child.once("exit", resolve));
  service.child.kill("SIGTERM");
  await Promise.race([exited, delay(30_000)]);
}

async function freePort(): Promise<number> {
  const { freePort: pick } = await import("../src/db/embedded.js");
  return pick();
}

function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}

/** Resets the peak-RSS mark (Linux: writing 5 to clear_refs), so each burst reports its own peak. */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => {});
}

// ---- HTTP helpers -----------------------------------------------------------------------------

async function call(service: Service, method: string, urlPath: string, body?: unknown, token?: string) {
  const response = await fetch(`${service.baseUrl}${urlPath}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function inBatches<T, R>(items: T[], size: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    results.push(...(await Promise.all(items.slice(i, i + size).map((item, j) => work(item, i + j)))));
  }
  return results;
}

// ---- measuring --------------------------------------------------------------------------------

type Sample = {
  throughput: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  statusCounts: Record<string, number>;
};
type RoundContext = { pair?: Pair; id?: string };
type Load = { url: string; connections: number; requests: autocannon.Request[] };

async function measure(load: Load, seconds: number): Promise<Sample> {
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
  };
}

type Stats = { runs: number[]; min: number; median: number; max: number };
function stats(runs: number[]): Stats {
  const sorted = [...runs].sort((a, b) => a - b);
  const median =
    sorted.length % 2 === 1
      ? (sorted[(sorted.length - 1) / 2] as number)
      : ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
  return { runs, min: sorted[0] ?? Number.NaN, median, max: sorted.at(-1) ?? Number.NaN };
}

type Figure = {
  name: string;
  /** What is measured, for the table. */
  what: string;
  baseline: string | null;
  load: () => Load | Promise<Load>;
  /** Load per measured request (2 for a report + confirm round). */
  requestsPerUnit?: number;
  target?: { minThroughputRatio?: number; maxP99Ms?: number };
  /** Extra figures gathered around each run (memory). */
  around?: (run: () => Promise<Sample>) => Promise<Sample & { extra: Record<string, number> }>;
  skip?: string;
};

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const tmp = await mkdtemp(path.join(os.tmpdir(), "kept-bench-"));
  await chmod(tmp, 0o755);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let database: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  const services: Service[] = [];
  try {
    log("starting PostgreSQL…");
    database = await startEmbeddedPostgres({
      dataDir: tmp,
      dataDirSetting: "bench folder",
      logger: pino({ level: "silent" }),
      ephemeral: true,
      database: "kept_bench",
    });
    const databaseUrl = database.serviceUrl;
    const migrationPool = new pg.Pool({ connectionString: database.ownerUrl, max: 1 });
    await migrateWithLock(migrationPool, { serviceRole: database.roles.service.user });
    // The single-write baseline's own table: the commitments table's columns, defaults,
    // indexes and foreign keys, without the service's triggers (the read model is Kept's cost).
    await migrationPool.query(`
      CREATE TABLE bench_commitments (LIKE commitments INCLUDING DEFAULTS INCLUDING INDEXES);
      ALTER TABLE bench_commitments
        ADD FOREIGN KEY (pair_id) REFERENCES pairs (id),
        ADD FOREIGN KEY (owner_id) REFERENCES users (id);
      GRANT SELECT, INSERT, UPDATE, DELETE ON bench_commitments TO ${database.roles.service.user}`);
    await migrationPool.end();
    const sql = new pg.Pool({ connectionString: database.ownerUrl, max: 2 });
    sql.on("error", () => {});
    const pgVersion =
      (await sql.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? "?";

    const passwordHash = await argon2idHasher.hash(PASSWORD);
    const profileDir = path.join(root, "bench", "results", `profile-${started.toISOString().replace(/[:.]/g, "-")}`);
    if (PROFILE) await mkdir(profileDir, { recursive: true });
    const keptEnv = {
      DATABASE_URL: databaseUrl,
      PORT: String(await freePort()),
      HOST: "127.0.0.1",
      KEPT_DATA_DIR: path.join(tmp, "kept"),
      KEPT_MIGRATE_ON_START: "false",
      LOG_LEVEL: "warn",
      KEPT_SWEEP_INTERVAL_MS: "86400000",
      KEPT_RATE_LIMIT_PER_MINUTE: "1000000",
      KEPT_AUTH_RATE_LIMIT_PER_MINUTE: "1000000",
      KEPT_ACCESS_TOKEN_TTL_SECONDS: "3600",
    };
    log("starting the service and the baseline server…");
    const kept = await spawnServer(
      "src/server.ts",
      keptEnv,
      PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
    );
    services.push(kept);
    const bare = await spawnServer("bench/bare-server.ts", {
      DATABASE_URL: databaseUrl,
      PORT: String(await freePort()),
      BENCH_PASSWORD_HASH: passwordHash,
    });
    services.push(bare);

    // ---- seed ----
    log(`seeding ${PAIRS} pairs…`);
    const register = async (name: string): Promise<Member> => {
      const email = `${name}-${started.getTime()}@bench.example`;
      const response = await call(kept, "POST", "/v1/auth/register", {
        email,
        password: PASSWORD,
        displayName: name,
        timeZone: "Europe/Paris",
      });
      if (response.status !== 201) throw new Error(`register: ${response.status} ${JSON.stringify(response.body)}`);
      return { id: response.body.user.id, email, token: response.body.accessToken };
    };
    const pairs: Pair[] = await inBatches(Array.from({ length: PAIRS }), 8, async (_item, i) => {
      const owner = await register(`owner${i}`);
      const partner = await register(`partner${i}`);
      const invite = await call(kept, "POST", "/v1/invites", undefined, owner.token);
      const pair = await call(kept, "POST", "/v1/pairs", { inviteCode: invite.body.code }, partner.token);
      if (pair.status !== 201) throw new Error(`join: ${pair.status}`);
      return { id: pair.body.id as string, owner, partner };
    });
    const [readPair, onePair] = pairs as [Pair, Pair, ...Pair[]];
    // A timeline of more than 50 events to read.
    await inBatches(Array.from({ length: 60 }), 10, (_x, i) =>
      call(
        kept,
        "POST",
        `/v1/pairs/${readPair.id}/commitments`,
        { title: `Seed ${i}`, dueAt: DUE },
        readPair.owner.token,
      ),
    );
    // Open commitments for report + confirm rounds, written directly (their creation is not what is measured).
    await sql.query(
      `INSERT INTO commitments (id, pair_id, owner_id, title, category, due_at, grace_minutes, lapses_at, status, created_at, updated_at)
       SELECT gen_random_uuid(), p.pair_id, p.owner_id, 'Round ' || g, 'other', $1::timestamptz, 15, $1::timestamptz + interval '15 minutes', 'open', now(), now()
       FROM unnest($2::uuid[], $3::uuid[]) AS p(pair_id, owner_id), generate_series(1, 400) AS g`,
      [DUE, pairs.map((p) => p.id), pairs.map((p) => p.owner.id)],
    );
    const openByPair = new Map<string, string[]>();
    for (const row of (
      await sql.query<{ id: string; pair_id: string }>("SELECT id, pair_id FROM commitments WHERE title LIKE 'Round %'")
    ).rows) {
      openByPair.set(row.pair_id, [...(openByPair.get(row.pair_id) ?? []), row.id]);
    }
    const consistencyProbe = await call(
      kept,
      "GET",
      `/v1/pairs/${readPair.id}/consistency`,
      undefined,
      readPair.owner.token,
    );
    const consistencyMissing =
      consistencyProbe.status === 404 && consistencyProbe.body?.code === "ROUTE_NOT_FOUND"
        ? "GET …/consistency is not in this build (it answers 404)"
        : undefined;
    const consistencyPairs: Record<number, Pair> = {};
    if (!consistencyMissing) {
      // Pairs holding 100 and 10,000 commitments, settled in a mix of outcomes.
      for (const [size, pair] of [
        [100, pairs[2]],
        [10_000, pairs[3]],
      ] as const) {
        if (!pair) continue;
        consistencyPairs[size] = pair;
        await sql.query(
          `INSERT INTO commitments (id, pair_id, owner_id, title, category, due_at, grace_minutes, lapses_at, status, outcome,
             reported_at, report_timing, confirmation_state, confirmation_auto, confirmation_at, created_at, updated_at)
           SELECT gen_random_uuid(), $1, CASE WHEN g % 2 = 0 THEN $2::uuid ELSE $3::uuid END, 'Settled ' || g,
             (ARRAY['time','communication','honesty','finances','household','social','care','other'])[1 + g % 8],
             now() - (g || ' hours')::interval, 15, now() - (g || ' hours')::interval + interval '15 minutes',
             'confirmed', CASE WHEN g % 5 = 0 THEN 'missed' ELSE 'kept' END,
             now() - (g || ' hours')::interval, 'onTime', 'confirmed', false, now(), now(), now()
           FROM generate_series(1, $4::int) AS g`,
          [pair.id, pair.owner.id, pair.partner.id, size],
        );
      }
    }
    await sql.query("ANALYZE");

    // ---- loads ----
    const bearer = (member: Member) => ({ authorization: `Bearer ${member.token}` });
    const json = { "content-type": "application/json" };
    let spread = 0;
    const writeBody = JSON.stringify({ title: "Home by seven", dueAt: DUE });
    let roundPair = 0;

    const figures: Figure[] = [
      {
        name: "baseline: constant JSON",
        what: "bare Fastify route answering a constant",
        baseline: null,
        load: () => ({
          url: bare.baseUrl,
          connections: CONNECTIONS,
          requests: [{ method: "GET", path: "/bare/constant" }],
        }),
      },
      {
        name: "baseline: single INSERT",
        what: "bare route, one parameterised INSERT of a commitment row",
        baseline: null,
        load: () => ({
          url: bare.baseUrl,
          connections: CONNECTIONS,
          requests: [
            {
              method: "POST",
              path: "/bare/commitments",
              headers: json,
              body: JSON.stringify({
                pairId: onePair.id,
                ownerId: onePair.owner.id,
                title: "Home by seven",
                dueAt: DUE,
              }),
            },
          ],
        }),
      },
      {
        name: "baseline: read 50 rows",
        what: "bare route, 50 events by (pair_id, seq)",
        baseline: null,
        load: () => ({
          url: bare.baseUrl,
          connections: CONNECTIONS,
          requests: [{ method: "GET", path: `/bare/events/${readPair.id}` }],
        }),
      },
      {
        name: "baseline: argon2id verify",
        what: "bare route, one argon2id verification (OWASP parameters)",
        baseline: null,
        load: () => ({
          url: bare.baseUrl,
          connections: BURST,
          requests: [
            { method: "POST", path: "/bare/argon2", headers: json, body: JSON.stringify({ password: PASSWORD }) },
          ],
        }),
      },
      {
        name: "GET /healthz",
        what: "Kept's plumbing (helmet, CORS, request ids) on a constant answer",
        baseline: "baseline: constant JSON",
        load: () => ({ url: kept.baseUrl, connections: CONNECTIONS, requests: [{ method: "GET", path: "/healthz" }] }),
      },
      {
        name: "create commitment, many pairs",
        what: `POST …/commitments, real access tokens, round-robin over ${PAIRS} pairs`,
        baseline: "baseline: single INSERT",
        target: { minThroughputRatio: 0.5, maxP99Ms: 25 },
        load: () => ({
          url: kept.baseUrl,
          connections: CONNECTIONS,
          requests: [
            {
              method: "POST",
              setupRequest: (request) => {
                const pair = pairs[spread++ % pairs.length] as Pair;
                const member = spread % 2 === 0 ? pair.owner : pair.partner;
                return {
                  ...request,
                  path: `/v1/pairs/${pair.id}/commitments`,
                  headers: { ...json, ...bearer(member) },
                  body: writeBody,
                };
              },
            },
          ],
        }),
      },
      {
        name: "create commitment, one pair",
        what: "the same, all on one pair (its writes serialise by design)",
        baseline: "baseline: single INSERT",
        load: () => ({
          url: kept.baseUrl,
          connections: CONNECTIONS,
          requests: [
            {
              method: "POST",
              path: `/v1/pairs/${onePair.id}/commitments`,
              headers: { ...json, ...bearer(onePair.owner) },
              body: writeBody,
            },
          ],
        }),
      },
      {
        name: "report + confirm round",
        what: "owner reports kept, partner confirms (2 requests per round; figure in requests/s)",
        baseline: "baseline: single INSERT",
        load: () => ({
          url: kept.baseUrl,
          connections: CONNECTIONS,
          requests: [
            {
              method: "POST",
              setupRequest: (request, context) => {
                const pair = pairs[roundPair++ % pairs.length] as Pair;
                const id = openByPair.get(pair.id)?.pop() ?? "00000000-0000-7000-8000-000000000000";
                Object.assign(context, { pair, id } satisfies RoundContext);
                return {
                  ...request,
                  path: `/v1/pairs/${pair.id}/commitments/${id}/report`,
                  headers: { ...json, ...bearer(pair.owner) },
                  body: JSON.stringify({ outcome: "kept" }),
                };
              },
            },
            {
              method: "POST",
              setupRequest: (request, context) => {
                const { pair, id } = context as RoundContext;
                if (!pair) throw new Error("confirm before report");
                return {
                  ...request,
                  path: `/v1/pairs/${pair.id}/commitments/${id}/confirm`,
                  headers: bearer(pair.partner),
                };
              },
            },
          ],
        }),
      },
      {
        name: "GET …/events?limit=50",
        what: "the timeline, 50 events, real access token",
        baseline: "baseline: read 50 rows",
        target: { minThroughputRatio: 0.8 },
        load: () => ({
          url: kept.baseUrl,
          connections: CONNECTIONS,
          requests: [
            { method: "GET", path: `/v1/pairs/${readPair.id}/events?limit=50`, headers: bearer(readPair.owner) },
          ],
        }),
      },
      ...[100, 10_000].map(
        (size): Figure => ({
          name: `GET …/consistency (${size.toLocaleString("en")} commitments)`,
          what: "per-partner figures over window=all — slot for the consistency module",
          baseline: "baseline: read 50 rows",
          ...(consistencyMissing ? { skip: consistencyMissing } : {}),
          load: () => {
            const pair = consistencyPairs[size] as Pair;
            return {
              url: kept.baseUrl,
              connections: CONNECTIONS,
              requests: [
                { method: "GET", path: `/v1/pairs/${pair.id}/consistency?window=all`, headers: bearer(pair.owner) },
              ],
            };
          },
        }),
      ),
      {
        name: `login burst (${BURST} concurrent)`,
        what: "POST /v1/auth/login, correct passwords, round-robin over accounts; hashing bounded",
        baseline: "baseline: argon2id verify",
        load: () => {
          let next = 0;
          const members = pairs.flatMap((p) => [p.owner, p.partner]);
          return {
            url: kept.baseUrl,
            connections: BURST,
            requests: [
              {
                method: "POST",
                path: "/v1/auth/login",
                headers: json,
                setupRequest: (request) => ({
                  ...request,
                  body: JSON.stringify({
                    email: (members[next++ % members.length] as Member).email,
                    password: PASSWORD,
                  }),
                }),
              },
            ],
          };
        },
        around: async (run) => {
          const pid = kept.child.pid as number;
          const before = memoryOf(pid);
          await resetPeak(pid);
          const sample = await run();
          const after = memoryOf(pid);
          if (kept.child.exitCode !== null)
            throw new Error(`the service died during the login burst:\n${kept.stderr()}`);
          return {
            ...sample,
            extra: {
              rssBeforeMiB: before.rssMiB,
              peakRssMiB: after.peakMiB,
              rssAfterMiB: after.rssMiB,
              refused503: sample.statusCounts["503"] ?? 0,
              refused429: sample.statusCounts["429"] ?? 0,
            },
          };
        },
      },
    ];

    if (PROFILE) {
      await runProfile(figures, kept, profileDir, sql);
      return;
    }

    // ---- run: warm up each load once, then interleave the repetitions ----
    // BENCH_ONLY (a regular expression over figure names) narrows the run; baselines of the chosen figures stay.
    const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : null;
    const chosen = only ? figures.filter((f) => only.test(f.name)) : figures;
    const needed = new Set(chosen.flatMap((f) => [f.name, ...(f.baseline ? [f.baseline] : [])]));
    const active = figures.filter((f) => !f.skip && needed.has(f.name));
    log(`warming up ${active.length} loads…`);
    for (const figure of active) await measure(await figure.load(), 1);
    const samples = new Map<string, (Sample & { extra?: Record<string, number> })[]>();
    for (let rep = 1; rep <= REPETITIONS; rep++) {
      for (const figure of active) {
        log(`repetition ${rep}/${REPETITIONS}: ${figure.name}`);
        const load = await figure.load();
        const run = () => measure(load, DURATION_S);
        const sample = figure.around ? await figure.around(run) : await run();
        samples.set(figure.name, [...(samples.get(figure.name) ?? []), sample]);
      }
    }

    // ---- report ----
    const results = figures
      .filter((f) => needed.has(f.name))
      .map((figure) => {
        if (figure.skip)
          return { name: figure.name, what: figure.what, baseline: figure.baseline, skipped: figure.skip };
        const runs = samples.get(figure.name) ?? [];
        const base = figure.baseline ? (samples.get(figure.baseline) ?? []) : undefined;
        const of = (list: Sample[], key: "throughput" | "p50" | "p99") => stats(list.map((s) => s[key]));
        const ratio = (key: "throughput" | "p50" | "p99") =>
          base ? stats(runs.map((s, i) => s[key] / ((base[i] as Sample)[key] || Number.NaN))) : null;
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
          connections:
            runs.length > 0
              ? figure.name.startsWith("login") || figure.name.includes("argon2")
                ? BURST
                : CONNECTIONS
              : null,
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

    const machine = {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "?",
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
      postgres: pgVersion,
    };
    // Realtime figures need their own seeded service (1,000 pairs connected); see bench/realtime.ts.
    process.stdout.write("\nrealtime (bench/realtime.ts)\n");
    const realtime = process.env.BENCH_SKIP_REALTIME
      ? []
      : await realtimeBenchmarks((line) => process.stdout.write(`${line}\n`));
    const report = {
      command: "npm run bench",
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      machine,
      settings: {
        durationSeconds: DURATION_S,
        repetitions: REPETITIONS,
        connections: CONNECTIONS,
        burst: BURST,
        pairs: PAIRS,
        note: "ratio = figure ÷ its baseline, paired per repetition; throughput ratio higher is better, latency ratio lower is better. PostgreSQL runs with fsync and synchronous_commit off (both sides alike).",
      },
      figures: results,
      realtime,
    };
    printTable(results, machine);
    const dir = path.join(root, "bench", "results");
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `bench-${started.toISOString().replace(/[:.]/g, "-")}.json`);
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    await sql.end();
    process.stdout.write(`${file}\n`);
  } finally {
    for (const service of services) await stopServer(service);
    for (const child of children) child.kill("SIGKILL");
    await database?.stop();
    await rm(tmp, { recursive: true, force: true, maxRetries: 5 });
  }
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

function printTable(rows: Row[], machine: Record<string, unknown>): void {
  const f = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
  const range = (s: Stats | null | undefined, digits: number) =>
    s ? `${f(s.median, digits)} (${f(s.min, digits)}–${f(s.max, digits)})` : "";
  const lines = [
    `Kept benchmark — ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, PostgreSQL ${machine.postgres}`,
    `${REPETITIONS} × ${DURATION_S} s per figure; median (min–max); ratios to the baseline measured in the same repetition`,
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

/** Runs the write and read paths under --cpu-prof and prints where the service spends its own time. */
async function runProfile(figures: Figure[], kept: Service, profileDir: string, sql: pg.Pool): Promise<void> {
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
    const sample = await measure(await figure.load(), DURATION_S);
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

process.once("SIGINT", () => {
  for (const child of children) child.kill("SIGKILL");
  process.exit(130);
});

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});

/**
 * Realtime figures, each against a baseline measured in the same run:
 * - delivery latency: from a write's HTTP response to the partner's `event`
 *   frame, with 1,000 pairs (both partners connected) and writes at a fixed
 *   rate; baseline: a bare PostgreSQL NOTIFY → LISTEN round trip.
 * - memory: RSS per idle connected socket at 10,000 sockets; baseline: a
 *   bare `ws` server holding as many idle sockets.
 *
 *   npx tsx bench/realtime.ts            (prints a table, then the JSON on the last line)
 *
 * The service runs as a child process (`src/server.ts`, DATABASE_URL set),
 * so the load generator does not share its event loop.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { SignJWT } from "jose";
import pg from "pg";
import pino from "pino";
import WebSocket from "ws";
import { freePort, startEmbeddedPostgres } from "../src/db/embedded.js";
import { migrateWithLock } from "../src/db/migrate.js";
import { generatePrivateJwk, keyRingFrom } from "../src/modules/auth/index.js";

export type Figure = { name: string; unit: string; value: number; baseline: number; ratio: number; runs: number[] };

const PAIRS = Number(process.env.BENCH_PAIRS ?? 1000);
const IDLE_SOCKETS = Number(process.env.BENCH_IDLE_SOCKETS ?? 10_000);
// The target rate, and one this 2-core machine sustains while streaming (shows the hub without a write backlog).
const WRITE_RATES = (process.env.BENCH_WRITE_RATES ?? "1000,250").split(",").map(Number);
const WRITE_SECONDS = 4;
const REPETITIONS = 3;

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const median = (values: number[]) => percentile(values, 50);

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function waitForUrl(url: string, child: ChildProcess, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not come up`);
}

function startService(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  // Never outlive the benchmark, even when it crashes.
  process.once("exit", () => child.kill("SIGKILL"));
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

/** Many sockets, a few hundred at a time. */
async function openMany(count: number, make: (i: number) => Promise<WebSocket>): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let start = 0; start < count; start += 250) {
    sockets.push(
      ...(await Promise.all(Array.from({ length: Math.min(250, count - start) }, (_, i) => make(start + i)))),
    );
  }
  return sockets;
}

/** Baseline: how long PostgreSQL itself takes to carry a NOTIFY to a listener. */
async function notifyBaseline(url: string): Promise<number[]> {
  const listener = new pg.Client({ connectionString: url });
  const sender = new pg.Client({ connectionString: url });
  for (const client of [listener, sender]) client.on("error", () => {});
  await Promise.all([listener.connect(), sender.connect()]);
  await listener.query("LISTEN bench_baseline");
  const latencies: number[] = [];
  for (let i = 0; i < 500; i++) {
    const received = new Promise<number>((resolve) =>
      listener.on("notification", function onNotification(message) {
        if (message.payload !== String(i)) return;
        listener.removeListener("notification", onNotification);
        resolve(performance.now());
      }),
    );
    const started = performance.now();
    const sent = sender.query("SELECT pg_notify('bench_baseline', $1)", [String(i)]);
    latencies.push((await received) - started);
    // The notification can arrive before the sender's own answer: wait for it before the next (or end()).
    await sent;
  }
  await Promise.all([listener.end(), sender.end()]);
  return latencies;
}

/** Baseline: a bare `ws` server in its own process, holding idle sockets. */
async function bareWsRssPerSocket(count: number): Promise<number> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      "-e",
      `const { WebSocketServer } = require("ws"); new WebSocketServer({ port: ${port}, host: "127.0.0.1" }); console.log("up");`,
    ],
    { stdio: ["ignore", "pipe", "inherit"], cwd: process.cwd() },
  );
  await new Promise((resolve) => child.stdout?.once("data", resolve));
  const before = await rssKiB(child.pid as number);
  const sockets = await openMany(count, () => open(`ws://127.0.0.1:${port}`));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = await rssKiB(child.pid as number);
  for (const socket of sockets) socket.terminate();
  await stopChild(child);
  return ((after - before) * 1024) / count;
}

export async function realtimeBenchmarks(log: (line: string) => void = console.log): Promise<Figure[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kept-bench-realtime-"));
  await chmod(dir, 0o755);
  const database = await startEmbeddedPostgres({ dataDir: dir, logger: pino({ level: "silent" }), database: "kept" });
  let service: ChildProcess | undefined;
  const sockets: WebSocket[] = [];
  try {
    const pool = new pg.Pool({ connectionString: database.ownerUrl, max: 4 });
    pool.on("error", () => {});
    await migrateWithLock(pool, { serviceRole: database.roles.service.user });

    // Seed 1,000 linked pairs directly, and mint their access tokens with
    // the service's own key (the benchmark is about streams, not sign-in).
    const jwk = await generatePrivateJwk();
    const keys = await keyRingFrom([jwk]);
    const now = new Date();
    type Member = { userId: string; familyId: string; token: string };
    const pairs: { pairId: string; a: Member; b: Member }[] = [];
    const member = async (): Promise<Member> => {
      const userId = randomUUID();
      const familyId = randomUUID();
      const iat = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ fid: familyId })
        .setProtectedHeader({ alg: keys.signer.alg, kid: keys.signer.kid, typ: "at+jwt" })
        .setIssuer("kept")
        .setAudience("kept-api")
        .setSubject(userId)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 3600)
        .sign(keys.signer.privateKey);
      return { userId, familyId, token };
    };
    for (let i = 0; i < PAIRS; i++) pairs.push({ pairId: randomUUID(), a: await member(), b: await member() });
    const members = pairs.flatMap((p) => [p.a, p.b]);
    await pool.query(
      `INSERT INTO users (id, email, display_name, time_zone, password_hash, created_at, updated_at)
       SELECT id, id || '@bench.example', 'Bench', 'UTC', NULL, $2, $2 FROM unnest($1::uuid[]) AS id`,
      [members.map((m) => m.userId), now],
    );
    await pool.query(
      "INSERT INTO refresh_families (id, user_id, created_at) SELECT * , $3::timestamptz FROM unnest($1::uuid[], $2::uuid[])",
      [members.map((m) => m.familyId), members.map((m) => m.userId), now],
    );
    await pool.query(
      "INSERT INTO pairs (id, status, created_at) SELECT id, 'active', $2 FROM unnest($1::uuid[]) AS id",
      [pairs.map((p) => p.pairId), now],
    );
    await pool.query(
      `INSERT INTO pair_members (pair_id, user_id, joined_at, active)
       SELECT pair_id, user_id, $3, true FROM unnest($1::uuid[], $2::uuid[]) AS m(pair_id, user_id)`,
      [pairs.flatMap((p) => [p.pairId, p.pairId]), members.map((m) => m.userId), now],
    );
    await pool.query(
      `INSERT INTO event_heads (pair_id, last_seq, head_hash) SELECT id, 0, repeat('0', 64) FROM unnest($1::uuid[]) AS id`,
      [pairs.map((p) => p.pairId)],
    );

    const serviceEnv = {
      DATABASE_URL: database.serviceUrl,
      KEPT_DATA_DIR: dir,
      KEPT_JWT_PRIVATE_KEYS: JSON.stringify([jwk]),
      KEPT_RATE_LIMIT_PER_MINUTE: "1000000",
      KEPT_STREAM_MAX_PER_USER: "100",
      KEPT_DB_POOL_SIZE: "20",
    };
    const port = await freePort();
    service = startService({ ...serviceEnv, PORT: String(port) });
    const http = `http://127.0.0.1:${port}`;
    await waitForUrl(`${http}/readyz`, service);

    // Both partners of every pair connected; each partner socket records when each event arrives.
    // Frames may arrive before or after the write's response: whichever comes second records the latency.
    const arrivals = new Map<string, number>();
    const awaiting = new Map<string, (arrivedAt: number) => void>();
    const partnerSockets = await openMany(PAIRS, async (i) => {
      const pair = pairs[i] as (typeof pairs)[number];
      const ws = await open(`ws://127.0.0.1:${port}/v1/stream`, { Authorization: `Bearer ${pair.b.token}` });
      ws.on("message", (data) => {
        const message = JSON.parse(data.toString()) as { type: string; event?: { subjectId: string } };
        if (message.type !== "event" || !message.event) return;
        const arrivedAt = performance.now();
        const waiter = awaiting.get(message.event.subjectId);
        if (waiter) waiter(arrivedAt);
        else arrivals.set(message.event.subjectId, arrivedAt);
      });
      return ws;
    });
    const ownerSockets = await openMany(PAIRS, (i) =>
      open(`ws://127.0.0.1:${port}/v1/stream`, {
        Authorization: `Bearer ${(pairs[i] as (typeof pairs)[number]).a.token}`,
      }),
    );
    sockets.push(...partnerSockets, ...ownerSockets);

    // Writes at a fixed rate, spread over the pairs.
    let written = 0;
    const measureAt = async (rate: number, repetitions = REPETITIONS, seconds = WRITE_SECONDS) => {
      const latencyRuns: number[][] = [];
      const frameP99Runs: number[] = [];
      const responseP99Runs: number[] = [];
      const achievedRates: number[] = [];
      for (let run = 0; run < repetitions; run++) {
        const latencies: number[] = [];
        const frameTimes: number[] = [];
        const responseTimes: number[] = [];
        const waiting: Promise<void>[] = [];
        const total = rate * seconds;
        const started = performance.now();
        for (let i = 0; i < total; i++) {
          const due = started + (i * 1000) / rate;
          const delay = due - performance.now();
          if (delay > 1) await new Promise((resolve) => setTimeout(resolve, delay));
          const pair = pairs[written++ % PAIRS] as (typeof pairs)[number];
          waiting.push(
            (async () => {
              const sentAt = performance.now();
              const response = await fetch(`${http}/v1/pairs/${pair.pairId}/commitments`, {
                method: "POST",
                headers: { authorization: `Bearer ${pair.a.token}`, "content-type": "application/json" },
                body: JSON.stringify({ title: "Home at 7", dueAt: new Date(Date.now() + 86_400_000).toISOString() }),
              });
              const answeredAt = performance.now();
              if (response.status !== 201) return;
              const { id } = (await response.json()) as { id: string };
              const arrived =
                arrivals.get(id) ??
                (await new Promise<number | undefined>((resolve) => {
                  const timer = setTimeout(() => resolve(undefined), 10_000);
                  awaiting.set(id, (at) => {
                    clearTimeout(timer);
                    resolve(at);
                  });
                }));
              awaiting.delete(id);
              arrivals.delete(id);
              if (arrived === undefined) return;
              // An event can beat the response to the client: that counts as no delay.
              latencies.push(Math.max(0, arrived - answeredAt));
              frameTimes.push(arrived - sentAt);
              responseTimes.push(answeredAt - sentAt);
            })(),
          );
        }
        await Promise.all(waiting);
        achievedRates.push((latencies.length * 1000) / (performance.now() - started));
        latencyRuns.push(latencies);
        frameP99Runs.push(percentile(frameTimes, 99));
        responseP99Runs.push(percentile(responseTimes, 99));
      }
      return {
        rate,
        p50Runs: latencyRuns.map((l) => percentile(l, 50)),
        p99Runs: latencyRuns.map((l) => percentile(l, 99)),
        frameP99Runs,
        responseP99Runs,
        achievedRates,
      };
    };
    // Warm-up (JIT, pool connections, prepared statements), not counted: the HTTP figures warm up too.
    await measureAt(Math.max(...WRITE_RATES), 1, 2);
    const atRates = [];
    for (const rate of WRITE_RATES) atRates.push(await measureAt(rate));
    const baselineLatencies = await notifyBaseline(database.serviceUrl);
    for (const socket of sockets.splice(0)) socket.terminate();

    // Memory: RSS per idle socket at 10,000 sockets, against a bare ws server. A fresh
    // process, so the garbage of the write phases is not collected in the middle of it.
    await stopChild(service);
    const memoryPort = await freePort();
    service = startService({ ...serviceEnv, PORT: String(memoryPort) });
    await waitForUrl(`http://127.0.0.1:${memoryPort}/readyz`, service);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const pid = service.pid as number;
    const before = await rssKiB(pid);
    const idle = await openMany(IDLE_SOCKETS, (i) =>
      open(`ws://127.0.0.1:${memoryPort}/v1/stream`, {
        Authorization: `Bearer ${(members[i % members.length] as Member).token}`,
      }),
    );
    sockets.push(...idle);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = await rssKiB(pid);
    const keptPerSocket = ((after - before) * 1024) / IDLE_SOCKETS;
    for (const socket of sockets.splice(0)) socket.terminate();
    const barePerSocket = await bareWsRssPerSocket(IDLE_SOCKETS);

    const baseP50 = median(baselineLatencies);
    const baseP99 = percentile(baselineLatencies, 99);
    const figures: Figure[] = [
      ...atRates.flatMap(({ rate, p50Runs, p99Runs, frameP99Runs, responseP99Runs, achievedRates }): Figure[] => [
        {
          name: `stream delivery p50 (${PAIRS} pairs, ${rate} writes/s) vs NOTIFY→LISTEN p50`,
          unit: "ms",
          value: median(p50Runs),
          baseline: baseP50,
          ratio: median(p50Runs) / baseP50,
          runs: p50Runs,
        },
        {
          name: `stream delivery p99 (${PAIRS} pairs, ${rate} writes/s) vs NOTIFY→LISTEN p99`,
          unit: "ms",
          value: median(p99Runs),
          baseline: baseP99,
          ratio: median(p99Runs) / baseP99,
          runs: p99Runs,
        },
        {
          // The same frames seen from the write's start: partner's frame vs the writer's own response.
          name: `request sent → partner's frame p99 (${rate} writes/s) vs request sent → response p99`,
          unit: "ms",
          value: median(frameP99Runs),
          baseline: median(responseP99Runs),
          ratio: median(frameP99Runs) / median(responseP99Runs),
          runs: frameP99Runs,
        },
        {
          name: `writes/s achieved (asked ${rate})`,
          unit: "req/s",
          value: median(achievedRates),
          baseline: rate,
          ratio: median(achievedRates) / rate,
          runs: achievedRates,
        },
      ]),
      {
        name: `RSS per idle socket at ${IDLE_SOCKETS} sockets vs bare ws server`,
        unit: "bytes",
        value: keptPerSocket,
        baseline: barePerSocket,
        ratio: keptPerSocket / barePerSocket,
        runs: [keptPerSocket],
      },
    ];
    for (const f of figures) {
      log(
        `${f.name.padEnd(90)} ${f.value.toFixed(2).padStart(10)} ${f.unit.padEnd(6)} baseline ${f.baseline.toFixed(2).padStart(9)}  ratio ${f.ratio.toFixed(2)}  runs [${f.runs.map((r) => r.toFixed(1)).join(", ")}]`,
      );
    }
    await pool.end();
    return figures;
  } finally {
    for (const socket of sockets) socket.terminate();
    if (service) await stopChild(service);
    await database.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await realtimeBenchmarks();
  console.log(JSON.stringify(figures));
}

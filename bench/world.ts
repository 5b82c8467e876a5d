import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import pino from "pino";
import { freePort, startEmbeddedPostgres } from "../src/db/embedded.js";
import { migrateWithLock } from "../src/db/migrate.js";
import { argon2idHasher } from "../src/modules/auth/index.js";

/**
 * What every figure runs against: an embedded PostgreSQL, the Kept service
 * (the real `src/server.ts`, with DATABASE_URL, in a process of its own),
 * the bare Fastify baseline server, and 100 linked pairs seeded through
 * the API, one of them with a timeline of 60 events to read. Figures that
 * need more seed it in their own `setup`.
 */

export const root = fileURLToPath(new URL("..", import.meta.url));
export const PROFILE = process.argv.includes("--profile");
export const settings = {
  /** BENCH_DURATION_S and BENCH_REPETITIONS shorten a run (BENCH_DURATION_S=1 BENCH_REPETITIONS=1 to check the bench itself). */
  durationSeconds: Number(process.env.BENCH_DURATION_S ?? (PROFILE ? 10 : 5)),
  repetitions: Number(process.env.BENCH_REPETITIONS ?? 3),
  connections: 50,
  burst: 200,
  pairs: 100,
};
export const PASSWORD = "correct horse battery";
export const DUE = "2099-06-01T10:00:00.000Z";

export type Member = { id: string; email: string; token: string };
export type Pair = { id: string; owner: Member; partner: Member };
export type Service = { child: ChildProcess; port: number; baseUrl: string; stderr: () => string };

export type World = {
  started: Date;
  kept: Service;
  bare: Service;
  /** A small pool of the bench's own, for seeding and for watching the service's sessions. */
  sql: pg.Pool;
  pgVersion: string;
  pairs: Pair[];
  /** Its timeline holds 60 events. */
  readPair: Pair;
  onePair: Pair;
  /** Where `--profile` writes the service's CPU profile. */
  profileDir: string;
  stop(): Promise<void>;
};

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

export async function stopServer(service: Service): Promise<void> {
  if (service.child.exitCode !== null) return;
  const exited = new Promise((resolve) => service.child.once("exit", resolve));
  service.child.kill("SIGTERM");
  await Promise.race([exited, delay(30_000)]);
}

/** Ctrl-C: no server is left behind. */
export function killChildren(): void {
  for (const child of children) child.kill("SIGKILL");
}

export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}

/** Resets the peak-RSS mark (Linux: writing 5 to clear_refs), so each burst reports its own peak. */
export async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => {});
}

// ---- HTTP helpers -----------------------------------------------------------------------------

export async function call(service: Service, method: string, urlPath: string, body?: unknown, token?: string) {
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

export async function inBatches<T, R>(
  items: T[],
  size: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    results.push(...(await Promise.all(items.slice(i, i + size).map((item, j) => work(item, i + j)))));
  }
  return results;
}

// ---- the world --------------------------------------------------------------------------------

export async function startWorld(log: (line: string) => void): Promise<World> {
  const started = new Date();
  const tmp = await mkdtemp(path.join(os.tmpdir(), "kept-bench-"));
  await chmod(tmp, 0o755);
  let database: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let sql: pg.Pool | undefined;
  const services: Service[] = [];
  const stop = async () => {
    await sql?.end().catch(() => {});
    for (const service of services) await stopServer(service);
    killChildren();
    await database?.stop();
    await rm(tmp, { recursive: true, force: true, maxRetries: 5 });
  };
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
    sql = new pg.Pool({ connectionString: database.ownerUrl, max: 2 });
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

    log(`seeding ${settings.pairs} pairs…`);
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
    const pairs: Pair[] = await inBatches(Array.from({ length: settings.pairs }), 8, async (_item, i) => {
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
    return { started, kept, bare, sql, pgVersion, pairs, readPair, onePair, profileDir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

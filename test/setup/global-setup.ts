import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { migrateWithLock } from "../../src/db/migrate.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Connection string of a database on the test server with rights to create databases. */
    adminUrl: string;
    /** The migrated template every test file clones its own database from. */
    templateDatabase: string;
    /** Prefix of every database this run creates, so teardown can drop them. */
    databasePrefix: string;
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Starts one PostgreSQL for the whole run (embedded, under the OS temporary
 * folder, unless TEST_DATABASE_URL names a server) and migrates a template
 * database once; each test file then clones it.
 */
export default async function setup(project: TestProject) {
  let adminUrl = process.env.TEST_DATABASE_URL;
  let stopServer: (() => Promise<void>) | undefined;
  let tempDir: string | undefined;
  if (!adminUrl) {
    tempDir = await mkdtemp(path.join(os.tmpdir(), "kept-test-"));
    // The server runs as the `postgres` user when we are root: it must enter this folder.
    await chmod(tempDir, 0o755);
    const embedded = await startEmbeddedPostgres({
      dataDir: tempDir,
      dataDirSetting: "test cluster folder",
      logger: pino({ level: "silent" }),
      ephemeral: true,
    });
    adminUrl = embedded.adminUrl;
    stopServer = embedded.stop;
  }

  const prefix = `kept_test_${process.pid}_${Date.now().toString(36)}`;
  const template = `${prefix}_template`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(template)}`);
  const pool = new pg.Pool({ connectionString: withDatabase(adminUrl, template), max: 1 });
  await migrateWithLock(pool);
  await pool.end();

  project.provide("adminUrl", adminUrl);
  project.provide("templateDatabase", template);
  project.provide("databasePrefix", prefix);

  return async () => {
    if (stopServer) {
      await admin.end();
      await stopServer();
    } else {
      const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [
        `${prefix}%`,
      ]);
      for (const { datname } of rows) {
        await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(datname)} WITH (FORCE)`);
      }
      await admin.end();
    }
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  };
}

import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { migrateWithLock } from "../../src/db/migrate.js";
import { ensureLoginRole, type RoleCredentials, withCredentials } from "../../src/db/roles.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Connection string of a database on the test server as a superuser (tests tamper with rows through it). */
    adminUrl: string;
    /** The migrated template every test file clones its own database from. */
    templateDatabase: string;
    /** Prefix of every database this run creates, so teardown can drop them. */
    databasePrefix: string;
    /** This run's owner (migrations) and service (the app under test) roles, on every test server. */
    databaseRoles: { owner: RoleCredentials; service: RoleCredentials };
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Starts one PostgreSQL for the whole run (embedded, under the OS temporary
 * folder, unless TEST_DATABASE_URL names a server), creates this run's
 * owner and service roles, and migrates a template database once as the
 * owner; each test file then clones it, and its app connects as the
 * service role.
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
  const roles = {
    owner: { user: `${prefix}_owner`, password: randomBytes(18).toString("base64url") },
    service: { user: `${prefix}_service`, password: randomBytes(18).toString("base64url") },
  };
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await ensureLoginRole(admin, roles.owner);
  await ensureLoginRole(admin, roles.service);
  await admin.query(
    `CREATE DATABASE ${admin.escapeIdentifier(template)} OWNER ${admin.escapeIdentifier(roles.owner.user)}`,
  );
  const pool = new pg.Pool({
    connectionString: withCredentials(withDatabase(adminUrl, template), roles.owner),
    max: 1,
  });
  await migrateWithLock(pool, { serviceRole: roles.service.user });
  await pool.end();

  project.provide("adminUrl", adminUrl);
  project.provide("templateDatabase", template);
  project.provide("databasePrefix", prefix);
  project.provide("databaseRoles", roles);

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
      for (const role of [roles.service, roles.owner]) {
        await admin.query(`DROP ROLE IF EXISTS ${admin.escapeIdentifier(role.user)}`);
      }
      await admin.end();
    }
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  };
}

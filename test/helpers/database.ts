import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { withCredentials } from "../../src/db/roles.js";

export function databaseUrl(name: string): string {
  const url = new URL(inject("adminUrl"));
  url.pathname = `/${name}`;
  return url.toString();
}

/** The same database as `url`, as this run's service role: what the app under test connects as. */
export function serviceUrl(url: string): string {
  return withCredentials(url, inject("databaseRoles").service);
}

/** The same database as `url`, as this run's owner role: what migrations run as. */
export function ownerUrl(url: string): string {
  return withCredentials(url, inject("databaseRoles").owner);
}

export function serviceRole(): string {
  return inject("databaseRoles").service.user;
}

async function createDatabase(template?: string): Promise<string> {
  const name = `${inject("databasePrefix")}_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: inject("adminUrl") });
  await admin.connect();
  try {
    await admin.query(
      `CREATE DATABASE ${admin.escapeIdentifier(name)} OWNER ${admin.escapeIdentifier(inject("databaseRoles").owner.user)}${template ? ` TEMPLATE ${admin.escapeIdentifier(template)}` : ""}`,
    );
  } finally {
    await admin.end();
  }
  return databaseUrl(name);
}

/**
 * A fresh database for one test file, cloned from the migrated template
 * (its tables owned by the owner role, with the service role's grants).
 * The URL is the superuser's; `serviceUrl` gives the app's.
 */
export function createTestDatabase(): Promise<string> {
  return createDatabase(inject("templateDatabase"));
}

/** An empty database owned by the owner role (no migrations), for tests of migrating itself. */
export function createEmptyDatabase(): Promise<string> {
  return createDatabase();
}

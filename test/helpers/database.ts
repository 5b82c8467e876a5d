import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

export function databaseUrl(name: string): string {
  const url = new URL(inject("adminUrl"));
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh database for one test file, cloned from the migrated template. */
export async function createTestDatabase(): Promise<string> {
  const name = `${inject("databasePrefix")}_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: inject("adminUrl") });
  await admin.connect();
  try {
    await admin.query(
      `CREATE DATABASE ${admin.escapeIdentifier(name)} TEMPLATE ${admin.escapeIdentifier(inject("templateDatabase"))}`,
    );
  } finally {
    await admin.end();
  }
  return databaseUrl(name);
}

/** An empty database (no migrations), for tests of migrating itself. */
export async function createEmptyDatabase(): Promise<string> {
  const name = `${inject("databasePrefix")}_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: inject("adminUrl") });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  return databaseUrl(name);
}

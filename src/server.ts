import { buildApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { connectDatabase } from "./db/client.js";
import { EmbeddedPostgresError, startEmbeddedPostgres } from "./db/embedded.js";
import { migrateWithLock } from "./db/migrate.js";
import { createLogger } from "./logger.js";
import { loadOrCreateKeyFile, parsePrivateKeys } from "./modules/auth/index.js";

/** Reads the configuration, starts (or connects to) PostgreSQL, migrates, serves, and shuts down in order. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);

  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ dataDir: config.dataDir, logger }).catch((error: unknown) => {
        if (error instanceof EmbeddedPostgresError) {
          process.stderr.write(`${error.message}\n`);
          process.exit(1);
        }
        throw error;
      });
  const databaseUrl = config.databaseUrl ?? (embedded?.url as string);
  if (embedded) logger.info({ dataDir: config.dataDir }, "embedded PostgreSQL started");

  const database = connectDatabase({ url: databaseUrl, logger, ...config.database });
  if (config.migrateOnStart) {
    await migrateWithLock(database.pool);
    logger.info("migrations applied");
  }

  const signingKeys = config.jwt.privateKeysJson
    ? parsePrivateKeys(config.jwt.privateKeysJson, "KEPT_JWT_PRIVATE_KEYS")
    : await loadOrCreateKeyFile(config.dataDir);

  const app = await buildApp({ config, database, signingKeys, logger });
  await app.listen({ port: config.port, host: config.host });
  app.sweeper.start(config.sweepIntervalMs);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const deadline = setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    try {
      // Stop accepting, let in-flight requests finish, close sockets; then the pool; then the server.
      await app.sweeper.stop();
      await app.close();
      await database.close();
      await embedded?.stop();
      logger.info("stopped");
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, "shutdown failed");
      process.exit(1);
    }
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((error: unknown) => {
  process.stderr.write(`Kept failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

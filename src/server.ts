import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { connectDatabase, type Database } from "./db/client.js";
import { type EmbeddedPostgres, EmbeddedPostgresError, startEmbeddedPostgres } from "./db/embedded.js";
import { migrateForService } from "./db/migrate.js";
import { warnIfHistoryCanBeRewritten } from "./db/roles.js";
import { createLogger } from "./logger.js";
import { loadOrCreateKeyFile, parsePrivateKeys } from "./modules/auth/index.js";

/** One line on stderr and exit 1: for failures a person must fix (configuration, data folder). */
function stop(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** Reads the configuration, starts (or connects to) PostgreSQL, migrates, serves, and shuts down in order. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
    // A bad key is a configuration error too: refuse it before starting anything.
    if (config.jwt.privateKeysJson) parsePrivateKeys(config.jwt.privateKeysJson, "KEPT_JWT_PRIVATE_KEYS");
  } catch (error) {
    if (error instanceof ConfigError || (error instanceof Error && error.message.startsWith("Invalid configuration")))
      stop(error.message);
    throw error;
  }
  const logger = createLogger(config.logLevel);

  // Whatever has started so far, stopped in reverse order. Signal handlers
  // are in place from the start, so a SIGTERM during start-up never leaves
  // the embedded PostgreSQL running.
  let embedded: EmbeddedPostgres | undefined;
  let database: Database | undefined;
  let app: FastifyInstance | undefined;
  let stopping = false;
  const shutdown = async (reason: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, "shutting down");
    const deadline = setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    try {
      // Stop accepting, let in-flight requests finish, close sockets; then the pool; then the server.
      await app?.sweeper.stop();
      await app?.close();
      await database?.close();
      await embedded?.stop();
      logger.info("stopped");
      process.exit(exitCode);
    } catch (error) {
      logger.error({ err: error }, "shutdown failed");
      process.exit(1);
    }
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));

  if (!config.databaseUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, logger }).catch((error: unknown) => {
      if (error instanceof EmbeddedPostgresError) stop(error.message);
      throw error;
    });
    logger.info({ dataDir: config.dataDir, port: embedded.port }, "embedded PostgreSQL started");
    // Without its database the service cannot recover by itself: stop, so a restart (a
    // supervisor, or the person who ran it) starts both again.
    void embedded.unexpectedExit.then((exit) => {
      if (stopping) return; // already on the way out: its stop resolves at once
      logger.error(exit, "the embedded PostgreSQL exited unexpectedly; stopping");
      void shutdown("embedded PostgreSQL exited", 1);
    });
  }
  database = connectDatabase({
    url: config.databaseUrl ?? (embedded?.serviceUrl as string),
    logger,
    ...config.database,
  });
  if (config.migrateOnStart) {
    await migrateForService(database.pool, config.migrateDatabaseUrl ?? embedded?.ownerUrl);
    logger.info("migrations applied");
  }
  await warnIfHistoryCanBeRewritten(database.pool, logger);

  const signingKeys = config.jwt.privateKeysJson
    ? parsePrivateKeys(config.jwt.privateKeysJson, "KEPT_JWT_PRIVATE_KEYS")
    : await loadOrCreateKeyFile(config.dataDir);

  app = await buildApp({ config, database, signingKeys, logger });
  if (stopping) return;
  await app.listen({ port: config.port, host: config.host });
  app.sweeper.start(config.sweepIntervalMs);
}

main().catch((error: unknown) => {
  process.stderr.write(`Kept failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

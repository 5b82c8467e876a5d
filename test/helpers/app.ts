import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import supertest from "supertest";
import { buildApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";
import { connectDatabase, type Database } from "../../src/db/client.js";
import { loggerOptions } from "../../src/logger.js";
import { generatePrivateJwk, type PasswordHasher, type PrivateJwk } from "../../src/modules/auth/index.js";
import { TestClock } from "./clock.js";
import { createTestDatabase, serviceUrl } from "./database.js";

/** Everything a test needs: the app, its clock, its own database and the captured log lines. */
export type TestApp = {
  app: FastifyInstance;
  http: ReturnType<typeof supertest>;
  clock: TestClock;
  database: Database;
  /** The test's database as a superuser: for reading and tampering with rows directly. */
  databaseUrl: string;
  /** The same database as the service role, which the app connects as (it owns nothing). */
  serviceUrl: string;
  config: Config;
  logs: string[];
  close(): Promise<void>;
};

export type TestAppOptions = {
  env?: Record<string, string>;
  passwordHasher?: PasswordHasher;
  /** A database on a test server, as its superuser (default: a fresh clone of the template). */
  databaseUrl?: string;
  clock?: TestClock;
};

let sharedKey: Promise<PrivateJwk> | undefined;

/** Builds the real app on a database of its own, with a hand-moved clock and logs kept in memory. */
export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase());
  const appUrl = serviceUrl(databaseUrl);
  const config = loadConfig({
    DATABASE_URL: appUrl,
    LOG_LEVEL: "info",
    KEPT_RATE_LIMIT_PER_MINUTE: "100000",
    KEPT_AUTH_RATE_LIMIT_PER_MINUTE: "100000",
    KEPT_DB_POOL_SIZE: "5",
    ...options.env,
  });
  const logs: string[] = [];
  const logger = pino(
    loggerOptions(config.logLevel),
    new Writable({
      write(chunk, _encoding, done) {
        logs.push(chunk.toString());
        done();
      },
    }),
  );
  const clock = options.clock ?? new TestClock();
  const database = connectDatabase({ url: appUrl, logger, ...config.database });
  sharedKey ??= generatePrivateJwk();
  const app = await buildApp({
    config,
    database,
    clock,
    logger,
    signingKeys: [await sharedKey],
    ...(options.passwordHasher ? { passwordHasher: options.passwordHasher } : {}),
  });
  await app.ready();
  return {
    app,
    http: supertest(app.server),
    clock,
    database,
    databaseUrl,
    serviceUrl: appUrl,
    config,
    logs,
    async close() {
      await app.close();
      await database.close();
    },
  };
}

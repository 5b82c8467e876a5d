import path from "node:path";
import { z } from "zod";

const booleanFlag = z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1");

const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);

const postgresUrl = z
  .string()
  .url()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), "must be a postgres:// URL");

/** Every setting Kept reads from the environment, parsed once at start. */
const environmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).max(255).default("0.0.0.0"),
  DATABASE_URL: postgresUrl.optional(),
  KEPT_MIGRATE_DATABASE_URL: postgresUrl.optional(),
  KEPT_DATA_DIR: z.string().min(1).max(4096).default("./.kept"),
  CORS_ORIGINS: z
    .string()
    .max(4096)
    .default("")
    .transform((value) =>
      value
        .split(",")
        .map((origin) => origin.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().url())),
  KEPT_MIGRATE_ON_START: booleanFlag.default(true),
  KEPT_SWEEP_INTERVAL_MS: positiveInt(86_400_000).default(15_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  KEPT_JWT_ISSUER: z.string().min(1).max(255).default("kept"),
  KEPT_JWT_AUDIENCE: z.string().min(1).max(255).default("kept-api"),
  KEPT_ACCESS_TOKEN_TTL_SECONDS: positiveInt(86_400).default(900),
  KEPT_REFRESH_TOKEN_TTL_DAYS: positiveInt(365).default(30),
  /** JSON array of private JWKs (Ed25519 `OKP` or P-256 `EC`); the first signs, all are published. */
  KEPT_JWT_PRIVATE_KEYS: z.string().max(65_536).optional(),
  KEPT_INVITE_TTL_HOURS: positiveInt(24 * 30).default(72),
  KEPT_CONFIRMATION_WINDOW_HOURS: positiveInt(24 * 365).default(72),
  KEPT_SERIES_HORIZON_DAYS: positiveInt(365).default(14),
  KEPT_STREAM_MAX_PER_USER: positiveInt(1000).default(5),
  KEPT_STREAM_MAX_BUFFER_BYTES: positiveInt(1 << 30).default(1 << 20),
  KEPT_STREAM_HEARTBEAT_MS: positiveInt(3_600_000).default(30_000),
  KEPT_STREAM_CATCH_UP_MS: positiveInt(3_600_000).default(5_000),
  KEPT_PASSWORD_HASH_CONCURRENCY: positiveInt(64).default(4),
  KEPT_PASSWORD_HASH_QUEUE: z.coerce.number().int().min(0).max(10_000).default(64),
  KEPT_RATE_LIMIT_PER_MINUTE: positiveInt(1_000_000).default(600),
  KEPT_AUTH_RATE_LIMIT_PER_MINUTE: positiveInt(1_000_000).default(30),
  KEPT_LOGIN_FAILURES_PER_ADDRESS: positiveInt(1000).default(10),
  KEPT_LOGIN_FAILURES_PER_ACCOUNT: positiveInt(100_000).default(100),
  KEPT_BODY_LIMIT_BYTES: positiveInt(10_485_760).default(65_536),
  KEPT_DB_POOL_SIZE: positiveInt(200).default(10),
  KEPT_DB_CONNECT_TIMEOUT_MS: positiveInt(60_000).default(5_000),
  KEPT_DB_STATEMENT_TIMEOUT_MS: positiveInt(600_000).default(10_000),
  KEPT_SHUTDOWN_TIMEOUT_MS: positiveInt(600_000).default(10_000),
});

export type Environment = z.infer<typeof environmentSchema>;

/** Every variable name Kept reads (the README's configuration table documents each; test/docs.test.ts checks). */
export const environmentVariables = Object.keys(environmentSchema.shape);

export type Config = {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  /** The owner role that runs migrations; unset → DATABASE_URL's role (or the embedded owner). */
  migrateDatabaseUrl: string | undefined;
  dataDir: string;
  corsOrigins: string[];
  migrateOnStart: boolean;
  sweepIntervalMs: number;
  logLevel: Environment["LOG_LEVEL"];
  jwt: {
    issuer: string;
    audience: string;
    accessTokenTtlSeconds: number;
    refreshTokenTtlDays: number;
    privateKeysJson: string | undefined;
  };
  inviteTtlHours: number;
  confirmationWindowHours: number;
  seriesHorizonDays: number;
  stream: { maxPerUser: number; maxBufferedBytes: number; heartbeatMs: number; catchUpMs: number };
  passwords: { concurrency: number; queue: number };
  rateLimits: {
    perMinute: number;
    authPerMinute: number;
    /** Password checks per account from one address (and per login for a re-check), per 15 minutes. */
    loginFailuresPerAddress: number;
    /** Password checks per account per hour from addresses it has not signed in from in 30 days. */
    loginFailuresPerAccount: number;
  };
  bodyLimitBytes: number;
  database: { poolSize: number; connectTimeoutMs: number; statementTimeoutMs: number };
  shutdownTimeoutMs: number;
};

export class ConfigError extends Error {}

/** Parses the environment; a bad value throws one line that names the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "unset", as shells and compose files often write it.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsed = environmentSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue?.path.join(".") ?? "environment";
    const given = issue && typeof present[name] === "string" ? ` (got ${JSON.stringify(present[name])})` : "";
    throw new ConfigError(`Invalid configuration: ${name}: ${issue?.message ?? "invalid"}${given}`);
  }
  const e = parsed.data;
  if (e.KEPT_MIGRATE_DATABASE_URL && !e.DATABASE_URL) {
    // The embedded database has its own owner role; a second server here would be a mistake.
    throw new ConfigError(
      "Invalid configuration: KEPT_MIGRATE_DATABASE_URL: needs DATABASE_URL (the embedded database migrates as its own owner)",
    );
  }
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    migrateDatabaseUrl: e.KEPT_MIGRATE_DATABASE_URL,
    dataDir: path.resolve(e.KEPT_DATA_DIR),
    corsOrigins: e.CORS_ORIGINS,
    migrateOnStart: e.KEPT_MIGRATE_ON_START,
    sweepIntervalMs: e.KEPT_SWEEP_INTERVAL_MS,
    logLevel: e.LOG_LEVEL,
    jwt: {
      issuer: e.KEPT_JWT_ISSUER,
      audience: e.KEPT_JWT_AUDIENCE,
      accessTokenTtlSeconds: e.KEPT_ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlDays: e.KEPT_REFRESH_TOKEN_TTL_DAYS,
      privateKeysJson: e.KEPT_JWT_PRIVATE_KEYS,
    },
    inviteTtlHours: e.KEPT_INVITE_TTL_HOURS,
    confirmationWindowHours: e.KEPT_CONFIRMATION_WINDOW_HOURS,
    seriesHorizonDays: e.KEPT_SERIES_HORIZON_DAYS,
    stream: {
      maxPerUser: e.KEPT_STREAM_MAX_PER_USER,
      maxBufferedBytes: e.KEPT_STREAM_MAX_BUFFER_BYTES,
      heartbeatMs: e.KEPT_STREAM_HEARTBEAT_MS,
      catchUpMs: e.KEPT_STREAM_CATCH_UP_MS,
    },
    passwords: { concurrency: e.KEPT_PASSWORD_HASH_CONCURRENCY, queue: e.KEPT_PASSWORD_HASH_QUEUE },
    rateLimits: {
      perMinute: e.KEPT_RATE_LIMIT_PER_MINUTE,
      authPerMinute: e.KEPT_AUTH_RATE_LIMIT_PER_MINUTE,
      loginFailuresPerAddress: e.KEPT_LOGIN_FAILURES_PER_ADDRESS,
      loginFailuresPerAccount: e.KEPT_LOGIN_FAILURES_PER_ACCOUNT,
    },
    bodyLimitBytes: e.KEPT_BODY_LIMIT_BYTES,
    database: {
      poolSize: e.KEPT_DB_POOL_SIZE,
      connectTimeoutMs: e.KEPT_DB_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: e.KEPT_DB_STATEMENT_TIMEOUT_MS,
    },
    shutdownTimeoutMs: e.KEPT_SHUTDOWN_TIMEOUT_MS,
  };
}

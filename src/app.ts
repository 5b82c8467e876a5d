import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { type Clock, systemClock } from "./clock.js";
import type { Config } from "./config.js";
import type { Database } from "./db/client.js";
import { registerPlatform } from "./http/platform.js";
import { accountBucketKey, secondsUntil } from "./http/rate-limit.js";
import { requestIdOf } from "./http/request-id.js";
import { createLogger, OneLinePerRequest } from "./logger.js";
import { createAccountModule } from "./modules/account/index.js";
import {
  argon2idHasher,
  boundedHasher,
  createAuthModule,
  keyRingFrom,
  type PasswordHasher,
  type PrivateJwk,
} from "./modules/auth/index.js";
import { createBoundariesModule } from "./modules/boundaries/index.js";
import { createCommitmentsModule } from "./modules/commitments/index.js";
import { createConsistencyModule } from "./modules/consistency/index.js";
import { createHistoryModule } from "./modules/history/index.js";
import type { KeptModule } from "./modules/module.js";
import { createPairsModule } from "./modules/pairs/index.js";
import { createRealtimeModule } from "./modules/realtime/index.js";

export type AppOptions = {
  config: Config;
  database: Database;
  /** Private JWKs; the first signs access tokens, all are published in the JWKS. */
  signingKeys: PrivateJwk[];
  clock?: Clock;
  logger?: Logger;
  /** Replaces argon2id (still bounded by the configured concurrency). */
  passwordHasher?: PasswordHasher;
};

/** Builds the whole service from its options; `server.ts` and the tests both call this. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config, database } = options;
  const { db, pool } = database;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: requestIdOf,
    logController: new OneLinePerRequest({
      requestIdLogLabel: "requestId",
      // Probes hit these every few seconds; their lines would drown the rest.
      disableRequestLogging: (request) => request.url === "/healthz" || request.url === "/readyz",
    }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: false,
    // Closing answers go through the hook below: a problem like every other 503.
    return503OnClosing: false,
  }).withTypeProvider<ZodTypeProvider>();

  const platform = await registerPlatform(app, {
    config,
    db,
    pool,
    clock,
    logger,
    availability: database.availability,
  });
  const { runWrite, limiter, requestCounter } = platform;

  // The modules, in dependency order. Late-bound arrows break the one cycle:
  // auth shows `activePairId` and tells realtime of ended logins, pairs show members' names.
  const keys = await keyRingFrom(options.signingKeys);
  const auth = createAuthModule({
    db,
    clock,
    keys,
    hasher: boundedHasher(options.passwordHasher ?? argon2idHasher, config.passwords),
    limiter,
    runWrite,
    tokens: { ...config.jwt },
    loginFailuresPerAddress: config.rateLimits.loginFailuresPerAddress,
    loginFailuresPerAccount: config.rateLimits.loginFailuresPerAccount,
    activePairOf: (userId, executor) => pairs.service.activePairOf(userId, executor),
    onProfileChanged: (tx, userId, fields) => pairs.service.recordMemberUpdate(tx, userId, fields),
    onLoginsEnded: (userId, familyIds) => void realtime.endLogins(userId, familyIds),
    hearsEndedLogins: () => realtime.hearsBroadcasts(),
  });
  const history = createHistoryModule({ db, clock, keys, logger });
  const pairs = createPairsModule({
    db,
    clock,
    history: history.service,
    profiles: (ids, executor) => auth.service.publicProfiles(ids, executor),
    lockLiveUsers: (tx, ids) => auth.service.lockLiveUsers(tx, ids),
    runWrite,
    inviteTtlHours: config.inviteTtlHours,
  });
  const commitments = createCommitmentsModule({
    db,
    clock,
    pairs: pairs.service,
    history: history.service,
    runWrite,
    confirmationWindowHours: config.confirmationWindowHours,
    seriesHorizonDays: config.seriesHorizonDays,
    timeZoneOf: async (userId, executor) =>
      (await auth.service.publicProfiles([userId], executor)).get(userId)?.timeZone ?? "UTC",
  });
  const boundaries = createBoundariesModule({ db, clock, pairs: pairs.service, history: history.service, runWrite });
  const realtime = createRealtimeModule({
    db,
    clock,
    logger,
    connectionString: database.url,
    history: history.service,
    auth: auth.service,
    activePairOf: (userId) => pairs.service.activePairOf(userId),
    // The bucket registerRateLimits counts a signed-in person's requests in.
    requestBudget: async (userId) => {
      const [state] = await requestCounter.hit([
        { key: accountBucketKey("default", userId), limit: config.rateLimits.perMinute, windowMs: 60_000 },
      ]);
      if (!state || state.count <= state.limit) return { allowed: true };
      return { allowed: false, retryAfterSeconds: secondsUntil(clock, state.resetAt) };
    },
    corsOrigins: config.corsOrigins,
    maxStreamsPerUser: config.stream.maxPerUser,
    maxBufferedBytes: config.stream.maxBufferedBytes,
    heartbeatMs: config.stream.heartbeatMs,
    catchUpMs: config.stream.catchUpMs,
  });
  // Read models over what the modules before it answer as their sources.
  const consistency = createConsistencyModule({
    clock,
    sources: [pairs.sources, commitments.sources, boundaries.sources],
  });
  // Export and deletion: each module's `accountData`, handed over by the loop below.
  const account = createAccountModule({
    db,
    clock,
    auth: auth.service,
    pairs: pairs.service,
    history: history.service,
    publicKeys: keys.jwks,
    onLoginsEnded: auth.loginsEnded,
  });

  // Auth first: its `authenticate` hook is what every other module's routes run.
  const modules: KeptModule[] = [
    auth,
    history,
    pairs,
    commitments,
    boundaries,
    realtime,
    consistency,
    account,
    platform.housekeeping,
  ];
  for (const module of modules) {
    await app.register(module.plugin, { requireMember: pairs.requireMember });
    for (const task of module.sweepTasks ?? []) platform.sweeper.register(task);
    if (module.onPairEnding) pairs.service.onPairEnding(module.onPairEnding);
    if (module.accountData) account.takePart(module.accountData);
  }
  app.decorate("realtimeStats", () => ({ ...realtime.hub.stats }));
  app.decorate("verificationStats", () => history.service.verificationStats());

  return app;
}

import cors from "@fastify/cors";
import helmet from "@fastify/helmet";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import websocket from "@fastify/websocket";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { jsonSchemaTransform, jsonSchemaTransformObject, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { type Clock, systemClock } from "./clock.js";
import type { Config } from "./config.js";
import type { Database } from "./db/client.js";
import { healthRoutes } from "./http/health.js";
import { createWriteRunner, pruneIdempotencyKeys } from "./http/idempotency.js";
import { createOpenApiDocument } from "./http/openapi-document.js";
import { registerProblemHandler } from "./http/problem.js";
import {
  createRateLimiter,
  createRequestCounter,
  pruneRateLimitBuckets,
  type RequestCounter,
  registerRateLimits,
  secondsUntil,
} from "./http/rate-limit.js";
import { requestIdOf } from "./http/request-id.js";
import { registerRouteFallbacks } from "./http/routing.js";
import { responseSerializerCompiler } from "./http/serialization.js";
import { validatorCompilerWithoutNul } from "./http/validation.js";
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
import { createPairsModule } from "./modules/pairs/index.js";
import { createRealtimeModule } from "./modules/realtime/index.js";
import { createSweeper, type Sweeper } from "./sweep.js";

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

declare module "fastify" {
  interface FastifyInstance {
    sweeper: Sweeper;
    /** Per-request rate-limit counts (tests make them reach PostgreSQL with `sync()`). */
    requestCounter: RequestCounter;
  }
}

const CORS_ALLOWED_HEADERS = [
  "Authorization",
  "Content-Type",
  "Idempotency-Key",
  "If-Match",
  "If-None-Match",
  "X-Request-Id",
];
const CORS_EXPOSED_HEADERS = [
  "ETag",
  "Location",
  "RateLimit-Limit",
  "RateLimit-Remaining",
  "RateLimit-Reset",
  "Retry-After",
  "X-Request-Id",
  "Idempotent-Replayed",
];

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
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();

  // JSON only: a text/plain body is a 415, not a string that fails validation.
  app.removeContentTypeParser("text/plain");
  app.setValidatorCompiler(validatorCompilerWithoutNul);
  app.setSerializerCompiler(responseSerializerCompiler);
  registerProblemHandler(app);
  registerRouteFallbacks(app);
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  // While closing, answers to requests still in flight end their keep-alive connections:
  // otherwise each would hold the close open until its keep-alive timeout (72 s).
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", (_request, reply, payload, done) => {
    if (closing) reply.header("connection", "close");
    done(null, payload);
  });

  await app.register(helmet, { global: true });
  await app.register(cors, {
    origin: config.corsOrigins.length > 0 ? config.corsOrigins : false,
    methods: ["GET", "HEAD", "POST", "PATCH", "DELETE"],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 600,
  });
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Kept API",
        version: "1.0.0",
        description:
          'Commitments, follow-through and boundaries for two partners rebuilding trust. Errors are RFC 9457 problem details with a stable `code` (catalogue in docs/api.md). The live stream (`GET /v1/stream`) is a WebSocket: its messages are the `StreamServerMessage` and `StreamClientMessage` schemas below, and docs/realtime.md ("WebSocket protocol") documents connecting, resuming and close codes.',
      },
      components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  const openApiDocument = createOpenApiDocument(app);
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    staticCSP: true,
    uiHooks: { preHandler: openApiDocument.docsHook },
  });
  // Before any route, so it can intercept upgrades; frames over 64 KiB close the socket with 1009.
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    preClose(done) {
      for (const client of this.websocketServer.clients) client.close(1001, "server shutting down");
      this.websocketServer.close(() => done());
    },
  });
  app.get("/openapi.json", { schema: { hide: true } }, openApiDocument.serve);

  const limiter = createRateLimiter(db, clock);
  const requestCounter = createRequestCounter(db, limiter, clock, logger);
  app.decorate("requestCounter", requestCounter);
  registerRateLimits(app, requestCounter, clock, {
    perMinute: config.rateLimits.perMinute,
    authPerMinute: config.rateLimits.authPerMinute,
  });
  const runWrite = createWriteRunner(db, clock);
  const sweeper = createSweeper(clock, logger);
  app.decorate("sweeper", sweeper);

  // Modules, in dependency order. Late-bound arrows break the one cycle:
  // auth shows `activePairId`, pairs show members' names.
  const keys = await keyRingFrom(options.signingKeys);
  const history = createHistoryModule({ db, clock, keys, logger });
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
  const pairs = createPairsModule({
    db,
    clock,
    history: history.service,
    profiles: (ids, executor) => auth.service.publicProfiles(ids, executor),
    lockLiveUsers: (tx, ids) => auth.service.lockLiveUsers(tx, ids),
    runWrite,
    inviteTtlHours: config.inviteTtlHours,
    onPairEnded: () => {},
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
  const boundaries = createBoundariesModule({
    db,
    clock,
    pairs: pairs.service,
    history: history.service,
    runWrite,
  });
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
        { key: `default:user:${userId}`, limit: config.rateLimits.perMinute, windowMs: 60_000 },
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
  // The leaving rule, module by module, inside the leave transaction.
  pairs.service.onPairEnding(commitments.endForPair);
  pairs.service.onPairEnding(boundaries.service.endForPair);
  for (const task of [...commitments.sweepTasks, ...boundaries.sweepTasks, ...realtime.sweepTasks]) {
    sweeper.register(task);
  }
  // Read models over the commitments' and boundaries' own queries.
  const consistency = createConsistencyModule({
    clock,
    sources: {
      membership: (pairId, executor) => pairs.service.membership(pairId, executor),
      timeZones: async (userIds) =>
        new Map([...(await auth.service.publicProfiles(userIds))].map(([id, p]) => [id, p.timeZone])),
      commitmentFigures: commitments.figures.figuresFor,
      commitmentBuckets: commitments.figures.bucketsFor,
      boundaryFigures: boundaries.figures.figuresFor,
      inbox: [commitments.figures.inboxFor, boundaries.figures.inboxFor],
    },
  });
  // Export and deletion: every module contributes its part.
  const account = createAccountModule({
    db,
    clock,
    auth: auth.service,
    pairs: pairs.service,
    history: history.service,
    exportParts: [...commitments.accountData.exportParts, ...boundaries.accountData.exportParts],
    erasers: [commitments.accountData.eraseWordsOf, boundaries.accountData.eraseWordsOf],
    publicKeys: keys.jwks,
    onLoginsEnded: auth.loginsEnded,
    onPairEnded: pairs.pairEnded,
  });

  await app.register(auth.plugin);
  await app.register(pairs.plugin);
  await app.register(history.plugin, { requireMember: pairs.requireMember });
  await app.register(commitments.plugin, { requireMember: pairs.requireMember });
  await app.register(boundaries.plugin, { requireMember: pairs.requireMember });
  await app.register(realtime.plugin);
  app.decorate("realtimeStats", () => ({ ...realtime.hub.stats }));
  app.decorate("verificationStats", () => history.service.verificationStats());
  await app.register(consistency.plugin, { requireMember: pairs.requireMember });
  await app.register(account.plugin);
  await app.register(healthRoutes, { pool, clock });

  sweeper.register({ name: "idempotencyKeys", run: (now) => pruneIdempotencyKeys(db, now) });
  sweeper.register({ name: "rateLimitBuckets", run: (now) => pruneRateLimitBuckets(db, now) });
  sweeper.register({ name: "refreshTokens", run: (now) => auth.service.pruneExpiredTokens(now) });

  return app;
}

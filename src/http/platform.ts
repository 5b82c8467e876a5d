import cors from "@fastify/cors";
import helmet from "@fastify/helmet";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import websocket from "@fastify/websocket";
import type { FastifyInstance } from "fastify";
import { jsonSchemaTransform, jsonSchemaTransformObject } from "fastify-type-provider-zod";
import type pg from "pg";
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { DatabaseAvailability } from "../db/availability.js";
import type { Db } from "../db/client.js";
import type { KeptModule } from "../modules/module.js";
import { createSweeper, type Sweeper } from "../sweep.js";
import { healthRoutes } from "./health.js";
import { createWriteRunner, pruneIdempotencyKeys, type RunWrite } from "./idempotency.js";
import { createOpenApiDocument } from "./openapi-document.js";
import { RETRY_AFTER_UNAVAILABLE_SECONDS, registerProblemHandler, sendProblem } from "./problem.js";
import {
  createRateLimiter,
  createRequestCounter,
  pruneRateLimitBuckets,
  type RateLimiter,
  type RequestCounter,
  registerRateLimits,
} from "./rate-limit.js";
import { registerRouteFallbacks } from "./routing.js";
import { responseSerializerCompiler } from "./serialization.js";
import { validatorCompilerWithoutNul } from "./validation.js";

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

export type PlatformOptions = {
  config: Config;
  db: Db;
  pool: pg.Pool;
  clock: Clock;
  logger: Logger;
  /** Outages logged once when they start and once, with counts, when they end. */
  availability: DatabaseAvailability;
};

/** What the platform answers the modules, and its own routes and housekeeping. */
export type Platform = {
  runWrite: RunWrite;
  limiter: RateLimiter;
  requestCounter: RequestCounter;
  sweeper: Sweeper;
  /**
   * The health routes and the pruning of the platform's own tables
   * (idempotency keys, rate-limit buckets), registered by app.ts's loop like
   * any module's parts.
   */
  housekeeping: KeptModule;
};

/**
 * Everything every route shares, before any module: JSON only, validation
 * and serialization, problem+json, 404/405, request ids, closing, helmet,
 * CORS, the OpenAPI document and its UI, WebSocket, rate limits, idempotent
 * writes and the sweeper.
 */
export async function registerPlatform(app: FastifyInstance, options: PlatformOptions): Promise<Platform> {
  const { config, db, pool, clock, logger, availability } = options;

  // JSON only: a text/plain body is a 415, not a string that fails validation.
  app.removeContentTypeParser("text/plain");
  app.setValidatorCompiler(validatorCompilerWithoutNul);
  app.setSerializerCompiler(responseSerializerCompiler);
  registerProblemHandler(app, availability);
  registerRouteFallbacks(app);
  // While closing, answers to requests still in flight end their keep-alive connections:
  // otherwise each would hold the close open until its keep-alive timeout (72 s).
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
    // A request arriving on a connection still open while closing: ask for it elsewhere.
    if (closing) {
      reply.header("retry-after", String(RETRY_AFTER_UNAVAILABLE_SECONDS));
      return sendProblem(request, reply, "NOT_READY", "The service is shutting down");
    }
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

  const housekeeping: KeptModule = {
    name: "platform",
    plugin: async (routes) => {
      await routes.register(healthRoutes, { pool, clock, availability });
    },
    sweepTasks: [
      { name: "idempotencyKeys", run: (now) => pruneIdempotencyKeys(db, now) },
      { name: "rateLimitBuckets", run: (now) => pruneRateLimitBuckets(db, now) },
    ],
  };
  return { runWrite, limiter, requestCounter, sweeper, housekeeping };
}

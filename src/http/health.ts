import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type pg from "pg";
import { z } from "zod";
import type { Clock } from "../clock.js";
import { migrationsApplied } from "../db/migrate.js";
import { AppError } from "../errors/app-error.js";
import { problems } from "./openapi.js";

const statusSchema = z.object({ status: z.literal("ok") });

/** How long a "ready" answer is reused: probes and floods cost at most one check a second. */
export const READINESS_REUSE_MS = 1_000;

type Readiness = "ready" | "pending" | "unreachable";

/**
 * Readiness asks the database twice. Concurrent callers share one check,
 * and a "ready" answer is reused for READINESS_REUSE_MS (by the injected
 * clock). A not-ready answer is not kept, so an instance is seen ready as
 * soon as it is.
 */
function readinessCheck(pool: pg.Pool, clock: Clock) {
  let readyAt: number | undefined;
  let running: Promise<Readiness> | undefined;

  async function check(): Promise<Readiness> {
    try {
      if (!(await migrationsApplied(pool))) return "pending";
    } catch {
      return "unreachable";
    }
    readyAt = clock.now().getTime();
    return "ready";
  }

  return (): Promise<Readiness> => {
    const age = readyAt === undefined ? undefined : clock.now().getTime() - readyAt;
    if (age !== undefined && age >= 0 && age < READINESS_REUSE_MS) return Promise.resolve("ready");
    running ??= check().finally(() => {
      running = undefined;
    });
    return running;
  };
}

/** Liveness (the process answers) and readiness (database reachable and migrated). */
export const healthRoutes: FastifyPluginAsyncZod<{ pool: pg.Pool; clock: Clock }> = async (app, { pool, clock }) => {
  app.get("/healthz", {
    config: { rateLimit: "none" },
    schema: { operationId: "healthz", tags: ["health"], summary: "Liveness", response: { 200: statusSchema } },
    handler: async () => ({ status: "ok" as const }),
  });

  const readiness = readinessCheck(pool, clock);
  app.get("/readyz", {
    schema: {
      operationId: "readyz",
      tags: ["health"],
      summary: "Readiness: the database answers and every migration is applied",
      description: `Under the default rate limit; a "ready" answer is reused for ${READINESS_REUSE_MS / 1000} s.`,
      response: { 200: statusSchema, ...problems("NOT_READY", "RATE_LIMITED") },
    },
    handler: async (_request, reply) => {
      const state = await readiness();
      if (state === "unreachable") {
        throw new AppError("NOT_READY", "The database is not reachable", { headers: { "retry-after": "5" } });
      }
      if (state === "pending") {
        throw new AppError("NOT_READY", "Database migrations are pending", { headers: { "retry-after": "5" } });
      }
      reply.header("cache-control", "no-store");
      return { status: "ok" as const };
    },
  });
};

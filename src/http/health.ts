import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type pg from "pg";
import { z } from "zod";
import type { Clock } from "../clock.js";
import type { DatabaseAvailability } from "../db/availability.js";
import { migrationsApplied } from "../db/migrate.js";
import { problems } from "./openapi.js";
import { sendProblem } from "./problem.js";

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
function readinessCheck(pool: pg.Pool, clock: Clock, availability: DatabaseAvailability) {
  let readyAt: number | undefined;
  let running: Promise<Readiness> | undefined;

  async function check(): Promise<Readiness> {
    let applied: boolean;
    try {
      applied = await migrationsApplied(pool);
    } catch (error) {
      // Probes ask every few seconds: the outage is logged once, not per probe.
      availability.failed("readinessChecks", error);
      return "unreachable";
    }
    availability.answered();
    if (!applied) return "pending";
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
export const healthRoutes: FastifyPluginAsyncZod<{
  pool: pg.Pool;
  clock: Clock;
  availability: DatabaseAvailability;
}> = async (app, { pool, clock, availability }) => {
  app.get("/healthz", {
    config: { rateLimit: "none" },
    schema: { operationId: "healthz", tags: ["health"], summary: "Liveness", response: { 200: statusSchema } },
    handler: async () => ({ status: "ok" as const }),
  });

  const readiness = readinessCheck(pool, clock, availability);
  app.get("/readyz", {
    schema: {
      operationId: "readyz",
      tags: ["health"],
      summary: "Readiness: the database answers and every migration is applied",
      description: `Under the default rate limit; a "ready" answer is reused for ${READINESS_REUSE_MS / 1000} s.`,
      response: { 200: statusSchema, ...problems("NOT_READY", "RATE_LIMITED") },
    },
    handler: async (request, reply) => {
      const state = await readiness();
      if (state !== "ready") {
        reply.header("retry-after", "5");
        const detail = state === "unreachable" ? "The database is not reachable" : "Database migrations are pending";
        return sendProblem(request, reply, "NOT_READY", detail);
      }
      reply.header("cache-control", "no-store");
      return { status: "ok" as const };
    },
  });
};

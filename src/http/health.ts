import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type pg from "pg";
import { z } from "zod";
import type { DatabaseAvailability } from "../db/availability.js";
import { migrationsApplied } from "../db/migrate.js";
import { problems } from "./openapi.js";
import { sendProblem } from "./problem.js";

const statusSchema = z.object({ status: z.literal("ok") });

/** Liveness (the process answers) and readiness (database reachable and migrated). */
export const healthRoutes: FastifyPluginAsyncZod<{ pool: pg.Pool; availability: DatabaseAvailability }> = async (
  app,
  { pool, availability },
) => {
  app.get("/healthz", {
    config: { rateLimit: "none" },
    schema: { operationId: "healthz", tags: ["health"], summary: "Liveness", response: { 200: statusSchema } },
    handler: async () => ({ status: "ok" as const }),
  });

  app.get("/readyz", {
    config: { rateLimit: "none" },
    schema: {
      operationId: "readyz",
      tags: ["health"],
      summary: "Readiness: the database answers and every migration is applied",
      response: { 200: statusSchema, ...problems("NOT_READY") },
    },
    handler: async (request, reply) => {
      let ready = false;
      try {
        ready = await migrationsApplied(pool);
      } catch (error) {
        // Probes ask every few seconds: the outage is logged once, not per probe.
        availability.failed("readinessChecks", error);
        reply.header("retry-after", "5");
        return sendProblem(request, reply, "NOT_READY", "The database is not reachable");
      }
      availability.answered();
      if (!ready) {
        reply.header("retry-after", "5");
        return sendProblem(request, reply, "NOT_READY", "Database migrations are pending");
      }
      reply.header("cache-control", "no-store");
      return { status: "ok" as const };
    },
  });
};

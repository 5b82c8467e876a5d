import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type pg from "pg";
import { z } from "zod";
import { migrationsApplied } from "../db/migrate.js";
import { AppError } from "../errors/app-error.js";
import { problems } from "./openapi.js";

const statusSchema = z.object({ status: z.literal("ok") });

/** Liveness (the process answers) and readiness (database reachable and migrated). */
export const healthRoutes: FastifyPluginAsyncZod<{ pool: pg.Pool }> = async (app, { pool }) => {
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
    handler: async (_request, reply) => {
      let ready = false;
      try {
        ready = await migrationsApplied(pool);
      } catch {
        throw new AppError("NOT_READY", "The database is not reachable", { headers: { "retry-after": "5" } });
      }
      if (!ready)
        throw new AppError("NOT_READY", "Database migrations are pending", { headers: { "retry-after": "5" } });
      reply.header("cache-control", "no-store");
      return { status: "ok" as const };
    },
  });
};

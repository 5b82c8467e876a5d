import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { noBody } from "../../http/body.js";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import { authenticatedProblems, bearerSecurity, problems, writeProblems } from "../../http/openapi.js";
import { principalOf } from "../../http/principal.js";
import { seriesParams, seriesSchema } from "./series.schemas.js";
import type { SeriesService } from "./series.service.js";

export type SeriesRoutesOptions = { series: SeriesService; runWrite: RunWrite; requireMember: AccessHook };

export const seriesRoutes: FastifyPluginAsyncZod<SeriesRoutesOptions> = async (
  app,
  { series, runWrite, requireMember },
) => {
  app.get("/v1/pairs/:pairId/series/:seriesId", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "getSeries",
      tags: ["commitments"],
      summary: "A recurring commitment: its rule, zone and template",
      description: "Its occurrences are commitments: `GET …/commitments` and filter by `seriesId` on the client.",
      security: bearerSecurity,
      params: seriesParams,
      response: { 200: seriesSchema, ...problems(...authenticatedProblems, "NOT_FOUND") },
    },
    handler: async (request) => series.get(principalOf(request).id, request.params.pairId, request.params.seriesId),
  });

  app.delete("/v1/pairs/:pairId/series/:seriesId", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "endSeries",
      tags: ["commitments"],
      summary: "End the series (owner): its future open occurrences are withdrawn",
      security: bearerSecurity,
      params: seriesParams,
      body: noBody,
      response: {
        200: seriesSchema,
        ...problems(...writeProblems, "NOT_FOUND", "PAIR_ENDED", "OWNER_ONLY", "SERIES_ENDED"),
      },
    },
    handler: async (request, reply) =>
      runWrite(request, reply, async (tx) => ({
        status: 200,
        body: await series.end(tx, principalOf(request), request.params.pairId, request.params.seriesId),
      })),
  });
};

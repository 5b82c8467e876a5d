import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AccessHook } from "../../http/hooks.js";
import { authenticatedProblems, bearerSecurity, problems } from "../../http/openapi.js";
import { pairParams } from "../../http/params.js";
import { principalOf } from "../../http/principal.js";
import { consistencyQuery, consistencySchema, inboxSchema, trendQuery, trendSchema } from "./consistency.schemas.js";
import type { ConsistencyService } from "./consistency.service.js";

export type ConsistencyRoutesOptions = { consistency: ConsistencyService; requireMember: AccessHook };

const tags = ["consistency"];
const readProblems = problems(...authenticatedProblems, "NOT_FOUND");

export const consistencyRoutes: FastifyPluginAsyncZod<ConsistencyRoutesOptions> = async (
  app,
  { consistency, requireMember },
) => {
  app.get("/v1/pairs/:pairId/consistency", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "getConsistency",
      tags,
      summary: "Each member's follow-through over a window",
      description:
        "Counts, kept rate, on-time report rate, streaks and acknowledgements per member, overall and per category, plus the pair's boundary figures. Both members get the same numbers. Formulas in docs/domain.md (Consistency).",
      security: bearerSecurity,
      params: pairParams,
      querystring: consistencyQuery,
      response: { 200: consistencySchema, ...readProblems },
    },
    handler: async (request) => consistency.figures(request.params.pairId, request.query.window),
  });

  app.get("/v1/pairs/:pairId/consistency/trend", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "getConsistencyTrend",
      tags,
      summary: "Each member's settled commitments per week",
      description:
        "One point per week (weeks start on Monday in that member's time zone; `weekStart` is a local date), oldest first, the current partial week last. Weeks with nothing are present with zeros and a null keptRate.",
      security: bearerSecurity,
      params: pairParams,
      querystring: trendQuery,
      response: { 200: trendSchema, ...readProblems },
    },
    handler: async (request) => consistency.trend(request.params.pairId, request.query.weeks),
  });

  app.get("/v1/pairs/:pairId/inbox", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "getInbox",
      tags,
      summary: "What awaits my answer, oldest first",
      description:
        "The partner's reports to confirm or dispute, proposed new times, acknowledgements to accept, requests addressed to me, boundary proposals and revisions to answer: each with its subject, a link and the paths that answer it. Empty in an ended pair.",
      security: bearerSecurity,
      params: pairParams,
      querystring: z.strictObject({}),
      response: { 200: inboxSchema, ...readProblems },
    },
    handler: async (request) => ({
      data: await consistency.inbox(request.params.pairId, principalOf(request).id),
      nextCursor: null,
    }),
  });
};

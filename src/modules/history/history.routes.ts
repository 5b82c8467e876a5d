import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { AccessHook } from "../../http/hooks.js";
import { authenticatedProblems, bearerSecurity, problems } from "../../http/openapi.js";
import { pairParams } from "../../http/params.js";
import { principalOf } from "../../http/principal.js";
import {
  checkpointSchema,
  eventListQuery,
  eventPageSchema,
  verificationSchema,
  verifyQuery,
} from "./history.schemas.js";
import type { HistoryService } from "./history.service.js";

export type HistoryRoutesOptions = { history: HistoryService; requireMember: AccessHook };

const readProblems = problems(...authenticatedProblems, "NOT_FOUND");

export const historyRoutes: FastifyPluginAsyncZod<HistoryRoutesOptions> = async (app, { history, requireMember }) => {
  app.get("/v1/pairs/:pairId/events", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "listEvents",
      tags: ["history"],
      summary: "The pair's timeline, in seq order",
      description:
        "Pages by `after` (a seq): pass the previous page's `nextCursor` (its last seq) as `after`. `nextCursor` is null at the end.",
      security: bearerSecurity,
      params: pairParams,
      querystring: eventListQuery,
      response: { 200: eventPageSchema, ...readProblems },
    },
    handler: async (request, reply) => {
      principalOf(request);
      const { after, limit, types, subjectId } = request.query;
      if ((types && types.length > 0) || subjectId) return history.list(request.params.pairId, request.query);
      // Already JSON of the EventPage schema: Fastify sends a string as it is, unserialized.
      const page = await history.timelinePageJson(request.params.pairId, after, limit);
      return reply.type("application/json; charset=utf-8").send(page as never);
    },
  });

  app.get("/v1/pairs/:pairId/verify", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "verifyChain",
      tags: ["history"],
      summary: "Recompute the pair's hash chain",
      description:
        "From the start, or with `fromSeq` and `fromHash` (a checkpoint you hold) only the events after it. One run per pair at a time, shared by concurrent callers; the result is reused until the chain head moves (then only the new events are checked), for at most a minute.",
      security: bearerSecurity,
      params: pairParams,
      querystring: verifyQuery,
      response: { 200: verificationSchema, ...readProblems },
    },
    handler: async (request) => {
      const { fromSeq, fromHash } = request.query;
      const from = fromSeq !== undefined && fromHash !== undefined ? { seq: fromSeq, hash: fromHash } : undefined;
      return history.verify(request.params.pairId, from);
    },
  });

  app.get("/v1/pairs/:pairId/checkpoint", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "getCheckpoint",
      tags: ["history"],
      summary: "The head of the chain, signed",
      description:
        "Keep checkpoints: later, `GET …/events` must still hash to the same `hash` at `seq`, proving the history you saw was not rewritten. Verify `jws` with `/.well-known/jwks.json`.",
      security: bearerSecurity,
      params: pairParams,
      response: { 200: checkpointSchema, ...readProblems },
    },
    handler: async (request) => history.checkpoint(request.params.pairId),
  });
};

import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { noBody } from "../../http/body.js";
import { conditionalHeaders, etagOf, expectedVersion, notModified } from "../../http/etag.js";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import { authenticatedProblems, bearerSecurity, problems, writeProblems } from "../../http/openapi.js";
import { pairParams } from "../../http/params.js";
import { principalOf } from "../../http/principal.js";
import {
  acceptedRequestSchema,
  createRequestBody,
  declineRequestBody,
  requestListQuery,
  requestPageSchema,
  requestParams,
  requestSchema,
} from "./requests.schemas.js";
import type { RequestsService } from "./requests.service.js";

export type RequestsRoutesOptions = { requests: RequestsService; runWrite: RunWrite; requireMember: AccessHook };

const tags = ["requests"];
const security = bearerSecurity;
const answerProblems = problems(
  ...writeProblems,
  "NOT_FOUND",
  "PRECONDITION_FAILED",
  "PAIR_ENDED",
  "REQUEST_NOT_PENDING",
);

export const requestsRoutes: FastifyPluginAsyncZod<RequestsRoutesOptions> = async (app, options) => {
  const { requests, runWrite, requireMember } = options;
  const guarded = { onRequest: app.authenticate, preValidation: requireMember };

  app.post("/v1/pairs/:pairId/requests", {
    ...guarded,
    schema: {
      operationId: "createRequest",
      tags,
      summary: "Ask your partner for a commitment",
      description:
        "Addressed to the other member, who accepts (becoming its owner) or declines. Expires at its `dueAt`.",
      security,
      params: pairParams,
      body: createRequestBody,
      response: { 201: requestSchema, ...problems(...writeProblems, "NOT_FOUND", "PAIR_ENDED") },
    },
    handler: async (request, reply) =>
      runWrite(request, reply, async (tx) => {
        const created = await requests.create(tx, principalOf(request), request.params.pairId, request.body);
        return {
          status: 201,
          body: created,
          headers: { etag: etagOf(created.version), location: `/v1/pairs/${created.pairId}/requests/${created.id}` },
        };
      }),
  });

  app.get("/v1/pairs/:pairId/requests", {
    ...guarded,
    schema: {
      operationId: "listRequests",
      tags,
      summary: "Requests in the pair, newest first",
      security,
      params: pairParams,
      querystring: requestListQuery,
      response: { 200: requestPageSchema, ...problems(...authenticatedProblems, "NOT_FOUND") },
    },
    handler: async (request) => requests.list(request.params.pairId, request.query),
  });

  app.get("/v1/pairs/:pairId/requests/:requestId", {
    ...guarded,
    schema: {
      operationId: "getRequest",
      tags,
      summary: "One request",
      security,
      params: requestParams,
      response: { 200: requestSchema, 304: z.undefined(), ...problems(...authenticatedProblems, "NOT_FOUND") },
    },
    handler: async (request, reply) => {
      const found = await requests.get(request.params.pairId, request.params.requestId);
      if (notModified(request, reply, found.version)) return reply;
      return found;
    },
  });

  app.post("/v1/pairs/:pairId/requests/:requestId/accept", {
    ...guarded,
    schema: {
      operationId: "acceptRequest",
      tags,
      summary: "Accept: the commitment is created, owned by you",
      security,
      params: requestParams,
      headers: conditionalHeaders,
      body: noBody,
      response: { 200: acceptedRequestSchema, ...answerProblems, ...problems("OWNER_ONLY", "REQUEST_EXPIRED") },
    },
    handler: async (request, reply) => {
      const expected = expectedVersion(request);
      const { pairId, requestId } = request.params;
      return runWrite(request, reply, async (tx) => {
        const accepted = await requests.accept(tx, principalOf(request), pairId, requestId, expected);
        return { status: 200, body: accepted, headers: { etag: etagOf(accepted.request.version) } };
      });
    },
  });

  app.post("/v1/pairs/:pairId/requests/:requestId/decline", {
    ...guarded,
    schema: {
      operationId: "declineRequest",
      tags,
      summary: "Decline, optionally saying why",
      security,
      params: requestParams,
      headers: conditionalHeaders,
      body: declineRequestBody.nullish(),
      response: { 200: requestSchema, ...answerProblems, ...problems("OWNER_ONLY") },
    },
    handler: async (request, reply) => {
      const expected = expectedVersion(request);
      const { pairId, requestId } = request.params;
      return runWrite(request, reply, async (tx) => {
        const declined = await requests.decline(
          tx,
          principalOf(request),
          pairId,
          requestId,
          request.body?.reason,
          expected,
        );
        return { status: 200, body: declined, headers: { etag: etagOf(declined.version) } };
      });
    },
  });

  app.post("/v1/pairs/:pairId/requests/:requestId/cancel", {
    ...guarded,
    schema: {
      operationId: "cancelRequest",
      tags,
      summary: "Take back a pending request (requester)",
      security,
      params: requestParams,
      headers: conditionalHeaders,
      body: noBody,
      response: { 200: requestSchema, ...answerProblems, ...problems("REQUESTER_ONLY") },
    },
    handler: async (request, reply) => {
      const expected = expectedVersion(request);
      const { pairId, requestId } = request.params;
      return runWrite(request, reply, async (tx) => {
        const cancelled = await requests.cancel(tx, principalOf(request), pairId, requestId, expected);
        return { status: 200, body: cancelled, headers: { etag: etagOf(cancelled.version) } };
      });
    },
  });
};

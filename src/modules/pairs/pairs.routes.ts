import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { noBody } from "../../http/body.js";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import { authenticatedProblems, bearerSecurity, problems, writeProblems } from "../../http/openapi.js";
import { paginationQuery } from "../../http/pagination.js";
import { pairParams } from "../../http/params.js";
import { principalOf } from "../../http/principal.js";
import { currentInviteSchema, inviteSchema, joinPairBody, pairPageSchema, pairSchema } from "./pairs.schemas.js";
import type { PairsService } from "./pairs.service.js";

export type PairsRoutesOptions = {
  pairs: PairsService;
  runWrite: RunWrite;
  requireMember: AccessHook;
};

const security = bearerSecurity;

export const pairsRoutes: FastifyPluginAsyncZod<PairsRoutesOptions> = async (app, options) => {
  const { pairs, runWrite, requireMember } = options;

  app.post("/v1/invites", {
    onRequest: app.authenticate,
    schema: {
      operationId: "createInvite",
      tags: ["pairs"],
      summary: "Invite a partner",
      description:
        "Answers a single-use code (valid 72 h) to give your partner. A new invite replaces the previous one. Only for someone not in an active pair. The code is shown once and stored hashed, so this route does not take `Idempotency-Key`: retrying simply issues a fresh code.",
      security,
      body: noBody,
      response: { 201: inviteSchema, ...problems(...authenticatedProblems, "ALREADY_IN_PAIR") },
    },
    handler: async (request, reply) =>
      reply
        .code(201)
        .header("cache-control", "no-store")
        .send(await pairs.createInvite(principalOf(request))),
  });

  app.get("/v1/invites/current", {
    onRequest: app.authenticate,
    schema: {
      operationId: "getCurrentInvite",
      tags: ["pairs"],
      summary: "Whether an invite of mine is pending, and until when",
      security,
      response: { 200: currentInviteSchema, ...problems(...authenticatedProblems) },
    },
    handler: async (request) => pairs.currentInvite(principalOf(request)),
  });

  app.delete("/v1/invites/current", {
    onRequest: app.authenticate,
    schema: {
      operationId: "revokeCurrentInvite",
      tags: ["pairs"],
      summary: "Withdraw my pending invite (204 also when there is none)",
      security,
      body: noBody,
      response: { 204: z.undefined(), ...problems(...writeProblems) },
    },
    handler: async (request, reply) =>
      runWrite(request, reply, async (tx) => {
        await pairs.revokeInvite(tx, principalOf(request));
        return { status: 204, body: undefined };
      }),
  });

  app.post("/v1/pairs", {
    onRequest: app.authenticate,
    schema: {
      operationId: "joinPair",
      tags: ["pairs"],
      summary: "Join a partner's invite: the pair is formed",
      security,
      body: joinPairBody,
      response: {
        201: pairSchema,
        ...problems(
          ...writeProblems,
          "INVITE_NOT_FOUND",
          "ALREADY_IN_PAIR",
          "OWN_INVITE",
          "INVITE_USED",
          "INVITE_REVOKED",
          "INVITE_EXPIRED",
        ),
      },
    },
    handler: async (request, reply) =>
      runWrite(request, reply, async (tx) => {
        const pair = await pairs.join(tx, principalOf(request), request.body.inviteCode);
        return { status: 201, body: pair, headers: { location: `/v1/pairs/${pair.id}` } };
      }),
  });

  app.get("/v1/pairs", {
    onRequest: app.authenticate,
    schema: {
      operationId: "listPairs",
      tags: ["pairs"],
      summary: "My pairs, active and ended, newest first",
      security,
      querystring: z.strictObject(paginationQuery),
      response: { 200: pairPageSchema, ...problems(...authenticatedProblems) },
    },
    handler: async (request) => pairs.list(principalOf(request), request.query),
  });

  app.get("/v1/pairs/:pairId", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "getPair",
      tags: ["pairs"],
      summary: "One pair with both members",
      security,
      params: pairParams,
      response: { 200: pairSchema, ...problems(...authenticatedProblems, "NOT_FOUND") },
    },
    handler: async (request) => pairs.get(principalOf(request), request.params.pairId),
  });

  app.post("/v1/pairs/:pairId/leave", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "leavePair",
      tags: ["pairs"],
      summary: "End the pair, unilaterally",
      description:
        "Either partner may end the pair at any time, without the other's consent. Open commitments are withdrawn, pending proposals cancelled, agreed boundaries ended; the history stays readable by both.",
      security,
      params: pairParams,
      body: noBody,
      response: { 200: pairSchema, ...problems(...writeProblems, "NOT_FOUND", "PAIR_ENDED") },
    },
    handler: async (request, reply) =>
      runWrite(request, reply, async (tx) => ({
        status: 200,
        body: await pairs.leave(tx, principalOf(request).id, request.params.pairId, "left"),
      })),
  });
};

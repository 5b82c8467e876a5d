import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { ErrorCode } from "../../errors/catalogue.js";
import { actionsOn } from "../../http/action.js";
import { conditionalHeaders, etagOf, expectedVersion, notModified } from "../../http/etag.js";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import { authenticatedProblems, bearerSecurity, problems, writeProblems } from "../../http/openapi.js";
import { pairParams } from "../../http/params.js";
import { principalOf } from "../../http/principal.js";
import {
  boundaryListQuery,
  boundaryPageSchema,
  boundaryParams,
  boundaryRevisionSchema,
  boundarySchema,
  declineBody,
  proposeBoundaryBody,
  proposeRevisionBody,
  revisionParams,
  withdrawBody,
} from "./boundaries.schemas.js";
import type { BoundariesService } from "./boundaries.service.js";

export type BoundariesRoutesOptions = { boundaries: BoundariesService; runWrite: RunWrite; requireMember: AccessHook };

const security = bearerSecurity;
const tags = ["boundaries"];
const readProblems = problems(...authenticatedProblems, "NOT_FOUND");
/** Problems every write on an existing boundary can answer, besides its own rules. */
const answerProblems = (...codes: ErrorCode[]) =>
  problems(...writeProblems, "NOT_FOUND", "PRECONDITION_FAILED", "PAIR_ENDED", ...codes);

const ifMatchNote =
  'Send `If-Match` with the boundary\'s ETag (`"<rowVersion>"`) to make the write conditional: 412 if anything changed meanwhile.';

export const boundariesRoutes: FastifyPluginAsyncZod<BoundariesRoutesOptions> = async (app, options) => {
  const { boundaries, runWrite, requireMember } = options;
  // After the member check: a boundary of another pair, or a malformed id, is a 404 before any 400.
  const requireBoundary: AccessHook = async (request: FastifyRequest) => {
    const { pairId, id } = request.params as { pairId: string; id: string };
    await boundaries.requireBoundary(pairId, id);
  };
  const guards = { onRequest: app.authenticate, preValidation: [requireMember, requireBoundary] };
  // An answer or a withdrawal: POST …/boundaries/{id}/<path>, answering the boundary with its new ETag.
  const action = actionsOn(app, {
    url: "/v1/pairs/:pairId/boundaries/:id",
    tags,
    preValidation: [requireMember, requireBoundary],
    runWrite,
    params: boundaryParams,
    response: boundarySchema,
    versionOf: (boundary) => boundary.rowVersion,
  });

  app.post("/v1/pairs/:pairId/boundaries", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "proposeBoundary",
      tags,
      summary: "Propose a boundary to your partner",
      description:
        "It is `proposed` until your partner accepts (→ `agreed`) or declines it; you may cancel it meanwhile. With `endsAt`, a proposal still not accepted then is cancelled.",
      security,
      params: pairParams,
      body: proposeBoundaryBody,
      response: { 201: boundarySchema, ...problems(...writeProblems, "NOT_FOUND", "PAIR_ENDED") },
    },
    handler: async (request, reply) =>
      runWrite(request, reply, async (tx) => {
        const boundary = await boundaries.propose(tx, principalOf(request).id, request.params.pairId, request.body);
        return {
          status: 201,
          body: boundary,
          headers: {
            location: `/v1/pairs/${boundary.pairId}/boundaries/${boundary.id}`,
            etag: etagOf(boundary.rowVersion),
          },
        };
      }),
  });

  app.get("/v1/pairs/:pairId/boundaries", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "listBoundaries",
      tags,
      summary: "The pair's boundaries, newest first",
      security,
      params: pairParams,
      querystring: boundaryListQuery,
      response: { 200: boundaryPageSchema, ...readProblems },
    },
    handler: async (request) => {
      principalOf(request);
      return boundaries.list(request.params.pairId, request.query);
    },
  });

  app.get("/v1/pairs/:pairId/boundaries/:id", {
    ...guards,
    schema: {
      operationId: "getBoundary",
      tags,
      summary: "One boundary: the version in force, the pending revision, every agreed version",
      description: "Carries an ETag; `If-None-Match` answers 304 when unchanged.",
      security,
      params: boundaryParams,
      response: { 200: boundarySchema, 304: z.undefined(), ...readProblems },
    },
    handler: async (request, reply) => {
      const boundary = await boundaries.get(request.params.pairId, request.params.id);
      if (notModified(request, reply, boundary.rowVersion)) return reply;
      return boundary;
    },
  });

  action("accept", {
    operationId: "acceptBoundary",
    summary: "Consent to your partner's proposal (→ agreed, version 1)",
    description: ifMatchNote,
    codes: ["BOUNDARY_NOT_PROPOSED", "OWN_PROPOSAL", "TIME_BOX_OVER"],
    run: (c) => boundaries.accept(c.tx, c.principal.id, c.params.pairId, c.params.id, c.expected),
  });

  action("decline", {
    operationId: "declineBoundary",
    summary: "Decline your partner's proposal, optionally saying why",
    description: ifMatchNote,
    body: declineBody,
    codes: ["BOUNDARY_NOT_PROPOSED", "OWN_PROPOSAL"],
    run: (c) => boundaries.decline(c.tx, c.principal.id, c.params.pairId, c.params.id, c.body?.reason, c.expected),
  });

  action("cancel", {
    operationId: "cancelBoundary",
    summary: "Take your own proposal back while it is pending",
    description: ifMatchNote,
    codes: ["BOUNDARY_NOT_PROPOSED", "NOT_PROPOSER"],
    run: (c) => boundaries.cancel(c.tx, c.principal.id, c.params.pairId, c.params.id, c.expected),
  });

  app.post("/v1/pairs/:pairId/boundaries/:id/revisions", {
    ...guards,
    schema: {
      operationId: "proposeBoundaryRevision",
      tags,
      summary: "Propose a revision of an agreed boundary",
      description: `Either partner may propose one; it takes effect only when the other accepts it. Name the fields to change (\`null\` removes an optional one). Answers the pending revision with the \`version\` it would become (a declined or cancelled revision's number is used again). One pending revision at a time. The ETag answered is the boundary's. ${ifMatchNote}`,
      security,
      params: boundaryParams,
      headers: conditionalHeaders,
      body: proposeRevisionBody,
      response: {
        201: boundaryRevisionSchema,
        ...answerProblems("BOUNDARY_NOT_AGREED", "REVISION_PENDING", "REVISION_CHANGES_NOTHING", "TIME_BOX_OVER"),
      },
    },
    handler: async (request, reply) => {
      const expected = expectedVersion(request);
      const { pairId, id } = request.params;
      return runWrite(request, reply, async (tx) => {
        const { revision, rowVersion } = await boundaries.proposeRevision(
          tx,
          principalOf(request).id,
          pairId,
          id,
          request.body,
          expected,
        );
        return {
          status: 201,
          body: revision,
          headers: { etag: etagOf(rowVersion) },
        };
      });
    },
  });

  action("revisions/:n/accept", {
    operationId: "acceptBoundaryRevision",
    summary: "Consent to your partner's revision: it becomes the version in force",
    description: ifMatchNote,
    params: revisionParams,
    codes: ["REVISION_NOT_PENDING", "OWN_PROPOSAL", "TIME_BOX_OVER"],
    run: ({ tx, principal, params, expected }) =>
      boundaries.answerRevision(tx, principal.id, params.pairId, params.id, params.n, "acceptRevision", { expected }),
  });

  action("revisions/:n/decline", {
    operationId: "declineBoundaryRevision",
    summary: "Decline your partner's revision: the version in force stays",
    description: ifMatchNote,
    params: revisionParams,
    body: declineBody,
    codes: ["REVISION_NOT_PENDING", "OWN_PROPOSAL"],
    run: ({ tx, principal, params, body, expected }) =>
      boundaries.answerRevision(tx, principal.id, params.pairId, params.id, params.n, "declineRevision", {
        reason: body?.reason,
        expected,
      }),
  });

  action("revisions/:n/cancel", {
    operationId: "cancelBoundaryRevision",
    summary: "Take your own pending revision back: the version in force stays",
    description: ifMatchNote,
    params: revisionParams,
    codes: ["REVISION_NOT_PENDING", "NOT_PROPOSER"],
    run: ({ tx, principal, params, expected }) =>
      boundaries.answerRevision(tx, principal.id, params.pairId, params.id, params.n, "cancelRevision", { expected }),
  });

  action("withdraw", {
    operationId: "withdrawBoundaryConsent",
    summary: "Withdraw your consent: the boundary is retired, at once, on your word alone",
    description: `Either partner, at any time, without the other's approval: an agreement nobody can leave is not consent. A pending revision is cancelled first. The boundary and its versions stay on record. ${ifMatchNote}`,
    body: withdrawBody,
    codes: ["BOUNDARY_NOT_AGREED"],
    run: (c) => boundaries.withdraw(c.tx, c.principal.id, c.params.pairId, c.params.id, c.body.reason, c.expected),
  });
};

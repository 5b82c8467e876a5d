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
  acknowledgementBody,
  type Commitment,
  commitmentListQuery,
  commitmentPageSchema,
  commitmentParams,
  commitmentSchema,
  commitmentTextPageSchema,
  commitmentTextsQuery,
  createCommitmentBody,
  disputeBody,
  reportBody,
  rescheduleBody,
  updateCommitmentBody,
  withdrawBody,
} from "./commitments.schemas.js";
import type { CommitmentsService } from "./commitments.service.js";

export type CommitmentsRoutesOptions = {
  commitments: CommitmentsService;
  runWrite: RunWrite;
  requireMember: AccessHook;
};

const tags = ["commitments"];
const security = bearerSecurity;
const stateProblems: ErrorCode[] = [...writeProblems, "NOT_FOUND", "PRECONDITION_FAILED", "PAIR_ENDED"];

export const commitmentsRoutes: FastifyPluginAsyncZod<CommitmentsRoutesOptions> = async (app, options) => {
  const { commitments, runWrite, requireMember } = options;
  // One follow-through step: POST …/commitments/{id}/<path>, answering the commitment with its new ETag.
  const action = actionsOn(app, {
    url: "/v1/pairs/:pairId/commitments/:commitmentId",
    tags,
    preValidation: requireMember,
    runWrite,
    params: commitmentParams,
    response: commitmentSchema,
    versionOf: (commitment) => commitment.version,
  });

  app.post("/v1/pairs/:pairId/commitments", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "createCommitment",
      tags,
      summary: "Make a commitment to your partner",
      description: "The caller is always the owner. `dueAt` must be in the future.",
      security,
      params: pairParams,
      body: createCommitmentBody,
      response: { 201: commitmentSchema, ...problems(...writeProblems, "NOT_FOUND", "PAIR_ENDED") },
    },
    handler: async (request, reply) => {
      const { pairId } = request.params;
      const { recurrence } = request.body;
      const created = (commitment: Commitment) => ({
        status: 201,
        body: commitment,
        headers: {
          etag: etagOf(commitment.version),
          location: `/v1/pairs/${commitment.pairId}/commitments/${commitment.id}`,
        },
      });
      if (recurrence) {
        return runWrite(request, reply, async (tx) =>
          created(await commitments.createSeries(tx, principalOf(request), pairId, { ...request.body, recurrence })),
        );
      }
      // The commonest write: one statement, no transaction around it.
      return runWrite.oneStatement(request, reply, async (executor) =>
        created(await commitments.create(executor, principalOf(request), pairId, request.body)),
      );
    },
  });

  app.get("/v1/pairs/:pairId/commitments", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "listCommitments",
      tags,
      summary: "Commitments of the pair, newest due first",
      security,
      params: pairParams,
      querystring: commitmentListQuery,
      response: { 200: commitmentPageSchema, ...problems(...authenticatedProblems, "NOT_FOUND") },
    },
    handler: async (request) => commitments.list(principalOf(request), request.params.pairId, request.query),
  });

  app.get("/v1/pairs/:pairId/commitments/:commitmentId", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "getCommitment",
      tags,
      summary: "One commitment",
      security,
      params: commitmentParams,
      response: { 200: commitmentSchema, 304: z.undefined(), ...problems(...authenticatedProblems, "NOT_FOUND") },
    },
    handler: async (request, reply) => {
      const commitment = await commitments.get(request.params.pairId, request.params.commitmentId);
      if (notModified(request, reply, commitment.version)) return reply;
      return commitment;
    },
  });

  app.get("/v1/pairs/:pairId/commitments/:commitmentId/texts", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "listCommitmentTexts",
      tags,
      summary: "Every version of the commitment's words, in the order written (both members)",
      description:
        "Titles and details at creation and at each edit, each report's note and each dispute's note: nothing is overwritten. Each text's `hash` is the one its event carries in `textHashes`; anyone who reads the text and its `salt` can check it. After the author deleted their account, `text` and `salt` are null and `hash` stays.",
      security,
      params: commitmentParams,
      querystring: commitmentTextsQuery,
      response: {
        200: commitmentTextPageSchema,
        304: z.undefined(),
        ...problems(...authenticatedProblems, "NOT_FOUND"),
      },
    },
    handler: async (request, reply) => {
      const { page, version } = await commitments.texts(
        request.params.pairId,
        request.params.commitmentId,
        request.query,
      );
      if (notModified(request, reply, version)) return reply;
      return page;
    },
  });

  app.patch("/v1/pairs/:pairId/commitments/:commitmentId", {
    onRequest: app.authenticate,
    preValidation: requireMember,
    schema: {
      operationId: "updateCommitment",
      tags,
      summary: "Edit title, details or category while open (owner)",
      description: "The due time changes only by reschedule, with the partner's consent.",
      security,
      params: commitmentParams,
      headers: conditionalHeaders,
      body: updateCommitmentBody,
      response: { 200: commitmentSchema, ...problems(...stateProblems, "OWNER_ONLY", "COMMITMENT_NOT_OPEN") },
    },
    handler: async (request, reply) => {
      const expected = expectedVersion(request);
      const { pairId, commitmentId } = request.params;
      return runWrite(request, reply, async (tx) => {
        const commitment = await commitments.update(
          tx,
          principalOf(request),
          pairId,
          commitmentId,
          request.body,
          expected,
        );
        return { status: 200, body: commitment, headers: { etag: etagOf(commitment.version) } };
      });
    },
  });

  action("report", {
    operationId: "reportCommitment",
    summary: "Report kept or missed (owner)",
    description:
      "Open, lapsed (a late report) or disputed (a revision, which restarts the confirmation window). The partner then confirms or disputes.",
    body: reportBody,
    codes: ["OWNER_ONLY", "NOT_REPORTABLE"],
    run: (c) => commitments.report(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.body, c.expected),
  });
  action("confirm", {
    operationId: "confirmCommitment",
    summary: "Confirm the report (partner); on a disputed report, withdraws the dispute",
    codes: ["PARTNER_ONLY", "NOTHING_TO_CONFIRM"],
    run: (c) => commitments.confirm(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.expected),
  });
  action("dispute", {
    operationId: "disputeCommitment",
    summary: "Dispute the report, with a note (partner)",
    body: disputeBody,
    codes: ["PARTNER_ONLY", "NOTHING_TO_DISPUTE"],
    run: (c) => commitments.dispute(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.body.note, c.expected),
  });
  action("withdraw", {
    operationId: "withdrawCommitment",
    summary: "Withdraw before it is due, with a reason (owner); not a miss",
    body: withdrawBody,
    codes: ["OWNER_ONLY", "COMMITMENT_NOT_OPEN", "PAST_DUE"],
    run: (c) =>
      commitments.withdraw(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.body.reason, c.expected),
  });
  action("reschedule", {
    operationId: "proposeReschedule",
    summary: "Propose a new due time before it is due (owner); it applies only if the partner accepts",
    body: rescheduleBody,
    codes: ["OWNER_ONLY", "COMMITMENT_NOT_OPEN", "PAST_DUE", "RESCHEDULE_PENDING"],
    run: (c) =>
      commitments.proposeReschedule(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.body, c.expected),
  });
  action("reschedule/accept", {
    operationId: "acceptReschedule",
    summary: "Accept the proposed time (partner)",
    codes: ["PARTNER_ONLY", "NO_PENDING_RESCHEDULE", "RESCHEDULE_EXPIRED"],
    run: (c) => commitments.acceptReschedule(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.expected),
  });
  action("reschedule/decline", {
    operationId: "declineReschedule",
    summary: "Decline the proposed time (partner); the original time stays",
    codes: ["PARTNER_ONLY", "NO_PENDING_RESCHEDULE", "RESCHEDULE_EXPIRED"],
    run: (c) => commitments.declineReschedule(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.expected),
  });
  action("reschedule/cancel", {
    operationId: "cancelReschedule",
    summary: "Take back the proposed time (owner)",
    codes: ["OWNER_ONLY", "NO_PENDING_RESCHEDULE"],
    run: (c) => commitments.cancelReschedule(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.expected),
  });
  action("acknowledgement", {
    operationId: "acknowledgeMiss",
    summary: "Take responsibility for a miss or lapse: what happened, what will change (owner)",
    body: acknowledgementBody,
    codes: ["OWNER_ONLY", "NOTHING_TO_ACKNOWLEDGE", "ALREADY_ACKNOWLEDGED"],
    run: (c) =>
      commitments.acknowledge(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.body.text, c.expected),
  });
  action("acknowledgement/accept", {
    operationId: "acceptAcknowledgement",
    summary: "Accept the acknowledgement (partner)",
    codes: ["PARTNER_ONLY", "NO_ACKNOWLEDGEMENT", "ACKNOWLEDGEMENT_ALREADY_ACCEPTED"],
    run: (c) =>
      commitments.acceptAcknowledgement(c.tx, c.principal, c.params.pairId, c.params.commitmentId, c.expected),
  });
};

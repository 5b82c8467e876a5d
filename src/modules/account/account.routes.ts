import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { authenticatedProblems, bearerSecurity, passwordReentryProblems, problems } from "../../http/openapi.js";
import { principalOf } from "../../http/principal.js";
import { deleteMeBody, exportDocumentSchema } from "./account.schemas.js";
import type { AccountService } from "./account.service.js";

export type AccountRoutesOptions = {
  account: AccountService;
  /** After a deletion commits: every login of the user ended (their sockets close). */
  onLoginsEnded: (userId: string, familyIds: "all") => void;
};

const tags = ["me"];

/** Exports per person per hour: a long history is megabytes read in one snapshot. */
export const EXPORTS_PER_HOUR = 6;

export const accountRoutes: FastifyPluginAsyncZod<AccountRoutesOptions> = async (app, options) => {
  const { account } = options;

  app.get("/v1/me/export", {
    onRequest: app.authenticate,
    config: { accountBudget: { name: "export", limit: EXPORTS_PER_HOUR, windowMs: 3_600_000 } },
    schema: {
      operationId: "exportMe",
      tags,
      summary: "Everything I can see, as one JSON document",
      description: `The profile, then every pair I was in with its commitments, series, requests, boundaries (with versions), the latest signed checkpoint and every event with its hashes, plus the public keys that verify the checkpoints. Streamed from one consistent snapshot; the format is in docs/domain.md (Taking data along). At most ${EXPORTS_PER_HOUR} an hour per person (429 with \`Retry-After\` past it).`,
      security: bearerSecurity,
      querystring: z.strictObject({}),
      response: { 200: exportDocumentSchema, ...problems(...authenticatedProblems) },
    },
    handler: async (request, reply) => {
      const { stream, exportedAt } = await account.exportAccount(principalOf(request).id);
      const day = exportedAt.toISOString().slice(0, 10);
      return reply
        .header("content-type", "application/json; charset=utf-8")
        .header("content-disposition", `attachment; filename="kept-export-${day}.json"`)
        .header("cache-control", "no-store")
        .send(stream as never);
    },
  });

  app.delete("/v1/me", {
    onRequest: app.authenticate,
    config: { rateLimit: "auth" },
    schema: {
      operationId: "deleteMe",
      tags,
      summary: "Delete my account",
      description:
        'The password must be re-entered (a wrong one answers 403; bounded per login, never by failed sign-ins elsewhere). The active pair is left first (reason `account_deleted`); then the person is blanked: email, name and password are gone, the id stays so the partner\'s history still verifies and reads "former member". Every login and access token stops at once. What is kept and why: docs/domain.md (Deleting an account). Does not take `Idempotency-Key`: the body holds a password.',
      security: bearerSecurity,
      body: deleteMeBody,
      response: {
        204: z.undefined(),
        ...problems(...passwordReentryProblems),
      },
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      await account.deleteAccount(principal, request.body.password, request.ip);
      options.onLoginsEnded(principal.id, "all");
      return reply.code(204).send();
    },
  });
};

import type { FastifyInstance, FastifySchema } from "fastify";
import type { z } from "zod";
import type { Tx } from "../db/client.js";
import type { ErrorCode } from "../errors/catalogue.js";
import { noBody } from "./body.js";
import { conditionalHeaders, etagOf, expectedVersion } from "./etag.js";
import type { AccessHook } from "./hooks.js";
import type { RunWrite } from "./idempotency.js";
import { bearerSecurity, problems, writeProblems } from "./openapi.js";
import { type Principal, principalOf } from "./principal.js";

/** What one action's service call gets: its transaction, the caller, the path, the body and `If-Match`. */
export type ActionContext<P, B> = { tx: Tx; principal: Principal; params: P; body: B; expected?: number };

/** Problems every action on a pair's resource can answer, besides its own rules. */
const actionProblems: ErrorCode[] = [...writeProblems, "NOT_FOUND", "PRECONDITION_FAILED", "PAIR_ENDED"];

/**
 * The routes of a resource's lifecycle actions (`POST <url>/<path>`), one
 * shape for all of them: the caller signed in, the resource's guards, the
 * path and body validated, `If-Match` read, one service call in `runWrite`,
 * and the resource answered (200) with its new ETag. `actionsOn` fixes the
 * resource; each call of the function it answers adds one action.
 */
export function actionsOn<P extends z.ZodType, R extends z.ZodType>(
  app: FastifyInstance,
  resource: {
    url: string;
    tags: string[];
    preValidation: AccessHook | AccessHook[];
    runWrite: RunWrite;
    params: P;
    response: R;
    versionOf: (answer: z.infer<R>) => number;
  },
) {
  return function action<B extends z.ZodType, Q extends z.ZodType = P>(
    path: string,
    definition: {
      operationId: string;
      summary: string;
      description?: string;
      /** When the path names more than the resource (a revision's number). */
      params?: Q;
      /** Absent: the action takes no input, and still refuses unknown fields. */
      body?: B;
      /** The action's own refusals. */
      codes: ErrorCode[];
      run: (context: ActionContext<z.infer<Q>, z.infer<B>>) => Promise<z.infer<R>>;
    },
  ): void {
    // Typed by the zod schemas at each action's definition; Fastify sees plain route schemas here.
    const schema: FastifySchema = {
      operationId: definition.operationId,
      tags: resource.tags,
      summary: definition.summary,
      ...(definition.description ? { description: definition.description } : {}),
      security: bearerSecurity,
      params: definition.params ?? resource.params,
      headers: conditionalHeaders,
      body: definition.body ?? noBody,
      response: { 200: resource.response, ...problems(...actionProblems, ...definition.codes) },
    };
    app.post(`${resource.url}/${path}`, {
      onRequest: app.authenticate,
      preValidation: resource.preValidation,
      schema,
      handler: async (request, reply) => {
        const expected = expectedVersion(request);
        return resource.runWrite(request, reply, async (tx) => {
          const answer = await definition.run({
            tx,
            principal: principalOf(request),
            params: request.params as z.infer<Q>,
            body: request.body as z.infer<B>,
            ...(expected === undefined ? {} : { expected }),
          });
          return { status: 200, body: answer, headers: { etag: etagOf(resource.versionOf(answer)) } };
        });
      },
    });
  };
}

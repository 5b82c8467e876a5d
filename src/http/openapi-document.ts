import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { answerIfNotModified } from "./etag.js";

/** Where the docs UI (`@fastify/swagger-ui` under `/docs`) fetches the same document. */
export const DOCS_JSON_URL = "/docs/json";

/**
 * The OpenAPI document (about 220 KB) is written once, when the app is
 * ready (every route is known by then), and sent as that text with a
 * strong ETag: a request costs neither a build nor a serialization, and a
 * client that kept it gets 304. Both `/openapi.json` and the docs UI's
 * `/docs/json` answer it, under the default rate limit.
 */
export function createOpenApiDocument(app: FastifyInstance): {
  /** The handler of `GET /openapi.json`. */
  serve: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;
  /** A `preHandler` for the docs UI's routes: answers `/docs/json` from the same text. */
  docsHook: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;
} {
  // Bytes, not a string: a flood of requests then costs no encoding either.
  let document: { body: Buffer; etag: string } | undefined;
  app.addHook("onReady", async () => {
    const body = Buffer.from(JSON.stringify(app.swagger()), "utf8");
    document = { body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
  });

  function send(request: FastifyRequest, reply: FastifyReply) {
    if (!document) throw new Error("the OpenAPI document is written when the app is ready");
    // Clients may keep it, but ask again (If-None-Match) before using it.
    reply.header("cache-control", "no-cache");
    if (answerIfNotModified(request, reply, document.etag)) return reply;
    return reply.type("application/json; charset=utf-8").send(document.body);
  }

  return {
    serve: async (request, reply) => send(request, reply),
    async docsHook(request, reply) {
      if (request.routeOptions.url !== DOCS_JSON_URL) return undefined;
      return send(request, reply);
    },
  };
}

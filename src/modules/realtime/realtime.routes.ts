import type {} from "@fastify/websocket";
import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { AppError } from "../../errors/app-error.js";
import { noBody } from "../../http/body.js";
import { authenticatedProblems, bearerSecurity, problems } from "../../http/openapi.js";
import { principalOf } from "../../http/principal.js";
import type { AuthService } from "../auth/index.js";
import type { Hub, RequestBudget } from "./hub.js";
import { streamQuery, ticketSchema } from "./realtime.schemas.js";
import type { StreamSubject, TicketsService } from "./tickets.service.js";

export type RealtimeRoutesOptions = {
  hub: Hub;
  tickets: TicketsService;
  auth: Pick<AuthService, "authenticate" | "loginIsLive">;
  activePairOf: (userId: string) => Promise<string | null>;
  requestBudget: RequestBudget;
  corsOrigins: string[];
  maxStreamsPerUser: number;
};

declare module "fastify" {
  interface FastifyRequest {
    streamSubject: StreamSubject | undefined;
  }
}

export const realtimeRoutes: FastifyPluginAsyncZod<RealtimeRoutesOptions> = async (app, options) => {
  const { hub, tickets, auth } = options;

  app.post("/v1/stream/tickets", {
    onRequest: app.authenticate,
    schema: {
      operationId: "createStreamTicket",
      tags: ["realtime"],
      summary: "A single-use ticket (30 s) to open the stream from a browser",
      description: "Browsers cannot set headers on a WebSocket: open `GET /v1/stream?ticket=…` with this instead.",
      security: bearerSecurity,
      body: noBody,
      response: { 201: ticketSchema, ...problems(...authenticatedProblems, "NO_ACTIVE_PAIR") },
    },
    handler: async (request, reply) =>
      reply
        .code(201)
        .header("cache-control", "no-store")
        .send(await tickets.issue(principalOf(request))),
  });

  /**
   * Everything is checked before the upgrade, so a refusal is an ordinary
   * problem+json response: the origin (403), the ticket or Bearer token
   * (401), an active pair (409), the per-user cap (429), and for a replay
   * (`after`) the person's request budget (429), as a `resume` would.
   */
  async function admit(request: FastifyRequest): Promise<void> {
    const origin = request.headers.origin;
    if (origin !== undefined && !options.corsOrigins.includes(origin)) throw new AppError("ORIGIN_NOT_ALLOWED");
    const { ticket, after } = (request.query ?? {}) as { ticket?: unknown; after?: unknown };
    let subject: StreamSubject | undefined;
    if (typeof ticket === "string" && ticket.length > 0) {
      subject = await tickets.redeem(ticket);
      const live =
        subject &&
        (await auth.loginIsLive({ id: subject.userId, familyId: subject.familyId })) &&
        (await options.activePairOf(subject.userId)) === subject.pairId;
      if (!subject || !live) throw new AppError("STREAM_TICKET_INVALID");
      if (request.headers.authorization) {
        const bearer = await auth.authenticate(request.headers.authorization.replace(/^Bearer /i, ""));
        if (bearer.id !== subject.userId) throw new AppError("STREAM_TICKET_INVALID");
      }
    } else if (request.headers.authorization) {
      // Server-side clients may send their access token instead.
      await app.authenticate(request);
      const principal = principalOf(request);
      const pairId = await options.activePairOf(principal.id);
      if (!pairId) throw new AppError("NO_ACTIVE_PAIR");
      subject = { userId: principal.id, familyId: principal.familyId, pairId };
    } else {
      throw new AppError("STREAM_TICKET_INVALID", "Open the stream with ?ticket= (or Authorization: Bearer)");
    }
    if (hub.connectionsOf(subject.userId) >= options.maxStreamsPerUser) throw new AppError("STREAM_LIMIT");
    if (after !== undefined) {
      const budget = await options.requestBudget(subject.userId);
      if (!budget.allowed) {
        const retryAfter = String(budget.retryAfterSeconds);
        throw new AppError("RATE_LIMITED", `Too many requests; replay again in ${retryAfter} s`, {
          headers: { "retry-after": retryAfter },
        });
      }
    }
    request.streamSubject = subject;
  }

  app.decorateRequest("streamSubject", undefined);
  app.route({
    method: "GET",
    url: "/v1/stream",
    preValidation: admit,
    schema: {
      operationId: "openStream",
      tags: ["realtime"],
      summary: "The pair's events, live (WebSocket)",
      description:
        "Upgrade to a WebSocket. The server sends `hello`, then (with `after`) every event after that seq from the timeline, then live events, in seq order and never twice. See docs/realtime.md (WebSocket protocol) for messages (`StreamServerMessage`, `StreamClientMessage`) and close codes.",
      querystring: streamQuery,
      response: {
        ...problems(
          "STREAM_TICKET_INVALID",
          "UNAUTHENTICATED",
          "ORIGIN_NOT_ALLOWED",
          "NO_ACTIVE_PAIR",
          "STREAM_LIMIT",
          "RATE_LIMITED",
          "UPGRADE_REQUIRED",
          "VALIDATION_FAILED",
        ),
      },
    },
    handler: async () => {
      throw new AppError("UPGRADE_REQUIRED", "Open this route with a WebSocket upgrade");
    },
    wsHandler: (socket, request) => {
      const subject = request.streamSubject;
      if (!subject) {
        socket.close(1011, "not admitted");
        return;
      }
      const { after } = request.query as { after?: number };
      void hub.attach(socket, after === undefined ? subject : { ...subject, after });
    },
  });
};

import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { noBody } from "../../http/body.js";
import { conditionalHeaders, etagOf, expectedVersion, notModified } from "../../http/etag.js";
import type { RunWrite } from "../../http/idempotency.js";
import {
  authenticatedProblems,
  bearerSecurity,
  passwordReentryProblems,
  problems,
  writeProblems,
} from "../../http/openapi.js";
import { principalOf } from "../../http/principal.js";
import {
  changePasswordBody,
  jwksSchema,
  loginBody,
  refreshBody,
  registerBody,
  sessionSchema,
  tokensSchema,
  updateMeBody,
  userSchema,
} from "./auth.schemas.js";
import type { AuthService } from "./auth.service.js";
import type { KeyRing } from "./keys.js";

export type AuthRoutesOptions = {
  auth: AuthService;
  keys: KeyRing;
  runWrite: RunWrite;
  /** Told which logins ended, so the realtime hub can close their sockets. */
  onLoginsEnded: (userId: string, familyIds: string[] | "all") => void;
};

const tags = ["auth"];
const authRouteProblems = problems(
  "VALIDATION_FAILED",
  "MALFORMED_JSON",
  "RATE_LIMITED",
  "DATABASE_UNAVAILABLE",
  "SERVER_BUSY",
);

export const authRoutes: FastifyPluginAsyncZod<AuthRoutesOptions> = async (
  app,
  { auth, keys, runWrite, onLoginsEnded },
) => {
  app.post("/v1/auth/register", {
    config: { rateLimit: "auth" },
    schema: {
      operationId: "register",
      tags,
      summary: "Create an account and sign in",
      body: registerBody,
      response: { 201: sessionSchema, ...authRouteProblems, ...problems("EMAIL_TAKEN") },
    },
    handler: async (request, reply) =>
      reply
        .code(201)
        .header("cache-control", "no-store")
        .send(await auth.register(request.body, request.ip)),
  });

  app.post("/v1/auth/login", {
    config: { rateLimit: "auth" },
    schema: {
      operationId: "login",
      tags,
      summary: "Sign in with email and password",
      description:
        "Unknown email and wrong password answer the same 401. Each attempt is counted before its password is verified; past the account-and-address bound, or the account bound from an address it has not signed in from lately, 429 (docs/api.md: Sign-in limits).",
      body: loginBody,
      response: { 200: sessionSchema, ...authRouteProblems, ...problems("INVALID_CREDENTIALS", "ACCOUNT_THROTTLED") },
    },
    handler: async (request, reply) =>
      reply.header("cache-control", "no-store").send(await auth.login(request.body, request.ip)),
  });

  app.post("/v1/auth/refresh", {
    config: { rateLimit: "auth" },
    schema: {
      operationId: "refreshTokens",
      tags,
      summary: "Rotate a refresh token",
      description:
        "Answers a new access token and a new refresh token; the old one stops working. Presenting an already rotated token revokes the whole login (every token of its family). Clients must refresh single-flight.",
      body: refreshBody,
      response: {
        200: tokensSchema,
        ...authRouteProblems,
        ...problems("REFRESH_TOKEN_INVALID", "REFRESH_TOKEN_REUSED"),
      },
    },
    handler: async (request, reply) =>
      reply.header("cache-control", "no-store").send(await auth.refresh(request.body.refreshToken, request.ip)),
  });

  app.post("/v1/auth/logout", {
    config: { rateLimit: "auth" },
    schema: {
      operationId: "logout",
      tags,
      summary: "End this login",
      description:
        "Revokes the refresh token's family and closes that login's sockets. Unknown tokens also answer 204.",
      body: refreshBody,
      response: { 204: z.undefined(), ...authRouteProblems },
    },
    handler: async (request, reply) => {
      const ended = await auth.logout(request.body.refreshToken);
      if (ended) onLoginsEnded(ended.userId, ended.familyIds);
      return reply.code(204).send();
    },
  });

  app.post("/v1/auth/logout-all", {
    onRequest: app.authenticate,
    schema: {
      operationId: "logoutAll",
      tags,
      summary: "End every login of this account",
      security: bearerSecurity,
      body: noBody,
      response: { 204: z.undefined(), ...problems(...authenticatedProblems) },
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      await auth.logoutAll(principal);
      onLoginsEnded(principal.id, "all");
      return reply.code(204).send();
    },
  });

  app.get("/v1/me", {
    onRequest: app.authenticate,
    schema: {
      operationId: "getMe",
      tags: ["me"],
      summary: "My profile",
      description: "Carries an ETag; `If-None-Match` answers 304 when unchanged.",
      security: bearerSecurity,
      response: { 200: userSchema, 304: z.undefined(), ...problems(...authenticatedProblems) },
    },
    handler: async (request, reply) => {
      const user = await auth.getMe(principalOf(request));
      if (notModified(request, reply, user.version)) return reply;
      return user;
    },
  });

  app.patch("/v1/me", {
    onRequest: app.authenticate,
    schema: {
      operationId: "updateMe",
      tags: ["me"],
      summary: "Change my display name, time zone, or whether my partner sees my zone",
      description:
        "Your partner's `member.updated` event names only what they can see change: `displayName`, and `timeZone` only while `shareTimeZone` is on (or when turning it on or off). A zone change that is not shared writes no event.",
      security: bearerSecurity,
      headers: conditionalHeaders,
      body: updateMeBody,
      response: { 200: userSchema, ...problems(...writeProblems, "PRECONDITION_FAILED") },
    },
    handler: async (request, reply) => {
      const expected = expectedVersion(request);
      return runWrite(request, reply, async (tx) => {
        const user = await auth.updateMe(tx, principalOf(request), request.body, expected);
        return { status: 200, body: user, headers: { etag: etagOf(user.version) } };
      });
    },
  });

  app.post("/v1/me/password", {
    onRequest: app.authenticate,
    config: { rateLimit: "auth" },
    schema: {
      operationId: "changePassword",
      tags: ["me"],
      summary: "Change my password; every other login ends",
      description:
        "The current password must be re-entered (a wrong one answers 403; bounded per login, never by failed sign-ins elsewhere). Every other login (refresh family) of the account ends at once, with its sockets; this one stays. Does not take `Idempotency-Key`: the body holds passwords.",
      security: bearerSecurity,
      body: changePasswordBody,
      response: {
        204: z.undefined(),
        ...problems(...passwordReentryProblems),
      },
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const ended = await auth.changePassword(principal, request.body, request.ip);
      if (ended.length > 0) onLoginsEnded(principal.id, ended);
      return reply.code(204).send();
    },
  });

  app.get("/.well-known/jwks.json", {
    config: { rateLimit: "none" },
    schema: {
      operationId: "getJwks",
      tags,
      summary: "Public keys that verify access tokens and checkpoints",
      response: { 200: jwksSchema },
    },
    handler: async (_request, reply) => {
      reply.header("cache-control", "public, max-age=300");
      return keys.jwks;
    },
  });
};

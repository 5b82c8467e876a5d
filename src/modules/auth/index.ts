import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { AppError } from "../../errors/app-error.js";
import type { RunWrite } from "../../http/idempotency.js";
import type { RateLimiter } from "../../http/rate-limit.js";
import type { SweepTask } from "../../sweep.js";
import { keptModule } from "../module.js";
import { authRoutes } from "./auth.routes.js";
import { createAuthService } from "./auth.service.js";
import type { KeyRing } from "./keys.js";
import type { PasswordHasher } from "./passwords.js";
import { createAccessTokens, type TokenSettings } from "./tokens.js";

export { timeZoneSchema } from "./auth.schemas.js";
export type { AuthService } from "./auth.service.js";
export type { KeyRing, PrivateJwk } from "./keys.js";
export { generatePrivateJwk, keyRingFrom, loadOrCreateKeyFile, parsePrivateKeys } from "./keys.js";
export { argon2idHasher, boundedHasher, type PasswordHasher } from "./passwords.js";

declare module "fastify" {
  interface FastifyInstance {
    /** `onRequest` hook for routes that need a signed-in caller: sets `request.user` or answers 401. */
    authenticate: (request: FastifyRequest) => Promise<void>;
  }
}

export type AuthModuleOptions = {
  db: Db;
  clock: Clock;
  keys: KeyRing;
  hasher: PasswordHasher;
  limiter: RateLimiter;
  runWrite: RunWrite;
  tokens: TokenSettings & { refreshTokenTtlDays: number };
  loginFailuresPerAddress: number;
  loginFailuresPerAccount: number;
  activePairOf: (userId: string, db: Executor) => Promise<string | null>;
  onProfileChanged: (tx: Tx, userId: string, fields: string[]) => Promise<void>;
  onLoginsEnded: (userId: string, familyIds: string[] | "all") => void;
  /** Whether this instance hears other instances' ended logins right now (see AuthServiceDeps). */
  hearsEndedLogins: () => boolean;
};

const INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"';

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const match = header ? /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header) : null;
  if (!match?.[1]) throw new AppError("UNAUTHENTICATED", "Send `Authorization: Bearer <access token>`");
  return match[1];
}

/**
 * Accounts, sign-in and tokens. Answers the service other modules call
 * (profiles, sessions) and the plugin that adds the routes and the
 * `authenticate` hook every other module's routes use.
 */
export function createAuthModule(options: AuthModuleOptions) {
  const accessTokens = createAccessTokens(options.keys, options.tokens, options.clock);
  const service = createAuthService({
    db: options.db,
    clock: options.clock,
    hasher: options.hasher,
    accessTokens,
    limiter: options.limiter,
    refreshTokenTtlDays: options.tokens.refreshTokenTtlDays,
    loginFailuresPerAddress: options.loginFailuresPerAddress,
    loginFailuresPerAccount: options.loginFailuresPerAccount,
    activePairOf: options.activePairOf,
    onProfileChanged: options.onProfileChanged,
    onLoginsEnded: options.onLoginsEnded,
    hearsEndedLogins: options.hearsEndedLogins,
  });
  const loginsEnded = (userId: string, familyIds: string[] | "all") => service.loginsEnded(userId, familyIds);
  const plugin = fp(
    async (app: FastifyInstance) => {
      app.decorateRequest("user", undefined);
      app.decorate("authenticate", async (request: FastifyRequest) => {
        const token = bearerToken(request);
        try {
          request.user = await service.authenticate(token);
        } catch (error) {
          // RFC 6750: a token was sent and is malformed, expired or its login ended.
          if (!(error instanceof AppError) || error.status !== 401) throw error;
          throw new AppError(error.code, error.message, { headers: { "www-authenticate": INVALID_TOKEN_CHALLENGE } });
        }
      });
      await app.register(authRoutes, {
        auth: service,
        keys: options.keys,
        runWrite: options.runWrite,
        onLoginsEnded: loginsEnded,
      });
    },
    { name: "auth" },
  );
  const sweepTasks: SweepTask[] = [{ name: "refreshTokens", run: (now) => service.pruneExpiredTokens(now) }];
  // Others that end logins (deleting an account) tell the same listener, after their commit.
  return keptModule({ name: "auth", plugin, sweepTasks, service, loginsEnded });
}

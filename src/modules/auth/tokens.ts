import { createHash, randomBytes, randomUUID } from "node:crypto";
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { Clock } from "../../clock.js";
import { AppError } from "../../errors/app-error.js";
import type { Principal } from "../../http/principal.js";
import type { KeyRing } from "./keys.js";

export type TokenSettings = { issuer: string; audience: string; accessTokenTtlSeconds: number };

const ACCESS_TOKEN_TYPE = "at+jwt";
const VERIFIED_CACHE_SIZE = 10_000;

export function createAccessTokens(keys: KeyRing, settings: TokenSettings, clock: Clock) {
  // A signature that verified once verifies again until the token expires: clients send the
  // same token with every request, so its EdDSA check (the costliest step) runs once per
  // token, not once per request. Expiry is still checked on every use; revocation is the
  // database's check, after this one.
  const verified = new Map<string, { principal: Principal; expiresAtMs: number }>();

  return {
    ttlSeconds: settings.accessTokenTtlSeconds,

    /** A short-lived JWT naming the user (`sub`) and the login (`fid`, its refresh family). */
    async issue(principal: Principal): Promise<string> {
      const now = Math.floor(clock.now().getTime() / 1000);
      return new SignJWT({ fid: principal.familyId })
        .setProtectedHeader({ alg: keys.signer.alg, kid: keys.signer.kid, typ: ACCESS_TOKEN_TYPE })
        .setIssuer(settings.issuer)
        .setAudience(settings.audience)
        .setSubject(principal.id)
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setExpirationTime(now + settings.accessTokenTtlSeconds)
        .sign(keys.signer.privateKey);
    },

    /** Verifies signature, algorithm, issuer, audience, type and expiry; any failure is a 401. */
    async verify(token: string): Promise<Principal> {
      const known = verified.get(token);
      if (known) {
        if (clock.now().getTime() < known.expiresAtMs) return known.principal;
        verified.delete(token);
        throw new AppError("UNAUTHENTICATED", "The access token has expired");
      }
      try {
        const { kid } = decodeProtectedHeader(token);
        const key = kid ? keys.byKid.get(kid) : undefined;
        if (!key) throw new AppError("UNAUTHENTICATED", "The access token is not valid");
        const { payload } = await jwtVerify(token, key.publicKey, {
          algorithms: [key.alg],
          issuer: settings.issuer,
          audience: settings.audience,
          typ: ACCESS_TOKEN_TYPE,
          currentDate: clock.now(),
          requiredClaims: ["sub", "exp", "iat"],
        });
        if (typeof payload.sub !== "string" || typeof payload.fid !== "string") {
          throw new AppError("UNAUTHENTICATED", "The access token is not valid");
        }
        const principal = { id: payload.sub, familyId: payload.fid };
        // The oldest entry goes first once the cache is full (Maps keep insertion order).
        if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string);
        verified.set(token, { principal, expiresAtMs: (payload.exp as number) * 1000 });
        return principal;
      } catch (error) {
        if (error instanceof AppError) throw error;
        const expired = error instanceof joseErrors.JWTExpired;
        throw new AppError(
          "UNAUTHENTICATED",
          expired ? "The access token has expired" : "The access token is not valid",
        );
      }
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;

/** Refresh tokens are 256 random bits; only their sha256 is stored. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString("base64url");
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

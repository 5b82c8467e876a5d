import { randomBytes } from "node:crypto";
import { and, eq, isNull, type SQL, sql } from "drizzle-orm";
import { BoundedMap } from "../../bounded-map.js";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { refreshFamilies, refreshTokens, users } from "../../db/schema/auth.js";
import { inTransaction } from "../../db/transaction.js";
import { AppError } from "../../errors/app-error.js";
import type { Principal } from "../../http/principal.js";
import type { Reservation } from "../../http/rate-limit.js";
import { uuidv7 } from "../../ids.js";
import type { LoginInput, Session, Tokens, User } from "./auth.schemas.js";
import { createEndedLogins } from "./ended-logins.js";
import type { PasswordHasher } from "./passwords.js";
import type { SignInLimits } from "./sign-in-limits.js";
import { type AccessTokens, hashRefreshToken, newRefreshToken } from "./tokens.js";

type UserRow = typeof users.$inferSelect;

export type SessionsServiceDeps = {
  db: Db;
  clock: Clock;
  hasher: PasswordHasher;
  accessTokens: AccessTokens;
  limits: SignInLimits;
  refreshTokenTtlDays: number;
  /** The profile a sign-in answers (auth.service.ts makes it). */
  userOf: (row: UserRow, executor: Executor) => Promise<User>;
  /** Tells every instance (sockets, caches) that logins ended; called after their commit. */
  onLoginsEnded: (userId: string, familyIds: string[] | "all") => void;
  /**
   * Whether this instance hears other instances' ended logins right now (its
   * LISTEN connection is up); only then may it remember that a login is live.
   */
  hearsEndedLogins: () => boolean;
};

/** At most this long may a login be taken as live without asking the database, whatever else fails. */
const LIVE_LOGIN_MEMORY_MS = 5_000;

/**
 * Logins (refresh families) and the passwords that open them: sign-in,
 * refresh rotation, logout, the check every authenticated request makes,
 * and a signed-in person's re-entered password.
 */
export function createSessionsService(deps: SessionsServiceDeps) {
  const { db, clock, hasher, accessTokens, limits } = deps;
  // Unknown emails are verified against this, so they cost what a wrong password costs.
  const dummyHash = hasher.hash(randomBytes(18).toString("base64url"));
  dummyHash.catch(() => {});

  /** Verifies within reserved attempts; one that was never verified (the hasher was busy) is given back. */
  async function verifyReserved(reservations: Reservation[], verify: () => Promise<boolean>): Promise<boolean> {
    try {
      return await verify();
    } catch (error) {
      await limits.release(reservations);
      throw error;
    }
  }

  async function startFamily(tx: Tx, userId: string): Promise<Tokens> {
    const familyId = uuidv7(clock.now());
    await tx.insert(refreshFamilies).values({ id: familyId, userId, createdAt: clock.now() });
    return issueTokens(tx, { id: userId, familyId });
  }

  async function issueTokens(tx: Tx, principal: Principal): Promise<Tokens> {
    const now = clock.now();
    const refresh = newRefreshToken();
    await tx.insert(refreshTokens).values({
      id: uuidv7(now),
      familyId: principal.familyId,
      tokenHash: refresh.hash,
      createdAt: now,
      expiresAt: new Date(now.getTime() + deps.refreshTokenTtlDays * 86_400_000),
    });
    return {
      accessToken: await accessTokens.issue(principal),
      refreshToken: refresh.token,
      expiresIn: accessTokens.ttlSeconds,
      tokenType: "Bearer",
    };
  }

  async function revokeFamilies(executor: Executor, where: SQL | undefined, reason: string): Promise<string[]> {
    const revoked = await executor
      .update(refreshFamilies)
      .set({ revokedAt: clock.now(), revokedReason: reason })
      .where(and(where, isNull(refreshFamilies.revokedAt)))
      .returning({ id: refreshFamilies.id });
    return revoked.map((row) => row.id);
  }

  // Runs on every authenticated request: built and planned once, not per call.
  const liveFamily = db
    .select({ id: refreshFamilies.id })
    .from(refreshFamilies)
    .innerJoin(users, eq(users.id, refreshFamilies.userId))
    .where(
      and(
        eq(refreshFamilies.id, sql.placeholder("familyId")),
        eq(refreshFamilies.userId, sql.placeholder("userId")),
        isNull(refreshFamilies.revokedAt),
        isNull(users.deletedAt),
      ),
    )
    .prepare("auth_live_family");

  /*
   * Every authenticated request asks whether its login is still live. The
   * yes is remembered (familyId → userId, until), and forgotten the moment
   * a login ends: here at once, on other instances when the broadcast
   * arrives, and everywhere after LIVE_LOGIN_MEMORY_MS at the latest.
   * `forgotten` counts forgettings, so an answer read before one is not
   * remembered after it.
   */
  const liveLogins = new BoundedMap<string, { userId: string; until: number }>(100_000);
  let forgotten = 0;
  // The no is remembered too (an ended login never comes back), so a revoked token costs no query.
  const endedLogins = createEndedLogins(clock, accessTokens.ttlSeconds);

  function forgetLogins(userId: string, familyIds: string[] | "all"): void {
    forgotten++;
    if (familyIds !== "all") {
      for (const id of familyIds) liveLogins.delete(id);
      endedLogins.remember(familyIds);
      return;
    }
    for (const [id, login] of liveLogins) if (login.userId === userId) liveLogins.delete(id);
  }

  /** The login (refresh family) is not revoked and its account not deleted. */
  async function loginIsLive(principal: Principal): Promise<boolean> {
    // Monotonic: a wall clock set back must not stretch the 5 s.
    const now = performance.now();
    const known = liveLogins.get(principal.familyId);
    if (known && known.userId === principal.id && known.until > now && deps.hearsEndedLogins()) return true;
    if (endedLogins.has(principal.familyId)) return false;
    const before = forgotten;
    const [live] = await liveFamily.execute({ familyId: principal.familyId, userId: principal.id });
    if (!live) {
      endedLogins.remember([principal.familyId]);
      return false;
    }
    if (before === forgotten && deps.hearsEndedLogins()) {
      liveLogins.set(principal.familyId, { userId: principal.id, until: now + LIVE_LOGIN_MEMORY_MS });
    }
    return true;
  }

  /**
   * After the commit that ended them: forget these logins here, then tell
   * the other instances (and every instance's sockets).
   */
  function loginsEnded(userId: string, familyIds: string[] | "all"): void {
    forgetLogins(userId, familyIds);
    deps.onLoginsEnded(userId, familyIds);
  }

  return {
    /**
     * Same answer, same work, for an unknown email and a wrong password.
     * The attempt is counted (per account by email, existing or not, and
     * address; see sign-in-limits.ts) before the password is verified.
     */
    async login(input: LoginInput, address: string): Promise<Session> {
      const [row] = await db
        .select()
        .from(users)
        .where(and(sql`lower(${users.email}) = ${input.email.trim().toLowerCase()}`, isNull(users.deletedAt)));
      const reservations = await limits.reserveSignIn(input.email, row?.id, address);
      const valid = await verifyReserved(reservations, async () =>
        hasher.verify(row?.passwordHash ?? (await dummyHash), input.password),
      );
      if (!row || !valid) throw new AppError("INVALID_CREDENTIALS");
      await limits.release(reservations);
      return inTransaction(db, async (tx) => {
        await limits.signedIn(row.id, address, tx);
        return { user: await deps.userOf(row, tx), ...(await startFamily(tx, row.id)) };
      });
    },

    /**
     * Rotates a refresh token. A token that was already rotated means two
     * parties hold it: the whole family (that login) is revoked, strictly.
     */
    async refresh(token: string, address: string): Promise<Tokens> {
      const now = clock.now();
      const outcome = await inTransaction(db, async (tx) => {
        const [found] = await tx
          .select({ token: refreshTokens, family: refreshFamilies, deletedAt: users.deletedAt })
          .from(refreshTokens)
          .innerJoin(refreshFamilies, eq(refreshFamilies.id, refreshTokens.familyId))
          .innerJoin(users, eq(users.id, refreshFamilies.userId))
          .where(eq(refreshTokens.tokenHash, hashRefreshToken(token)))
          .for("update", { of: [refreshTokens, refreshFamilies] });
        if (!found || found.family.revokedAt || found.deletedAt || found.token.expiresAt <= now) {
          return { error: "REFRESH_TOKEN_INVALID" as const };
        }
        if (found.token.rotatedAt) {
          await revokeFamilies(tx, eq(refreshFamilies.id, found.family.id), "refresh_token_reused");
          return {
            error: "REFRESH_TOKEN_REUSED" as const,
            ended: { userId: found.family.userId, familyId: found.family.id },
          };
        }
        await tx.update(refreshTokens).set({ rotatedAt: now }).where(eq(refreshTokens.id, found.token.id));
        await limits.signedIn(found.family.userId, address, tx);
        return {
          error: undefined,
          tokens: await issueTokens(tx, { id: found.family.userId, familyId: found.family.id }),
        };
      });
      // Thrown after commit, so the family's revocation is kept (and that login's sockets close).
      if (outcome.error) {
        if (outcome.ended) loginsEnded(outcome.ended.userId, [outcome.ended.familyId]);
        throw new AppError(outcome.error);
      }
      return outcome.tokens;
    },

    /** Ends the login the refresh token belongs to; unknown tokens are ignored (nothing to end). */
    async logout(token: string): Promise<{ userId: string; familyIds: string[] } | undefined> {
      const [found] = await db
        .select({ familyId: refreshTokens.familyId, userId: refreshFamilies.userId })
        .from(refreshTokens)
        .innerJoin(refreshFamilies, eq(refreshFamilies.id, refreshTokens.familyId))
        .where(eq(refreshTokens.tokenHash, hashRefreshToken(token)));
      if (!found) return undefined;
      const familyIds = await revokeFamilies(db, eq(refreshFamilies.id, found.familyId), "logout");
      return { userId: found.userId, familyIds };
    },

    async logoutAll(principal: Principal): Promise<string[]> {
      return revokeFamilies(db, eq(refreshFamilies.userId, principal.id), "logout_all");
    },

    /**
     * Access tokens are checked against the database too, so logout and
     * account deletion take effect at once rather than at token expiry.
     */
    async authenticate(token: string): Promise<Principal> {
      const principal = await accessTokens.verify(token);
      if (!(await loginIsLive(principal))) {
        throw new AppError("UNAUTHENTICATED", "This login has ended; sign in again");
      }
      return principal;
    },

    loginIsLive,

    loginsEnded,

    /** Another instance ended logins (their broadcast arrived). */
    forgetLogins,

    /** This instance may have missed broadcasts (its listener reconnected): forget every remembered login. */
    forgetAllLogins(): void {
      forgotten++;
      liveLogins.clear();
    },

    /**
     * The password a signed-in user re-enters to change it or to delete the
     * account. Bounded per login (a stolen access token cannot guess more
     * than that), never by other logins' or addresses' failures; a wrong one
     * also counts as a failed sign-in from `address`.
     */
    async confirmPassword(principal: Principal, password: string, address: string): Promise<void> {
      const [row] = await db
        .select()
        .from(users)
        .where(and(eq(users.id, principal.id), isNull(users.deletedAt)));
      const { email, passwordHash } = row ?? {};
      if (!email || !passwordHash) throw new AppError("UNAUTHENTICATED");
      const reservations = await limits.reserveRecheck(principal.familyId);
      if (!(await verifyReserved(reservations, () => hasher.verify(passwordHash, password)))) {
        await limits.recheckFailed(email, address);
        throw new AppError("WRONG_PASSWORD");
      }
      await limits.release(reservations);
    },

    /** A new login (refresh family) for a person who just proved who they are (registering), in `tx`. */
    startFamily,

    /** Ends the live logins `where` selects, for `reason`; answers their ids (their sockets close after commit). */
    revokeFamilies,

    /** Expired refresh tokens can no longer be used or reused: drop them (sweep). */
    async pruneExpiredTokens(now: Date): Promise<number> {
      const result = await db.execute(
        sql`DELETE FROM refresh_tokens WHERE expires_at < ${now.toISOString()}::timestamptz`,
      );
      return result.rowCount ?? 0;
    },
  };
}

export type SessionsService = ReturnType<typeof createSessionsService>;

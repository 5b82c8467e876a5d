import { randomBytes } from "node:crypto";
import { and, eq, inArray, isNull, ne, type SQL, sql } from "drizzle-orm";
import { BoundedMap } from "../../bounded-map.js";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { uniqueViolation } from "../../db/errors.js";
import { refreshFamilies, refreshTokens, users } from "../../db/schema/index.js";
import { inTransaction } from "../../db/transaction.js";
import { AppError } from "../../errors/app-error.js";
import { assertVersion } from "../../http/etag.js";
import type { Principal } from "../../http/principal.js";
import type { RateLimiter, Reservation } from "../../http/rate-limit.js";
import { uuidv7 } from "../../ids.js";
import type {
  ChangePasswordInput,
  LoginInput,
  RegisterInput,
  Session,
  Tokens,
  UpdateMeInput,
  User,
} from "./auth.schemas.js";
import { createEndedLogins } from "./ended-logins.js";
import type { PasswordHasher } from "./passwords.js";
import { createSignInLimits } from "./sign-in-limits.js";
import { type AccessTokens, hashRefreshToken, newRefreshToken } from "./tokens.js";

export type AuthServiceDeps = {
  db: Db;
  clock: Clock;
  hasher: PasswordHasher;
  accessTokens: AccessTokens;
  limiter: Pick<RateLimiter, "reserve" | "release" | "hit" | "resetPrefix" | "remember" | "remembers">;
  refreshTokenTtlDays: number;
  /** Password checks per account from one address (and per login for a re-check) per 15 minutes. */
  loginFailuresPerAddress: number;
  /** Password checks per account per hour from addresses it has not signed in from lately. */
  loginFailuresPerAccount: number;
  /** The pairs module answers this; auth does not read pair tables. */
  activePairOf: (userId: string, db: Executor) => Promise<string | null>;
  /** Lets the pairs module record `member.updated` in this transaction. */
  onProfileChanged: (tx: Tx, userId: string, fields: string[]) => Promise<void>;
  /** Tells every instance (sockets, caches) that logins ended; called after their commit. */
  onLoginsEnded: (userId: string, familyIds: string[] | "all") => void;
  /**
   * Whether this instance hears other instances' ended logins right now (its
   * LISTEN connection is up); only then may it remember that a login is live.
   */
  hearsEndedLogins: () => boolean;
};

type UserRow = typeof users.$inferSelect;

/** At most this long may a login be taken as live without asking the database, whatever else fails. */
const LIVE_LOGIN_MEMORY_MS = 5_000;

export function createAuthService(deps: AuthServiceDeps) {
  const { db, clock, hasher, accessTokens } = deps;
  // Unknown emails are verified against this, so they cost what a wrong password costs.
  const dummyHash = hasher.hash(randomBytes(18).toString("base64url"));
  dummyHash.catch(() => {});
  const limits = createSignInLimits({
    limiter: deps.limiter,
    clock,
    perAddress: deps.loginFailuresPerAddress,
    perAccount: deps.loginFailuresPerAccount,
  });

  /** Verifies within reserved attempts; one that was never verified (the hasher was busy) is given back. */
  async function verifyReserved(reservations: Reservation[], verify: () => Promise<boolean>): Promise<boolean> {
    try {
      return await verify();
    } catch (error) {
      await limits.release(reservations);
      throw error;
    }
  }

  async function toUser(row: UserRow, executor: Executor = db): Promise<User> {
    return {
      id: row.id,
      email: row.email ?? "",
      displayName: row.displayName ?? "former member",
      timeZone: row.timeZone,
      activePairId: await deps.activePairOf(row.id, executor),
      version: row.version,
      createdAt: row.createdAt.toISOString(),
    };
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

  /**
   * The password a signed-in user re-enters to change it or to delete the
   * account. Bounded per login (a stolen access token cannot guess more
   * than that), never by other logins' or addresses' failures; a wrong one
   * also counts as a failed sign-in from `address`.
   */
  async function confirmPassword(principal: Principal, password: string, address: string): Promise<void> {
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
  }

  return {
    async register(input: RegisterInput, address: string): Promise<Session> {
      const passwordHash = await hasher.hash(input.password);
      const now = clock.now();
      try {
        return await inTransaction(db, async (tx) => {
          const [row] = await tx
            .insert(users)
            .values({
              id: uuidv7(now),
              email: input.email,
              displayName: input.displayName,
              timeZone: input.timeZone,
              passwordHash,
              createdAt: now,
              updatedAt: now,
            })
            .returning();
          if (!row) throw new Error("insert returned no row");
          await limits.signedIn(row.id, address, tx);
          return { user: await toUser(row, tx), ...(await startFamily(tx, row.id)) };
        });
      } catch (error) {
        if (uniqueViolation(error)?.constraint === "users_email_lower_key") throw new AppError("EMAIL_TAKEN");
        throw error;
      }
    },

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
        return { user: await toUser(row, tx), ...(await startFamily(tx, row.id)) };
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
        if (outcome.ended) this.loginsEnded(outcome.ended.userId, [outcome.ended.familyId]);
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
      if (!(await this.loginIsLive(principal))) {
        throw new AppError("UNAUTHENTICATED", "This login has ended; sign in again");
      }
      return principal;
    },

    /** The login (refresh family) is not revoked and its account not deleted. */
    async loginIsLive(principal: Principal): Promise<boolean> {
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
    },

    /**
     * After the commit that ended them: forget these logins here, then tell
     * the other instances (and every instance's sockets).
     */
    loginsEnded(userId: string, familyIds: string[] | "all"): void {
      forgetLogins(userId, familyIds);
      deps.onLoginsEnded(userId, familyIds);
    },

    /** Another instance ended logins (their broadcast arrived). */
    forgetLogins,

    /** This instance may have missed broadcasts (its listener reconnected): forget every remembered login. */
    forgetAllLogins(): void {
      forgotten++;
      liveLogins.clear();
    },

    async getMe(principal: Principal): Promise<User> {
      const [row] = await db.select().from(users).where(eq(users.id, principal.id));
      if (!row || row.deletedAt) throw new AppError("UNAUTHENTICATED");
      return toUser(row);
    },

    async updateMe(tx: Tx, principal: Principal, input: UpdateMeInput, expected: number | undefined): Promise<User> {
      // NO KEY UPDATE (see lockAccount): other writes' foreign keys to this user do not wait for it.
      const [row] = await tx.select().from(users).where(eq(users.id, principal.id)).for("no key update");
      if (!row || row.deletedAt) throw new AppError("UNAUTHENTICATED");
      assertVersion(expected, row.version);
      const [updated] = await tx
        .update(users)
        .set({ ...input, version: row.version + 1, updatedAt: clock.now() })
        .where(eq(users.id, principal.id))
        .returning();
      if (!updated) throw new Error("update returned no row");
      const changed = (Object.keys(input) as (keyof UpdateMeInput)[]).filter((field) => input[field] !== row[field]);
      await deps.onProfileChanged(tx, principal.id, changed);
      return toUser(updated, tx);
    },

    /**
     * Changes the password (the current one re-entered) and ends every
     * other login of the account; the caller's own stays. Answers the ended
     * logins (refresh families), whose sockets the caller closes after commit.
     */
    async changePassword(principal: Principal, input: ChangePasswordInput, address: string): Promise<string[]> {
      await confirmPassword(principal, input.currentPassword, address);
      const passwordHash = await hasher.hash(input.newPassword);
      return inTransaction(db, async (tx) => {
        const [changed] = await tx
          .update(users)
          .set({ passwordHash, updatedAt: clock.now() })
          .where(and(eq(users.id, principal.id), isNull(users.deletedAt)))
          .returning({ id: users.id });
        if (!changed) throw new AppError("UNAUTHENTICATED");
        return revokeFamilies(
          tx,
          and(eq(refreshFamilies.userId, principal.id), ne(refreshFamilies.id, principal.familyId)),
          "password_changed",
        );
      });
    },

    confirmPassword,

    /** The caller's profile, read with `executor` (an export reads it in its snapshot). */
    async profile(userId: string, executor: Executor = db): Promise<User> {
      const [row] = await executor.select().from(users).where(eq(users.id, userId));
      if (!row || row.deletedAt) throw new AppError("UNAUTHENTICATED");
      return toUser(row, executor);
    },

    /**
     * Locks these users' rows against deletion for the rest of `tx` (a
     * deletion locks the row first) and answers those that are not deleted.
     * In id order, so two callers never wait on each other in a circle.
     */
    async lockLiveUsers(tx: Tx, userIds: string[]): Promise<Set<string>> {
      const rows = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(inArray(users.id, userIds), isNull(users.deletedAt)))
        .orderBy(users.id)
        .for("share");
      return new Set(rows.map((row) => row.id));
    },

    /**
     * First step of deleting an account: locks its row (the user row, then
     * the pair, as a profile change does), so two deletions cannot race and
     * a join (FOR SHARE, `lockLiveUsers`) waits. FOR NO KEY UPDATE, not FOR
     * UPDATE: a write in the pair holds the pair's locks and then checks its
     * rows' foreign keys to this user (KEY SHARE), which must not wait here.
     */
    async lockAccount(tx: Tx, userId: string): Promise<void> {
      const [row] = await tx
        .select({ deletedAt: users.deletedAt })
        .from(users)
        .where(eq(users.id, userId))
        .for("no key update");
      if (!row || row.deletedAt) throw new AppError("UNAUTHENTICATED");
    },

    /**
     * Last step of deleting an account, in its transaction: the person is
     * blanked (email, name and password hash gone; the id and time zone
     * stay, so the partner's history still verifies, reads "former member"
     * and keeps its weeks), every login ends and its refresh tokens are
     * dropped, and the sign-in counters keyed by the email and the
     * addresses remembered for the person are forgotten. Access tokens
     * stop at once: each request checks
     * `deleted_at`.
     */
    async erase(tx: Tx, userId: string): Promise<void> {
      const now = clock.now();
      const [row] = await tx
        .select({ email: users.email, version: users.version })
        .from(users)
        .where(eq(users.id, userId));
      if (!row) throw new AppError("UNAUTHENTICATED");
      await tx
        .update(users)
        .set({
          email: null,
          displayName: null,
          passwordHash: null,
          deletedAt: now,
          updatedAt: now,
          version: row.version + 1,
        })
        .where(eq(users.id, userId));
      await revokeFamilies(tx, eq(refreshFamilies.userId, userId), "account_deleted");
      await tx
        .delete(refreshTokens)
        .where(
          inArray(
            refreshTokens.familyId,
            tx.select({ id: refreshFamilies.id }).from(refreshFamilies).where(eq(refreshFamilies.userId, userId)),
          ),
        );
      if (row.email) await limits.forget(row.email, userId, tx);
    },

    /** Expired refresh tokens can no longer be used or reused: drop them (sweep). */
    async pruneExpiredTokens(now: Date): Promise<number> {
      const result = await db.execute(
        sql`DELETE FROM refresh_tokens WHERE expires_at < ${now.toISOString()}::timestamptz`,
      );
      return result.rowCount ?? 0;
    },

    /** Public names of users, for other modules (pairs show both members). */
    async publicProfiles(ids: string[], executor: Executor = db) {
      if (ids.length === 0) return new Map<string, { displayName: string; timeZone: string }>();
      const rows = await executor
        .select({ id: users.id, displayName: users.displayName, timeZone: users.timeZone })
        .from(users)
        .where(inArray(users.id, ids));
      return new Map(rows.map((r) => [r.id, { displayName: r.displayName ?? "former member", timeZone: r.timeZone }]));
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

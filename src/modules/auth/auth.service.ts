import { and, eq, inArray, isNull, ne } from "drizzle-orm";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { uniqueViolation } from "../../db/errors.js";
import { refreshFamilies, refreshTokens, users } from "../../db/schema/auth.js";
import { inTransaction } from "../../db/transaction.js";
import { AppError } from "../../errors/app-error.js";
import { assertVersion } from "../../http/etag.js";
import type { Principal } from "../../http/principal.js";
import type { RateLimiter } from "../../http/rate-limit.js";
import { uuidv7 } from "../../ids.js";
import type { ChangePasswordInput, RegisterInput, Session, UpdateMeInput, User } from "./auth.schemas.js";
import type { PasswordHasher } from "./passwords.js";
import { createSessionsService } from "./sessions.service.js";
import { createSignInLimits } from "./sign-in-limits.js";
import type { AccessTokens } from "./tokens.js";

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

/** What other modules may show of a person; `timeZone` is for computing, shown only when `shareTimeZone`. */
export type PublicProfile = { displayName: string; timeZone: string; shareTimeZone: boolean };

/**
 * The profile fields the partner sees change (`member.updated` names
 * these): the name, and the zone only as shown to them (shared, or the
 * sharing turned on or off). No tracking: an unshared move is not news.
 */
function changesSeenByPartner(before: UserRow, after: UserRow): string[] {
  const shownZone = (row: UserRow) => (row.shareTimeZone ? row.timeZone : null);
  const fields: string[] = [];
  if (after.displayName !== before.displayName) fields.push("displayName");
  if (shownZone(after) !== shownZone(before)) fields.push("timeZone");
  return fields;
}

/**
 * Accounts (the person's row: registering, the profile, a password change,
 * the locks and the blanking that deletion uses, public names) here, with
 * sessions (sign-in, tokens, the live-login check; sessions.service.ts)
 * as the one service other modules see.
 */
export function createAuthService(deps: AuthServiceDeps) {
  const { db, clock, hasher } = deps;
  const limits = createSignInLimits({
    limiter: deps.limiter,
    clock,
    perAddress: deps.loginFailuresPerAddress,
    perAccount: deps.loginFailuresPerAccount,
  });
  // Registering starts a login, a new password or a deletion ends logins, a password change re-checks
  // the password (offered to deletion too); starting and ending logins stay inside auth.
  const { startFamily, revokeFamilies, confirmPassword, ...sessions } = createSessionsService({
    db,
    clock,
    hasher,
    accessTokens: deps.accessTokens,
    limits,
    refreshTokenTtlDays: deps.refreshTokenTtlDays,
    userOf: toUser,
    onLoginsEnded: deps.onLoginsEnded,
    hearsEndedLogins: deps.hearsEndedLogins,
  });

  async function toUser(row: UserRow, executor: Executor = db): Promise<User> {
    return {
      id: row.id,
      email: row.email ?? "",
      displayName: row.displayName ?? "former member",
      timeZone: row.timeZone,
      shareTimeZone: row.shareTimeZone,
      activePairId: await deps.activePairOf(row.id, executor),
      version: row.version,
      createdAt: row.createdAt.toISOString(),
    };
  }

  return {
    ...sessions,

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
      await deps.onProfileChanged(tx, principal.id, changesSeenByPartner(row, updated));
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

    /** Public names of users, for other modules (pairs show both members; the zone only where `shareTimeZone`). */
    async publicProfiles(ids: string[], executor: Executor = db) {
      if (ids.length === 0) return new Map<string, PublicProfile>();
      const rows = await executor
        .select({
          id: users.id,
          displayName: users.displayName,
          timeZone: users.timeZone,
          shareTimeZone: users.shareTimeZone,
        })
        .from(users)
        .where(inArray(users.id, ids));
      return new Map(
        rows.map((r) => [
          r.id,
          { displayName: r.displayName ?? "former member", timeZone: r.timeZone, shareTimeZone: r.shareTimeZone },
        ]),
      );
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

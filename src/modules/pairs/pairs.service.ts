import { and, desc, eq, inArray, lt, ne, or, type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import { BoundedMap } from "../../bounded-map.js";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { uniqueViolation } from "../../db/errors.js";
import { executeNamed } from "../../db/named.js";
import { columnList, rowFrom } from "../../db/rows.js";
import { activePairMembers, invites, pairMembers, pairs } from "../../db/schema/pairs.js";
import { inTransaction } from "../../db/transaction.js";
import { AppError, notFound } from "../../errors/app-error.js";
import { decodeCursor, type Page, pageOf } from "../../http/pagination.js";
import type { Principal } from "../../http/principal.js";
import { isUuid, uuidv7 } from "../../ids.js";
import type { EventLog, HistoryService } from "../history/index.js";
import { hashInviteCode, newInviteCode, normaliseInviteCode } from "./invite-codes.js";
import type { CurrentInvite, Invite, Pair } from "./pairs.schemas.js";

export type EndReason = "left" | "account_deleted";

/** What a module must do when a pair ends, inside the same transaction (the design's leaving rule). */
export type PairEndingHandler = (
  tx: Tx,
  ending: { pairId: string; actorId: string; reason: EndReason },
) => Promise<void>;

/** Every event the pairs module appends. */
export const pairEventTypes = ["pair.linked", "pair.ended", "member.updated"] as const;
export type PairEventType = (typeof pairEventTypes)[number];

export type PairsServiceDeps = {
  db: Db;
  clock: Clock;
  history: Pick<HistoryService, "startChain" | "chainHeadLock"> & Pick<EventLog<PairEventType>, "append">;
  /** Display names and zones (with whether each person shares theirs) come from the auth module. */
  profiles: (userIds: string[], executor: Executor) => Promise<Map<string, MemberProfile>>;
  /** The auth module locks user rows against deletion and answers those not deleted. */
  lockLiveUsers: (tx: Tx, userIds: string[]) => Promise<Set<string>>;
  inviteTtlHours: number;
};

type PairRow = typeof pairs.$inferSelect;
type MemberRow = typeof pairMembers.$inferSelect;

export type MemberProfile = { displayName: string; timeZone: string; shareTimeZone: boolean };

/**
 * A member as their pair sees them: the live profile while the pair is
 * active; once it ended, the snapshot taken at the end (a former partner
 * sees no later change). `timeZone` is what the figures use; `shownTimeZone`
 * what the partner may see (null unless shared).
 */
type MemberView = { displayName: string; timeZone: string; shownTimeZone: string | null };

type FrozenMember = Pick<MemberRow, "displayNameAtEnd" | "timeZoneAtEnd" | "sharedTimeZoneAtEnd">;

function memberView(pairStatus: PairRow["status"], member: FrozenMember, live: MemberProfile | undefined): MemberView {
  if (pairStatus === "ended" && member.timeZoneAtEnd !== null) {
    return {
      displayName: member.displayNameAtEnd ?? "former member",
      timeZone: member.timeZoneAtEnd,
      shownTimeZone: member.sharedTimeZoneAtEnd ? member.timeZoneAtEnd : null,
    };
  }
  return {
    displayName: live?.displayName ?? "former member",
    timeZone: live?.timeZone ?? "UTC",
    shownTimeZone: live?.shareTimeZone ? live.timeZone : null,
  };
}

const pairCursor = z.tuple([z.uuid()]);
const pairColumns = columnList(pairs, "p");

export function createPairsService(deps: PairsServiceDeps) {
  const { db, clock, history } = deps;
  const endingHandlers: PairEndingHandler[] = [];

  async function toPairs(rows: PairRow[], executor: Executor): Promise<Pair[]> {
    if (rows.length === 0) return [];
    const members = await executor
      .select({
        pairId: pairMembers.pairId,
        userId: pairMembers.userId,
        joinedAt: pairMembers.joinedAt,
        displayNameAtEnd: pairMembers.displayNameAtEnd,
        timeZoneAtEnd: pairMembers.timeZoneAtEnd,
        sharedTimeZoneAtEnd: pairMembers.sharedTimeZoneAtEnd,
      })
      .from(pairMembers)
      .where(
        inArray(
          pairMembers.pairId,
          rows.map((r) => r.id),
        ),
      )
      .orderBy(pairMembers.joinedAt, pairMembers.userId);
    const live = await deps.profiles([...new Set(members.map((m) => m.userId))], executor);
    return rows.map((row) => ({
      id: row.id,
      status: row.status,
      members: members
        .filter((m) => m.pairId === row.id)
        .map((m) => {
          const view = memberView(row.status, m, live.get(m.userId));
          return {
            userId: m.userId,
            displayName: view.displayName,
            timeZone: view.shownTimeZone,
            joinedAt: m.joinedAt.toISOString(),
          };
        }),
      createdAt: row.createdAt.toISOString(),
      endedAt: row.endedAt?.toISOString() ?? null,
      endedBy: row.endedBy,
      endReason: row.endReason,
    }));
  }

  async function toPair(row: PairRow, executor: Executor): Promise<Pair> {
    const [pair] = await toPairs([row], executor);
    if (!pair) throw new Error("pair vanished");
    return pair;
  }

  async function activePairOf(userId: string, executor: Executor = db): Promise<string | null> {
    const [row] = await executor
      .select({ pairId: activePairMembers.pairId })
      .from(activePairMembers)
      .where(eq(activePairMembers.userId, userId));
    return row?.pairId ?? null;
  }

  async function assertNotInPair(userId: string, executor: Executor): Promise<void> {
    if (await activePairOf(userId, executor)) throw new AppError("ALREADY_IN_PAIR");
  }

  /**
   * The pair, if `userId` is (or was) one of its members; otherwise 404,
   * exactly as for an id that does not exist. `lock` takes the pair row
   * and its chain head first, as every write does (`lockedPair`).
   */
  // The membership check every `{pairId}` route runs first: built and planned once.
  const memberPairUnlocked = db
    .select({ pair: pairs })
    .from(pairs)
    .innerJoin(pairMembers, and(eq(pairMembers.pairId, pairs.id), eq(pairMembers.userId, sql.placeholder("userId"))))
    .where(eq(pairs.id, sql.placeholder("pairId")))
    .prepare("pairs_member_pair");

  async function memberPair(
    executor: Executor,
    pairId: string,
    userId: string,
    lock?: "share" | "update",
  ): Promise<PairRow> {
    if (!isUuid(pairId)) throw notFound("pair");
    if (executor === db && !lock) {
      const [found] = await memberPairUnlocked.execute({ pairId, userId });
      if (!found) throw notFound("pair");
      return found.pair;
    }
    if (!lock) {
      const [found] = await executor
        .select({ pair: pairs })
        .from(pairs)
        .innerJoin(pairMembers, and(eq(pairMembers.pairId, pairs.id), eq(pairMembers.userId, userId)))
        .where(eq(pairs.id, pairId));
      if (!found) throw notFound("pair");
      return found.pair;
    }
    // The pair row, then its chain head, in one statement: see `lockedPair`.
    const [found] = await executeNamed<Record<string, unknown>>(
      executor,
      `pairs_lock_${lock}`,
      lockedPair(sql`JOIN ${pairMembers} m ON m.pair_id = p.id AND m.user_id = ${userId} WHERE p.id = ${pairId}`, lock),
    );
    if (!found) throw notFound("pair");
    return rowFrom(pairs, found);
  }

  /**
   * Locks the pair row, then the pair's event chain head, in that order:
   * the lock order of every write in a pair (a one-statement create takes
   * the pair, then the head, then its rows' locks at the end of the
   * statement; a write that took its rows first and the head last could
   * deadlock with it). Writes take the pair row FOR KEY SHARE: only leaving
   * changes a pair row, and it takes FOR UPDATE first, which waits for them
   * all; KEY SHARE is what their rows' foreign keys take anyway. (So any
   * future UPDATE of `pairs` must take FOR UPDATE first too.) The head,
   * FOR UPDATE, serialises a pair's writes from their start.
   */
  function lockedPair(where: SQL, lock: "share" | "update"): SQL {
    const strength = sql.raw(lock === "share" ? "KEY SHARE" : "UPDATE");
    return sql`WITH locked AS (SELECT ${pairColumns} FROM ${pairs} p ${where} FOR ${strength} OF p)
      SELECT locked.*, ${history.chainHeadLock(sql`locked.id`)} AS chain_head FROM locked`;
  }

  // "userId:pairId" of members seen; bounded, so a flood of ids cannot grow it without end.
  const knownMembers = new BoundedMap<string, true>(100_000);

  async function revokePendingInvites(tx: Tx, userIds: string[], now: Date): Promise<void> {
    await tx
      .update(invites)
      .set({ status: "revoked", closedAt: now })
      .where(and(inArray(invites.inviterId, userIds), eq(invites.status, "pending")));
  }

  return {
    activePairOf,

    /** Registers a module's part of the leaving rule; handlers run in registration order. */
    onPairEnding(handler: PairEndingHandler): void {
      endingHandlers.push(handler);
    },

    async createInvite(principal: Principal): Promise<Invite> {
      const now = clock.now();
      return inTransaction(db, async (tx) => {
        await assertNotInPair(principal.id, tx);
        // A new invite replaces the previous one.
        await revokePendingInvites(tx, [principal.id], now);
        const code = newInviteCode();
        const expiresAt = new Date(now.getTime() + deps.inviteTtlHours * 3_600_000);
        await tx.insert(invites).values({
          id: uuidv7(now),
          inviterId: principal.id,
          codeHash: hashInviteCode(normaliseInviteCode(code) as string),
          status: "pending",
          createdAt: now,
          expiresAt,
        });
        return { code, expiresAt: expiresAt.toISOString() };
      });
    },

    async currentInvite(principal: Principal): Promise<CurrentInvite> {
      const [invite] = await db
        .select()
        .from(invites)
        .where(and(eq(invites.inviterId, principal.id), eq(invites.status, "pending")));
      if (!invite || invite.expiresAt <= clock.now()) return { pending: false, createdAt: null, expiresAt: null };
      return { pending: true, createdAt: invite.createdAt.toISOString(), expiresAt: invite.expiresAt.toISOString() };
    },

    async revokeInvite(tx: Tx, principal: Principal): Promise<void> {
      await revokePendingInvites(tx, [principal.id], clock.now());
    },

    /**
     * Forms a pair from an invite, atomically: the invite row is locked, so
     * of two people joining one code at once exactly one succeeds; the
     * primary key of `active_pair_members` (one row per person) settles
     * every other race.
     */
    async join(tx: Tx, principal: Principal, typedCode: string): Promise<Pair> {
      const now = clock.now();
      const code = normaliseInviteCode(typedCode);
      if (!code) throw new AppError("INVITE_NOT_FOUND");
      const codeHash = hashInviteCode(code);
      const byCode = eq(invites.codeHash, codeHash);
      const [seen] = await tx.select({ inviterId: invites.inviterId }).from(invites).where(byCode);
      if (!seen) throw new AppError("INVITE_NOT_FOUND");
      const people = [seen.inviterId, principal.id];
      // Both people first (a deletion locks its person first, then the invites): neither can be
      // deleted while this pair forms, and one deleted meanwhile is seen here.
      const live = await deps.lockLiveUsers(tx, people);
      if (!live.has(principal.id)) throw new AppError("UNAUTHENTICATED");
      // Then this invite and every invite the join will revoke, in one statement in id order: two
      // people joining each other's invite at once would otherwise lock the two rows in opposite
      // orders (deadlock); this way the second waits, then finds its invite revoked.
      const locked = await tx
        .select()
        .from(invites)
        .where(or(byCode, and(inArray(invites.inviterId, people), eq(invites.status, "pending"))))
        .orderBy(invites.id)
        .for("update");
      const invite = locked.find((row) => row.codeHash === codeHash);
      if (!invite) throw new AppError("INVITE_NOT_FOUND");
      if (invite.inviterId === principal.id) throw new AppError("OWN_INVITE");
      if (invite.status === "used") throw new AppError("INVITE_USED");
      if (invite.status === "revoked") throw new AppError("INVITE_REVOKED");
      if (invite.expiresAt <= now) throw new AppError("INVITE_EXPIRED");
      await assertNotInPair(principal.id, tx);

      const pairId = uuidv7(now);
      const [row] = await tx.insert(pairs).values({ id: pairId, status: "active", createdAt: now }).returning();
      if (!row) throw new Error("insert returned no row");
      try {
        await tx.insert(activePairMembers).values([
          { userId: invite.inviterId, pairId },
          { userId: principal.id, pairId },
        ]);
        await tx.insert(pairMembers).values([
          { pairId, userId: invite.inviterId, joinedAt: now, active: true },
          { pairId, userId: principal.id, joinedAt: now, active: true },
        ]);
      } catch (error) {
        if (uniqueViolation(error)) throw new AppError("ALREADY_IN_PAIR", "One of you joined another pair meanwhile");
        throw error;
      }
      await tx.update(invites).set({ status: "used", closedAt: now, pairId }).where(eq(invites.id, invite.id));
      await revokePendingInvites(tx, [invite.inviterId, principal.id], now);
      await history.startChain(tx, pairId);
      await history.append(tx, {
        pairId,
        type: "pair.linked",
        actorId: principal.id,
        subjectType: "pair",
        subjectId: pairId,
        payload: { memberIds: [invite.inviterId, principal.id], invitedBy: invite.inviterId },
      });
      return toPair(row, tx);
    },

    async list(principal: Principal, page: { limit: number; cursor?: string | undefined }): Promise<Page<Pair>> {
      const after = decodeCursor(page.cursor, pairCursor);
      const rows = await db
        .select({ pair: pairs })
        .from(pairs)
        .innerJoin(pairMembers, and(eq(pairMembers.pairId, pairs.id), eq(pairMembers.userId, principal.id)))
        .where(after ? lt(pairs.id, after[0]) : undefined)
        .orderBy(desc(pairs.id))
        .limit(page.limit + 1);
      const result = pageOf(
        rows.map((r) => r.pair),
        page.limit,
        (r) => [r.id],
      );
      return { data: await toPairs(result.data, db), nextCursor: result.nextCursor };
    },

    async get(principal: Principal, pairId: string): Promise<Pair> {
      return toPair(await memberPair(db, pairId, principal.id), db);
    },

    /**
     * For `preValidation` hooks: 404 unless the caller is a member (current
     * or former). Membership rows are never deleted, so a yes stays true and
     * is remembered: most requests then need no query for this.
     */
    async requireMember(pairId: string, userId: string): Promise<void> {
      const key = `${userId}:${pairId}`;
      if (knownMembers.has(key)) return;
      await memberPair(db, pairId, userId);
      knownMembers.set(key, true);
    },

    /**
     * Locks the pair row and its chain head (`lockedPair`) for a write about one of its resources:
     * 404 for outsiders, but the caller decides when to refuse an ended
     * pair, so a missing resource still answers 404 before PAIR_ENDED.
     */
    async lockPair(tx: Tx, pairId: string, userId: string): Promise<{ id: string; active: boolean }> {
      const pair = await memberPair(tx, pairId, userId, "share");
      return { id: pair.id, active: pair.status === "active" };
    },

    /**
     * Every write in a pair starts here: the pair row and its chain head are
     * locked (`lockedPair`) and an ended pair refuses the write.
     */
    async lockForWrite(tx: Tx, pairId: string, userId: string): Promise<PairRow> {
      const pair = await memberPair(tx, pairId, userId, "share");
      if (pair.status === "ended") throw new AppError("PAIR_ENDED");
      return pair;
    },

    /**
     * `lockForWrite` as a subquery, for a write made in one statement: the
     * pair's id, its row locked (KEY SHARE), when `userId` may write in it;
     * no row otherwise (`explainRefusedWrite` then tells why). The chain head
     * follows later in the same statement (`history.appendAlong`): the same
     * lock order as `lockedPair`.
     */
    writableBy(pairId: string, userId: string): SQL {
      return sql`SELECT p.id FROM ${pairs} p
        JOIN ${pairMembers} m ON m.pair_id = p.id AND m.user_id = ${userId}
        WHERE p.id = ${pairId} AND p.status = 'active'
        FOR KEY SHARE OF p`;
    },

    /** Why `writableBy` found no row: 404 for outsiders, PAIR_ENDED for an ended pair. */
    async explainRefusedWrite(pairId: string, userId: string): Promise<never> {
      const pair = await memberPair(db, pairId, userId);
      if (pair.status === "ended") throw new AppError("PAIR_ENDED");
      throw new Error(`pair ${pairId} is writable, yet the write found no row`);
    },

    /**
     * For the sweep (no caller): locks the pair row like any write does and
     * answers false when the pair has ended, so system work skips it.
     */
    async lockActivePair(tx: Tx, pairId: string): Promise<boolean> {
      const [row] = await executeNamed<{ status: string }>(
        tx,
        "pairs_lock_for_sweep",
        lockedPair(sql`WHERE p.id = ${pairId}`, "share"),
      );
      return row?.status === "active";
    },

    /**
     * Ends the pair at once, on one member's word. Other modules' parts of
     * the leaving rule run first, in this transaction; then the members are
     * released (both may pair again) and `pair.ended` is appended.
     */
    async leave(tx: Tx, actorId: string, pairId: string, reason: EndReason): Promise<Pair> {
      const pair = await memberPair(tx, pairId, actorId, "update");
      if (pair.status === "ended") throw new AppError("PAIR_ENDED");
      for (const handler of endingHandlers) await handler(tx, { pairId, actorId, reason });
      const now = clock.now();
      const [ended] = await tx
        .update(pairs)
        .set({ status: "ended", endedAt: now, endedBy: actorId, endReason: reason })
        .where(eq(pairs.id, pairId))
        .returning();
      // Each member as the pair showed them now, for good: a former partner never sees later changes.
      const members = await tx.select().from(pairMembers).where(eq(pairMembers.pairId, pairId));
      const live = await deps.profiles(
        members.map((m) => m.userId),
        tx,
      );
      // Memberships first: an active one must have its row in active_pair_members.
      for (const member of members) {
        const view = memberView("active", member, live.get(member.userId));
        await tx
          .update(pairMembers)
          .set({
            active: false,
            displayNameAtEnd: view.displayName,
            timeZoneAtEnd: view.timeZone,
            sharedTimeZoneAtEnd: view.shownTimeZone !== null,
          })
          .where(and(eq(pairMembers.pairId, pairId), eq(pairMembers.userId, member.userId)));
      }
      await tx.delete(activePairMembers).where(
        and(
          inArray(
            activePairMembers.userId,
            members.map((member) => member.userId),
          ),
          eq(activePairMembers.pairId, pairId),
        ),
      );
      await history.append(tx, {
        pairId,
        type: "pair.ended",
        actorId,
        subjectType: "pair",
        subjectId: pairId,
        payload: { endedBy: actorId, reason },
      });
      return toPair(ended ?? pair, tx);
    },

    /** `member.updated` in the member's active pair: which profile fields changed, never their values. */
    async recordMemberUpdate(tx: Tx, userId: string, fields: string[]): Promise<void> {
      const pairId = await activePairOf(userId, tx);
      if (!pairId || fields.length === 0) return;
      // A pair that ended meanwhile (its leave held the lock) froze the member as they were: no news for it.
      const pair = await memberPair(tx, pairId, userId, "share");
      if (pair.status !== "active") return;
      await history.append(tx, {
        pairId,
        type: "member.updated",
        actorId: userId,
        subjectType: "member",
        subjectId: userId,
        payload: { userId, fields },
      });
    },

    /** The pair's members, the one who joined first first, and whether it is active (read models ask this). */
    async membership(pairId: string, executor: Executor = db): Promise<{ active: boolean; memberIds: string[] }> {
      const rows = await executor
        .select({ userId: pairMembers.userId, status: pairs.status })
        .from(pairMembers)
        .innerJoin(pairs, eq(pairs.id, pairMembers.pairId))
        .where(eq(pairMembers.pairId, pairId))
        .orderBy(pairMembers.joinedAt, pairMembers.userId);
      return { active: rows[0]?.status === "active", memberIds: rows.map((r) => r.userId) };
    },

    /** Every pair `userId` is or was in, oldest first, as the API shows them (exports list them all). */
    async allPairsOf(userId: string, executor: Executor = db): Promise<Pair[]> {
      const rows = await executor
        .select({ pair: pairs })
        .from(pairs)
        .innerJoin(pairMembers, and(eq(pairMembers.pairId, pairs.id), eq(pairMembers.userId, userId)))
        .orderBy(pairs.id);
      return toPairs(
        rows.map((r) => r.pair),
        executor,
      );
    },

    /**
     * Each member's zone in a pair: `timeZone` for computing (the trend's
     * weeks), `shownTimeZone` for showing to the partner (null unless
     * shared). Frozen at the end for an ended pair.
     */
    async memberZones(
      pairId: string,
      executor: Executor = db,
    ): Promise<Map<string, { timeZone: string; shownTimeZone: string | null }>> {
      const rows = await executor
        .select({ member: pairMembers, status: pairs.status })
        .from(pairMembers)
        .innerJoin(pairs, eq(pairs.id, pairMembers.pairId))
        .where(eq(pairMembers.pairId, pairId));
      const live = await deps.profiles(
        rows.map((r) => r.member.userId),
        executor,
      );
      return new Map(
        rows.map(({ member, status }) => {
          const { timeZone, shownTimeZone } = memberView(status, member, live.get(member.userId));
          return [member.userId, { timeZone, shownTimeZone }];
        }),
      );
    },

    /**
     * Deleting an account: the name it had when its pairs ended leaves them,
     * and so does the zone it shared; the zone itself stays for the figures,
     * as on the person's tombstone.
     */
    async eraseMemberSnapshots(tx: Tx, userId: string, pairIds: string[]): Promise<void> {
      if (pairIds.length === 0) return;
      await tx
        .update(pairMembers)
        .set({ displayNameAtEnd: null, sharedTimeZoneAtEnd: false })
        .where(and(eq(pairMembers.userId, userId), inArray(pairMembers.pairId, pairIds)));
    },

    /** The partner of `userId` in a pair (for modules that address "the other one"). */
    async partnerOf(pairId: string, userId: string, executor: Executor = db): Promise<string | null> {
      const [other] = await executor
        .select({ userId: pairMembers.userId })
        .from(pairMembers)
        .where(and(eq(pairMembers.pairId, pairId), ne(pairMembers.userId, userId)));
      return other?.userId ?? null;
    },
  };
}

export type PairsService = ReturnType<typeof createPairsService>;

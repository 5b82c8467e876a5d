import { and, asc, desc, eq, inArray, lt } from "drizzle-orm";
import { z } from "zod";
import type { Clock } from "../../clock.js";
import type { Db, Tx } from "../../db/client.js";
import { boundaries, boundaryVersions } from "../../db/schema/boundaries.js";
import { AppError, notFound } from "../../errors/app-error.js";
import { assertVersion } from "../../http/etag.js";
import { decodeCursor, type Page, pageOf } from "../../http/pagination.js";
import { isUuid, uuidv7 } from "../../ids.js";
import type { PairEndingHandler, PairsService } from "../pairs/index.js";
import { type BoundaryAction, decide, initialState, statusOf, type Transition } from "./boundaries.machine.js";
import {
  type Content,
  changedFieldsOf,
  contentOf,
  type Locked,
  readBoundary,
  stateOf,
  toBoundaries,
  toRevision,
} from "./boundaries.rows.js";
import type {
  Boundary,
  BoundaryListQuery,
  BoundaryRevision,
  ProposeBoundaryInput,
  ProposeRevisionInput,
} from "./boundaries.schemas.js";
import { type BoundaryStore, timeBoxOver } from "./boundaries.store.js";

export type BoundariesServiceDeps = {
  db: Db;
  clock: Clock;
  pairs: Pick<PairsService, "lockForWrite">;
  store: BoundaryStore;
};

const boundaryCursor = z.tuple([z.uuid()]);

/** Answering a revision is answering its proposer; every other action answers (or is) the boundary's proposer. */
const revisionAnswers: readonly BoundaryAction[] = ["acceptRevision", "declineRevision", "cancelRevision"];

function invalidField(path: string, message: string): AppError {
  return new AppError("VALIDATION_FAILED", `${path} ${message}`, { errors: [{ path: `body.${path}`, message }] });
}

/**
 * The members' reads and writes of boundaries, and this module's part of
 * leaving a pair. Every write locks the pair row first, then the boundary,
 * checks If-Match, then asks the table (`decide`) and writes its `to`.
 */
export function createBoundariesService(deps: BoundariesServiceDeps) {
  const { db, clock, pairs, store } = deps;

  /** Every member write: the pair row first (404 / PAIR_ENDED), then the boundary row. */
  async function lockForMember(tx: Tx, pairId: string, userId: string, id: string): Promise<Locked> {
    await pairs.lockForWrite(tx, pairId, userId);
    if (!isUuid(id)) throw notFound("boundary");
    const locked = await store.lockRow(tx, pairId, id, "wait");
    if (!locked) throw notFound("boundary");
    return locked;
  }

  /** The table's transition for `userId` doing `action`, or a 409 with the rule's code. */
  function decideFor<A extends BoundaryAction>(locked: Locked, action: A, userId: string): Transition & { action: A } {
    const proposer = revisionAnswers.includes(action) ? locked.pending?.proposedBy : locked.row.proposedBy;
    return decide(stateOf(locked), action, proposer === undefined ? null : proposer === userId);
  }

  return {
    /** For `preValidation`: 404 unless the boundary exists in this pair (after the member check). */
    async requireBoundary(pairId: string, id: string): Promise<void> {
      if (!isUuid(id)) throw notFound("boundary");
      const [found] = await db
        .select({ id: boundaries.id })
        .from(boundaries)
        .where(and(eq(boundaries.pairId, pairId), eq(boundaries.id, id)));
      if (!found) throw notFound("boundary");
    },

    get: (pairId: string, id: string): Promise<Boundary> => readBoundary(db, pairId, id),

    async list(pairId: string, query: BoundaryListQuery): Promise<Page<Boundary>> {
      const after = decodeCursor(query.cursor, boundaryCursor);
      const conditions = [eq(boundaries.pairId, pairId)];
      if (query.status) conditions.push(inArray(boundaries.status, query.status));
      if (query.category) conditions.push(inArray(boundaries.category, query.category));
      if (after) conditions.push(lt(boundaries.id, after[0]));
      const rows = await db
        .select()
        .from(boundaries)
        .where(and(...conditions))
        .orderBy(desc(boundaries.id))
        .limit(query.limit + 1);
      const page = pageOf(rows, query.limit, (r) => [r.id]);
      return { data: await toBoundaries(page.data, db), nextCursor: page.nextCursor };
    },

    async propose(tx: Tx, userId: string, pairId: string, input: ProposeBoundaryInput): Promise<Boundary> {
      const now = clock.now();
      await pairs.lockForWrite(tx, pairId, userId);
      const content: Content = {
        title: input.title,
        text: input.text,
        category: input.category,
        startsAt: input.startsAt ? new Date(input.startsAt) : null,
        endsAt: input.endsAt ? new Date(input.endsAt) : null,
        reviewAt: input.reviewAt ? new Date(input.reviewAt) : null,
      };
      if (content.endsAt && content.endsAt <= now) throw invalidField("endsAt", "must be in the future");
      const id = uuidv7(now);
      const status = statusOf(initialState);
      const [row] = await tx
        .insert(boundaries)
        .values({
          pairId,
          id,
          status,
          version: 1,
          rowVersion: 1,
          ...content,
          proposedBy: userId,
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      if (!row) throw new Error("insert returned no row");
      await tx.insert(boundaryVersions).values({
        pairId,
        id: uuidv7(now),
        boundaryId: id,
        version: 1,
        status: "pending",
        ...content,
        changedFields: [],
        proposedBy: userId,
        proposedAt: now,
      });
      await store.appendEvent(tx, row, "proposed", userId, { status, version: 1, proposedBy: userId });
      return readBoundary(tx, pairId, id);
    },

    async accept(tx: Tx, userId: string, pairId: string, id: string, expected?: number): Promise<Boundary> {
      const now = clock.now();
      const locked = await lockForMember(tx, pairId, userId, id);
      const { row } = locked;
      assertVersion(expected, row.rowVersion);
      const transition = decideFor(locked, "accept", userId);
      if (timeBoxOver(row, now)) throw new AppError("TIME_BOX_OVER", "Its endsAt passed before it was accepted");
      await store.updateVersion(tx, store.pendingOf(locked), { status: "agreed", agreedBy: userId, agreedAt: now });
      await store.enter(tx, row, transition, now);
      await store.appendEntered(tx, row, transition, userId, {
        version: row.version,
        proposedBy: row.proposedBy,
        agreedBy: userId,
      });
      return readBoundary(tx, pairId, id);
    },

    async decline(
      tx: Tx,
      userId: string,
      pairId: string,
      id: string,
      reason: string | undefined,
      expected?: number,
    ): Promise<Boundary> {
      const now = clock.now();
      const locked = await lockForMember(tx, pairId, userId, id);
      const { row } = locked;
      assertVersion(expected, row.rowVersion);
      const transition = decideFor(locked, "decline", userId);
      await store.closePending(tx, store.pendingOf(locked), "declined", userId, now, reason ?? null);
      await store.enter(tx, row, transition, now, {
        closedAt: now,
        closedBy: userId,
        closeCause: "declined",
        closeReason: reason ?? null,
      });
      await store.appendEntered(tx, row, transition, userId, { version: row.version });
      return readBoundary(tx, pairId, id);
    },

    async cancel(tx: Tx, userId: string, pairId: string, id: string, expected?: number): Promise<Boundary> {
      const now = clock.now();
      const locked = await lockForMember(tx, pairId, userId, id);
      const { row } = locked;
      assertVersion(expected, row.rowVersion);
      const transition = decideFor(locked, "cancel", userId);
      await store.closePending(tx, store.pendingOf(locked), "cancelled", userId, now);
      await store.enter(tx, row, transition, now, {
        closedAt: now,
        closedBy: userId,
        closeCause: "cancelled_by_proposer",
      });
      await store.appendEntered(tx, row, transition, userId, { version: row.version, cause: "cancelled_by_proposer" });
      return readBoundary(tx, pairId, id);
    },

    async proposeRevision(
      tx: Tx,
      userId: string,
      pairId: string,
      id: string,
      input: ProposeRevisionInput,
      expected?: number,
    ): Promise<{ revision: BoundaryRevision; rowVersion: number }> {
      const now = clock.now();
      const locked = await lockForMember(tx, pairId, userId, id);
      const { row } = locked;
      const current = contentOf(row);
      const at = (value: string | null | undefined, before: Date | null) =>
        value === undefined ? before : value === null ? null : new Date(value);
      const next: Content = {
        title: input.title ?? current.title,
        text: input.text ?? current.text,
        category: input.category ?? current.category,
        startsAt: at(input.startsAt, current.startsAt),
        endsAt: at(input.endsAt, current.endsAt),
        reviewAt: at(input.reviewAt, current.reviewAt),
      };
      // Input checks that need the version in force come before If-Match and the state rules (400, 412, 409).
      if (next.startsAt && next.endsAt && next.endsAt <= next.startsAt) {
        throw invalidField(input.endsAt !== undefined ? "endsAt" : "startsAt", "must leave endsAt after startsAt");
      }
      if (input.endsAt && next.endsAt && next.endsAt <= now) throw invalidField("endsAt", "must be in the future");
      assertVersion(expected, row.rowVersion);
      const transition = decideFor(locked, "proposeRevision", userId);
      if (timeBoxOver(row, now)) throw new AppError("TIME_BOX_OVER");
      const changedFields = changedFieldsOf(current, next);
      if (changedFields.length === 0) throw new AppError("REVISION_CHANGES_NOTHING");
      const [revision] = await tx
        .insert(boundaryVersions)
        .values({
          pairId,
          id: uuidv7(now),
          boundaryId: id,
          // A declined or cancelled revision's number is used again.
          version: row.version + 1,
          status: "pending",
          ...next,
          changedFields,
          reason: input.reason ?? null,
          proposedBy: userId,
          proposedAt: now,
        })
        .returning();
      if (!revision) throw new Error("insert returned no row");
      await store.enter(tx, row, transition, now);
      await store.appendEvent(tx, row, "revision_proposed", userId, {
        version: revision.version,
        status: "pending",
        fields: changedFields,
        proposedBy: userId,
      });
      return { revision: toRevision(revision), rowVersion: row.rowVersion + 1 };
    },

    async answerRevision(
      tx: Tx,
      userId: string,
      pairId: string,
      id: string,
      number: string,
      action: Extract<BoundaryAction, "acceptRevision" | "declineRevision" | "cancelRevision">,
      options: { reason?: string | undefined; expected?: number | undefined } = {},
    ): Promise<Boundary> {
      const now = clock.now();
      if (!/^[1-9][0-9]{0,8}$/.test(number)) throw notFound("revision");
      const locked = await lockForMember(tx, pairId, userId, id);
      const { row, pending } = locked;
      assertVersion(options.expected, row.rowVersion);
      if (stateOf(locked) === "revising" && pending?.version !== Number(number)) {
        throw new AppError("REVISION_NOT_PENDING", `The pending revision is number ${pending?.version}`);
      }
      const transition = decideFor(locked, action, userId);
      const revision = store.pendingOf(locked);
      if (action === "acceptRevision") {
        if (timeBoxOver(row, now)) throw new AppError("TIME_BOX_OVER");
        await store.updateVersion(tx, revision, { status: "agreed", agreedBy: userId, agreedAt: now });
        await store.enter(tx, row, transition, now, { ...contentOf(revision), version: revision.version });
        await store.appendEvent(tx, row, "revised", userId, {
          version: revision.version,
          status: "agreed",
          fields: revision.changedFields,
          proposedBy: revision.proposedBy,
          agreedBy: userId,
        });
      } else if (action === "declineRevision") {
        await store.closePending(tx, revision, "declined", userId, now, options.reason ?? null);
        await store.enter(tx, row, transition, now);
        await store.appendEvent(tx, row, "revision_declined", userId, {
          version: revision.version,
          status: "declined",
        });
      } else {
        await store.closePending(tx, revision, "cancelled", userId, now);
        await store.enter(tx, row, transition, now);
        await store.appendEvent(tx, row, "revision_cancelled", userId, {
          version: revision.version,
          status: "cancelled",
          cause: "cancelled_by_proposer",
        });
      }
      return readBoundary(tx, pairId, id);
    },

    async withdraw(
      tx: Tx,
      userId: string,
      pairId: string,
      id: string,
      reason: string,
      expected?: number,
    ): Promise<Boundary> {
      const now = clock.now();
      const locked = await lockForMember(tx, pairId, userId, id);
      assertVersion(expected, locked.row.rowVersion);
      await store.retire(tx, locked, decideFor(locked, "withdraw", userId), "withdrawn", userId, now, reason);
      return readBoundary(tx, pairId, id);
    },

    /**
     * The leaving rule, inside the leave transaction (the pair row is
     * already locked for update): proposals and pending revisions are
     * cancelled, agreed boundaries ended, one event each.
     */
    endForPair: (async (tx, { pairId, actorId }) => {
      const now = clock.now();
      const open = await tx
        .select({ id: boundaries.id })
        .from(boundaries)
        .where(and(eq(boundaries.pairId, pairId), inArray(boundaries.status, ["proposed", "agreed"])))
        .orderBy(asc(boundaries.id));
      for (const { id } of open) {
        const locked = await store.lockRow(tx, pairId, id, "wait");
        if (!locked) continue;
        await store.retire(tx, locked, store.decideForSystem(locked, "endWithPair"), "pair_ended", actorId, now);
      }
    }) satisfies PairEndingHandler,
  };
}

export type BoundariesService = ReturnType<typeof createBoundariesService>;

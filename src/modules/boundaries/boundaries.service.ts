import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lt, lte, ne, or, sql } from "drizzle-orm";
import { z } from "zod";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { boundaries, boundaryVersions } from "../../db/schema/boundaries.js";
import { AppError, notFound } from "../../errors/app-error.js";
import { assertVersion } from "../../http/etag.js";
import { decodeCursor, type Page, pageOf } from "../../http/pagination.js";
import { isUuid, uuidv7 } from "../../ids.js";
import { sweepPerPair } from "../../sweep.js";
import type { BoundaryFigures, InboxItem } from "../consistency/index.js";
import type { HistoryService } from "../history/index.js";
import type { PairEndingHandler, PairsService } from "../pairs/index.js";
import { type BoundaryAction, type BoundaryState, decide } from "./boundaries.machine.js";
import {
  type Boundary,
  type BoundaryListQuery,
  type BoundaryRevision,
  type ContentField,
  contentFields,
  type ProposeBoundaryInput,
  type ProposeRevisionInput,
} from "./boundaries.schemas.js";

export type BoundariesServiceDeps = {
  db: Db;
  clock: Clock;
  pairs: Pick<PairsService, "lockForWrite" | "lockActivePair">;
  history: Pick<HistoryService, "append">;
};

type BoundaryRow = typeof boundaries.$inferSelect;
type VersionRow = typeof boundaryVersions.$inferSelect;
type Content = Pick<BoundaryRow, ContentField>;
type Locked = { row: BoundaryRow; pending: VersionRow | undefined };
type CloseCause = NonNullable<BoundaryRow["closeCause"]>;

/** Every event this module appends (as `boundary.<type>`). */
export const boundaryEventTypes = [
  "proposed",
  "agreed",
  "declined",
  "cancelled",
  "revision_proposed",
  "revised",
  "revision_declined",
  "revision_cancelled",
  "withdrawn",
  "ended",
  "review_due",
] as const;
type BoundaryEventType = (typeof boundaryEventTypes)[number];

/** Candidates one sweep pass handles per task; the rest wait for the next pass. */
const SWEEP_BATCH = 500;
const EXPORT_BATCH = 200;
const boundaryCursor = z.tuple([z.uuid()]);

const iso = (at: Date | null) => at?.toISOString() ?? null;
const sameInstant = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null);

function stateOf({ row, pending }: Locked): BoundaryState {
  return row.status === "agreed" && pending ? "revising" : row.status;
}

function contentOf(row: Content): Content {
  return {
    title: row.title,
    text: row.text,
    category: row.category,
    startsAt: row.startsAt,
    endsAt: row.endsAt,
    reviewAt: row.reviewAt,
  };
}

function changedFieldsOf(from: Content, to: Content): ContentField[] {
  return contentFields.filter((field) => {
    const a = from[field];
    const b = to[field];
    return a instanceof Date || b instanceof Date || a === null || b === null
      ? !sameInstant(a as Date | null, b as Date | null)
      : a !== b;
  });
}

/** A time box whose end has come: the sweep is about to end (or cancel) it, so nothing may extend it. */
const timeBoxOver = (row: BoundaryRow, now: Date) => row.endsAt !== null && row.endsAt <= now;

function invalidField(path: string, message: string): AppError {
  return new AppError("VALIDATION_FAILED", `${path} ${message}`, { errors: [{ path: `body.${path}`, message }] });
}

function consentOf(version: VersionRow): { agreedBy: string; agreedAt: string } {
  if (!version.agreedBy || !version.agreedAt) throw new Error(`agreed version ${version.id} has no consent`);
  return { agreedBy: version.agreedBy, agreedAt: version.agreedAt.toISOString() };
}

function toRevision(row: VersionRow): BoundaryRevision {
  return {
    boundaryId: row.boundaryId,
    version: row.version,
    status: row.status,
    title: row.title,
    text: row.text,
    category: row.category,
    startsAt: iso(row.startsAt),
    endsAt: iso(row.endsAt),
    reviewAt: iso(row.reviewAt),
    changedFields: row.changedFields as ContentField[],
    reason: row.reason,
    proposedBy: row.proposedBy,
    proposedAt: row.proposedAt.toISOString(),
  };
}

export function createBoundariesService(deps: BoundariesServiceDeps) {
  const { db, clock, pairs, history } = deps;

  async function toBoundaries(rows: BoundaryRow[], executor: Executor): Promise<Boundary[]> {
    const first = rows[0];
    if (!first) return [];
    const versionRows = await executor
      .select()
      .from(boundaryVersions)
      .where(
        and(
          eq(boundaryVersions.pairId, first.pairId),
          inArray(
            boundaryVersions.boundaryId,
            rows.map((r) => r.id),
          ),
          inArray(boundaryVersions.status, ["agreed", "pending"]),
        ),
      )
      .orderBy(asc(boundaryVersions.version));
    return rows.map((row) => {
      const own = versionRows.filter((v) => v.boundaryId === row.id);
      // A proposal's own pending row is the proposal itself, not a revision.
      const pending = row.status === "agreed" ? own.find((v) => v.status === "pending") : undefined;
      return {
        id: row.id,
        pairId: row.pairId,
        status: row.status,
        version: row.version,
        rowVersion: row.rowVersion,
        title: row.title,
        text: row.text,
        category: row.category,
        startsAt: iso(row.startsAt),
        endsAt: iso(row.endsAt),
        reviewAt: iso(row.reviewAt),
        proposedBy: row.proposedBy,
        pendingRevision: pending ? toRevision(pending) : null,
        versions: own
          .filter((v) => v.status === "agreed")
          .map((v) => ({
            version: v.version,
            title: v.title,
            text: v.text,
            category: v.category,
            startsAt: iso(v.startsAt),
            endsAt: iso(v.endsAt),
            reviewAt: iso(v.reviewAt),
            changedFields: v.changedFields as ContentField[],
            reason: v.reason,
            proposedBy: v.proposedBy,
            proposedAt: v.proposedAt.toISOString(),
            ...consentOf(v),
          })),
        closure:
          row.closeCause && row.closedAt
            ? { cause: row.closeCause, by: row.closedBy, at: row.closedAt.toISOString(), reason: row.closeReason }
            : null,
        createdAt: row.createdAt.toISOString(),
        updatedAt: row.updatedAt.toISOString(),
      };
    });
  }

  async function read(executor: Executor, pairId: string, id: string): Promise<Boundary> {
    if (!isUuid(id)) throw notFound("boundary");
    const rows = await executor
      .select()
      .from(boundaries)
      .where(and(eq(boundaries.pairId, pairId), eq(boundaries.id, id)));
    const [boundary] = await toBoundaries(rows, executor);
    if (!boundary) throw notFound("boundary");
    return boundary;
  }

  /**
   * Locks the boundary row (its lock guards its versions too) and reads
   * its pending proposal or revision. `skip` is for the sweep: a row another
   * transaction holds is left for the next pass.
   */
  async function lockRow(tx: Tx, pairId: string, id: string, mode: "wait" | "skip"): Promise<Locked | undefined> {
    const query = tx
      .select()
      .from(boundaries)
      .where(and(eq(boundaries.pairId, pairId), eq(boundaries.id, id)));
    const [row] = mode === "skip" ? await query.for("update", { skipLocked: true }) : await query.for("update");
    if (!row) return undefined;
    const [pending] = await tx
      .select()
      .from(boundaryVersions)
      .where(
        and(
          eq(boundaryVersions.pairId, pairId),
          eq(boundaryVersions.boundaryId, id),
          eq(boundaryVersions.status, "pending"),
        ),
      );
    return { row, pending };
  }

  /** Every member write: the pair row first (404 / PAIR_ENDED), then the boundary row. */
  async function lockForMember(tx: Tx, pairId: string, userId: string, id: string): Promise<Locked> {
    await pairs.lockForWrite(tx, pairId, userId);
    if (!isUuid(id)) throw notFound("boundary");
    const locked = await lockRow(tx, pairId, id, "wait");
    if (!locked) throw notFound("boundary");
    return locked;
  }

  function pendingOf(locked: Locked): VersionRow {
    if (!locked.pending) throw new Error(`boundary ${locked.row.id} has no pending version`);
    return locked.pending;
  }

  async function updateBoundary(tx: Tx, row: BoundaryRow, now: Date, changes: Partial<BoundaryRow>): Promise<void> {
    await tx
      .update(boundaries)
      .set({ ...changes, rowVersion: row.rowVersion + 1, updatedAt: now })
      .where(and(eq(boundaries.pairId, row.pairId), eq(boundaries.id, row.id)));
  }

  async function updateVersion(tx: Tx, version: VersionRow, changes: Partial<VersionRow>): Promise<void> {
    await tx
      .update(boundaryVersions)
      .set(changes)
      .where(and(eq(boundaryVersions.pairId, version.pairId), eq(boundaryVersions.id, version.id)));
  }

  /** Ids, states, numbers and field names only: titles, texts and reasons stay in the rows. */
  function appendEvent(
    tx: Tx,
    row: BoundaryRow,
    type: BoundaryEventType,
    actorId: string | null,
    payload: Record<string, unknown>,
  ) {
    return history.append(tx, {
      pairId: row.pairId,
      type: `boundary.${type}`,
      actorId,
      subjectType: "boundary",
      subjectId: row.id,
      payload,
    });
  }

  /** Closes the proposal (version 1) or the pending revision with `status`. */
  async function closePending(
    tx: Tx,
    pending: VersionRow,
    status: "declined" | "cancelled",
    by: string | null,
    now: Date,
    reason: string | null = null,
  ): Promise<void> {
    await updateVersion(tx, pending, { status, closedBy: by, closedAt: now, closeReason: reason });
  }

  /**
   * Withdrawing, a time box ending and the pair ending all cancel a pending
   * revision first (`boundary.revision_cancelled`), then retire the
   * boundary. One function, so the three paths cannot drift apart.
   */
  async function retire(
    tx: Tx,
    locked: Locked,
    action: Extract<BoundaryAction, "withdraw" | "endTimeBox" | "endWithPair">,
    cause: CloseCause,
    by: string | null,
    now: Date,
    reason: string | null = null,
  ): Promise<void> {
    const { row } = locked;
    const from = stateOf(locked);
    const transition = decide(from, action, action === "withdraw" ? by === row.proposedBy : null);
    const to = transition.to;
    if (to !== "withdrawn" && to !== "ended" && to !== "cancelled") throw new Error(`cannot retire to ${to}`);
    if (from === "revising") {
      const pending = pendingOf(locked);
      await closePending(tx, pending, "cancelled", by, now);
      await appendEvent(tx, row, "revision_cancelled", by, {
        version: pending.version,
        status: "cancelled",
        cause,
      });
    }
    if (to === "cancelled") {
      // A proposal is cancelled, never withdrawn or ended.
      await closePending(tx, pendingOf(locked), "cancelled", by, now);
    }
    await updateBoundary(tx, row, now, {
      status: to,
      closedAt: now,
      closedBy: by,
      closeCause: cause,
      closeReason: reason,
    });
    await appendEvent(tx, row, to, by, { status: to, version: row.version, cause });
  }

  /** One transaction per candidate: the pair row first (skipping ended pairs), then the row, skipping locked ones. */
  async function sweepEach(
    candidates: { pairId: string; id: string }[],
    work: (tx: Tx, locked: Locked) => Promise<boolean>,
  ): Promise<number> {
    return sweepPerPair(db, pairs.lockActivePair, candidates, async (tx, candidate) => {
      const locked = await lockRow(tx, candidate.pairId, candidate.id, "skip");
      return locked ? work(tx, locked) : false;
    });
  }

  const candidateColumns = { pairId: boundaries.pairId, id: boundaries.id };

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

    get: (pairId: string, id: string): Promise<Boundary> => read(db, pairId, id),

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
      const [row] = await tx
        .insert(boundaries)
        .values({
          pairId,
          id,
          status: "proposed",
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
      await appendEvent(tx, row, "proposed", userId, { status: "proposed", version: 1, proposedBy: userId });
      return read(tx, pairId, id);
    },

    async accept(tx: Tx, userId: string, pairId: string, id: string, expected?: number): Promise<Boundary> {
      const now = clock.now();
      const locked = await lockForMember(tx, pairId, userId, id);
      const { row } = locked;
      assertVersion(expected, row.rowVersion);
      decide(stateOf(locked), "accept", row.proposedBy === userId);
      if (timeBoxOver(row, now)) throw new AppError("TIME_BOX_OVER", "Its endsAt passed before it was accepted");
      await updateVersion(tx, pendingOf(locked), { status: "agreed", agreedBy: userId, agreedAt: now });
      await updateBoundary(tx, row, now, { status: "agreed" });
      await appendEvent(tx, row, "agreed", userId, {
        status: "agreed",
        version: row.version,
        proposedBy: row.proposedBy,
        agreedBy: userId,
      });
      return read(tx, pairId, id);
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
      decide(stateOf(locked), "decline", row.proposedBy === userId);
      await closePending(tx, pendingOf(locked), "declined", userId, now, reason ?? null);
      await updateBoundary(tx, row, now, {
        status: "declined",
        closedAt: now,
        closedBy: userId,
        closeCause: "declined",
        closeReason: reason ?? null,
      });
      await appendEvent(tx, row, "declined", userId, { status: "declined", version: row.version });
      return read(tx, pairId, id);
    },

    async cancel(tx: Tx, userId: string, pairId: string, id: string, expected?: number): Promise<Boundary> {
      const now = clock.now();
      const locked = await lockForMember(tx, pairId, userId, id);
      const { row } = locked;
      assertVersion(expected, row.rowVersion);
      decide(stateOf(locked), "cancel", row.proposedBy === userId);
      await closePending(tx, pendingOf(locked), "cancelled", userId, now);
      await updateBoundary(tx, row, now, {
        status: "cancelled",
        closedAt: now,
        closedBy: userId,
        closeCause: "cancelled_by_proposer",
      });
      await appendEvent(tx, row, "cancelled", userId, {
        status: "cancelled",
        version: row.version,
        cause: "cancelled_by_proposer",
      });
      return read(tx, pairId, id);
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
      decide(stateOf(locked), "proposeRevision", row.proposedBy === userId);
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
      await updateBoundary(tx, row, now, {});
      await appendEvent(tx, row, "revision_proposed", userId, {
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
      const state = stateOf(locked);
      if (state === "revising" && pending?.version !== Number(number)) {
        throw new AppError("REVISION_NOT_PENDING", `The pending revision is number ${pending?.version}`);
      }
      decide(state, action, pending ? pending.proposedBy === userId : null);
      const revision = pendingOf(locked);
      if (action === "acceptRevision") {
        if (timeBoxOver(row, now)) throw new AppError("TIME_BOX_OVER");
        await updateVersion(tx, revision, { status: "agreed", agreedBy: userId, agreedAt: now });
        await updateBoundary(tx, row, now, { ...contentOf(revision), version: revision.version });
        await appendEvent(tx, row, "revised", userId, {
          version: revision.version,
          status: "agreed",
          fields: revision.changedFields,
          proposedBy: revision.proposedBy,
          agreedBy: userId,
        });
      } else if (action === "declineRevision") {
        await closePending(tx, revision, "declined", userId, now, options.reason ?? null);
        await updateBoundary(tx, row, now, {});
        await appendEvent(tx, row, "revision_declined", userId, { version: revision.version, status: "declined" });
      } else {
        await closePending(tx, revision, "cancelled", userId, now);
        await updateBoundary(tx, row, now, {});
        await appendEvent(tx, row, "revision_cancelled", userId, {
          version: revision.version,
          status: "cancelled",
          cause: "cancelled_by_proposer",
        });
      }
      return read(tx, pairId, id);
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
      await retire(tx, locked, "withdraw", "withdrawn", userId, now, reason);
      return read(tx, pairId, id);
    },

    /**
     * The leaving rule, inside the leave transaction (the pair row is
     * already locked for update): proposals and pending revisions are
     * cancelled, agreed boundaries ended, one event each.
     */
    endForPair: (async (tx, { pairId, actorId }) => {
      const now = clock.now();
      const open = await tx
        .select(candidateColumns)
        .from(boundaries)
        .where(and(eq(boundaries.pairId, pairId), inArray(boundaries.status, ["proposed", "agreed"])))
        .orderBy(asc(boundaries.id));
      for (const { id } of open) {
        const locked = await lockRow(tx, pairId, id, "wait");
        if (!locked) continue;
        await retire(tx, locked, "endWithPair", "pair_ended", actorId, now);
      }
    }) satisfies PairEndingHandler,

    /**
     * The pair's boundary figures: agreed now (whatever the window), and
     * accepted revisions and withdrawals whose moment falls in the window
     * (`since` null: ever).
     */
    async figuresFor(pairId: string, since: Date | null): Promise<BoundaryFigures> {
      const from = since ? sql`${since.toISOString()}::timestamptz` : sql`'-infinity'::timestamptz`;
      const result = await db.execute<BoundaryFigures>(sql`
        SELECT
          (SELECT count(*) FROM boundaries WHERE pair_id = ${pairId} AND status = 'agreed')::int AS agreed,
          (SELECT count(*) FROM boundary_versions
            WHERE pair_id = ${pairId} AND status = 'agreed' AND version > 1 AND agreed_at >= ${from})::int AS revisions,
          (SELECT count(*) FROM boundaries
            WHERE pair_id = ${pairId} AND status = 'withdrawn' AND closed_at >= ${from})::int AS withdrawn`);
      return result.rows[0] ?? { agreed: 0, revisions: 0, withdrawn: 0 };
    },

    /**
     * What awaits `userId`'s consent: the partner's proposals and the
     * partner's pending revisions, while their time box still allows an
     * answer.
     */
    async inboxFor(pairId: string, userId: string, now: Date): Promise<InboxItem[]> {
      const open = or(isNull(boundaries.endsAt), gt(boundaries.endsAt, now));
      const proposals = await db
        .select({ id: boundaries.id, since: boundaries.createdAt, until: boundaries.endsAt })
        .from(boundaries)
        .where(
          and(
            eq(boundaries.pairId, pairId),
            eq(boundaries.status, "proposed"),
            ne(boundaries.proposedBy, userId),
            open,
          ),
        );
      const revisions = await db
        .select({ id: boundaries.id, revision: boundaryVersions.version, since: boundaryVersions.proposedAt })
        .from(boundaryVersions)
        .innerJoin(
          boundaries,
          and(eq(boundaries.pairId, boundaryVersions.pairId), eq(boundaries.id, boundaryVersions.boundaryId)),
        )
        .where(
          and(
            eq(boundaryVersions.pairId, pairId),
            eq(boundaryVersions.status, "pending"),
            ne(boundaryVersions.proposedBy, userId),
            eq(boundaries.status, "agreed"),
            open,
          ),
        );
      return [
        ...proposals.map(
          (p): InboxItem => ({
            type: "boundaryProposal",
            subjectType: "boundary",
            subjectId: p.id,
            revision: null,
            since: p.since,
            until: p.until,
          }),
        ),
        ...revisions.map(
          (r): InboxItem => ({
            type: "boundaryRevision",
            subjectType: "boundary",
            subjectId: r.id,
            revision: r.revision,
            since: r.since,
            until: null,
          }),
        ),
      ];
    },

    /** Every boundary of a pair as the API shows it (agreed versions, pending revision), a batch at a time. */
    async *exportBatches(executor: Executor, pairId: string): AsyncGenerator<Boundary[]> {
      let after: string | undefined;
      while (true) {
        const rows = await executor
          .select()
          .from(boundaries)
          .where(and(eq(boundaries.pairId, pairId), after ? gt(boundaries.id, after) : undefined))
          .orderBy(asc(boundaries.id))
          .limit(EXPORT_BATCH);
        if (rows.length > 0) yield await toBoundaries(rows, executor);
        const last = rows.at(-1);
        if (!last || rows.length < EXPORT_BATCH) return;
        after = last.id;
      }
    },

    /**
     * Deleting an account. What both partners agreed to stays readable: an
     * agreed version's title and text, and the content in force of a
     * boundary that was ever agreed, belong to both. What only the deleted
     * person wrote is erased: proposals and revisions of theirs that were
     * never agreed (title and text emptied), and their own words (the
     * reasons they gave for a revision, a decline or a withdrawal).
     */
    async eraseWordsOf(tx: Tx, userId: string, pairIds: string[], now: Date): Promise<void> {
      if (pairIds.length === 0) return;
      const inPairs = inArray(boundaryVersions.pairId, pairIds);
      await tx
        .update(boundaryVersions)
        .set({ title: "", text: "" })
        .where(and(inPairs, eq(boundaryVersions.proposedBy, userId), ne(boundaryVersions.status, "agreed")));
      await tx
        .update(boundaryVersions)
        .set({ reason: null })
        .where(and(inPairs, eq(boundaryVersions.proposedBy, userId), isNotNull(boundaryVersions.reason)));
      await tx
        .update(boundaryVersions)
        .set({ closeReason: null })
        .where(and(inPairs, eq(boundaryVersions.closedBy, userId), isNotNull(boundaryVersions.closeReason)));
      const everAgreed = sql`EXISTS (SELECT 1 FROM boundary_versions v
        WHERE v.pair_id = ${boundaries.pairId} AND v.boundary_id = ${boundaries.id} AND v.status = 'agreed')`;
      await tx
        .update(boundaries)
        .set({
          title: sql`CASE WHEN ${boundaries.proposedBy} = ${userId} AND NOT ${everAgreed} THEN '' ELSE ${boundaries.title} END`,
          text: sql`CASE WHEN ${boundaries.proposedBy} = ${userId} AND NOT ${everAgreed} THEN '' ELSE ${boundaries.text} END`,
          closeReason: sql`CASE WHEN ${boundaries.closedBy} = ${userId} THEN NULL ELSE ${boundaries.closeReason} END`,
          rowVersion: sql`${boundaries.rowVersion} + 1`,
          updatedAt: now,
        })
        .where(
          and(
            inArray(boundaries.pairId, pairIds),
            or(
              and(eq(boundaries.proposedBy, userId), sql`NOT ${everAgreed}`),
              and(eq(boundaries.closedBy, userId), isNotNull(boundaries.closeReason)),
            ),
          ),
        );
    },

    /** Sweep: proposals not accepted by their `endsAt` are cancelled. */
    async cancelUnacceptedProposals(now: Date): Promise<number> {
      const candidates = await db
        .select(candidateColumns)
        .from(boundaries)
        .where(and(eq(boundaries.status, "proposed"), isNotNull(boundaries.endsAt), lte(boundaries.endsAt, now)))
        .orderBy(asc(boundaries.endsAt))
        .limit(SWEEP_BATCH);
      return sweepEach(candidates, async (tx, locked) => {
        if (stateOf(locked) !== "proposed" || !timeBoxOver(locked.row, now)) return false;
        const { row } = locked;
        decide("proposed", "expire", null);
        await closePending(tx, pendingOf(locked), "cancelled", null, now);
        await updateBoundary(tx, row, now, {
          status: "cancelled",
          closedAt: now,
          closedBy: null,
          closeCause: "not_accepted_in_time",
        });
        await appendEvent(tx, row, "cancelled", null, {
          status: "cancelled",
          version: row.version,
          cause: "not_accepted_in_time",
        });
        return true;
      });
    },

    /** Sweep: agreed boundaries whose `endsAt` has come are ended (a pending revision is cancelled first). */
    async endPastTimeBoxes(now: Date): Promise<number> {
      const candidates = await db
        .select(candidateColumns)
        .from(boundaries)
        .where(and(eq(boundaries.status, "agreed"), isNotNull(boundaries.endsAt), lte(boundaries.endsAt, now)))
        .orderBy(asc(boundaries.endsAt))
        .limit(SWEEP_BATCH);
      return sweepEach(candidates, async (tx, locked) => {
        if (locked.row.status !== "agreed" || !timeBoxOver(locked.row, now)) return false;
        await retire(tx, locked, "endTimeBox", "time_box_ended", null, now);
        return true;
      });
    },

    /** Sweep: `boundary.review_due` once per review date of an agreed boundary. */
    async emitDueReviews(now: Date): Promise<number> {
      const candidates = await db
        .select(candidateColumns)
        .from(boundaries)
        .where(
          and(
            eq(boundaries.status, "agreed"),
            isNotNull(boundaries.reviewAt),
            lte(boundaries.reviewAt, now),
            or(isNull(boundaries.reviewNotifiedFor), ne(boundaries.reviewNotifiedFor, boundaries.reviewAt)),
          ),
        )
        .orderBy(asc(boundaries.reviewAt))
        .limit(SWEEP_BATCH);
      return sweepEach(candidates, async (tx, { row }) => {
        const reviewAt = row.reviewAt;
        if (row.status !== "agreed" || !reviewAt || reviewAt > now || sameInstant(row.reviewNotifiedFor, reviewAt)) {
          return false;
        }
        // Not a change anyone sees in the boundary, so its ETag stays.
        await tx
          .update(boundaries)
          .set({ reviewNotifiedFor: reviewAt })
          .where(and(eq(boundaries.pairId, row.pairId), eq(boundaries.id, row.id)));
        await appendEvent(tx, row, "review_due", null, { version: row.version, status: row.status });
        return true;
      });
    },
  };
}

export type BoundariesService = ReturnType<typeof createBoundariesService>;

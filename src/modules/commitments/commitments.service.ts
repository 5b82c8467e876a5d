import { and, asc, desc, eq, gt, gte, inArray, isNotNull, lt, lte, or, sql } from "drizzle-orm";
import { z } from "zod";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { columnList, insertSelect, rowFrom } from "../../db/rows.js";
import { commitments, commitmentTexts } from "../../db/schema/commitments.js";
import { AppError, notFound } from "../../errors/app-error.js";
import { assertVersion } from "../../http/etag.js";
import { decodeCursor, type Page, pageOf } from "../../http/pagination.js";
import type { Principal } from "../../http/principal.js";
import { isUuid, uuidv7 } from "../../ids.js";
import type { NewEvent } from "../history/index.js";
import type {
  Commitment,
  CommitmentListQuery,
  CommitmentText,
  CreateCommitmentInput,
  UpdateCommitmentInput,
} from "./commitments.schemas.js";
import type { CommitmentEventType, PairWork } from "./pair-work.js";
import { type CommitmentAction, commitmentRules } from "./state-machine.js";
import { appendTexts, type NewText, type SealedText, sealText, textsOf } from "./texts.js";

type Row = typeof commitments.$inferSelect;
type RowChange = Partial<typeof commitments.$inferInsert>;

const MINUTE = 60_000;

export type CommitmentFields = {
  title: string;
  details: string | null;
  category: Row["category"];
  dueAt: Date;
  graceMinutes: number;
};

export function toCommitment(row: Row): Commitment {
  const iso = (date: Date | null) => date?.toISOString() ?? null;
  return {
    id: row.id,
    pairId: row.pairId,
    ownerId: row.ownerId,
    title: row.title,
    details: row.details,
    category: row.category,
    dueAt: row.dueAt.toISOString(),
    graceMinutes: row.graceMinutes,
    seriesId: row.seriesId,
    requestId: row.requestId,
    status: row.status,
    outcome: row.outcome,
    report:
      row.outcome && row.reportedAt && row.reportTiming
        ? {
            outcome: row.outcome,
            note: row.reportNote,
            reportedAt: row.reportedAt.toISOString(),
            timing: row.reportTiming,
          }
        : null,
    confirmation: row.confirmationState
      ? {
          state: row.confirmationState,
          auto: row.confirmationAuto ?? false,
          note: row.confirmationNote,
          at: iso(row.confirmationAt),
          dueAt: row.confirmationState === "pending" ? iso(row.confirmationDueAt) : null,
        }
      : null,
    pendingReschedule:
      row.rescheduleDueAt && row.rescheduleProposedAt
        ? {
            dueAt: row.rescheduleDueAt.toISOString(),
            reason: row.rescheduleReason,
            proposedAt: row.rescheduleProposedAt.toISOString(),
          }
        : null,
    acknowledgement: row.acknowledgedAt
      ? {
          text: row.acknowledgementText,
          acknowledgedAt: row.acknowledgedAt.toISOString(),
          acceptedAt: iso(row.acknowledgementAcceptedAt),
        }
      : null,
    withdrawal:
      row.withdrawnAt && row.withdrawCause
        ? {
            reason: row.withdrawReason,
            cause: row.withdrawCause,
            at: row.withdrawnAt.toISOString(),
            noticeMinutes: Math.max(0, Math.floor((row.dueAt.getTime() - row.withdrawnAt.getTime()) / MINUTE)),
          }
        : null,
    lapsedAt: iso(row.lapsedAt),
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Early before dueAt, on time within the grace, late after it. */
export function reportTiming(row: Pick<Row, "dueAt" | "graceMinutes">, at: Date): "early" | "onTime" | "late" {
  if (at < row.dueAt) return "early";
  return at.getTime() <= row.dueAt.getTime() + row.graceMinutes * MINUTE ? "onTime" : "late";
}

const listCursor = z.tuple([z.iso.datetime(), z.uuid()]);
const commitmentColumns = columnList(commitments);

export type CommitmentsServiceDeps = PairWork & {
  db: Db;
  clock: Clock;
  confirmationWindowHours: number;
  /** The series service makes recurring commitments (it builds on this one, so it is bound late). */
  startSeries: (
    tx: Tx,
    principal: Principal,
    pairId: string,
    template: CommitmentFields,
    recurrence: NonNullable<CreateCommitmentInput["recurrence"]>,
  ) => Promise<Row>;
};

/**
 * A change to one commitment: the row's new values, the events it writes
 * and the texts it adds to the commitment's record (written by `texts.by`).
 */
type Change = {
  set: RowChange;
  events: Omit<NewEvent<CommitmentEventType>, "pairId" | "subjectType" | "subjectId">[];
  texts?: { by: string; entries: NewText[] };
};

/** What an event carries of its texts: each one's hash, by field (never the words). */
const textHashesOf = (entries: NewText[]) => Object.fromEntries(entries.map((t) => [t.field, t.hash]));

export function createCommitmentsService(deps: CommitmentsServiceDeps) {
  const { db, clock, pairs, history } = deps;
  const windowMs = deps.confirmationWindowHours * 3_600_000;

  async function appendAll(tx: Tx, row: Row, change: Change): Promise<void> {
    for (const e of change.events) {
      await history.append(tx, {
        pairId: row.pairId,
        subjectType: "commitment",
        subjectId: row.id,
        ...e,
        payload: { commitmentId: row.id, ...e.payload },
      });
    }
  }

  async function loadForUpdate(
    tx: Tx,
    pairId: string,
    commitmentId: string,
    skipLocked = false,
  ): Promise<Row | undefined> {
    if (!isUuid(commitmentId)) return undefined;
    const query = tx
      .select()
      .from(commitments)
      .where(and(eq(commitments.pairId, pairId), eq(commitments.id, commitmentId)));
    const [row] = skipLocked ? await query.for("update", { skipLocked: true }) : await query.for("update");
    return row;
  }

  async function save(tx: Tx, row: Row, change: Change): Promise<Row> {
    const [updated] = await tx
      .update(commitments)
      .set({ ...change.set, version: row.version + 1, updatedAt: clock.now() })
      .where(and(eq(commitments.pairId, row.pairId), eq(commitments.id, row.id)))
      .returning();
    if (!updated) throw new Error("commitment vanished");
    if (change.texts) {
      const on = { pairId: row.pairId, commitmentId: row.id, authorId: change.texts.by, at: updated.updatedAt };
      await appendTexts(tx, on, change.texts.entries);
    }
    await appendAll(tx, updated, change);
    return updated;
  }

  /**
   * Every caller-driven transition: pair row first (404 for outsiders),
   * the commitment row (404), If-Match (412), then the rules (409): the pair
   * still active, the caller's role, the state, and the action's own guard.
   */
  async function transition(
    tx: Tx,
    principal: Principal,
    pairId: string,
    commitmentId: string,
    action: CommitmentAction,
    expected: number | undefined,
    decide: (row: Row, now: Date) => Change,
  ): Promise<Commitment> {
    const pair = await pairs.lockPair(tx, pairId, principal.id);
    const row = await loadForUpdate(tx, pairId, commitmentId);
    if (!row) throw notFound("commitment");
    assertVersion(expected, row.version);
    if (!pair.active) throw new AppError("PAIR_ENDED");
    const rule = commitmentRules[action];
    const isOwner = row.ownerId === principal.id;
    if (rule.by === "owner" && !isOwner) throw new AppError("OWNER_ONLY");
    if (rule.by === "partner" && isOwner) throw new AppError("PARTNER_ONLY");
    if (!rule.from.includes(row.status)) throw new AppError(rule.refused);
    const change = decide(row, clock.now());
    if (rule.to) change.set.status = rule.to;
    return toCommitment(await save(tx, row, change));
  }

  /** Cancelling a pending proposal, when a report or withdrawal makes it moot. */
  function dropReschedule(row: Row, actorId: string | null, cause: string): Change {
    if (!row.rescheduleDueAt) return { set: {}, events: [] };
    return {
      set: { rescheduleDueAt: null, rescheduleReason: null, rescheduleProposedAt: null },
      events: [{ type: "commitment.reschedule_cancelled", actorId, payload: { cause } }],
    };
  }

  function merge(...changes: Change[]): Change {
    return {
      set: Object.assign({}, ...changes.map((c) => c.set)),
      events: changes.flatMap((c) => c.events),
      ...Object.assign({}, ...changes.map((c) => (c.texts ? { texts: c.texts } : {}))),
    };
  }

  /**
   * A new open commitment's row and its `commitment.created` event: the one
   * definition for every way a commitment is made (a create, a series
   * occurrence, an accepted request).
   */
  function newCommitment(
    pairId: string,
    ownerId: string,
    fields: CommitmentFields,
    links: { seriesId?: string; requestId?: string; actorId: string | null },
  ) {
    const now = clock.now();
    const id = uuidv7(now);
    const texts: NewText[] = [{ field: "title", ...sealText(fields.title) }];
    if (fields.details !== null) texts.push({ field: "details", ...sealText(fields.details) });
    const row = {
      id,
      pairId,
      ownerId,
      ...fields,
      lapsesAt: new Date(fields.dueAt.getTime() + fields.graceMinutes * MINUTE),
      seriesId: links.seriesId ?? null,
      requestId: links.requestId ?? null,
      status: "open" as const,
      createdAt: now,
      updatedAt: now,
    };
    const event: NewEvent<CommitmentEventType> = {
      pairId,
      type: "commitment.created",
      actorId: links.actorId,
      subjectType: "commitment",
      subjectId: id,
      payload: {
        commitmentId: id,
        ownerId,
        dueAt: fields.dueAt.toISOString(),
        graceMinutes: fields.graceMinutes,
        category: fields.category,
        ...(links.seriesId ? { seriesId: links.seriesId } : {}),
        ...(links.requestId ? { requestId: links.requestId } : {}),
        textHashes: textHashesOf(texts),
      },
    };
    return { row, event, texts };
  }

  async function insertCommitment(
    tx: Tx,
    pairId: string,
    ownerId: string,
    fields: CommitmentFields,
    links: { seriesId?: string; requestId?: string; actorId: string | null },
  ): Promise<Row> {
    const made = newCommitment(pairId, ownerId, fields, links);
    const [row] = await tx.insert(commitments).values(made.row).returning();
    if (!row) throw new Error("insert returned no row");
    await appendTexts(tx, { pairId, commitmentId: row.id, authorId: ownerId, at: row.createdAt }, made.texts);
    await history.append(tx, made.event);
    return row;
  }

  /** A create's fields from its input; `dueAt` must be in the future. */
  function fieldsOf(input: CreateCommitmentInput): CommitmentFields {
    const dueAt = new Date(input.dueAt);
    assertFuture(dueAt, "dueAt");
    return {
      title: input.title,
      details: input.details ?? null,
      category: input.category,
      dueAt,
      graceMinutes: input.graceMinutes,
    };
  }

  function assertFuture(dueAt: Date, field: string): void {
    if (dueAt <= clock.now()) {
      throw new AppError("VALIDATION_FAILED", `${field} must be in the future`, {
        errors: [{ path: `body.${field}`, message: "must be in the future" }],
      });
    }
  }

  return {
    insertCommitment,
    assertFuture,

    /**
     * A one-off commitment. One statement, atomic by itself: the pair's
     * lock and check (`writableBy`), the row, and `commitment.created`, so
     * without an Idempotency-Key it needs no transaction around it.
     */
    async create(executor: Executor, principal: Principal, pairId: string, input: CreateCommitmentInput) {
      const { row, event, texts } = newCommitment(pairId, principal.id, fieldsOf(input), { actorId: principal.id });
      // The pair's id comes from `writable`: no row (and no event) unless the pair let the caller write.
      const insert = insertSelect(commitments, row, { pairId: sql`writable.id` });
      // Title first, then details if any: the record's first texts (`appendTexts` numbers the later ones).
      const none: SealedText = { text: null, salt: null, hash: null };
      const [title, details] = [texts[0] ?? none, texts[1] ?? none];
      const textValue = (n: number, field: string, t: SealedText) =>
        sql`(${n}::int, ${field}::text, ${t.text}::text, ${t.salt}::text, ${t.hash}::text)`;
      const created = await history.appendAlong<Record<string, unknown>>(
        executor,
        { name: "commitments_create", gate: "inserted", event },
        (eventCtes) => sql`
          WITH writable AS (${pairs.writableBy(pairId, principal.id)}),
          inserted AS (
            INSERT INTO ${commitments} ${insert.columns}
            SELECT ${insert.values} FROM writable
            RETURNING ${commitmentColumns}
          ), texts AS (
            INSERT INTO ${commitmentTexts} (pair_id, commitment_id, n, field, text, salt, hash, author_id, written_at)
            SELECT inserted.pair_id, inserted.id, v.n, v.field, v.text, v.salt, v.hash, inserted.owner_id,
                   inserted.created_at
            FROM inserted CROSS JOIN (VALUES ${textValue(1, "title", title)}, ${textValue(2, "details", details)})
              AS v(n, field, text, salt, hash)
            WHERE v.n = 1 OR v.text IS NOT NULL
          ), ${eventCtes}
          SELECT inserted.*, appended_event.seq AS event_seq, appended_event.prev_hash AS event_prev_hash,
                 appended_event.hash AS event_hash
          FROM inserted CROSS JOIN appended_event`,
      );
      if (!created) return pairs.explainRefusedWrite(pairId, principal.id);
      return toCommitment(rowFrom(commitments, created.row));
    },

    /** A recurring commitment: its series, whose first occurrence is answered. */
    async createSeries(
      tx: Tx,
      principal: Principal,
      pairId: string,
      input: CreateCommitmentInput & { recurrence: NonNullable<CreateCommitmentInput["recurrence"]> },
    ): Promise<Commitment> {
      await pairs.lockForWrite(tx, pairId, principal.id);
      return toCommitment(await deps.startSeries(tx, principal, pairId, fieldsOf(input), input.recurrence));
    },

    async get(pairId: string, commitmentId: string): Promise<Commitment> {
      if (!isUuid(commitmentId)) throw notFound("commitment");
      const [row] = await db
        .select()
        .from(commitments)
        .where(and(eq(commitments.pairId, pairId), eq(commitments.id, commitmentId)));
      if (!row) throw notFound("commitment");
      return toCommitment(row);
    },

    /**
     * Every version of a commitment's words, readable by both members; the
     * commitment's `version` (every text moves it) is the list's ETag.
     */
    async texts(
      pairId: string,
      commitmentId: string,
      page: { limit: number; cursor?: string | undefined },
    ): Promise<{ page: Page<CommitmentText>; version: number }> {
      // The version is read first: the page can only be as new or newer than its ETag, never staler.
      const commitment = await this.get(pairId, commitmentId);
      return { page: await textsOf(db, pairId, commitment.id, page), version: commitment.version };
    },

    async list(principal: Principal, pairId: string, query: CommitmentListQuery): Promise<Page<Commitment>> {
      const conditions = [eq(commitments.pairId, pairId)];
      const ownerId =
        query.owner === "me"
          ? principal.id
          : query.owner === "partner"
            ? await pairs.partnerOf(pairId, principal.id)
            : query.owner;
      if (ownerId !== undefined) conditions.push(ownerId === null ? sql`false` : eq(commitments.ownerId, ownerId));
      if (query.status) conditions.push(inArray(commitments.status, query.status));
      if (query.dueFrom) conditions.push(gte(commitments.dueAt, new Date(query.dueFrom)));
      if (query.dueTo) conditions.push(lt(commitments.dueAt, new Date(query.dueTo)));
      const after = decodeCursor(query.cursor, listCursor);
      const ascending = query.order === "asc";
      if (after) {
        const [dueAt, id] = [new Date(after[0]), after[1]];
        const beyond = ascending ? gt : lt;
        const sameDue = eq(commitments.dueAt, dueAt);
        const condition = or(beyond(commitments.dueAt, dueAt), and(sameDue, beyond(commitments.id, id)));
        if (condition) conditions.push(condition);
      }
      const direction = ascending ? asc : desc;
      const rows = await db
        .select()
        .from(commitments)
        .where(and(...conditions))
        .orderBy(direction(commitments.dueAt), direction(commitments.id))
        .limit(query.limit + 1);
      const page = pageOf(rows, query.limit, (row) => [row.dueAt.toISOString(), row.id]);
      return { data: page.data.map(toCommitment), nextCursor: page.nextCursor };
    },

    update: (
      tx: Tx,
      principal: Principal,
      pairId: string,
      id: string,
      input: UpdateCommitmentInput,
      expected?: number,
    ) =>
      transition(tx, principal, pairId, id, "edit", expected, (row) => {
        const fields = (Object.keys(input) as (keyof UpdateCommitmentInput)[]).filter((f) => input[f] !== row[f]);
        // A category is a state, not personal text: carried so the figures can be recomputed from the log.
        const category = fields.includes("category") ? { category: input.category } : {};
        // Each edited text becomes a new version; the event carries its hash, so the edit is evident.
        const texts: NewText[] = [];
        if (fields.includes("title") && input.title !== undefined) {
          texts.push({ field: "title", ...sealText(input.title) });
        }
        if (fields.includes("details") && input.details !== undefined) {
          texts.push({ field: "details", ...sealText(input.details) });
        }
        const textHashes = texts.length > 0 ? { textHashes: textHashesOf(texts) } : {};
        return {
          set: { ...input },
          events: [
            { type: "commitment.updated", actorId: principal.id, payload: { fields, ...category, ...textHashes } },
          ],
          texts: { by: principal.id, entries: texts },
        };
      }),

    /**
     * The owner's report. On a disputed report it is a revision (the window
     * restarts); on a lapsed commitment it is a late report. The timing of
     * the first report is kept: revising an answer is not reporting late.
     */
    report: (
      tx: Tx,
      principal: Principal,
      pairId: string,
      id: string,
      input: { outcome: "kept" | "missed"; note?: string | undefined },
      expected?: number,
    ) =>
      transition(tx, principal, pairId, id, "report", expected, (row, now) => {
        // Every report keeps its note (none is a version too): a revision never overwrites the record.
        const note: NewText = { field: "reportNote", outcome: input.outcome, ...sealText(input.note ?? null) };
        return merge(dropReschedule(row, principal.id, "reported"), {
          set: {
            outcome: input.outcome,
            reportNote: input.note ?? null,
            reportedAt: now,
            reportTiming: row.reportTiming ?? reportTiming(row, now),
            confirmationState: "pending",
            confirmationAuto: false,
            confirmationNote: null,
            confirmationAt: null,
            confirmationDueAt: new Date(now.getTime() + windowMs),
          },
          events: [
            {
              type: "commitment.reported",
              actorId: principal.id,
              payload: {
                outcome: input.outcome,
                timing: row.reportTiming ?? reportTiming(row, now),
                revision: row.status === "disputed",
                late: row.status === "lapsed",
                textHashes: textHashesOf([note]),
              },
            },
          ],
          texts: { by: principal.id, entries: [note] },
        });
      }),

    /** The partner confirms; on a disputed report this withdraws the dispute. */
    confirm: (tx: Tx, principal: Principal, pairId: string, id: string, expected?: number) =>
      transition(tx, principal, pairId, id, "confirm", expected, (row, now) => ({
        set: { confirmationState: "confirmed", confirmationAuto: false, confirmationAt: now, confirmationDueAt: null },
        events: [
          {
            type: row.status === "disputed" ? "commitment.dispute_withdrawn" : "commitment.confirmed",
            actorId: principal.id,
            payload: { outcome: row.outcome, auto: false },
          },
        ],
      })),

    dispute: (tx: Tx, principal: Principal, pairId: string, id: string, note: string, expected?: number) =>
      transition(tx, principal, pairId, id, "dispute", expected, (row, now) => {
        const sealed: NewText = { field: "disputeNote", ...sealText(note) };
        return {
          set: { confirmationState: "disputed", confirmationNote: note, confirmationAt: now, confirmationDueAt: null },
          events: [
            {
              type: "commitment.disputed",
              actorId: principal.id,
              payload: { outcome: row.outcome, textHashes: textHashesOf([sealed]) },
            },
          ],
          texts: { by: principal.id, entries: [sealed] },
        };
      }),

    withdraw: (tx: Tx, principal: Principal, pairId: string, id: string, reason: string, expected?: number) =>
      transition(tx, principal, pairId, id, "withdraw", expected, (row, now) => {
        if (now >= row.dueAt) throw new AppError("PAST_DUE");
        return merge(dropReschedule(row, principal.id, "withdrawn"), {
          set: { withdrawnAt: now, withdrawReason: reason, withdrawCause: "owner" },
          events: [
            {
              type: "commitment.withdrawn",
              actorId: principal.id,
              payload: { cause: "owner", noticeMinutes: Math.floor((row.dueAt.getTime() - now.getTime()) / MINUTE) },
            },
          ],
        });
      }),

    proposeReschedule: (
      tx: Tx,
      principal: Principal,
      pairId: string,
      id: string,
      input: { dueAt: string; reason?: string | undefined },
      expected?: number,
    ) =>
      transition(tx, principal, pairId, id, "proposeReschedule", expected, (row, now) => {
        if (now >= row.dueAt) throw new AppError("PAST_DUE");
        if (row.rescheduleDueAt) throw new AppError("RESCHEDULE_PENDING");
        const proposed = new Date(input.dueAt);
        assertFuture(proposed, "dueAt");
        return {
          set: { rescheduleDueAt: proposed, rescheduleReason: input.reason ?? null, rescheduleProposedAt: now },
          events: [
            {
              type: "commitment.reschedule_proposed",
              actorId: principal.id,
              payload: { fromDueAt: row.dueAt.toISOString(), toDueAt: proposed.toISOString() },
            },
          ],
        };
      }),

    acceptReschedule: (tx: Tx, principal: Principal, pairId: string, id: string, expected?: number) =>
      transition(tx, principal, pairId, id, "acceptReschedule", expected, (row, now) => {
        if (!row.rescheduleDueAt) throw new AppError("NO_PENDING_RESCHEDULE");
        // At the original time an unanswered proposal expires, swept or not.
        if (now >= row.dueAt) throw new AppError("RESCHEDULE_EXPIRED");
        const dueAt = row.rescheduleDueAt;
        return {
          set: {
            dueAt,
            lapsesAt: new Date(dueAt.getTime() + row.graceMinutes * MINUTE),
            rescheduleDueAt: null,
            rescheduleReason: null,
            rescheduleProposedAt: null,
          },
          events: [
            {
              type: "commitment.rescheduled",
              actorId: principal.id,
              payload: { fromDueAt: row.dueAt.toISOString(), toDueAt: dueAt.toISOString() },
            },
          ],
        };
      }),

    declineReschedule: (tx: Tx, principal: Principal, pairId: string, id: string, expected?: number) =>
      transition(tx, principal, pairId, id, "declineReschedule", expected, (row, now) => {
        if (!row.rescheduleDueAt) throw new AppError("NO_PENDING_RESCHEDULE");
        if (now >= row.dueAt) throw new AppError("RESCHEDULE_EXPIRED");
        return {
          set: { rescheduleDueAt: null, rescheduleReason: null, rescheduleProposedAt: null },
          events: [{ type: "commitment.reschedule_declined", actorId: principal.id, payload: {} }],
        };
      }),

    cancelReschedule: (tx: Tx, principal: Principal, pairId: string, id: string, expected?: number) =>
      transition(tx, principal, pairId, id, "cancelReschedule", expected, (row) => {
        if (!row.rescheduleDueAt) throw new AppError("NO_PENDING_RESCHEDULE");
        return dropReschedule(row, principal.id, "owner");
      }),

    acknowledge: (tx: Tx, principal: Principal, pairId: string, id: string, text: string, expected?: number) =>
      transition(tx, principal, pairId, id, "acknowledge", expected, (row, now) => {
        const missed = row.outcome === "missed" || row.lapsedAt !== null;
        if (!missed) throw new AppError("NOTHING_TO_ACKNOWLEDGE");
        if (row.acknowledgedAt) throw new AppError("ALREADY_ACKNOWLEDGED");
        return {
          set: { acknowledgementText: text, acknowledgedAt: now },
          events: [{ type: "commitment.acknowledged", actorId: principal.id, payload: {} }],
        };
      }),

    acceptAcknowledgement: (tx: Tx, principal: Principal, pairId: string, id: string, expected?: number) =>
      transition(tx, principal, pairId, id, "acceptAcknowledgement", expected, (row, now) => {
        if (!row.acknowledgedAt) throw new AppError("NO_ACKNOWLEDGEMENT");
        if (row.acknowledgementAcceptedAt) throw new AppError("ACKNOWLEDGEMENT_ALREADY_ACCEPTED");
        return {
          set: { acknowledgementAcceptedAt: now },
          events: [{ type: "commitment.acknowledgement_accepted", actorId: principal.id, payload: {} }],
        };
      }),

    /**
     * Withdraws every open commitment of a pair (or of a series) for a
     * system cause, cancelling pending proposals first, in the caller's
     * transaction.
     */
    async withdrawOpen(
      tx: Tx,
      where: { pairId: string; seriesId?: string; from?: Date },
      cause: "pair_ended" | "series_ended",
      actorId: string,
    ): Promise<void> {
      const conditions = [eq(commitments.pairId, where.pairId), eq(commitments.status, "open")];
      if (where.seriesId) conditions.push(eq(commitments.seriesId, where.seriesId));
      if (where.from) conditions.push(gte(commitments.dueAt, where.from));
      const rows = await tx
        .select()
        .from(commitments)
        .where(and(...conditions))
        .orderBy(asc(commitments.dueAt), asc(commitments.id))
        .for("update");
      const now = clock.now();
      for (const row of rows) {
        await save(
          tx,
          row,
          merge(dropReschedule(row, actorId, cause), {
            set: { status: "withdrawn", withdrawnAt: now, withdrawReason: null, withdrawCause: cause },
            events: [
              {
                type: "commitment.withdrawn",
                actorId,
                payload: {
                  cause,
                  noticeMinutes: Math.max(0, Math.floor((row.dueAt.getTime() - now.getTime()) / MINUTE)),
                },
              },
            ],
          }),
        );
      }
    },

    /** Sweep: at the original due time an unanswered proposal expires. */
    async expireReschedules(now: Date): Promise<number> {
      const candidates = await db
        .select({ id: commitments.id, pairId: commitments.pairId })
        .from(commitments)
        .where(and(isNotNull(commitments.rescheduleDueAt), lte(commitments.dueAt, now), eq(commitments.status, "open")))
        .limit(500);
      return deps.perPair(candidates, async (tx, c) => {
        const row = await loadForUpdate(tx, c.pairId, c.id, true);
        if (!row?.rescheduleDueAt || row.status !== "open" || row.dueAt > now) return false;
        await save(tx, row, {
          set: { rescheduleDueAt: null, rescheduleReason: null, rescheduleProposedAt: null },
          events: [{ type: "commitment.reschedule_expired", actorId: null, payload: {} }],
        });
        return true;
      });
    },

    /**
     * Sweep: open past dueAt + grace → lapsed (counts as missed, shown as
     * unreported). A report at the very last instant is on time, so lapsing
     * needs the instant to have passed.
     */
    async lapse(now: Date): Promise<number> {
      const candidates = await db
        .select({ id: commitments.id, pairId: commitments.pairId })
        .from(commitments)
        .where(and(eq(commitments.status, "open"), lt(commitments.lapsesAt, now)))
        .limit(500);
      return deps.perPair(candidates, async (tx, c) => {
        const row = await loadForUpdate(tx, c.pairId, c.id, true);
        if (row?.status !== "open" || row.lapsesAt >= now) return false;
        await save(
          tx,
          row,
          merge(dropReschedule(row, null, "lapsed"), {
            set: { status: "lapsed", lapsedAt: now },
            events: [{ type: "commitment.lapsed", actorId: null, payload: {} }],
          }),
        );
        return true;
      });
    },

    /** Sweep: a report left unanswered for the window is confirmed (`auto: true`, no actor). */
    async autoConfirm(now: Date): Promise<number> {
      const candidates = await db
        .select({ id: commitments.id, pairId: commitments.pairId })
        .from(commitments)
        .where(and(eq(commitments.status, "reported"), lte(commitments.confirmationDueAt, now)))
        .limit(500);
      return deps.perPair(candidates, async (tx, c) => {
        const row = await loadForUpdate(tx, c.pairId, c.id, true);
        if (row?.status !== "reported" || !row.confirmationDueAt || row.confirmationDueAt > now) return false;
        await save(tx, row, {
          set: {
            status: "confirmed",
            confirmationState: "confirmed",
            confirmationAuto: true,
            confirmationAt: now,
            confirmationDueAt: null,
          },
          events: [{ type: "commitment.confirmed", actorId: null, payload: { outcome: row.outcome, auto: true } }],
        });
        return true;
      });
    },
  };
}

export type CommitmentsService = ReturnType<typeof createCommitmentsService>;

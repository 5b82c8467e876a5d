import { and, asc, eq, lt, sql } from "drizzle-orm";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { series } from "../../db/schema/commitments.js";
import { AppError, notFound } from "../../errors/app-error.js";
import type { Principal } from "../../http/principal.js";
import { isUuid, uuidv7 } from "../../ids.js";
import type { CommitmentFields, CommitmentsService } from "./commitments.service.js";
import type { CommitmentEventType, PairWork } from "./pair-work.js";
import { nextOccurrenceAfter, occurrences, parseRecurrence } from "./recurrence.js";
import type { Series } from "./series.schemas.js";

type Row = typeof series.$inferSelect;

/** The series as `viewerId` may see it: the zone only for its owner, or when the owner shares theirs. */
export function toSeries(row: Row, zoneShown: boolean): Series {
  return {
    id: row.id,
    pairId: row.pairId,
    ownerId: row.ownerId,
    rrule: row.rrule,
    timeZone: zoneShown ? row.timeZone : null,
    dtstart: row.dtstart.toISOString(),
    status: row.status,
    title: row.title,
    details: row.details,
    category: row.category,
    graceMinutes: row.graceMinutes,
    generatedUntil: row.generatedUntil.toISOString(),
    createdAt: row.createdAt.toISOString(),
    endedAt: row.endedAt?.toISOString() ?? null,
  };
}

export type SeriesServiceDeps = PairWork & {
  db: Db;
  clock: Clock;
  commitments: CommitmentsService;
  horizonDays: number;
  /** The owner's profile zone (the auth module's), the default for a rule. */
  timeZoneOf: (userId: string, executor: Executor) => Promise<string>;
};

/**
 * Recurring commitments. Occurrences are ordinary commitments linked by
 * `seriesId`: those due within the horizon are created with the series,
 * later ones by the sweep as the horizon moves.
 */
export function createSeriesService(deps: SeriesServiceDeps) {
  const { db, clock, pairs, history } = deps;
  const horizonMs = deps.horizonDays * 86_400_000;

  async function record(
    tx: Tx,
    row: Row,
    type: CommitmentEventType,
    actorId: string | null,
    payload: Record<string, unknown>,
  ) {
    await history.append(tx, {
      pairId: row.pairId,
      type,
      actorId,
      subjectType: "series",
      subjectId: row.id,
      payload: { seriesId: row.id, ...payload },
    });
  }

  /** Whether `viewerId` sees the series' zone: its owner does; the partner when the owner shares theirs. */
  async function zoneShownTo(viewerId: string, row: Row, executor: Executor = db): Promise<boolean> {
    if (viewerId === row.ownerId) return true;
    return ((await pairs.memberZones(row.pairId, executor)).get(row.ownerId)?.shownTimeZone ?? null) !== null;
  }

  /** Creates the occurrences due in [from, until) and moves the series' horizon there. */
  async function generate(tx: Tx, row: Row, from: Date, until: Date, actorId: string | null) {
    const rule = parseRecurrence(row.rrule);
    const base = { rule, dtstart: row.dtstart, timeZone: row.timeZone };
    const fields = (dueAt: Date): CommitmentFields => ({
      title: row.title,
      details: row.details,
      category: row.category,
      dueAt,
      graceMinutes: row.graceMinutes,
    });
    const created = [];
    for (const dueAt of occurrences({ ...base, from, to: until })) {
      created.push(
        await deps.commitments.insertCommitment(tx, row.pairId, row.ownerId, fields(dueAt), {
          seriesId: row.id,
          actorId,
        }),
      );
    }
    const exhausted = nextOccurrenceAfter({ ...base, after: new Date(until.getTime() - 1) }) === null;
    await tx
      .update(series)
      .set({ generatedUntil: until, exhausted })
      .where(and(eq(series.pairId, row.pairId), eq(series.id, row.id)));
    return created;
  }

  return {
    zoneShownTo,

    /**
     * The series and its first occurrences, in the creating transaction. The
     * rule's start is `dueAt`, in the series' zone (the owner's unless given).
     */
    async create(
      tx: Tx,
      principal: Principal,
      pairId: string,
      template: CommitmentFields,
      recurrence: { rrule: string; timeZone?: string | undefined },
    ) {
      const now = clock.now();
      const timeZone = recurrence.timeZone ?? (await deps.timeZoneOf(principal.id, tx));
      const [row] = await tx
        .insert(series)
        .values({
          id: uuidv7(now),
          pairId,
          ownerId: principal.id,
          rrule: recurrence.rrule,
          timeZone,
          dtstart: template.dueAt,
          status: "active",
          title: template.title,
          details: template.details,
          category: template.category,
          graceMinutes: template.graceMinutes,
          generatedUntil: template.dueAt,
          createdAt: now,
        })
        .returning();
      if (!row) throw new Error("insert returned no row");
      // No zone in the event: events are forever, and sharing a zone can be turned off.
      await record(tx, row, "series.created", principal.id, { ownerId: principal.id, rrule: row.rrule });
      const until = new Date(Math.max(now.getTime() + horizonMs, template.dueAt.getTime() + 1));
      const [first] = await generate(tx, row, template.dueAt, until, principal.id);
      if (!first) throw new Error("a series always has its first occurrence");
      return first;
    },

    async get(viewerId: string, pairId: string, seriesId: string): Promise<Series> {
      if (!isUuid(seriesId)) throw notFound("series");
      const [row] = await db
        .select()
        .from(series)
        .where(and(eq(series.pairId, pairId), eq(series.id, seriesId)));
      if (!row) throw notFound("series");
      return toSeries(row, await zoneShownTo(viewerId, row));
    },

    /** The owner ends the series: its future open occurrences are withdrawn, as such. */
    async end(tx: Tx, principal: Principal, pairId: string, seriesId: string): Promise<Series> {
      const pair = await pairs.lockPair(tx, pairId, principal.id);
      const [row] = isUuid(seriesId)
        ? await tx
            .select()
            .from(series)
            .where(and(eq(series.pairId, pairId), eq(series.id, seriesId)))
            .for("update")
        : [];
      if (!row) throw notFound("series");
      if (!pair.active) throw new AppError("PAIR_ENDED");
      if (row.ownerId !== principal.id) throw new AppError("OWNER_ONLY");
      if (row.status === "ended") throw new AppError("SERIES_ENDED");
      // Only the owner ends a series, and the owner always sees its zone.
      return toSeries(await this.endRow(tx, row, principal.id, "owner"), true);
    },

    async endRow(tx: Tx, row: Row, actorId: string, cause: "owner" | "pair_ended"): Promise<Row> {
      const now = clock.now();
      const [ended] = await tx
        .update(series)
        .set({ status: "ended", endedAt: now })
        .where(and(eq(series.pairId, row.pairId), eq(series.id, row.id)))
        .returning();
      if (!ended) throw new Error("series vanished");
      await record(tx, ended, "series.ended", actorId, { cause });
      if (cause === "owner") {
        await deps.commitments.withdrawOpen(
          tx,
          { pairId: row.pairId, seriesId: row.id, from: now },
          "series_ended",
          actorId,
        );
      }
      return ended;
    },

    /** Leaving the pair: every active series ends (its occurrences are withdrawn with the pair's). */
    async endAll(tx: Tx, pairId: string, actorId: string): Promise<void> {
      const rows = await tx
        .select()
        .from(series)
        .where(and(eq(series.pairId, pairId), eq(series.status, "active")))
        .orderBy(asc(series.id))
        .for("update");
      for (const row of rows) await this.endRow(tx, row, actorId, "pair_ended");
    },

    /**
     * Sweep: keeps each active series' occurrences created up to now +
     * horizon. Occurrences already past are not created after the fact (an
     * outage must not manufacture misses).
     */
    async extend(now: Date): Promise<number> {
      const until = new Date(now.getTime() + horizonMs);
      const candidates = await db
        .select({ id: series.id, pairId: series.pairId })
        .from(series)
        .where(and(eq(series.status, "active"), sql`NOT ${series.exhausted}`, lt(series.generatedUntil, until)))
        .limit(200);
      return deps.perPair(candidates, async (tx, c) => {
        const [row] = await tx
          .select()
          .from(series)
          .where(and(eq(series.pairId, c.pairId), eq(series.id, c.id)))
          .for("update", { skipLocked: true });
        if (row?.status !== "active" || row.exhausted || row.generatedUntil >= until) return false;
        const from = new Date(Math.max(row.generatedUntil.getTime(), now.getTime()));
        await generate(tx, row, from, until, null);
        return true;
      });
    },
  };
}

export type SeriesService = ReturnType<typeof createSeriesService>;

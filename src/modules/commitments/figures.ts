import { eq, sql } from "drizzle-orm";
import type { Db, Executor } from "../../db/client.js";
import { commitmentFigureTotals } from "../../db/schema/commitments.js";
import type { BucketCounts, CommitmentFigureRow, InboxItem } from "../consistency/index.js";

/**
 * Where a commitment stands for the figures, from its row alone (the edge
 * rule "Settled"). Written once, as the SQL function
 * `commitment_figure_class` (migration 0007), which the read model's
 * triggers and indexes use too; the planner inlines it.
 */
const figureClass = sql.raw("commitment_figure_class(status, outcome, lapsed_at)");

const counted = (name: string) => sql.raw(`count(*) FILTER (WHERE class = '${name}')::int AS "${name}"`);

type FigureQueryRow = Omit<CommitmentFigureRow, "ownerId" | "category" | "currentStreak" | "longestStreak"> & {
  owner_id: string;
  category: string | null;
  walk: string | null;
};

/**
 * Streaks from the settled commitments in (dueAt, id) order, written as
 * `k` (kept) and `b` (a break: missed or lapsed): the longest run of `k`,
 * and the run at the end.
 */
export function streaksOf(walk: string): { currentStreak: number; longestStreak: number } {
  const runs = walk.split("b").map((run) => run.length);
  return { currentStreak: runs.at(-1) ?? 0, longestStreak: Math.max(0, ...runs) };
}

/**
 * The figures of every owner in a pair, overall and per category. Of all
 * time (`since` null): the read model `commitment_figure_totals`, kept by
 * triggers on `commitments` in the transaction of every change, so the cost
 * does not grow with the history. In a window: `windowFiguresFor`.
 */
export async function figuresFor(db: Executor, pairId: string, since: Date | null): Promise<CommitmentFigureRow[]> {
  if (since) return windowFiguresFor(db, pairId, since);
  const rows = await db.select().from(commitmentFigureTotals).where(eq(commitmentFigureTotals.pairId, pairId));
  return rows.map(({ pairId: _pair, ownerId, scope, ...counts }) => ({
    ownerId,
    category: scope === "all" ? null : scope,
    ...counts,
  }));
}

/**
 * The figures of the commitments due since `since`, in one statement over
 * the `(pair_id, due_at, id)` index: counts by class, and the settled
 * commitments in (dueAt, id) order as a compact walk from which the streaks
 * are read (unsettled and withdrawn ones are left out).
 */
async function windowFiguresFor(db: Executor, pairId: string, since: Date): Promise<CommitmentFigureRow[]> {
  const result = await db.execute<FigureQueryRow>(sql`
    SELECT owner_id, category::text AS category,
           ${counted("kept")}, ${counted("missed")}, ${counted("lapsed")}, ${counted("withdrawn")},
           ${counted("disputed")}, ${counted("awaitingConfirmation")}, ${counted("open")},
           count(*) FILTER (WHERE class IN ('kept', 'missed') AND report_timing IN ('early', 'onTime'))::int
             AS "reportedInTime",
           count(*) FILTER (WHERE acknowledged_at IS NOT NULL)::int AS "acknowledgedMisses",
           count(*) FILTER (WHERE acknowledgement_accepted_at IS NOT NULL)::int AS "acknowledgementsAccepted",
           string_agg(CASE WHEN class = 'kept' THEN 'k' ELSE 'b' END, '' ORDER BY due_at, id)
             FILTER (WHERE class IN ('kept', 'missed', 'lapsed')) AS walk
    FROM (
      SELECT id, owner_id, category, due_at, report_timing, acknowledged_at, acknowledgement_accepted_at,
             ${figureClass} AS class
      FROM commitments
      WHERE pair_id = ${pairId} AND due_at >= ${since.toISOString()}::timestamptz
    ) AS scoped
    GROUP BY GROUPING SETS ((owner_id), (owner_id, category))`);
  return result.rows.map(({ owner_id, category, walk, ...counts }) => ({
    ownerId: owner_id,
    category,
    ...counts,
    ...streaksOf(walk ?? ""),
  }));
}

/**
 * One owner's settled counts per bucket `[bounds[i], bounds[i + 1])` of
 * dueAt (the trend's weeks), one range scan of the same index.
 */
export async function bucketsFor(db: Db, pairId: string, ownerId: string, bounds: Date[]): Promise<BucketCounts[]> {
  const first = bounds[0];
  const last = bounds.at(-1);
  if (!first || !last || bounds.length < 2) return [];
  const thresholds = sql.join(
    bounds.map((at) => sql`${at.toISOString()}::timestamptz`),
    sql`, `,
  );
  const result = await db.execute<BucketCounts & { bucket: number }>(sql`
    WITH scoped AS (
      SELECT width_bucket(due_at, ARRAY[${thresholds}]) AS bucket, ${figureClass} AS class
      FROM commitments
      WHERE pair_id = ${pairId} AND owner_id = ${ownerId}
        AND due_at >= ${first.toISOString()}::timestamptz AND due_at < ${last.toISOString()}::timestamptz
    )
    SELECT bucket, ${counted("kept")}, ${counted("missed")}, ${counted("lapsed")}
    FROM scoped GROUP BY bucket`);
  const buckets = bounds.slice(1).map(() => ({ kept: 0, missed: 0, lapsed: 0 }));
  for (const { bucket, kept, missed, lapsed } of result.rows) {
    const slot = buckets[bucket - 1];
    if (slot) Object.assign(slot, { kept, missed, lapsed });
  }
  return buckets;
}

/** The partial index `commitments_awaiting_idx` covers exactly this: something a partner may answer. */
const awaitingAnswer = sql.raw(
  "(status = 'reported' OR reschedule_due_at IS NOT NULL OR (acknowledged_at IS NOT NULL AND acknowledgement_accepted_at IS NULL))",
);

/**
 * What in this module awaits `userId`'s answer: the partner's reports to
 * confirm or dispute, the partner's proposed new times (answerable until
 * the original due time), the partner's acknowledgements to accept, and
 * requests addressed to `userId`.
 */
export async function inboxFor(db: Db, pairId: string, userId: string, now: Date): Promise<InboxItem[]> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const partners = sql`pair_id = ${pairId} AND owner_id <> ${userId} AND ${awaitingAnswer}`;
  const result = await db.execute<{
    type: InboxItem["type"];
    id: string;
    since: string | Date;
    until: string | Date | null;
  }>(sql`
    SELECT 'report' AS type, id, reported_at AS since, confirmation_due_at AS until
    FROM commitments WHERE ${partners} AND status = 'reported'
    UNION ALL
    SELECT 'reschedule', id, reschedule_proposed_at, due_at
    FROM commitments WHERE ${partners} AND reschedule_due_at IS NOT NULL AND status = 'open' AND due_at > ${at}
    UNION ALL
    SELECT 'acknowledgement', id, acknowledged_at, NULL
    FROM commitments WHERE ${partners} AND acknowledged_at IS NOT NULL AND acknowledgement_accepted_at IS NULL
    UNION ALL
    SELECT 'request', id, created_at, due_at
    FROM commitment_requests
    WHERE pair_id = ${pairId} AND owner_id = ${userId} AND status = 'pending' AND due_at > ${at}`);
  return result.rows.map((row) => ({
    type: row.type,
    subjectType: row.type === "request" ? "request" : "commitment",
    subjectId: row.id,
    revision: null,
    since: new Date(row.since),
    until: row.until === null ? null : new Date(row.until),
  }));
}

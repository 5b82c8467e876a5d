import { and, eq, gt, isNull, ne, or, sql } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { boundaries, boundaryVersions } from "../../db/schema/boundaries.js";
import type { BoundaryFigures, InboxItem } from "../consistency/index.js";

/** What the consistency module asks of boundaries (its ports; app.ts wires them). */

/**
 * The pair's boundary figures: agreed now (whatever the window), and
 * accepted revisions and withdrawals whose moment falls in the window
 * (`since` null: ever).
 */
export async function figuresFor(db: Db, pairId: string, since: Date | null): Promise<BoundaryFigures> {
  const from = since ? sql`${since.toISOString()}::timestamptz` : sql`'-infinity'::timestamptz`;
  const result = await db.execute<BoundaryFigures>(sql`
    SELECT
      (SELECT count(*) FROM boundaries WHERE pair_id = ${pairId} AND status = 'agreed')::int AS agreed,
      (SELECT count(*) FROM boundary_versions
        WHERE pair_id = ${pairId} AND status = 'agreed' AND version > 1 AND agreed_at >= ${from})::int AS revisions,
      (SELECT count(*) FROM boundaries
        WHERE pair_id = ${pairId} AND status = 'withdrawn' AND closed_at >= ${from})::int AS withdrawn`);
  return result.rows[0] ?? { agreed: 0, revisions: 0, withdrawn: 0 };
}

/**
 * What awaits `userId`'s consent: the partner's proposals and the
 * partner's pending revisions, while their time box still allows an
 * answer.
 */
export async function inboxFor(db: Db, pairId: string, userId: string, now: Date): Promise<InboxItem[]> {
  const open = or(isNull(boundaries.endsAt), gt(boundaries.endsAt, now));
  const proposals = await db
    .select({ id: boundaries.id, since: boundaries.createdAt, until: boundaries.endsAt })
    .from(boundaries)
    .where(
      and(eq(boundaries.pairId, pairId), eq(boundaries.status, "proposed"), ne(boundaries.proposedBy, userId), open),
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
}

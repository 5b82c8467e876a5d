import { and, asc, eq, gt, inArray, isNotNull, ne, or, sql } from "drizzle-orm";
import type { Executor, Tx } from "../../db/client.js";
import { boundaries, boundaryVersions } from "../../db/schema/boundaries.js";
import { toBoundaries } from "./boundaries.rows.js";
import type { Boundary } from "./boundaries.schemas.js";

/** Taking data along and leaving it behind: this module's part of an account's export and deletion. */

const EXPORT_BATCH = 200;

/** Every boundary of a pair as the API shows it (agreed versions, pending revision), a batch at a time. */
export async function* exportBatches(executor: Executor, pairId: string): AsyncGenerator<Boundary[]> {
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
}

/**
 * Deleting an account. What both partners agreed to stays readable: an
 * agreed version's title and text, and the content in force of a
 * boundary that was ever agreed, belong to both. What only the deleted
 * person wrote is erased: proposals and revisions of theirs that were
 * never agreed (title and text emptied), and their own words (the
 * reasons they gave for a revision, a decline or a withdrawal).
 */
export async function eraseWordsOf(tx: Tx, userId: string, pairIds: string[], now: Date): Promise<void> {
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
}

import { and, asc, eq, gt, inArray, ne, or, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Executor, Tx } from "../../db/client.js";
import { commitmentRequests, commitments, commitmentTexts, series } from "../../db/schema/commitments.js";
import { toCommitment } from "./commitments.service.js";
import { toRequest } from "./requests.service.js";
import { toSeries } from "./series.service.js";
import { eraseTextsOf, textBatches } from "./texts.js";

const EXPORT_BATCH = 500;

/**
 * Rows of one pair in id order (UUIDv7: creation order), a batch at a
 * time, so an export never holds a long history in memory.
 */
async function* batchesOf<T extends PgTable, R, O>(
  executor: Executor,
  table: T,
  columns: { pairId: PgColumn; id: PgColumn },
  pairId: string,
  map: (row: R) => O,
): AsyncGenerator<O[]> {
  let after: string | undefined;
  while (true) {
    const rows = (await executor
      .select()
      .from(table as PgTable)
      .where(and(eq(columns.pairId, pairId), after ? gt(columns.id, after) : undefined))
      .orderBy(asc(columns.id))
      .limit(EXPORT_BATCH)) as (R & { id: string })[];
    if (rows.length > 0) yield rows.map(map);
    const last = rows.at(-1);
    if (!last || rows.length < EXPORT_BATCH) return;
    after = last.id;
  }
}

type MemberZones = (pairId: string, executor: Executor) => Promise<Map<string, { shownTimeZone: string | null }>>;

/**
 * This module's part of an account export: every commitment, every version
 * of their words, every series and request of a pair, as the API shows them
 * to `viewerId` (a series' zone only where its owner is the viewer or shares it).
 */
export const exportPartsWith = (memberZones: MemberZones) => [
  {
    name: "commitments",
    batches: (executor: Executor, pairId: string) =>
      batchesOf(executor, commitments, commitments, pairId, (row: typeof commitments.$inferSelect) =>
        toCommitment(row),
      ),
  },
  { name: "commitmentTexts", batches: (executor: Executor, pairId: string) => textBatches(executor, pairId) },
  {
    name: "series",
    async *batches(executor: Executor, pairId: string, viewerId: string) {
      const zones = await memberZones(pairId, executor);
      const shared = (ownerId: string) => ownerId === viewerId || (zones.get(ownerId)?.shownTimeZone ?? null) !== null;
      yield* batchesOf(executor, series, series, pairId, (row: typeof series.$inferSelect) =>
        toSeries(row, shared(row.ownerId)),
      );
    },
  },
  {
    name: "requests",
    batches: (executor: Executor, pairId: string) =>
      batchesOf(
        executor,
        commitmentRequests,
        commitmentRequests,
        pairId,
        (row: typeof commitmentRequests.$inferSelect) => toRequest(row),
      ),
  },
];

/**
 * Deleting an account: the words only its owner wrote are erased from this
 * module's rows, in the deletion transaction. Titles of their commitments,
 * series and requests become empty; their notes, reasons, details and
 * acknowledgements become null; the disputes they wrote on their partner's
 * reports lose their note; every version of their words on record loses its
 * text and salt and keeps its hash. Ids, states, outcomes, timings,
 * categories and instants stay, so the partner's figures and the hash chain
 * are unchanged.
 * Rows that change move their `version`, so cached copies are not reused.
 */
export async function eraseWordsOf(tx: Tx, userId: string, pairIds: string[], now: Date): Promise<void> {
  if (pairIds.length === 0) return;
  const bump = { version: sql`${commitments.version} + 1`, updatedAt: now };
  await eraseTextsOf(tx, userId, pairIds, now);
  await tx
    .update(commitments)
    .set({
      title: "",
      details: null,
      reportNote: null,
      withdrawReason: null,
      rescheduleReason: null,
      acknowledgementText: null,
      ...bump,
    })
    .where(and(inArray(commitments.pairId, pairIds), eq(commitments.ownerId, userId)));
  // The other member of a pair answers its commitments: a dispute note there is theirs
  // (the current one, or an earlier one on record).
  const disputedByThem = tx
    .select({ id: commitmentTexts.commitmentId })
    .from(commitmentTexts)
    .where(and(inArray(commitmentTexts.pairId, pairIds), eq(commitmentTexts.authorId, userId)));
  await tx
    .update(commitments)
    .set({ confirmationNote: null, ...bump })
    .where(
      and(
        inArray(commitments.pairId, pairIds),
        ne(commitments.ownerId, userId),
        or(sql`${commitments.confirmationNote} IS NOT NULL`, inArray(commitments.id, disputedByThem)),
      ),
    );
  await tx
    .update(series)
    .set({ title: "", details: null })
    .where(and(inArray(series.pairId, pairIds), eq(series.ownerId, userId)));
  await tx
    .update(commitmentRequests)
    .set({
      title: sql`CASE WHEN ${commitmentRequests.requesterId} = ${userId} THEN '' ELSE ${commitmentRequests.title} END`,
      details: sql`CASE WHEN ${commitmentRequests.requesterId} = ${userId} THEN NULL ELSE ${commitmentRequests.details} END`,
      reason: sql`CASE WHEN ${commitmentRequests.ownerId} = ${userId} THEN NULL ELSE ${commitmentRequests.reason} END`,
      version: sql`${commitmentRequests.version} + 1`,
      updatedAt: now,
    })
    .where(
      and(
        inArray(commitmentRequests.pairId, pairIds),
        or(eq(commitmentRequests.requesterId, userId), eq(commitmentRequests.ownerId, userId)),
      ),
    );
}

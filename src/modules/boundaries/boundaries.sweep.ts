import { and, asc, eq, isNotNull, isNull, lte, ne, or } from "drizzle-orm";
import type { Db, Tx } from "../../db/client.js";
import { boundaries } from "../../db/schema/boundaries.js";
import { sweepPerPair } from "../../sweep.js";
import type { PairsService } from "../pairs/index.js";
import { type Locked, sameInstant, stateOf } from "./boundaries.rows.js";
import { type BoundaryStore, timeBoxOver } from "./boundaries.store.js";

export type BoundariesSweepDeps = {
  db: Db;
  pairs: Pick<PairsService, "lockActivePair">;
  store: BoundaryStore;
};

/** Candidates one sweep pass handles per task; the rest wait for the next pass. */
const SWEEP_BATCH = 500;

const candidateColumns = { pairId: boundaries.pairId, id: boundaries.id };

/** The time-based work on boundaries: proposals not accepted in time, time boxes ending, reviews coming due. */
export function createBoundariesSweep({ db, pairs, store }: BoundariesSweepDeps) {
  /** One transaction per candidate: the pair row first (skipping ended pairs), then the row, skipping locked ones. */
  async function sweepEach(
    candidates: { pairId: string; id: string }[],
    work: (tx: Tx, locked: Locked) => Promise<boolean>,
  ): Promise<number> {
    return sweepPerPair(db, pairs.lockActivePair, candidates, async (tx, candidate) => {
      const locked = await store.lockRow(tx, candidate.pairId, candidate.id, "skip");
      return locked ? work(tx, locked) : false;
    });
  }

  return {
    /** Proposals not accepted by their `endsAt` are cancelled. */
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
        const transition = store.decideForSystem(locked, "expire");
        await store.closePending(tx, store.pendingOf(locked), "cancelled", null, now);
        await store.enter(tx, row, transition, now, {
          closedAt: now,
          closedBy: null,
          closeCause: "not_accepted_in_time",
        });
        await store.appendEntered(tx, row, transition, null, { version: row.version, cause: "not_accepted_in_time" });
        return true;
      });
    },

    /** Agreed boundaries whose `endsAt` has come are ended (a pending revision is cancelled first). */
    async endPastTimeBoxes(now: Date): Promise<number> {
      const candidates = await db
        .select(candidateColumns)
        .from(boundaries)
        .where(and(eq(boundaries.status, "agreed"), isNotNull(boundaries.endsAt), lte(boundaries.endsAt, now)))
        .orderBy(asc(boundaries.endsAt))
        .limit(SWEEP_BATCH);
      return sweepEach(candidates, async (tx, locked) => {
        if (locked.row.status !== "agreed" || !timeBoxOver(locked.row, now)) return false;
        await store.retire(tx, locked, store.decideForSystem(locked, "endTimeBox"), "time_box_ended", null, now);
        return true;
      });
    },

    /** `boundary.review_due` once per review date of an agreed boundary. */
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
        await store.appendEvent(tx, row, "review_due", null, { version: row.version, status: row.status });
        return true;
      });
    },
  };
}

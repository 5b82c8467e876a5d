import type { Tx } from "../../db/client.js";
import type { EventLog } from "../history/index.js";
import type { PairsService } from "../pairs/index.js";

/** Every event the commitments module appends: commitments, their series and requests. */
export const commitmentEventTypes = [
  "commitment.created",
  "commitment.updated",
  "commitment.reported",
  "commitment.confirmed",
  "commitment.dispute_withdrawn",
  "commitment.disputed",
  "commitment.withdrawn",
  "commitment.reschedule_proposed",
  "commitment.rescheduled",
  "commitment.reschedule_declined",
  "commitment.reschedule_cancelled",
  "commitment.reschedule_expired",
  "commitment.lapsed",
  "commitment.acknowledged",
  "commitment.acknowledgement_accepted",
  "series.created",
  "series.ended",
  "request.created",
  "request.accepted",
  "request.declined",
  "request.cancelled",
  "request.expired",
] as const;
export type CommitmentEventType = (typeof commitmentEventTypes)[number];

/** What the commitments module needs from the others: the pair's locks and the event log. */
export type PairWork = {
  pairs: Pick<
    PairsService,
    "lockPair" | "lockForWrite" | "partnerOf" | "writableBy" | "explainRefusedWrite" | "memberZones"
  >;
  history: EventLog<CommitmentEventType>;
  /** Runs sweep work per candidate, each in its own transaction, skipping ended pairs. */
  perPair: <C extends { pairId: string }>(
    candidates: C[],
    work: (tx: Tx, candidate: C) => Promise<boolean>,
  ) => Promise<number>;
};

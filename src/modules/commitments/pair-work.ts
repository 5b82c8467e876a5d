import type { Tx } from "../../db/client.js";
import type { HistoryService } from "../history/index.js";
import type { PairsService } from "../pairs/index.js";

/** What the commitments module needs from the others: the pair's locks and the event log. */
export type PairWork = {
  pairs: Pick<
    PairsService,
    "lockPair" | "lockForWrite" | "partnerOf" | "writableBy" | "explainRefusedWrite" | "memberZones"
  >;
  history: Pick<HistoryService, "append" | "appendAlong">;
  /** Runs sweep work per candidate, each in its own transaction, skipping ended pairs. */
  perPair: <C extends { pairId: string }>(
    candidates: C[],
    work: (tx: Tx, candidate: C) => Promise<boolean>,
  ) => Promise<number>;
};

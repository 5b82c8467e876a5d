import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import type { SweepTask } from "../../sweep.js";
import type { ConsistencySourcePart } from "../consistency/index.js";
import type { HistoryService } from "../history/index.js";
import { keptModule } from "../module.js";
import type { PairsService } from "../pairs/index.js";
import { eraseWordsOf, exportBatches } from "./boundaries.account.js";
import { figuresFor, inboxFor } from "./boundaries.reads.js";
import { boundariesRoutes } from "./boundaries.routes.js";
import { createBoundariesService } from "./boundaries.service.js";
import { createBoundaryStore } from "./boundaries.store.js";
import { createBoundariesSweep } from "./boundaries.sweep.js";

export { type BoundaryAction, type BoundaryState, transitions } from "./boundaries.machine.js";
export type { BoundariesService } from "./boundaries.service.js";
export { boundaryEventTypes } from "./boundaries.store.js";

export type BoundariesModuleOptions = {
  db: Db;
  clock: Clock;
  pairs: Pick<PairsService, "lockForWrite" | "lockActivePair">;
  history: Pick<HistoryService, "append">;
  runWrite: RunWrite;
};

/**
 * Boundaries agreed by consent, revised by consent, left at will. Answers
 * the service, its part of the leaving rule (`service.endForPair`), the
 * sweep tasks for time boxes and reviews, the routes, the read models the
 * consistency module asks for, and its part of export and deletion.
 */
export function createBoundariesModule(options: BoundariesModuleOptions) {
  const { db, clock, pairs } = options;
  const store = createBoundaryStore({ history: options.history });
  const service = createBoundariesService({ db, clock, pairs, store });
  const sweep = createBoundariesSweep({ db, pairs, store });
  const sweepTasks: SweepTask[] = [
    { name: "boundaryProposalsUnaccepted", run: (now) => sweep.cancelUnacceptedProposals(now) },
    { name: "boundaryTimeBoxes", run: (now) => sweep.endPastTimeBoxes(now) },
    { name: "boundaryReviews", run: (now) => sweep.emitDueReviews(now) },
  ];
  const plugin = async (app: Parameters<typeof boundariesRoutes>[0], routeOptions: { requireMember: AccessHook }) => {
    await app.register(boundariesRoutes, {
      boundaries: service,
      runWrite: options.runWrite,
      requireMember: routeOptions.requireMember,
    });
  };
  // Read models for the consistency figures and the inbox (the consistency module's ports).
  const sources: ConsistencySourcePart = {
    boundaryFigures: (pairId, since) => figuresFor(db, pairId, since),
    inbox: (pairId, userId, now) => inboxFor(db, pairId, userId, now),
  };
  return keptModule({
    name: "boundaries",
    plugin,
    sweepTasks,
    onPairEnding: service.endForPair,
    // Taking data along and leaving it behind (the account module asks).
    accountData: { exportParts: [{ name: "boundaries", batches: exportBatches }], eraseWordsOf },
    service,
    sources,
  });
}

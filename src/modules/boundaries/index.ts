import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import type { SweepTask } from "../../sweep.js";
import type { HistoryService } from "../history/index.js";
import type { PairsService } from "../pairs/index.js";
import { boundariesRoutes } from "./boundaries.routes.js";
import { createBoundariesService } from "./boundaries.service.js";

export { type BoundaryAction, type BoundaryState, transitions } from "./boundaries.machine.js";
export { type BoundariesService, boundaryEventTypes } from "./boundaries.service.js";

export type BoundariesModuleOptions = {
  db: Db;
  clock: Clock;
  pairs: Pick<PairsService, "lockForWrite" | "lockActivePair">;
  history: Pick<HistoryService, "append">;
  runWrite: RunWrite;
};

/**
 * Boundaries agreed by consent, revised by consent, left at will. Answers
 * the service (its `endForPair` is this module's part of the leaving rule),
 * the sweep tasks for time boxes and reviews, and the routes.
 */
export function createBoundariesModule(options: BoundariesModuleOptions) {
  const service = createBoundariesService(options);
  const sweepTasks: SweepTask[] = [
    { name: "boundaryProposalsUnaccepted", run: (now) => service.cancelUnacceptedProposals(now) },
    { name: "boundaryTimeBoxes", run: (now) => service.endPastTimeBoxes(now) },
    { name: "boundaryReviews", run: (now) => service.emitDueReviews(now) },
  ];
  const plugin = async (app: Parameters<typeof boundariesRoutes>[0], routeOptions: { requireMember: AccessHook }) => {
    await app.register(boundariesRoutes, {
      boundaries: service,
      runWrite: options.runWrite,
      requireMember: routeOptions.requireMember,
    });
  };
  // Taking data along and leaving it behind (the account module asks).
  const accountData = {
    exportParts: [{ name: "boundaries", batches: service.exportBatches }],
    eraseWordsOf: service.eraseWordsOf,
  };
  return { service, sweepTasks, plugin, accountData };
}

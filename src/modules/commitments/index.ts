import type { FastifyInstance } from "fastify";
import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import { type Sweeper, sweepPerPair } from "../../sweep.js";
import type { HistoryService } from "../history/index.js";
import type { PairsService } from "../pairs/index.js";
import { commitmentsRoutes } from "./commitments.routes.js";
import { createCommitmentsService } from "./commitments.service.js";
import { requestsRoutes } from "./requests.routes.js";
import { createRequestsService } from "./requests.service.js";

export type { CommitmentsService } from "./commitments.service.js";

export type CommitmentsModuleOptions = {
  db: Db;
  clock: Clock;
  pairs: PairsService;
  history: Pick<HistoryService, "append">;
  runWrite: RunWrite;
  sweeper: Sweeper;
  confirmationWindowHours: number;
};

/**
 * Commitments, their follow-through and requests for them. Registers its
 * sweep tasks and its part of the leaving rule.
 */
export function createCommitmentsModule(options: CommitmentsModuleOptions) {
  const { db, pairs } = options;
  const perPair: Parameters<typeof createCommitmentsService>[0]["perPair"] = (candidates, work) =>
    sweepPerPair(db, pairs.lockActivePair, candidates, work);
  const work = { db, clock: options.clock, pairs, history: options.history, perPair };
  const service = createCommitmentsService({ ...work, confirmationWindowHours: options.confirmationWindowHours });
  const requests = createRequestsService({ ...work, commitments: service });

  // Leaving: pending requests cancelled, open commitments withdrawn (their proposals cancelled first).
  pairs.onPairEnding(async (tx, { pairId, actorId }) => {
    await requests.cancelPending(tx, pairId, actorId);
    await service.withdrawOpen(tx, { pairId }, "pair_ended", actorId);
  });

  // Expiries first: a proposal expires at the original time, before that time can lapse.
  options.sweeper.register({ name: "rescheduleExpiries", run: (now) => service.expireReschedules(now) });
  options.sweeper.register({ name: "requestExpiries", run: (now) => requests.expire(now) });
  options.sweeper.register({ name: "lapses", run: (now) => service.lapse(now) });
  options.sweeper.register({ name: "autoConfirmations", run: (now) => service.autoConfirm(now) });

  const plugin = async (app: FastifyInstance, routeOptions: { requireMember: AccessHook }) => {
    await app.register(commitmentsRoutes, { commitments: service, runWrite: options.runWrite, ...routeOptions });
    await app.register(requestsRoutes, { requests, runWrite: options.runWrite, ...routeOptions });
  };
  return { service, requests, plugin };
}

import type { FastifyInstance } from "fastify";
import type { Clock } from "../../clock.js";
import type { Db, Executor } from "../../db/client.js";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import { type SweepTask, sweepPerPair } from "../../sweep.js";
import type { ConsistencySourcePart } from "../consistency/index.js";
import type { HistoryService } from "../history/index.js";
import { keptModule } from "../module.js";
import type { PairEndingHandler, PairsService } from "../pairs/index.js";
import { eraseWordsOf, exportPartsWith } from "./account-data.js";
import { commitmentsRoutes } from "./commitments.routes.js";
import { createCommitmentsService } from "./commitments.service.js";
import { bucketsFor, figuresFor, inboxFor } from "./figures.js";
import { requestsRoutes } from "./requests.routes.js";
import { createRequestsService } from "./requests.service.js";
import { seriesRoutes } from "./series.routes.js";
import { createSeriesService } from "./series.service.js";

/** The categories a commitment may have (the figures break down by them). */
export { commitmentCategories } from "../../db/schema/commitments.js";
export type { CommitmentsService } from "./commitments.service.js";
export { commitmentEventTypes } from "./pair-work.js";
export { type CommitmentAction, type CommitmentStatus, commitmentRules } from "./state-machine.js";

export type CommitmentsModuleOptions = {
  db: Db;
  clock: Clock;
  pairs: PairsService;
  history: Pick<HistoryService, "append" | "appendAlong">;
  runWrite: RunWrite;
  confirmationWindowHours: number;
  seriesHorizonDays: number;
  timeZoneOf: (userId: string, executor: Executor) => Promise<string>;
};

/**
 * Commitments, their follow-through, recurring series and requests. Answers
 * its sweep tasks, its part of the leaving rule and of export and deletion,
 * and the read models the consistency module asks for.
 */
export function createCommitmentsModule(options: CommitmentsModuleOptions) {
  const { db, pairs } = options;
  const perPair: Parameters<typeof createCommitmentsService>[0]["perPair"] = (candidates, work) =>
    sweepPerPair(db, pairs.lockActivePair, candidates, work);
  const work = { db, clock: options.clock, pairs, history: options.history, perPair };
  const service = createCommitmentsService({
    ...work,
    confirmationWindowHours: options.confirmationWindowHours,
    startSeries: (...args) => series.create(...args),
  });
  const series = createSeriesService({
    ...work,
    commitments: service,
    horizonDays: options.seriesHorizonDays,
    timeZoneOf: options.timeZoneOf,
  });
  const requests = createRequestsService({ ...work, commitments: service });

  // This module's part of the leaving rule: series ended, pending requests
  // cancelled, open commitments withdrawn (their proposals cancelled first).
  const endForPair: PairEndingHandler = async (tx, { pairId, actorId }) => {
    await series.endAll(tx, pairId, actorId);
    await requests.cancelPending(tx, pairId, actorId);
    await service.withdrawOpen(tx, { pairId }, "pair_ended", actorId);
  };

  // Expiries first: a proposal expires at the original time, before that time can lapse.
  const sweepTasks: SweepTask[] = [
    { name: "rescheduleExpiries", run: (now) => service.expireReschedules(now) },
    { name: "requestExpiries", run: (now) => requests.expire(now) },
    { name: "lapses", run: (now) => service.lapse(now) },
    { name: "autoConfirmations", run: (now) => service.autoConfirm(now) },
    { name: "seriesOccurrences", run: (now) => series.extend(now) },
  ];

  const plugin = async (app: FastifyInstance, routeOptions: { requireMember: AccessHook }) => {
    await app.register(commitmentsRoutes, { commitments: service, runWrite: options.runWrite, ...routeOptions });
    await app.register(requestsRoutes, { requests, runWrite: options.runWrite, ...routeOptions });
    await app.register(seriesRoutes, { series, runWrite: options.runWrite, ...routeOptions });
  };
  // Read models for the consistency figures, the trend and the inbox (the consistency module's ports).
  const sources: ConsistencySourcePart = {
    commitmentFigures: (pairId, since) => figuresFor(db, pairId, since),
    commitmentBuckets: (pairId, ownerId, bounds) => bucketsFor(db, pairId, ownerId, bounds),
    inbox: (pairId, userId, now) => inboxFor(db, pairId, userId, now),
  };

  return keptModule({
    name: "commitments",
    plugin,
    sweepTasks,
    onPairEnding: endForPair,
    // Taking data along and leaving it behind (the account module asks).
    accountData: {
      exportParts: exportPartsWith((pairId, executor) => pairs.memberZones(pairId, executor)),
      eraseWordsOf,
    },
    service,
    requests,
    sources,
  });
}

import type { Logger } from "pino";
import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import type { AccessHook } from "../../http/hooks.js";
import type { KeyRing } from "../auth/index.js";
import { keptModule } from "../module.js";
import { historyRoutes } from "./history.routes.js";
import { createHistoryService } from "./history.service.js";
import type { VerificationStats } from "./verification.js";

declare module "fastify" {
  interface FastifyInstance {
    /** How many chain verifications read the chain, and how many events they checked (tests, metrics). */
    verificationStats: () => VerificationStats;
  }
}

export { canonicalEvent, canonicalEventAround, chainHash, GENESIS_HASH } from "./chain.js";
export { eventSchema, type PairEvent } from "./history.schemas.js";
export {
  CHECKPOINT_TYPE,
  EVENTS_CHANNEL,
  type EventLog,
  type HistoryService,
  type NewEvent,
} from "./history.service.js";
export { LONG_SUFFIX_EVENTS, VERIFICATION_REUSE_MS, type VerificationStats } from "./verification.js";

/** The event log: every module appends through `service.append`; routes read, verify and sign it. */
export function createHistoryModule(options: { db: Db; clock: Clock; keys: KeyRing; logger: Logger }) {
  const service = createHistoryService(options);
  const plugin = async (app: Parameters<typeof historyRoutes>[0], routeOptions: { requireMember: AccessHook }) => {
    await app.register(historyRoutes, { history: service, requireMember: routeOptions.requireMember });
  };
  return keptModule({ name: "history", service, plugin });
}

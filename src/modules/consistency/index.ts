import type { Clock } from "../../clock.js";
import type { AccessHook } from "../../http/hooks.js";
import { consistencyRoutes } from "./consistency.routes.js";
import { createConsistencyService } from "./consistency.service.js";
import type { ConsistencySources } from "./consistency.sources.js";

export type { ConsistencyService } from "./consistency.service.js";
export type {
  BoundaryFigures,
  BucketCounts,
  CommitmentCounts,
  CommitmentFigureRow,
  ConsistencySources,
  FigureClass,
  InboxItem,
  InboxItemType,
} from "./consistency.sources.js";

/**
 * Consistency figures, their weekly trend and the inbox: read models over
 * what the commitments and boundaries modules answer (`sources`, the ports
 * this module owns and they implement), built after them in app.ts.
 */
export function createConsistencyModule(options: { clock: Clock; sources: ConsistencySources }) {
  const service = createConsistencyService(options);
  const plugin = async (app: Parameters<typeof consistencyRoutes>[0], routeOptions: { requireMember: AccessHook }) => {
    await app.register(consistencyRoutes, { consistency: service, requireMember: routeOptions.requireMember });
  };
  return { service, plugin };
}

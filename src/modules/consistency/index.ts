import type { Clock } from "../../clock.js";
import type { AccessHook } from "../../http/hooks.js";
import { keptModule } from "../module.js";
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

/** One module's share of the sources: some of the single ones, and its own inbox items. */
export type ConsistencySourcePart = Partial<Omit<ConsistencySources, "inbox">> & {
  inbox?: ConsistencySources["inbox"][number];
};

/** The sources given exactly once (the inbox gathers one per module). */
type SingleSource = Exclude<keyof ConsistencySources, "inbox">;

/** Puts the modules' shares together; a source missing or answered twice is a wiring mistake, refused at start. */
function sourcesFrom(parts: ConsistencySourcePart[]): ConsistencySources {
  const one = <K extends SingleSource>(key: K): ConsistencySources[K] => {
    const found = parts.flatMap((part) => (part[key] ? [part[key]] : []));
    if (found.length !== 1) throw new Error(`consistency needs one ${key} source, was given ${found.length}`);
    return found[0] as ConsistencySources[K];
  };
  return {
    membership: one("membership"),
    timeZones: one("timeZones"),
    commitmentFigures: one("commitmentFigures"),
    commitmentBuckets: one("commitmentBuckets"),
    boundaryFigures: one("boundaryFigures"),
    inbox: parts.flatMap((part) => (part.inbox ? [part.inbox] : [])),
  };
}

/**
 * Consistency figures, their weekly trend and the inbox: read models over
 * what the modules before it answer as their `sources` (the ports this
 * module owns and they implement), built after them in app.ts.
 */
export function createConsistencyModule(options: { clock: Clock; sources: ConsistencySourcePart[] }) {
  const service = createConsistencyService({ clock: options.clock, sources: sourcesFrom(options.sources) });
  const plugin = async (app: Parameters<typeof consistencyRoutes>[0], routeOptions: { requireMember: AccessHook }) => {
    await app.register(consistencyRoutes, { consistency: service, requireMember: routeOptions.requireMember });
  };
  return keptModule({ name: "consistency", service, plugin });
}

import type { FastifyRequest } from "fastify";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import { principalOf } from "../../http/principal.js";
import type { ConsistencySourcePart } from "../consistency/index.js";
import { type AccountData, keptModule } from "../module.js";
import { pairsRoutes } from "./pairs.routes.js";
import { createPairsService, type PairsServiceDeps } from "./pairs.service.js";

export {
  type EndReason,
  type MemberProfile,
  type PairEndingHandler,
  type PairsService,
  pairEventTypes,
} from "./pairs.service.js";

export type PairsModuleOptions = PairsServiceDeps & { runWrite: RunWrite };

/**
 * Invites, pairs and leaving; `requireMember` guards every `{pairId}` route
 * of every module, and `service.onPairEnding` takes each module's part of
 * the leaving rule. Live sockets learn of an ended pair from its
 * `pair.ended` event, like every other change.
 */
export function createPairsModule(options: PairsModuleOptions) {
  const service = createPairsService(options);
  const requireMember: AccessHook = async (request: FastifyRequest) => {
    const { pairId } = (request.params ?? {}) as { pairId?: string };
    await service.requireMember(pairId ?? "", principalOf(request).id);
  };
  const plugin = async (app: Parameters<typeof pairsRoutes>[0]) => {
    await app.register(pairsRoutes, { pairs: service, runWrite: options.runWrite, requireMember });
  };
  // The consistency module's ports: who is in the pair, whether it is still active, and each
  // member's zone (live while the pair is active, frozen at its end once it ended).
  const sources: ConsistencySourcePart = {
    membership: (pairId, executor) => service.membership(pairId, executor),
    timeZones: async (userIds, pairId) => {
      const zones = await service.memberZones(pairId);
      return new Map(userIds.map((id) => [id, zones.get(id)?.timeZone ?? "UTC"]));
    },
  };
  // Leaving data behind: the names and zones frozen in ended pairs (the account module asks).
  const accountData: AccountData = {
    exportParts: [],
    eraseWordsOf: (tx, userId, pairIds) => service.eraseMemberSnapshots(tx, userId, pairIds),
  };
  return keptModule({ name: "pairs", plugin, service, requireMember, sources, accountData });
}

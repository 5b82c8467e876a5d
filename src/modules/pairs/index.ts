import type { FastifyRequest } from "fastify";
import type { AccessHook } from "../../http/hooks.js";
import type { RunWrite } from "../../http/idempotency.js";
import { principalOf } from "../../http/principal.js";
import { pairsRoutes } from "./pairs.routes.js";
import { createPairsService, type PairsServiceDeps } from "./pairs.service.js";

export { type EndReason, type PairEndingHandler, type PairsService, pairEventTypes } from "./pairs.service.js";

export type PairsModuleOptions = PairsServiceDeps & {
  runWrite: RunWrite;
  onPairEnded: (pairId: string) => void;
};

/** Invites, pairs and leaving; `requireMember` guards every `{pairId}` route of every module. */
export function createPairsModule(options: PairsModuleOptions) {
  const service = createPairsService(options);
  const requireMember: AccessHook = async (request: FastifyRequest) => {
    const { pairId } = (request.params ?? {}) as { pairId?: string };
    await service.requireMember(pairId ?? "", principalOf(request).id);
  };
  const plugin = async (app: Parameters<typeof pairsRoutes>[0]) => {
    await app.register(pairsRoutes, {
      pairs: service,
      runWrite: options.runWrite,
      requireMember,
      onPairEnded: options.onPairEnded,
    });
  };
  // Others that end a pair (deleting an account) tell the same listener, after their commit.
  return { service, requireMember, plugin, pairEnded: options.onPairEnded };
}

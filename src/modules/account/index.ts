import type { FastifyInstance } from "fastify";
import { accountRoutes } from "./account.routes.js";

export { EXPORTS_PER_HOUR } from "./account.routes.js";

import { type AccountServiceDeps, createAccountService } from "./account.service.js";

export type { ExportPart, WordsEraser } from "./account.service.js";
export { EXPORT_FORMAT, EXPORT_FORMAT_VERSION } from "./account.service.js";

export type AccountModuleOptions = AccountServiceDeps & {
  onLoginsEnded: (userId: string, familyIds: "all") => void;
  onPairEnded: (pairId: string) => void;
};

/**
 * The account as a whole: taking one's data along (export) and leaving
 * (deletion). It owns no table; every module contributes its part, which
 * app.ts wires.
 */
export function createAccountModule(options: AccountModuleOptions) {
  const service = createAccountService(options);
  const plugin = async (app: FastifyInstance) => {
    await app.register(accountRoutes, {
      account: service,
      onLoginsEnded: options.onLoginsEnded,
      onPairEnded: options.onPairEnded,
    });
  };
  return { service, plugin };
}

import type { FastifyInstance } from "fastify";
import { type AccountData, keptModule } from "../module.js";
import { accountRoutes } from "./account.routes.js";

export { EXPORTS_PER_HOUR } from "./account.routes.js";

import { type AccountServiceDeps, createAccountService, type ExportPart, type WordsEraser } from "./account.service.js";

export type { ExportPart, WordsEraser } from "./account.service.js";
export { EXPORT_FORMAT, EXPORT_FORMAT_VERSION } from "./account.service.js";

export type AccountModuleOptions = Omit<AccountServiceDeps, "exportParts" | "erasers"> & {
  onLoginsEnded: (userId: string, familyIds: "all") => void;
};

/**
 * The account as a whole: taking one's data along (export) and leaving
 * (deletion). It owns no table; every module contributes its part
 * (`accountData`), which app.ts's loop hands to `takePart`.
 */
export function createAccountModule(options: AccountModuleOptions) {
  // Filled by the loop before the first request; read at each export and deletion.
  const exportParts: ExportPart[] = [];
  const erasers: WordsEraser[] = [];
  const service = createAccountService({ ...options, exportParts, erasers });
  const plugin = async (app: FastifyInstance) => {
    await app.register(accountRoutes, { account: service, onLoginsEnded: options.onLoginsEnded });
  };
  /** One module's part of export and deletion: exported in the order given, before the events. */
  const takePart = (part: AccountData) => {
    exportParts.push(...part.exportParts);
    erasers.push(part.eraseWordsOf);
  };
  return keptModule({ name: "account", plugin, service, takePart });
}
